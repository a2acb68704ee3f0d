//! The one public error model (SPEC §2) and the handlers that route actix's
//! own extractor errors into it (request bodies are read by `body`).
//!
//! The body is always `{error, error_description, request_id}` (plus
//! `mfa_token`/`mfa_requirements` for `mfa_required`). The real cause of a 5xx
//! goes to the log, never to the client.

use std::borrow::Cow;

use actix_web::error::{PathError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

use crate::rate_limit::Rejection;
use crate::request_id;
use crate::secret::Sensitive;

/// What `/login/verify` and friends add to a `403 mfa_required` answer.
#[derive(Debug, Clone, Serialize)]
pub struct MfaRequiredDetails {
    pub mfa_token: Sensitive,
    pub mfa_requirements: serde_json::Value,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Cow<'static, str>,
    pub description: Cow<'static, str>,
    pub mfa: Option<Box<MfaRequiredDetails>>,
    /// Seconds for `Retry-After` (429 only).
    pub retry_after: Option<u64>,
    /// The local policy that rejected the call, for the IETF headers.
    pub rate_limit: Option<Box<Rejection>>,
    /// `Allow` for 405 answers.
    pub allow: Option<&'static str>,
    /// Close the connection after this answer (a body that never finished
    /// arriving must not keep its connection).
    pub close_connection: bool,
}

/// The JSON body of every non-2xx answer.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_token: Option<&'a Sensitive>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mfa_requirements: Option<&'a serde_json::Value>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            description: description.into(),
            mfa: None,
            retry_after: None,
            rate_limit: None,
            allow: None,
            close_connection: false,
        }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    pub fn unauthorized(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", description)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut error = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not accept that method",
        );
        error.allow = Some(allow);
        error
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than {limit} bytes"),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "request body must be JSON (Content-Type: application/json)",
        )
    }

    /// A compressed request body: refused unread (SPEC §1).
    pub fn content_encoding() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "request bodies must not be compressed (Content-Encoding other than identity)",
        )
    }

    pub fn request_timeout() -> Self {
        let mut error = Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body did not arrive in time",
        );
        error.close_connection = true;
        error
    }

    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "too many requests; retry after the time in Retry-After",
        );
        error.retry_after = Some(retry_after.max(1));
        error
    }

    pub fn upstream_error() -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            "the identity provider could not be reached or gave an invalid answer",
        )
    }

    pub fn upstream_timeout() -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            "the identity provider did not answer in time",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.description
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let request_id = request_id::current();
        let body = ErrorBody {
            error: &self.code,
            error_description: &self.description,
            request_id: request_id.as_deref().unwrap_or(""),
            mfa_token: self.mfa.as_ref().map(|m| &m.mfa_token),
            mfa_requirements: self.mfa.as_ref().map(|m| &m.mfa_requirements),
        };
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        if let Some(rejection) = &self.rate_limit {
            rejection.insert_headers(&mut response);
        }
        if let Some(allow) = self.allow {
            response.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if self.mfa.is_some() {
            // The mfa_token is a credential (RFC 6749 §5.1).
            response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
            response.insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
        }
        if self.close_connection {
            response.force_close();
        }
        response.json(body)
    }
}

pub fn path_error_handler(_error: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::invalid_request("invalid path parameter").into()
}

pub fn query_error_handler(_error: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::invalid_request("invalid query string").into()
}
