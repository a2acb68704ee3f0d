//! The upstream client: one pooled reqwest client that injects the
//! application's credentials and the end user's IP into every Auth0 call.
//!
//! Nothing here retries: once a request may have reached Auth0 a retry could
//! send a second SMS or burn a one-time code.

mod answer;
pub mod errors;
pub mod my_account;
pub mod passkey;
pub mod types;

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use actix_web::http::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use answer::{
    decode_authenticators, decode_ignored, decode_json, retry_after_seconds, transport_error,
    Answer,
};
pub use errors::UpstreamError;
pub use my_account::{EnrolledPasskey, PasskeyEnrollment};
pub use passkey::{PasskeyCeremony, UserProfile, VerificationIdentifier};
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
    /// My Account API: `POST /me/v1/authentication-methods`.
    MyAccountEnroll,
    /// My Account API: `POST /me/v1/authentication-methods/{id}/verify`.
    MyAccountEnrollVerify,
    PasskeyRegister,
    PasskeyChallenge,
    /// The webauthn grant: `/oauth/token` (its label), told apart so its
    /// answers are read as the Passkey API documents them.
    PasskeyToken,
}

impl Endpoint {
    pub fn label(self) -> &'static str {
        match self {
            Self::PasswordlessStart => "passwordless_start",
            Self::Token | Self::PasskeyToken => "oauth_token",
            Self::Revoke => "oauth_revoke",
            Self::MfaAuthenticators => "mfa_authenticators",
            Self::MfaAssociate => "mfa_associate",
            Self::MfaChallenge => "mfa_challenge",
            Self::MfaDeleteAuthenticator => "mfa_delete_authenticator",
            Self::MyAccountEnroll => "my_account_enroll",
            Self::MyAccountEnrollVerify => "my_account_enroll_verify",
            Self::PasskeyRegister => "passkey_register",
            Self::PasskeyChallenge => "passkey_challenge",
        }
    }

    /// The My Account API answers errors in its own shape and is called
    /// with the user's token, never the client's credentials.
    pub fn is_my_account(self) -> bool {
        matches!(self, Self::MyAccountEnroll | Self::MyAccountEnrollVerify)
    }
}

pub struct Auth0Client {
    /// Built at start (so a broken TLS setup fails the start); each worker
    /// thread then builds its own from the same settings, see [`Self::http`].
    shared_http: reqwest::Client,
    /// Tells this client's per-thread pools apart from other instances'.
    instance: u64,
    timeout: std::time::Duration,
    connect_timeout: std::time::Duration,
    base_url: String,
    /// Parsed once: parsing a URL per call showed up in the profile.
    urls: EndpointUrls,
    client_id: String,
    client_secret: SecretString,
    max_response_bytes: usize,
}

impl Auth0Client {
    pub fn new(settings: &Auth0Settings) -> Result<Self, String> {
        static INSTANCES: AtomicU64 = AtomicU64::new(0);
        let shared_http =
            build_http(settings.timeout, settings.connect_timeout).map_err(|e| e.to_string())?;
        Ok(Self {
            shared_http,
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
            timeout: settings.timeout,
            connect_timeout: settings.connect_timeout,
            base_url: settings.base_url.clone(),
            urls: EndpointUrls::new(&settings.base_url)
                .map_err(|_| "auth0.domain does not form a URL".to_string())?,
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            max_response_bytes: settings.max_response_bytes,
        })
    }

    /// This thread's HTTP client: one connection pool per worker thread.
    /// A pooled connection's I/O runs on the thread that opened it, so with
    /// one shared pool most requests crossed threads twice (two wake-ups and
    /// context switches per call, visible in `PROFILE=1 scripts/bench`).
    fn http(&self) -> reqwest::Client {
        HTTP_CLIENTS.with_borrow_mut(|clients| {
            clients
                .entry(self.instance)
                .or_insert_with(|| {
                    build_http(self.timeout, self.connect_timeout)
                        .unwrap_or_else(|_| self.shared_http.clone())
                })
                .clone()
        })
    }

    /// `POST /passwordless/start`. Auth0's body (user ids) is not reflected.
    pub async fn passwordless_start(
        &self,
        caller: Caller<'_>,
        request: &PasswordlessStart<'_>,
    ) -> Result<(), UpstreamError> {
        let body = WithCredentials::new(self, request);
        let call = Call::post(
            Endpoint::PasswordlessStart,
            &self.urls.passwordless_start,
            caller,
            &body,
        );
        self.send(call, decode_ignored).await
    }

    /// `POST /oauth/token`: tokens, or `UpstreamError::MfaRequired` when
    /// Auth0 asks for a second factor.
    pub async fn token_grant(
        &self,
        caller: Caller<'_>,
        grant: &TokenGrant<'_>,
    ) -> Result<TokenSet, UpstreamError> {
        let body = WithCredentials::new(self, grant);
        let call = Call::post(Endpoint::Token, &self.urls.token, caller, &body);
        self.send(call, decode_json).await
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
        let call = Call::post(Endpoint::Revoke, &self.urls.revoke, caller, &body);
        self.send(call, decode_ignored).await
    }

