//! The fake tenant itself: its identity (base URL, issuer, signing key,
//! discovery document), the client it accepts, the one lock over its state,
//! and the tokens it issues and refreshes. Answers mirror Auth0's recorded
//! bodies (SPEC §7) so the gateway's real code path handles them.
//!
//! Each group of rules keeps its state and its `impl Tenant` in its own
//! module, so this file reads on its own:
//! - [`super::passwordless`]: one-time codes, magic links and the grants
//!   that complete them;
//! - [`super::sessions`]: Auth0 sessions (`sid`s) and logout tokens;
//! - [`super::mfa`], [`super::passkey`], [`super::my_account`]: second
//!   factors, passkeys and the My Account API.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use actix_web::http::StatusCode;
use rand::Rng;
use serde_json::{json, Value};

use super::jwt::DemoKey;
use super::sessions::Session;
use super::DemoOptions;

pub const DEMO_CLIENT_ID: &str = "demo-client-id";
/// Visibly fake: the demo tenant only accepts this value.
pub const DEMO_CLIENT_SECRET: &str = "demo-client-secret-not-a-real-secret";

const TOKEN_LIFETIME_SECS: u64 = 3600;
/// Bounds the demo's memory whatever a script throws at it.
pub(super) const MAX_ENTRIES: usize = 10_000;

/// An Auth0-shaped failure: status plus `{error, error_description}`.
#[derive(Debug)]
pub struct TenantError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// More fields for the body (`mfa_token`, `mfa_requirements`).
    pub extra: Option<Value>,
}

impl TenantError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            extra: None,
        }
    }

    pub fn body(&self) -> Value {
        let mut body = json!({"error": self.error, "error_description": self.description});
        if let (Some(Value::Object(extra)), Some(map)) = (&self.extra, body.as_object_mut()) {
            map.extend(extra.clone());
        }
        body
    }
}

pub type TenantResult = Result<Value, TenantError>;

pub struct Tenant {
    base_url: String,
    options: DemoOptions,
    key: DemoKey,
    state: Mutex<State>,
    /// The gateway's origin, where logout tokens go; set once the gateway
    /// listens ([`Tenant::link`]).
    gateway: OnceLock<String>,
    /// The example app's origin, the one origin `/demo/end-session`
    /// answers across origins.
    app_origin: OnceLock<String>,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) passwordless: super::passwordless::PasswordlessState,
    refresh_tokens: HashMap<String, Session>,
    pub(super) sids: super::sessions::Sids,
    pub mfa: super::mfa::MfaState,
    pub passkeys: super::passkey::PasskeyState,
}

impl Tenant {
    pub fn new(base_url: String) -> Self {
        Self::with_options(base_url, DemoOptions::default())
    }

    /// Generates the tenant's RSA-2048 signing key (a fresh one at every
    /// start: nothing signed by an earlier demo verifies).
    pub fn with_options(base_url: String, options: DemoOptions) -> Self {
        // Fixed, valid parameters (2048 bits, e = 65537): generation fails
        // only if the system's random source does, and then nothing works.
        #[allow(clippy::expect_used)]
        let key = DemoKey::generate().expect("generating the demo tenant's RSA-2048 key");
        Self {
            base_url,
            options,
            key,
            state: Mutex::new(State::default()),
            gateway: OnceLock::new(),
            app_origin: OnceLock::new(),
        }
    }

    /// Tells the tenant where the gateway is (its origin, where logout
    /// tokens are posted) and the example app's origin (allowed to ask for
    /// `/demo/end-session` across origins). The first call wins.
    pub fn link(&self, gateway_origin: &str, app_origin: Option<&str>) {
        let _ = self
            .gateway
            .set(gateway_origin.trim_end_matches('/').to_string());
        if let Some(origin) = app_origin {
            let _ = self.app_origin.set(origin.to_string());
        }
    }

    pub(super) fn app_origin(&self) -> Option<&str> {
        self.app_origin.get().map(String::as_str)
    }

    /// The gateway's origin, once [`Tenant::link`] told it.
    pub(super) fn gateway(&self) -> Option<&str> {
        self.gateway.get().map(String::as_str)
    }

