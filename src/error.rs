//! The one public error model (SPEC §2): [`ErrorCode`] owns each gateway
//! code's string and status, [`ApiError`] is the one answer, and the two
//! mappings from the layers below (`From<UpstreamError>` for Auth0's
//! answers, `From<Rejection>` for local limits) live here, on the edge side,
//! so the Auth0 client and the limiter know nothing of HTTP answers.
//!
//! The body is always `{error, error_description, request_id}` (plus
//! `mfa_token`/`mfa_requirements` for `mfa_required`). The real cause of a 5xx
//! goes to the log, never to the client.

use std::borrow::Cow;

use actix_web::error::{PathError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError};
use serde::Serialize;

use crate::auth0::errors::PasskeyRetry;
use crate::auth0::{MfaRequired, MfaRequirements, UpstreamError, VerificationIdentifier};
use crate::rate_limit::{Refusal, Rejection};
use crate::request_id;
use crate::secret::Sensitive;
use crate::sms::CountryNotAllowed;

/// Every code the gateway itself answers with. Auth0's documented codes
/// pass through beside these (`auth0::errors::DOCUMENTED_CODES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    Unauthorized,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    PayloadTooLarge,
    UnsupportedMediaType,
    TooManyRequests,
    UpstreamError,
    UpstreamTimeout,
    ShuttingDown,
    PhoneCountryNotAllowed,
    RateLimitUnavailable,
    SessionExpired,
    CsrfFailed,
    SessionStoreUnavailable,
}

impl ErrorCode {
    /// In the order the OpenAPI document lists them.
    pub const ALL: [Self; 16] = [
        Self::InvalidRequest,
        Self::Unauthorized,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::RequestTimeout,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::TooManyRequests,
        Self::UpstreamError,
        Self::UpstreamTimeout,
        Self::ShuttingDown,
        Self::PhoneCountryNotAllowed,
        Self::RateLimitUnavailable,
        Self::SessionExpired,
        Self::CsrfFailed,
        Self::SessionStoreUnavailable,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::RequestTimeout => "request_timeout",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::TooManyRequests => "too_many_requests",
            Self::UpstreamError => "upstream_error",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::ShuttingDown => "shutting_down",
            Self::PhoneCountryNotAllowed => "phone_country_not_allowed",
            Self::RateLimitUnavailable => "rate_limit_unavailable",
            Self::SessionExpired => "session_expired",
            Self::CsrfFailed => "csrf_failed",
            Self::SessionStoreUnavailable => "session_store_unavailable",
        }
    }

    pub const fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::UpstreamError => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Self::PhoneCountryNotAllowed => StatusCode::BAD_REQUEST,
            Self::RateLimitUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::SessionExpired => StatusCode::UNAUTHORIZED,
            Self::CsrfFailed => StatusCode::FORBIDDEN,
            Self::SessionStoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// A gateway [`ErrorCode`]'s string, or a documented Auth0 code.
    pub code: Cow<'static, str>,
    pub description: Cow<'static, str>,
    pub mfa: Option<Box<MfaRequired>>,
    /// Seconds for `Retry-After` (429, and 503 `rate_limit_unavailable`).
    pub retry_after: Option<u64>,
    /// The local policy that rejected the call, for the IETF headers.
    pub rate_limit: Option<Box<Rejection>>,
    /// `Allow` for 405 answers.
    pub allow: Option<&'static str>,
    /// Close the connection after this answer (a body that never finished
    /// arriving must not keep its connection).
    pub close_connection: bool,
    /// `Set-Cookie` values (cookie mode: clearing a session that does not
    /// open, sealing an mfa_token). Boxed: rare, and `ApiError` travels in
    /// every `Result`.
    pub cookies: Option<Box<Vec<HeaderValue>>>,
    /// Cookie mode: the `mfa_required` body leaves the mfa_token out (it is
    /// sealed into a cookie instead).
    pub mfa_token_sealed: bool,
    /// `/passkey/verify`: the sign-up codes still missing and the session
    /// to try again with (SPEC §11).
    pub passkey_retry: Option<Box<PasskeyRetry>>,
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
    mfa_requirements: Option<&'a MfaRequirements>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verification_required: Option<&'a [VerificationIdentifier]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_session: Option<&'a Sensitive>,
}

