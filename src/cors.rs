//! CORS for browser apps on other origins (`server.cors_allowed_origins`).
//!
//! Exact-origin matching only, and nothing at all for origins not on the
//! list: the browser then refuses the answer, which is the point. With
//! cookie sessions on (SPEC §10) allowed origins also get
//! `Access-Control-Allow-Credentials: true` (never with `*`, which is
//! never sent). Error and 429 answers get the headers too, or the browser
//! would hide them from the app.

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::Method;
use actix_web::HttpResponse;

/// Methods the API uses.
const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
/// Request headers an app may send (`X-Lgw-Session`: SPEC §10).
const ALLOW_HEADERS: &str =
    "Content-Type, Authorization, X-Request-Id, Accept-Language, Accept, X-Lgw-Session";
/// Response headers an app may read besides the CORS-safelisted ones.
const EXPOSE_HEADERS: &str = "X-Request-Id, Retry-After, RateLimit-Policy, RateLimit";
/// How long a browser may cache a preflight answer (seconds).
const MAX_AGE: &str = "600";

#[derive(Debug, Clone, Default)]
pub struct Cors {
    origins: Vec<HeaderValue>,
    credentials: bool,
}

impl Cors {
    /// `credentials`: cookie sessions are on.
    pub fn new(origins: &[String], credentials: bool) -> Self {
        Self {
            origins: origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect(),
            credentials,
        }
    }

    pub fn credentials(&self) -> bool {
        self.credentials
    }

    /// The request's `Origin` if it is on the list.
    pub fn allowed_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        if self.origins.is_empty() {
            return None;
        }
        let origin = headers.get(header::ORIGIN)?;
        self.origins
            .iter()
            .find(|allowed| allowed.as_bytes() == origin.as_bytes())
            .cloned()
    }

    /// Whether this is a CORS preflight (`OPTIONS` with
    /// `Access-Control-Request-Method`).
    pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
        method == Method::OPTIONS && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The answer to a preflight from an allowed origin.
    pub fn preflight(origin: HeaderValue, credentials: bool) -> HttpResponse {
        let mut answer = HttpResponse::NoContent();
        if credentials {
            answer.insert_header((
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            ));
        }
        answer
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
            .insert_header((header::VARY, HeaderValue::from_static("Origin")))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            ))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            ))
            .insert_header((
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(MAX_AGE),
            ))
            .finish()
    }

    /// Adds the headers of an actual (non-preflight) CORS answer.
    pub fn decorate(headers: &mut HeaderMap, origin: HeaderValue, credentials: bool) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        if credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_origin(origin: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(origin) {
            headers.insert(header::ORIGIN, value);
        }
        headers
    }

    #[test]
    fn only_exact_origins_are_allowed() {
        let cors = Cors::new(&["https://app.example.com".to_string()], false);
        assert!(cors
            .allowed_origin(&with_origin("https://app.example.com"))
            .is_some());
        for other in [
            "https://app.example.com.evil.test",
            "http://app.example.com",
            "https://APP.example.com",
            "null",
            "https://app.example.com:443",
        ] {
            assert!(
                cors.allowed_origin(&with_origin(other)).is_none(),
                "{other}"
            );
        }
        assert!(cors.allowed_origin(&HeaderMap::new()).is_none());
        assert!(Cors::new(&[], false)
            .allowed_origin(&with_origin("https://app.example.com"))
            .is_none());
    }
}