    pub(super) fn options(&self) -> &DemoOptions {
        &self.options
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub(super) fn key(&self) -> &DemoKey {
        &self.key
    }

    /// The tenant's public origin: its base URL, or the same host and port
    /// with `https` when a TLS-terminating proxy in front of it says so
    /// (`X-Forwarded-Proto: https`). Auth0's SDKs only speak `https://` and
    /// check `iss` against it; behind such a proxy they get the issuer they
    /// expect, as with an Auth0 custom domain. The tenant only listens on
    /// loopback, so only a local process can ask for that.
    pub fn origin(&self, forwarded_https: bool) -> String {
        match self.base_url.strip_prefix("http://") {
            Some(rest) if forwarded_https => format!("https://{rest}"),
            _ => self.base_url.clone(),
        }
    }

    /// `iss` of the tenant's tokens: its origin with a trailing slash, as
    /// Auth0 writes it (`https://tenant.auth0.com/`).
    pub fn issuer(&self, forwarded_https: bool) -> String {
        format!("{}/", self.origin(forwarded_https))
    }

    /// `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Value {
        self.key.jwks()
    }

    /// `/.well-known/openid-configuration`: what the tenant serves, in
    /// the shape of Auth0's document.
    pub fn openid_configuration(&self, forwarded_https: bool) -> Value {
        let origin = self.origin(forwarded_https);
        json!({
            "issuer": format!("{origin}/"),
            "authorization_endpoint": format!("{origin}/authorize"),
            "token_endpoint": format!("{origin}/oauth/token"),
            "jwks_uri": format!("{origin}/.well-known/jwks.json"),
            "revocation_endpoint": format!("{origin}/oauth/revoke"),
            "mfa_challenge_endpoint": format!("{origin}/mfa/challenge"),
            "scopes_supported": ["openid", "profile", "email", "phone", "offline_access"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                crate::auth0::GRANT_PASSWORDLESS_OTP,
                crate::auth0::GRANT_MFA_OTP,
                crate::auth0::GRANT_MFA_OOB,
                crate::auth0::GRANT_MFA_RECOVERY_CODE,
                super::passkey::GRANT_WEBAUTHN,
            ],
            "claims_supported": [
                "aud", "iss", "iat", "exp", "sub", "sid", "name",
                "email", "email_verified", "phone_number", "phone_number_verified",
            ],
            // OIDC Back-Channel Logout 1.0 §2.1: logout tokens are sent,
            // with `sid` (see `/demo/end-session`).
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
            "request_uri_parameter_supported": false,
            "request_parameter_supported": false,
        })
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere must not take the demo down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn check_client(
        client_id: Option<&str>,
        client_secret: Option<&str>,
    ) -> Result<(), TenantError> {
        if client_id == Some(DEMO_CLIENT_ID) && client_secret == Some(DEMO_CLIENT_SECRET) {
            Ok(())
        } else {
            Err(TenantError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed.",
            ))
        }
    }

    /// The `refresh_token` grant (no rotation: the refresh token stays valid).
    /// An absent or empty `scope` (auth0-python sends `scope: ""`) keeps the
    /// original grant's, `id_token` included when it had `openid`. An
    /// `audience` asks for an access token to another API (Auth0's
    /// multi-resource refresh tokens; see [`Tenant::refresh_audience`]).
    pub fn refresh(
        &self,
        refresh_token: &str,
        scope: Option<&str>,
        audience: Option<&str>,
        issuer: &str,
    ) -> TenantResult {
        let mut state = self.lock();
        let Some(mut session) = state.refresh_tokens.get(refresh_token).cloned() else {
            return Err(TenantError::new(
                StatusCode::FORBIDDEN,
                "invalid_grant",
                "Unknown or invalid refresh token.",
            ));
        };
        if let Some(scope) = scope.filter(|s| !s.trim().is_empty()) {
            session.scope = scope.to_string();
        }
        if let Some(audience) = audience {
            session.audience = self.refresh_audience(&session.audience, audience)?;
        }
        session.issuer = issuer.to_string();
        Ok(self.issue_tokens(&mut state, &session, false))
    }

    /// `POST /oauth/revoke`: 200 whether or not the token was known.
    pub fn revoke(&self, token: &str) {
        self.lock().refresh_tokens.remove(token);
    }

