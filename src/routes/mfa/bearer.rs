//! The credential of an `/mfa/*` call: `Authorization: Bearer <token>`
//! (RFC 6750), or in cookie mode the mfa_token sealed in the `-mfa`
//! cookie. Apart from the handlers because `/passkey/enroll` reads its
//! bearer with the same rule ([`parse_bearer`]).

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use crate::error::ApiError;
use crate::secret::Sensitive;

/// Longest bearer token the gateway forwards.
const MAX_BEARER_CHARS: usize = 4096;

/// The `Authorization: Bearer` credential of an `/mfa/*` call.
#[derive(Debug)]
pub(in crate::routes) struct Bearer(pub(in crate::routes) Sensitive);

impl FromRequest for Bearer {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let header = req.headers().get(header::AUTHORIZATION);
        std::future::ready(match (header, sealed_mfa_token(req)) {
            // Cookie mode (SPEC §10): no Authorization, the sealed mfa_token.
            (None, Some(sealed)) => sealed,
            (header, _) => parse_bearer(header),
        })
    }
}

/// The mfa_token sealed in the `-mfa` cookie, when sessions are on and the
/// request carries one; a cookie that does not open is `401
/// session_expired` (and is cleared).
fn sealed_mfa_token(req: &HttpRequest) -> Option<Result<Bearer, ApiError>> {
    let state = req.app_data::<web::Data<crate::state::AppState>>()?;
    let sessions = state.sessions.as_ref()?;
    match sessions.read_mfa_token(req) {
        crate::session::Found::None => None,
        crate::session::Found::Open(token) => Some(Ok(Bearer(Sensitive::new(token)))),
        crate::session::Found::Broken => Some(Err(ApiError::session_expired(
            sessions.clear_mfa_if_present(req),
        ))),
    }
}

pub(in crate::routes) fn parse_bearer(
    value: Option<&header::HeaderValue>,
) -> Result<Bearer, ApiError> {
    let Some(value) = value else {
        return Err(ApiError::unauthorized(
            "Authorization: Bearer <mfa_token> is required",
        ));
    };
    let malformed = || ApiError::unauthorized("Authorization must be Bearer <token>");
    let text = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = text.split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    // RFC 6750 §2.1 b64token.
    let b64token = !token.is_empty()
        && token.len() <= MAX_BEARER_CHARS
        && token
            .trim_end_matches('=')
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if !scheme.eq_ignore_ascii_case("bearer") || !b64token {
        return Err(malformed());
    }
    Ok(Bearer(Sensitive::new(token)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(value: &str) -> Result<Bearer, ApiError> {
        let header =
            header::HeaderValue::from_str(value).map_err(|_| ApiError::unauthorized(""))?;
        parse_bearer(Some(&header))
    }

    #[test]
    fn bearer_tokens_follow_rfc_6750() {
        assert!(bearer("Bearer abc.DEF-123_~+/==").is_ok());
        assert!(bearer("bearer abc").is_ok());
        for bad in [
            "Basic abc",
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a\"b",
            "Token abc",
        ] {
            assert!(bearer(bad).is_err(), "{bad:?}");
        }
        assert!(parse_bearer(None).is_err());
    }
}