    /// `GET /mfa/authenticators` with the caller's bearer.
    pub async fn list_authenticators(
        &self,
        caller: Caller<'_>,
        bearer: &str,
    ) -> Result<Vec<Authenticator>, UpstreamError> {
        let call = Call::<()> {
            endpoint: Endpoint::MfaAuthenticators,
            method: reqwest::Method::GET,
            url: self.urls.authenticators.clone(),
            caller,
            bearer: Some(bearer),
            body: None,
        };
        self.send(call, decode_authenticators).await
    }

    /// `POST /mfa/associate` with the caller's bearer.
    pub async fn associate(
        &self,
        caller: Caller<'_>,
        bearer: &str,
        request: &AssociateRequest<'_>,
    ) -> Result<AssociateAnswer, UpstreamError> {
        let body = WithCredentials::new(self, request);
        let mut call = Call::post(Endpoint::MfaAssociate, &self.urls.associate, caller, &body);
        call.bearer = Some(bearer);
        self.send(call, decode_json).await
    }

    /// `POST /mfa/challenge`; the mfa_token travels in the body.
    pub async fn challenge(
        &self,
        caller: Caller<'_>,
        request: &ChallengeRequest<'_>,
    ) -> Result<ChallengeAnswer, UpstreamError> {
        let body = WithCredentials::new(self, request);
        let call = Call::post(Endpoint::MfaChallenge, &self.urls.challenge, caller, &body);
        self.send(call, decode_json).await
    }

    /// `DELETE /mfa/authenticators/{id}`. The id is one percent-encoded
    /// path segment, so `/`, `?`, `#` or `%` in it cannot change the target.
    pub async fn delete_authenticator(
        &self,
        caller: Caller<'_>,
        bearer: &str,
        authenticator_id: &str,
    ) -> Result<(), UpstreamError> {
        let url = format!(
            "{}/mfa/authenticators/{}",
            self.base_url,
            percent_encoding::utf8_percent_encode(authenticator_id, PATH_SEGMENT)
        );
        let url = reqwest::Url::parse(&url)
            .map_err(|_| UpstreamError::bad_answer("authenticator URL could not be built"))?;
        let call = Call::<()> {
            endpoint: Endpoint::MfaDeleteAuthenticator,
            method: reqwest::Method::DELETE,
            url,
            caller,
            bearer: Some(bearer),
            body: None,
        };
        self.send(call, decode_ignored).await
    }

    /// Sends one call, reads the answer with a size cap, turns every non-2xx
    /// into an [`UpstreamError`] and decodes a 2xx with `decode`. Records the
    /// upstream metric and logs what the operator must know.
    async fn send<B: Serialize, T>(
        &self,
        call: Call<'_, B>,
        decode: fn(&Answer) -> Result<T, UpstreamError>,
    ) -> Result<T, UpstreamError> {
        let started = Instant::now();
        let endpoint = call.endpoint.label();
        let (status, answer) = self.exchange(&call).await;
        let result = answer.and_then(|answer| decode(&answer));
        let outcome = match (&result, status) {
            (Err(UpstreamError::Timeout), _) => "timeout",
            (Err(UpstreamError::Unreachable { .. }), _) => "connect_error",
            (_, Some(status)) if status >= 500 => "5xx",
            (_, Some(status)) if status >= 400 => "4xx",
            (Ok(_), _) => "ok",
            // A 2xx (or 3xx) whose body is unusable.
            (Err(_), _) => "bad_answer",
        };
        crate::metrics::record_upstream(endpoint, outcome, started.elapsed());
        if result.is_ok() {
            return result;
        }
        // Rare path: these events carry the request id themselves.
        let request_id = crate::request_id::current();
        let request_id = request_id.as_deref().unwrap_or("");
        match &result {
            Err(UpstreamError::Misconfigured { code }) => tracing::error!(
                request_id,
                endpoint,
                code = code.as_str(),
                "Auth0 rejected the gateway's own credentials or grant: check auth0.client_id, \
                 the client secret and the application's grant types"
            ),
            Err(UpstreamError::BadAnswer { reason }) => {
                tracing::warn!(
                    request_id,
                    endpoint,
                    reason = reason.as_str(),
                    "Auth0 gave an unusable answer"
                )
            }
            Err(UpstreamError::Unreachable { reason }) => {
                tracing::warn!(
                    request_id,
                    endpoint,
                    reason = reason.as_str(),
                    "Auth0 unreachable"
                )
            }
            Err(UpstreamError::Timeout) => {
                tracing::warn!(request_id, endpoint, "Auth0 did not answer in time")
            }
            // Expected (a sign-up of an existing user), but the client's
            // answer hides why: the operator gets Auth0's code, never its
            // description (it may quote the address).
            Err(UpstreamError::SignUpRefused { code }) => tracing::info!(
                request_id,
                endpoint,
                code = code.as_str(),
                "Auth0 refused a passkey sign-up; the client got the one fixed answer"
            ),
            _ => {}
        }
        result
    }