    pub(super) fn issue_tokens(
        &self,
        state: &mut State,
        session: &Session,
        with_refresh: bool,
    ) -> Value {
        let now = unix_now();
        let issuer = &session.issuer;
        let audience = if session.audience.is_empty() {
            format!("{}/userinfo", self.base_url)
        } else {
            session.audience.clone()
        };
        let access_token = self.key.sign(&json!({
            "iss": issuer, "sub": session.subject, "aud": audience, "azp": DEMO_CLIENT_ID,
            "iat": now, "exp": now + TOKEN_LIFETIME_SECS, "scope": session.scope,
        }));
        let mut answer = json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_SECS,
            "scope": session.scope,
        });
        let scopes: Vec<&str> = session.scope.split_whitespace().collect();
        if scopes.contains(&"openid") {
            let identifier = session
                .subject
                .split_once('|')
                .map(|(_, id)| id)
                .unwrap_or("");
            let mut claims = json!({
                "iss": issuer, "sub": session.subject, "aud": DEMO_CLIENT_ID,
                "iat": now, "exp": now + TOKEN_LIFETIME_SECS, "name": identifier,
                "sid": session.sid,
            });
            if let Some(profile) = state.passkeys.id_token_claims(&session.subject) {
                // A passkey sign-up's user: its profile, not its id.
                if let Some(map) = claims.as_object_mut() {
                    map.extend(profile);
                }
            } else if identifier.contains('@') {
                claims["email"] = json!(identifier);
                claims["email_verified"] = json!(true);
            } else {
                claims["phone_number"] = json!(identifier);
                claims["phone_number_verified"] = json!(true);
            }
            answer["id_token"] = json!(self.key.sign(&claims));
        }
        if with_refresh {
            state.sids.remember(session);
        }
        if with_refresh && scopes.contains(&"offline_access") {
            let refresh_token = random_token(40);
            if state.refresh_tokens.len() >= MAX_ENTRIES {
                state.refresh_tokens.clear();
            }
            state
                .refresh_tokens
                .insert(refresh_token.clone(), session.clone());
            answer["refresh_token"] = json!(refresh_token);
        }
        answer
    }
}

pub(super) fn prune<T>(map: &mut HashMap<String, T>, expires: impl Fn(&T) -> Instant) {
    if map.len() >= MAX_ENTRIES {
        let now = Instant::now();
        map.retain(|_, v| expires(v) > now);
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
    }
}

pub fn random_token(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

pub use crate::session::unix_now;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::passwordless::sign_in_with_code;

    const ISS: &str = "http://127.0.0.1:1/";

    #[test]
    fn a_refresh_with_an_empty_scope_keeps_the_original_scope_and_its_id_token() {
        let tenant = Tenant::new("http://127.0.0.1:1".into());
        let login = sign_in_with_code(&tenant, "jane@example.com", ISS).expect("tokens");
        let refresh_token = login["refresh_token"].as_str().expect("a refresh token");
        for scope in [None, Some(""), Some("  ")] {
            let refreshed = tenant
                .refresh(refresh_token, scope, None, ISS)
                .expect("tokens");
            assert_eq!(refreshed["scope"], "openid offline_access", "{scope:?}");
            assert!(refreshed["id_token"].is_string(), "{scope:?}");
        }
        let narrowed = tenant
            .refresh(refresh_token, Some("offline_access"), None, ISS)
            .expect("tokens");
        assert!(narrowed.get("id_token").is_none());
    }

    #[test]
    fn the_issuer_is_the_base_url_with_a_slash_or_its_https_twin_behind_tls() {
        let tenant = Tenant::new("http://127.0.0.1:1".into());
        assert_eq!(tenant.issuer(false), "http://127.0.0.1:1/");
        assert_eq!(tenant.issuer(true), "https://127.0.0.1:1/");
        let discovery = tenant.openid_configuration(false);
        assert_eq!(discovery["issuer"], "http://127.0.0.1:1/");
        assert_eq!(
            discovery["jwks_uri"],
            "http://127.0.0.1:1/.well-known/jwks.json"
        );
        assert_eq!(discovery["backchannel_logout_supported"], true);
        assert_eq!(discovery["backchannel_logout_session_supported"], true);
    }
}
