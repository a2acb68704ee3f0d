//! The upstream client: one pooled reqwest client that injects the
//! application's credentials and the end user's IP into every Auth0 call.
//!
//! Nothing here retries: once a request may have reached Auth0 a retry could
//! send a second SMS or burn a one-time code.

pub mod errors;
pub mod types;

use std::net::IpAddr;
use std::time::Instant;

use actix_web::http::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use errors::UpstreamError;
pub use types::*;

use crate::settings::Auth0Settings;

/// The header Auth0 reads the end-user IP from ("Trust Token Endpoint IP
/// Header" must be on for the application).
pub const FORWARDED_FOR_HEADER: &str = "auth0-forwarded-for";

/// Everything but unreserved characters is encoded in a path segment.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Who the call is on behalf of.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub ip: IpAddr,
    /// A validated BCP 47 tag for `x-request-language`.
    pub language: Option<&'a str>,
}

/// The Auth0 endpoints the gateway calls; also the `endpoint` metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    PasswordlessStart,
    Token,
    Revoke,
    MfaAuthenticators,
    MfaAssociate,
    MfaChallenge,
    MfaDeleteAuthenticator,
}

impl Endpoint {
    pub fn label(self) -> &'static str {
        match self {
            Self::PasswordlessStart => "passwordless_start",
            Self::Token => "oauth_token",
            Self::Revoke => "oauth_revoke",
            Self::MfaAuthenticators => "mfa_authenticators",
            Self::MfaAssociate => "mfa_associate",
            Self::MfaChallenge => "mfa_challenge",
            Self::MfaDeleteAuthenticator => "mfa_delete_authenticator",
        }
    }
}

pub struct Auth0Client {
    http: reqwest::Client,
    base_url: String,
    client_id: String,
    client_secret: SecretString,
    max_response_bytes: usize,
}

/// A 2xx answer: status and the (size-capped) body.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

impl Auth0Client {
    pub fn new(settings: &Auth0Settings) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            // Redirects from a token endpoint are never legitimate.
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(std::time::Duration::from_secs(60))
            .tcp_nodelay(true)
            .user_agent(concat!("login-gateway/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base_url: settings.base_url.clone(),
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            max_response_bytes: settings.max_response_bytes,
        })
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn client_secret(&self) -> &str {
        self.client_secret.expose_secret()
    }