impl ApiError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self::with_status(
            code.status(),
            Cow::Borrowed(code.as_str()),
            description.into(),
        )
    }

    fn with_status(
        status: StatusCode,
        code: Cow<'static, str>,
        description: Cow<'static, str>,
    ) -> Self {
        Self {
            status,
            code,
            description,
            mfa: None,
            retry_after: None,
            rate_limit: None,
            allow: None,
            close_connection: false,
            cookies: None,
            mfa_token_sealed: false,
            passkey_retry: None,
        }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn unauthorized(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Unauthorized, description)
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "no such route")
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        let mut error = Self::new(
            ErrorCode::MethodNotAllowed,
            "this route does not accept that method",
        );
        error.allow = Some(allow);
        error
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is larger than {limit} bytes"),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            ErrorCode::UnsupportedMediaType,
            "request body must be JSON (Content-Type: application/json)",
        )
    }

    /// A compressed request body: refused unread (SPEC §1).
    pub fn content_encoding() -> Self {
        Self::new(
            ErrorCode::UnsupportedMediaType,
            "request bodies must not be compressed (Content-Encoding other than identity)",
        )
    }

    pub fn request_timeout() -> Self {
        let mut error = Self::new(
            ErrorCode::RequestTimeout,
            "the request body did not arrive in time",
        );
        error.close_connection = true;
        error
    }

    pub fn too_many_requests(retry_after: u64) -> Self {
        let mut error = Self::new(
            ErrorCode::TooManyRequests,
            "too many requests; retry after the time in Retry-After",
        );
        error.retry_after = Some(retry_after.max(1));
        error
    }

    pub fn upstream_error() -> Self {
        Self::new(
            ErrorCode::UpstreamError,
            "the identity provider could not be reached or gave an invalid answer",
        )
    }

    pub fn upstream_timeout() -> Self {
        Self::new(
            ErrorCode::UpstreamTimeout,
            "the identity provider did not answer in time",
        )
    }

    /// `401 session_expired`; `clear`: the `Set-Cookie` values that clear
    /// the cookies that did not open.
    pub fn session_expired(clear: Vec<HeaderValue>) -> Self {
        let mut error = Self::new(
            ErrorCode::SessionExpired,
            "no session, or it has expired: sign in again",
        );
        error.set_cookies(clear);
        error
    }

    /// `Set-Cookie` values to send with this answer.
    pub fn set_cookies(&mut self, cookies: Vec<HeaderValue>) {
        self.cookies = (!cookies.is_empty()).then(|| Box::new(cookies));
    }

    /// `503 session_store_unavailable`: the fleet's revocation markers
    /// (Redis, SPEC §12) cannot be read and `rate_limit.redis.on_error =
    /// "closed"`.
    pub fn session_store_unavailable() -> Self {
        let mut error = Self::new(
            ErrorCode::SessionStoreUnavailable,
            "the session cannot be checked right now; try again shortly",
        );
        // The gateway tries the store again within a second.
        error.retry_after = Some(1);
        error
    }

    pub fn csrf_failed() -> Self {
        Self::new(
            ErrorCode::CsrfFailed,
            "a call with the session cookie needs the X-Lgw-Session: 1 header and an allowed Origin",
        )
    }

    pub fn shutting_down() -> Self {
        Self::new(
            ErrorCode::ShuttingDown,
            "the gateway is shutting down; send traffic elsewhere",
        )
    }

    /// What Auth0 answered any refused passkey sign-up (SPEC §11): one
    /// answer whatever the reason, so no one learns who has an account.
    pub fn sign_up_refused() -> Self {
        Self::invalid_request(SIGN_UP_REFUSED)
    }

    /// Auth0's `403 mfa_required`, with the details the client continues with.
    pub fn mfa_required(details: MfaRequired) -> Self {
        let mut error = Self::with_status(
            StatusCode::FORBIDDEN,
            Cow::Borrowed("mfa_required"),
            Cow::Borrowed("Multifactor authentication required"),
        );
        error.mfa = Some(Box::new(details));
        error
    }
}

/// The one description of every refused passkey sign-up.
pub const SIGN_UP_REFUSED: &str =
    "the sign-up was refused: check the details, or sign in if you already have an account";

/// The single mapping from Auth0's answers to the client's (SPEC §2).
impl From<UpstreamError> for ApiError {
    fn from(error: UpstreamError) -> Self {
        match error {
            UpstreamError::Rejected {
                status,
                code,
                description,
                retry_after,
            } => {
                let mut api = Self::with_status(status, code.into(), description.into());
                api.retry_after = retry_after;
                api
            }
            UpstreamError::MfaRequired(details) => Self::mfa_required(details),
            UpstreamError::SignUpRefused { .. } => Self::sign_up_refused(),
            UpstreamError::PasskeyRetry(retry) => {
                let mut api = Self::with_status(
                    retry.status,
                    retry.code.clone().into(),
                    retry.description.clone().into(),
                );
                api.passkey_retry = Some(retry);
                api
            }
            UpstreamError::RateLimited { retry_after } => Self::too_many_requests(retry_after),
            UpstreamError::Misconfigured { .. }
            | UpstreamError::BadAnswer { .. }
            | UpstreamError::Unreachable { .. } => Self::upstream_error(),
            UpstreamError::Timeout => Self::upstream_timeout(),
        }
    }
}