    /// The HTTP status (when one arrived) and the answer or its error.
    async fn exchange<B: Serialize>(
        &self,
        call: &Call<'_, B>,
    ) -> (Option<u16>, Result<Answer, UpstreamError>) {
        let mut status = None;
        let result = self.exchange_inner(call, &mut status).await;
        (status, result)
    }

    async fn exchange_inner<B: Serialize>(
        &self,
        call: &Call<'_, B>,
        seen_status: &mut Option<u16>,
    ) -> Result<Answer, UpstreamError> {
        let Call {
            method,
            url,
            caller,
            bearer,
            body,
            ..
        } = call;
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(
            FORWARDED_FOR_HEADER,
            HeaderValue::from_str(&caller.ip.to_string())
                .map_err(|_| UpstreamError::bad_answer("unencodable client ip"))?,
        );
        if let Some(language) = caller.language.and_then(|l| HeaderValue::from_str(l).ok()) {
            headers.insert("x-request-language", language);
        }
        if let Some(token) = *bearer {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| UpstreamError::bad_answer("unencodable bearer token"))?;
            headers.insert(AUTHORIZATION, value);
        }
        let mut request = self
            .http()
            .request(method.clone(), url.clone())
            .headers(headers);
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body)
                .map_err(|_| UpstreamError::bad_answer("request could not be encoded"))?;
            request = request
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(bytes);
        }
        let mut response = request.send().await.map_err(transport_error)?;
        *seen_status = Some(response.status().as_u16());
        let status = StatusCode::from_u16(response.status().as_u16())
            .map_err(|_| UpstreamError::bad_answer("invalid status"))?;
        let retry_after = retry_after_seconds(response.headers());
        let location = response.headers().get(LOCATION).cloned();
        let body = crate::upstream_body::read_capped_answer(&mut response, self.max_response_bytes)
            .await
            .map_err(transport_error)?
            .ok_or_else(|| UpstreamError::bad_answer("answer larger than the size cap"))?;
        if status.is_success() {
            Ok(Answer {
                status,
                body,
                location,
            })
        } else {
            Err(errors::classify(call.endpoint, status, &body, retry_after))
        }
    }
}

thread_local! {
    static HTTP_CLIENTS: RefCell<HashMap<u64, reqwest::Client>> = RefCell::new(HashMap::new());
}

/// The upstream HTTP client: rustls, pooled keep-alive connections, both
/// timeouts, no redirects (a token endpoint never redirects). reqwest and
/// hyper only re-send a request the server provably did not process (a
/// pooled connection found closed before writing, an HTTP/2 refused
/// stream); the gateway itself never retries.
pub(crate) fn build_http(
    timeout: std::time::Duration,
    connect_timeout: std::time::Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .tcp_nodelay(true)
        .user_agent(concat!("login-gateway/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The fixed Auth0 endpoints, parsed once.
struct EndpointUrls {
    passwordless_start: reqwest::Url,
    token: reqwest::Url,
    revoke: reqwest::Url,
    authenticators: reqwest::Url,
    associate: reqwest::Url,
    challenge: reqwest::Url,
    passkey_register: reqwest::Url,
    passkey_challenge: reqwest::Url,
}

impl EndpointUrls {
    fn new(base_url: &str) -> Result<Self, UpstreamError> {
        let url = |path: &str| {
            reqwest::Url::parse(&format!("{base_url}{path}"))
                .map_err(|_| UpstreamError::bad_answer("auth0.domain does not form a URL"))
        };
        Ok(Self {
            passwordless_start: url("/passwordless/start")?,
            token: url("/oauth/token")?,
            revoke: url("/oauth/revoke")?,
            authenticators: url("/mfa/authenticators")?,
            associate: url("/mfa/associate")?,
            challenge: url("/mfa/challenge")?,
            passkey_register: url("/passkey/register")?,
            passkey_challenge: url("/passkey/challenge")?,
        })
    }
}

/// One upstream call.
struct Call<'a, B: Serialize> {
    endpoint: Endpoint,
    method: reqwest::Method,
    url: reqwest::Url,
    caller: Caller<'a>,
    bearer: Option<&'a str>,
    body: Option<&'a B>,
}

impl<'a, B: Serialize> Call<'a, B> {
    fn post(endpoint: Endpoint, url: &reqwest::Url, caller: Caller<'a>, body: &'a B) -> Self {
        Self {
            endpoint,
            method: reqwest::Method::POST,
            url: url.clone(),
            caller,
            bearer: None,
            body: Some(body),
        }
    }
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