    /// `POST /passwordless/start`. Auth0's body (user ids) is not reflected.
    pub async fn passwordless_start(
        &self,
        caller: Caller<'_>,
        request: &PasswordlessStart<'_>,
    ) -> Result<(), UpstreamError> {
        let body = WithCredentials::new(self, request);
        self.send_json(
            Endpoint::PasswordlessStart,
            reqwest::Method::POST,
            "/passwordless/start",
            caller,
            None,
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    /// `POST /oauth/token` for a grant that logs a user in: tokens, or the
    /// `mfa_required` outcome.
    pub async fn login_grant(
        &self,
        caller: Caller<'_>,
        grant: &TokenGrant<'_>,
    ) -> Result<LoginOutcome, UpstreamError> {
        let body = WithCredentials::new(self, grant);
        let answer = self
            .send_json(
                Endpoint::Token,
                reqwest::Method::POST,
                "/oauth/token",
                caller,
                None,
                Some(&body),
            )
            .await;
        match answer {
            Ok(answer) => parse_body::<TokenSet>(&answer).map(LoginOutcome::Tokens),
            Err(UpstreamError::MfaRequired(details)) => Ok(LoginOutcome::MfaRequired(details)),
            Err(other) => Err(other),
        }
    }

    /// `POST /oauth/token` for a grant that must answer tokens
    /// (`refresh_token`, the MFA grants).
    pub async fn token_grant(
        &self,
        caller: Caller<'_>,
        grant: &TokenGrant<'_>,
    ) -> Result<TokenSet, UpstreamError> {
        let body = WithCredentials::new(self, grant);
        let answer = self
            .send_json(
                Endpoint::Token,
                reqwest::Method::POST,
                "/oauth/token",
                caller,
                None,
                Some(&body),
            )
            .await?;
        parse_body(&answer)
    }

    /// `POST /oauth/revoke`; Auth0 answers 200 with an empty body.
    pub async fn revoke(
        &self,
        caller: Caller<'_>,
        refresh_token: &str,
    ) -> Result<(), UpstreamError> {
        let request = RevokeRequest {
            token: refresh_token,
        };
        let body = WithCredentials::new(self, &request);
        self.send_json(
            Endpoint::Revoke,
            reqwest::Method::POST,
            "/oauth/revoke",
            caller,
            None,
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    /// `GET /mfa/authenticators` with the caller's bearer.
    pub async fn list_authenticators(
        &self,
        caller: Caller<'_>,
        bearer: &str,
    ) -> Result<Vec<Authenticator>, UpstreamError> {
        self.call(
            Endpoint::MfaAuthenticators,
            reqwest::Method::GET,
            "/mfa/authenticators",
            caller,
            Some(bearer),
            None::<&()>,
        )
        .await
    }

    /// `POST /mfa/associate` with the caller's bearer.
    pub async fn associate(
        &self,
        caller: Caller<'_>,
        bearer: &str,
        request: &AssociateRequest<'_>,
    ) -> Result<AssociateAnswer, UpstreamError> {
        let body = WithCredentials::new(self, request);
        self.call(
            Endpoint::MfaAssociate,
            reqwest::Method::POST,
            "/mfa/associate",
            caller,
            Some(bearer),
            Some(&body),
        )
        .await
    }

    /// `POST /mfa/challenge`; the mfa_token travels in the body.
    pub async fn challenge(
        &self,
        caller: Caller<'_>,
        request: &ChallengeRequest<'_>,
    ) -> Result<ChallengeAnswer, UpstreamError> {
        let body = WithCredentials::new(self, request);
        self.call(
            Endpoint::MfaChallenge,
            reqwest::Method::POST,
            "/mfa/challenge",
            caller,
            None,
            Some(&body),
        )
        .await
    }

    /// `DELETE /mfa/authenticators/{id}`. The id is one percent-encoded
    /// path segment, so `/`, `?`, `#` or `%` in it cannot change the target.
    pub async fn delete_authenticator(
        &self,
        caller: Caller<'_>,
        bearer: &str,
        authenticator_id: &str,
    ) -> Result<(), UpstreamError> {
        let path = format!(
            "/mfa/authenticators/{}",
            percent_encoding::utf8_percent_encode(authenticator_id, PATH_SEGMENT)
        );
        self.call_no_content(
            Endpoint::MfaDeleteAuthenticator,
            reqwest::Method::DELETE,
            &path,
            caller,
            Some(bearer),
            None::<&()>,
        )
        .await
    }

    /// Any call whose answer is a JSON document of type `T`.
    async fn call<T: DeserializeOwned, B: Serialize>(
        &self,
        endpoint: Endpoint,
        method: reqwest::Method,
        path: &str,
        caller: Caller<'_>,
        bearer: Option<&str>,
        body: Option<&B>,
    ) -> Result<T, UpstreamError> {
        let answer = self
            .send_json(endpoint, method, path, caller, bearer, body)
            .await?;
        parse_body(&answer)
    }

    /// A call whose 2xx answer carries nothing the gateway needs.
    async fn call_no_content<B: Serialize>(
        &self,
        endpoint: Endpoint,
        method: reqwest::Method,
        path: &str,
        caller: Caller<'_>,
        bearer: Option<&str>,
        body: Option<&B>,
    ) -> Result<(), UpstreamError> {
        self.send_json(endpoint, method, path, caller, bearer, body)
            .await
            .map(|_| ())
    }

    /// Sends one request, reads the answer with a size cap, and turns every
    /// non-2xx into an [`UpstreamError`]. Records the upstream metric.
    async fn send_json<B: Serialize>(
        &self,
        endpoint: Endpoint,
        method: reqwest::Method,
        path: &str,
        caller: Caller<'_>,
        bearer: Option<&str>,
        body: Option<&B>,
    ) -> Result<Answer, UpstreamError> {
        let started = Instant::now();
        let result = self.exchange(method, path, caller, bearer, body).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(UpstreamError::Timeout) => "timeout",
            Err(UpstreamError::Unreachable { .. }) => "connect_error",
            Err(UpstreamError::BadAnswer { .. } | UpstreamError::Misconfigured { .. }) => "5xx",
            Err(_) => "4xx",
        };
        crate::metrics::record_upstream(endpoint.label(), outcome, started.elapsed());
        match &result {
            Err(UpstreamError::Misconfigured { code }) => tracing::error!(
                endpoint = endpoint.label(),
                code = code.as_str(),
                "Auth0 rejected the gateway's own credentials or grant: check auth0.client_id, \
                 the client secret and the application's grant types"
            ),
            Err(UpstreamError::BadAnswer { reason }) => {
                tracing::warn!(
                    endpoint = endpoint.label(),
                    reason = reason.as_str(),
                    "Auth0 gave an unusable answer"
                )
            }
            Err(UpstreamError::Unreachable { reason }) => {
                tracing::warn!(
                    endpoint = endpoint.label(),
                    reason = reason.as_str(),
                    "Auth0 unreachable"
                )
            }
            Err(UpstreamError::Timeout) => {
                tracing::warn!(endpoint = endpoint.label(), "Auth0 did not answer in time")
            }
            _ => {}
        }
        result
    }

    async fn exchange<B: Serialize>(
        &self,
        method: reqwest::Method,
        path: &str,
        caller: Caller<'_>,
        bearer: Option<&str>,
        body: Option<&B>,
    ) -> Result<Answer, UpstreamError> {
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(
            FORWARDED_FOR_HEADER,
            HeaderValue::from_str(&caller.ip.to_string())
                .map_err(|_| UpstreamError::bad_answer("unencodable client ip"))?,
        );
        if let Some(language) = caller.language.and_then(|l| HeaderValue::from_str(l).ok()) {
            headers.insert("x-request-language", language);
        }
        if let Some(token) = bearer {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| UpstreamError::bad_answer("unencodable bearer token"))?;
            headers.insert(AUTHORIZATION, value);
        }
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base_url, path))
            .headers(headers);
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body)
                .map_err(|_| UpstreamError::bad_answer("request could not be encoded"))?;
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(bytes);
        }
        let mut response = request.send().await.map_err(transport_error)?;
        let status = StatusCode::from_u16(response.status().as_u16())
            .map_err(|_| UpstreamError::bad_answer("invalid status"))?;
        let retry_after = retry_after_seconds(response.headers());
        if response
            .content_length()
            .is_some_and(|len| len > self.max_response_bytes as u64)
        {
            return Err(UpstreamError::bad_answer("answer larger than the size cap"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(UpstreamError::bad_answer("answer larger than the size cap"));
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() {
            Ok(Answer { status, body })
        } else {
            Err(errors::classify(status, &body, retry_after))
        }
    }
}

/// Parses a 2xx body; a missing required field is an upstream fault.
fn parse_body<T: DeserializeOwned>(answer: &Answer) -> Result<T, UpstreamError> {
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

fn transport_error(error: reqwest::Error) -> UpstreamError {
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
fn retry_after_seconds(headers: &HeaderMap) -> Option<u64> {
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

/// Adds `client_id` / `client_secret` to a request body without copying it.
#[derive(Serialize)]
struct WithCredentials<'a, T: Serialize> {
    client_id: &'a str,
    client_secret: &'a str,
    #[serde(flatten)]
    inner: &'a T,
}

impl<'a, T: Serialize> WithCredentials<'a, T> {
    fn new(client: &'a Auth0Client, inner: &'a T) -> Self {
        Self {
            client_id: &client.client_id,
            client_secret: client.client_secret.expose_secret(),
            inner,
        }
    }
}

#[derive(Serialize)]
struct RevokeRequest<'a> {
    token: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

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
