//! Reading Auth0's answers: decoding a 2xx into the documented shape,
//! naming transport failures without their URL, and Auth0's retry hints.

use actix_web::http::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::de::DeserializeOwned;

use super::types::{known, Authenticator, KnownOrOther};
use super::UpstreamError;

/// A 2xx answer: status, the (size-capped) body, and `Location` (where
/// the My Account API names what it created).
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) body: Vec<u8>,
    pub(super) location: Option<reqwest::header::HeaderValue>,
}

/// A 2xx whose content the gateway does not use must still be Auth0's: JSON
/// or empty. A 200 HTML page (a wrong domain, a captive portal) is not.
pub(super) fn decode_ignored(answer: &Answer) -> Result<(), UpstreamError> {
    decode_json::<serde_json::Value>(answer).map(|_| ())
}

/// Parses a 2xx body; a missing required field is an upstream fault.
pub(super) fn decode_json<T: DeserializeOwned>(answer: &Answer) -> Result<T, UpstreamError> {
    // Some endpoints (revoke, delete) answer with no body at all.
    let body: &[u8] = if answer.body.is_empty() || answer.status == StatusCode::NO_CONTENT {
        b"null"
    } else {
        &answer.body
    };
    serde_json::from_slice(body).map_err(|e| {
        UpstreamError::bad_answer(format!(
            "2xx answer did not match the documented shape ({})",
            e.classify_name()
        ))
    })
}

/// `GET /mfa/authenticators`: entries of a kind the gateway does not know
/// (a new authenticator type or channel) are left out, so the list a
/// client gets always matches the published enums.
pub(super) fn decode_authenticators(answer: &Answer) -> Result<Vec<Authenticator>, UpstreamError> {
    decode_json::<Vec<KnownOrOther<Authenticator>>>(answer).map(known)
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "missing or mistyped field",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

pub(super) fn transport_error(error: reqwest::Error) -> UpstreamError {
    if error.is_connect() {
        // The reqwest error text can hold the URL; the log gets only the kind.
        let reason = if error.is_timeout() {
            "connect timeout"
        } else {
            "connection failed"
        };
        UpstreamError::Unreachable {
            reason: reason.to_string(),
        }
    } else if error.is_timeout() {
        UpstreamError::Timeout
    } else if error.is_body() || error.is_decode() {
        UpstreamError::bad_answer("answer body could not be read")
    } else {
        UpstreamError::Unreachable {
            reason: "request failed".to_string(),
        }
    }
}

/// Seconds to wait, from `Retry-After` or Auth0's `x-ratelimit-reset` (a
/// Unix time), rounded up, at least 1.
pub(super) fn retry_after_seconds(headers: &HeaderMap) -> Option<u64> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(reset) = header("x-ratelimit-reset") {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        return Some(reset.saturating_sub(now).max(1));
    }
    header(RETRY_AFTER.as_str()).map(|s| s.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_prefers_the_ratelimit_reset_time() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after_seconds(&headers), Some(7));
        headers.insert(
            "x-ratelimit-reset",
            HeaderValue::from_str(&(now + 30).to_string()).expect("header"),
        );
        let seconds = retry_after_seconds(&headers).unwrap_or(0);
        assert!((29..=30).contains(&seconds), "{seconds}");
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("1"));
        assert_eq!(retry_after_seconds(&headers), Some(1));
        assert_eq!(retry_after_seconds(&HeaderMap::new()), None);
    }
}