/// A local limit's refusal: 429 with `Retry-After` and the IETF headers.
impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        crate::metrics::record_rejection(rejection.policy);
        let mut error = Self::too_many_requests(rejection.retry_after);
        error.rate_limit = Some(Box::new(rejection));
        error
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Limited(rejection) => rejection.into(),
            Refusal::StoreUnavailable => {
                let mut error = Self::new(
                    ErrorCode::RateLimitUnavailable,
                    "the rate limits cannot be checked right now; try again shortly",
                );
                // The gateway tries the store again within a second.
                error.retry_after = Some(1);
                error
            }
        }
    }
}

impl From<CountryNotAllowed> for ApiError {
    fn from(_: CountryNotAllowed) -> Self {
        Self::new(
            ErrorCode::PhoneCountryNotAllowed,
            "phone_number is in a country this service does not send texts or calls to",
        )
    }
}

/// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers).
fn insert_rate_limit_headers(rejection: &Rejection, response: &mut HttpResponseBuilder) {
    let policy = format!(
        "\"{}\";q={};w={}",
        rejection.policy,
        rejection.quota.count,
        rejection.quota.window_secs()
    );
    let state = format!("\"{}\";r=0;t={}", rejection.policy, rejection.retry_after);
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.insert_header(("RateLimit-Policy", value));
    }
    if let Ok(value) = HeaderValue::from_str(&state) {
        response.insert_header(("RateLimit", value));
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
            mfa_token: self
                .mfa
                .as_ref()
                .filter(|_| !self.mfa_token_sealed)
                .map(|m| &m.mfa_token),
            mfa_requirements: self.mfa.as_ref().map(|m| &m.mfa_requirements),
            verification_required: self
                .passkey_retry
                .as_ref()
                .and_then(|r| r.verification_required.as_deref()),
            auth_session: self
                .passkey_retry
                .as_ref()
                .and_then(|r| r.auth_session.as_ref()),
        };
        let mut response = HttpResponse::build(self.status);
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        if let Some(rejection) = &self.rate_limit {
            insert_rate_limit_headers(rejection, &mut response);
        }
        if let Some(allow) = self.allow {
            response.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if self.mfa.is_some() || self.passkey_retry.is_some() {
            // The mfa_token and the auth_session are credentials (RFC 6749 §5.1).
            response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
            response.insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
        }
        for cookie in self.cookies.iter().flat_map(|c| c.iter()) {
            response.append_header((header::SET_COOKIE, cookie.clone()));
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::auth0::errors::classify;
    use crate::auth0::Endpoint;

    /// What the client sees for one Auth0 answer: the real mapping.
    fn answer(endpoint: Endpoint, status: u16, body: &str) -> ApiError {
        let status = StatusCode::from_u16(status).expect("status");
        ApiError::from(classify(endpoint, status, body.as_bytes(), None))
    }

    #[test]
    fn every_gateway_code_has_its_status() {
        for code in ErrorCode::ALL {
            let api = ApiError::new(code, "x");
            assert_eq!(api.status, code.status());
            assert_eq!(api.code, code.as_str());
        }
    }

    #[test]
    fn auth0_answers_map_to_client_answers() {
        let cases: &[(u16, &str, &str)] = &[
            (
                403,
                r#"{"error":"invalid_grant","error_description":"Wrong email or verification code."}"#,
                "403 invalid_grant",
            ),
            (
                403,
                r#"{"statusCode":403,"error":"invalid_grant","message":"Wrong email or verification code."}"#,
                "403 invalid_grant",
            ),
            (
                400,
                r#"{"statusCode":400,"error":"Bad Request","message":"x","errorCode":"bad.email"}"#,
                "400 bad.email",
            ),
            (
                400,
                r#"{"error":"bad.phone_number","error_description":"x"}"#,
                "400 bad.phone_number",
            ),
            (
                403,
                r#"{"error":"mfa_required","error_description":"Multifactor authentication required","mfa_token":"t","mfa_requirements":{"challenge":[{"type":"otp"}]}}"#,
                "403 mfa_required",
            ),
            (403, r#"{"error":"mfa_required"}"#, "502 upstream_error"),
            (
                400,
                r#"{"error":"authorization_pending","error_description":"x"}"#,
                "400 authorization_pending",
            ),
            (
                429,
                r#"{"error":"slow_down","error_description":"x"}"#,
                "429 slow_down",
            ),
            (
                429,
                r#"{"error":"too_many_requests","error_description":"x"}"#,
                "429 too_many_requests",
            ),
            (429, "", "429 too_many_requests"),
            (
                401,
                r#"{"error":"invalid_client","error_description":"x"}"#,
                "502 upstream_error",
            ),
            (
                403,
                r#"{"error":"unauthorized_client","error_description":"x"}"#,
                "502 upstream_error",
            ),
            (
                400,
                r#"{"error":"bad.client_id","error_description":"x"}"#,
                "502 upstream_error",
            ),
            (
                400,
                r#"{"error":"something_new","error_description":"x"}"#,
                "502 upstream_error",
            ),
            (500, r#"{"error":"invalid_grant"}"#, "502 upstream_error"),
            (403, "<html>nope</html>", "502 upstream_error"),
            (302, "", "502 upstream_error"),
        ];
        for (status, body, expected) in cases {
            let api = answer(Endpoint::Token, *status, body);
            assert_eq!(
                &format!("{} {}", api.status.as_u16(), api.code),
                expected,
                "{status} {body}"
            );
        }
    }

    #[test]
    fn a_404_is_not_found_only_for_deleting_an_authenticator() {
        let body = r#"{"statusCode":404,"error":"Not Found","message":"Authenticator not found"}"#;
        let api = answer(Endpoint::MfaDeleteAuthenticator, 404, body);
        assert_eq!((api.status.as_u16(), api.code.as_ref()), (404, "not_found"));
        assert_eq!(api.description, "Authenticator not found");
        for endpoint in [
            Endpoint::Token,
            Endpoint::PasswordlessStart,
            Endpoint::MfaAuthenticators,
        ] {
            let api = answer(endpoint, 404, body);
            assert_eq!(api.status.as_u16(), 502, "{endpoint:?}");
        }
    }

    #[test]
    fn every_refused_sign_up_is_one_answer_and_the_passkey_apis_own_faults_are_502() {
        #[rustfmt::skip]
        let cases: &[(Endpoint, u16, &str, &str)] = &[
            (Endpoint::PasskeyRegister, 400, r#"{"error":"invalid_request","error_description":"The user already exists."}"#, "400 invalid_request"),
            (Endpoint::PasskeyRegister, 400, r#"{"statusCode":400,"error":"Bad Request","message":"x","errorCode":"invalid_body"}"#, "400 invalid_request"),
            (Endpoint::PasskeyRegister, 400, "<html>", "400 invalid_request"),
            (Endpoint::PasskeyRegister, 400, r#"{"error":"invalid_client","error_description":"x"}"#, "502 upstream_error"),
            (Endpoint::PasskeyRegister, 401, r#"{"error":"unauthorized","error_description":"x"}"#, "502 upstream_error"),
            (Endpoint::PasskeyRegister, 403, r#"{"error":"access_denied","error_description":"x"}"#, "502 upstream_error"),
            (Endpoint::PasskeyRegister, 404, r#"{"error":"invalid_request","error_description":"x"}"#, "502 upstream_error"),
            (Endpoint::PasskeyRegister, 429, r#"{"error":"too_many_requests","error_description":"x"}"#, "429 too_many_requests"),
            (Endpoint::PasskeyChallenge, 400, r#"{"error":"invalid_request","error_description":"x"}"#, "400 invalid_request"),
            (Endpoint::PasskeyChallenge, 403, r#"{"error":"access_denied","error_description":"x"}"#, "502 upstream_error"),
            (Endpoint::PasskeyChallenge, 404, "", "502 upstream_error"),
            (Endpoint::PasskeyToken, 404, r#"{"error":"invalid_grant"}"#, "502 upstream_error"),
            (Endpoint::PasskeyToken, 403, r#"{"error":"invalid_grant","error_description":"x"}"#, "403 invalid_grant"),
        ];
        for (endpoint, status, body, expected) in cases {
            let api = answer(*endpoint, *status, body);
            assert_eq!(
                &format!("{} {}", api.status.as_u16(), api.code),
                expected,
                "{endpoint:?} {status} {body}"
            );
            if *endpoint == Endpoint::PasskeyRegister && api.status.as_u16() == 400 {
                assert_eq!(api.description, SIGN_UP_REFUSED);
            }
        }
    }

    #[test]
    fn a_missing_sign_up_code_keeps_what_to_ask_again() {
        let body = r#"{"error":"invalid_grant","error_description":"Wrong code","verification_required":["phone","fax"],"auth_session":"s-1","internal":"x"}"#;
        let api = answer(Endpoint::PasskeyToken, 403, body);
        assert_eq!(
            (api.status.as_u16(), api.code.as_ref()),
            (403, "invalid_grant")
        );
        let retry = api.passkey_retry.as_ref().expect("kept");
        assert_eq!(
            retry.verification_required.as_deref(),
            Some(&[VerificationIdentifier::Phone][..])
        );
        assert_eq!(
            retry.auth_session.as_ref().map(Sensitive::expose),
            Some("s-1")
        );
        // Other grants never carry them; a session the gateway would not
        // take back is dropped.
        let api = answer(Endpoint::Token, 403, body);
        assert!(api.passkey_retry.is_none());
        let spent = r#"{"error":"invalid_grant","error_description":"x","verification_required":["phone"],"auth_session":"has space"}"#;
        let api = answer(Endpoint::PasskeyToken, 403, spent);
        assert!(api.passkey_retry.is_some_and(|r| r.auth_session.is_none()));
    }

    #[test]
    fn my_account_answers_map_to_client_answers() {
        let problem = |status: u16, detail: &str| {
            format!(
                r#"{{"type":"https://auth0.com/api-errors/x","status":{status},"title":"T","detail":"{detail}"}}"#
            )
        };
        let cases: &[(u16, String, &str, &str)] = &[
            (
                400,
                problem(400, "bad auth_session"),
                "400 invalid_request",
                "bad auth_session",
            ),
            (
                409,
                problem(409, "already enrolled"),
                "400 invalid_request",
                "already enrolled",
            ),
            (
                422,
                problem(422, "attestation refused"),
                "400 invalid_request",
                "attestation refused",
            ),
            (
                401,
                problem(401, "Invalid token"),
                "401 invalid_token",
                "Invalid token",
            ),
            (
                403,
                problem(403, "Insufficient scope"),
                "403 insufficient_scope",
                "Insufficient scope",
            ),
            (
                400,
                r#"{"title":"Bad Request"}"#.into(),
                "400 invalid_request",
                "Bad Request",
            ),
            (
                400,
                "{}".into(),
                "400 invalid_request",
                "the identity provider refused the passkey enrollment",
            ),
            (
                429,
                problem(429, "slow"),
                "429 too_many_requests",
                "too many requests; retry after the time in Retry-After",
            ),
            (
                429,
                String::new(),
                "429 too_many_requests",
                "too many requests; retry after the time in Retry-After",
            ),
            (
                404,
                problem(404, "Not Found"),
                "502 upstream_error",
                "the identity provider could not be reached or gave an invalid answer",
            ),
            (
                500,
                problem(500, "boom"),
                "502 upstream_error",
                "the identity provider could not be reached or gave an invalid answer",
            ),
            (
                503,
                String::new(),
                "502 upstream_error",
                "the identity provider could not be reached or gave an invalid answer",
            ),
            (
                401,
                "<html>no</html>".into(),
                "502 upstream_error",
                "the identity provider could not be reached or gave an invalid answer",
            ),
            (
                410,
                problem(410, "Gone"),
                "502 upstream_error",
                "the identity provider could not be reached or gave an invalid answer",
            ),
        ];
        for endpoint in [Endpoint::MyAccountEnroll, Endpoint::MyAccountEnrollVerify] {
            for (status, body, expected, description) in cases {
                let api = answer(endpoint, *status, body);
                assert_eq!(
                    format!("{} {}", api.status.as_u16(), api.code),
                    *expected,
                    "{endpoint:?} {status} {body}"
                );
                assert_eq!(api.description, *description, "{status} {body}");
            }
        }
        // Auth0's description is passed through, but not without bound.
        let long = problem(400, &"x".repeat(5000));
        let api = answer(Endpoint::MyAccountEnroll, 400, &long);
        assert_eq!(api.description.chars().count(), 512);
    }

    #[test]
    fn descriptions_pass_through_from_either_shape() {
        let api = answer(
            Endpoint::Token,
            403,
            r#"{"statusCode":403,"error":"invalid_grant","message":"Wrong phone number or verification code."}"#,
        );
        assert_eq!(api.description, "Wrong phone number or verification code.");
    }
}
