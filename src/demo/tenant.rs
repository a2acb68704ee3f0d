//! The fake tenant's state and rules: pending one-time codes, magic-link
//! authorization codes, refresh tokens. Answers mirror Auth0's recorded
//! bodies (SPEC §7) so the gateway's real code path handles them.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use rand::Rng;
use serde_json::{json, Value};

use super::jwt::DemoKey;
use super::DemoOptions;

pub const DEMO_CLIENT_ID: &str = "demo-client-id";
/// Visibly fake: the demo tenant only accepts this value.
pub const DEMO_CLIENT_SECRET: &str = "demo-client-secret-not-a-real-secret";

const CODE_LIFETIME: Duration = Duration::from_secs(300);
/// Auth0 lets a code be tried a few times before it is burnt.
const MAX_CODE_ATTEMPTS: u32 = 3;
const TOKEN_LIFETIME_SECS: u64 = 3600;
/// Bounds the demo's memory whatever a script throws at it.
pub(super) const MAX_ENTRIES: usize = 10_000;
/// Auth0 session ids remembered per user; the oldest goes first.
const MAX_SIDS_PER_USER: usize = 32;
/// A logout token's `exp`: Auth0 gives its logout tokens a short life.
const LOGOUT_TOKEN_LIFETIME_SECS: u64 = 120;
/// Where a relying party receives logout tokens (SPEC §12).
pub const BACKCHANNEL_LOGOUT_PATH: &str = "/session/backchannel-logout";

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

struct PendingCode {
    code: String,
    expires: Instant,
    attempts: u32,
}

struct PendingLink {
    identifier: String,
    redirect_uri: String,
    expires: Instant,
}

/// Who a token belongs to, what it was asked for, and the issuer its
/// tokens name (see [`Tenant::issuer`]).
#[derive(Clone)]
pub(super) struct Session {
    pub subject: String,
    pub audience: String,
    pub scope: String,
    pub issuer: String,
    /// Auth0's session id (`sid` in id_tokens): one per sign-in, kept by
    /// every refresh of it.
    pub sid: String,
}

impl Session {
    /// A new sign-in of `subject`: a new `sid`.
    pub(super) fn sign_in(
        subject: String,
        audience: String,
        scope: String,
        issuer: String,
    ) -> Self {
        Self {
            subject,
            audience,
            scope,
            issuer,
            sid: random_token(32),
        }
    }
}

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
    codes: HashMap<String, PendingCode>,
    links: HashMap<String, PendingLink>,
    refresh_tokens: HashMap<String, Session>,
    /// The live Auth0 sessions (`sid`s) of each user, by `sub`: what
    /// ending the user's session sends logout tokens for.
    sids: HashMap<String, Vec<String>>,
    pub mfa: super::mfa::MfaState,
    pub passkeys: super::passkey::PasskeyState,
}

/// What `/passwordless/start` was asked to do.
pub struct StartRequest<'a> {
    pub connection: &'a str,
    pub email: Option<&'a str>,
    pub phone_number: Option<&'a str>,
    pub send: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
    pub language: Option<&'a str>,
    pub end_user_ip: Option<&'a str>,
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

    /// `POST /passwordless/start`.
    pub fn passwordless_start(&self, request: StartRequest<'_>) -> TenantResult {
        let (identifier, channel) = match (request.connection, request.email, request.phone_number)
        {
            ("email", Some(email), None) => (check_email(email)?.to_string(), "email"),
            ("sms", None, Some(phone)) => (check_phone_number(phone)?.to_string(), "sms"),
            ("email", None, _) => return Err(missing_property("bad.email", "email")),
            ("sms", _, None) => return Err(missing_property("bad.phone_number", "phone_number")),
            ("email", _, Some(_)) => return Err(not_allowed("phone_number")),
            ("sms", Some(_), _) => return Err(not_allowed("email")),
            _ => {
                return Err(TenantError::new(
                    StatusCode::BAD_REQUEST,
                    "bad.connection",
                    "Connection does not exist",
                ))
            }
        };
        let ip = request.end_user_ip.unwrap_or("(not sent)");
        let language = request.language.unwrap_or("default");
        match request.send {
            "code" => {
                let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000));
                let mut state = self.lock();
                prune(&mut state.codes, |c| c.expires);
                state.codes.insert(
                    identifier.clone(),
                    PendingCode {
                        code: code.clone(),
                        expires: Instant::now() + CODE_LIFETIME,
                        attempts: 0,
                    },
                );
                let what = if channel == "email" {
                    "email"
                } else {
                    "text message"
                };
                super::announce(&format!(
                    "{what} to {identifier}: your one-time code is {code}  \
                     (end-user IP {ip}, language {language}, valid 5 minutes)"
                ));
            }
            "link" => {
                let Some(redirect_uri) = request.redirect_uri else {
                    return Err(TenantError::new(
                        StatusCode::BAD_REQUEST,
                        "bad.authParams",
                        "redirect_uri is required for magic links",
                    ));
                };
                let code = random_token(24);
                let mut state = self.lock();
                prune(&mut state.links, |l| l.expires);
                state.links.insert(
                    code.clone(),
                    PendingLink {
                        identifier: identifier.clone(),
                        redirect_uri: redirect_uri.to_string(),
                        expires: Instant::now() + CODE_LIFETIME,
                    },
                );
                let separator = if redirect_uri.contains('?') { '&' } else { '?' };
                let state_param = request
                    .state
                    .map(|s| {
                        format!(
                            "&state={}",
                            url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                        )
                    })
                    .unwrap_or_default();
                super::announce(&format!(
                    "magic link to {identifier}: {redirect_uri}{separator}code={code}{state_param}  \
                     (or POST {{\"code\":\"{code}\"}} to /login/callback; end-user IP {ip})"
                ));
            }
            _ => {
                return Err(TenantError::new(
                    StatusCode::BAD_REQUEST,
                    "bad.request",
                    "send must be code or link",
                ))
            }
        }
        // Auth0's recorded answers (SPEC §7).
        Ok(if channel == "email" {
            json!({"_id": random_token(24), "email": identifier, "email_verified": false})
        } else {
            json!({"_id": random_token(24), "phone_number": identifier, "phone_verified": false, "request_language": null})
        })
    }

    /// The one-time code waiting for `identifier`, for tests that cannot
    /// read the console.
    #[doc(hidden)]
    pub fn pending_code(&self, identifier: &str) -> Option<String> {
        self.lock().codes.get(identifier).map(|c| c.code.clone())
    }

    /// The passwordless OTP grant; `issuer` from [`Tenant::issuer`].
    pub fn passwordless_otp(
        &self,
        username: &str,
        otp: &str,
        realm: &str,
        audience: Option<&str>,
        scope: &str,
        issuer: &str,
    ) -> TenantResult {
        let wrong = if realm == "sms" {
            "Wrong phone number or verification code."
        } else {
            "Wrong email or verification code."
        };
        let mut state = self.lock();
        let Some(pending) = state.codes.get_mut(username) else {
            return Err(TenantError::new(
                StatusCode::FORBIDDEN,
                "invalid_grant",
                wrong,
            ));
        };
        if pending.expires < Instant::now() {
            state.codes.remove(username);
            return Err(TenantError::new(
                StatusCode::FORBIDDEN,
                "invalid_grant",
                wrong,
            ));
        }
        if pending.code != otp {
            pending.attempts += 1;
            if pending.attempts >= MAX_CODE_ATTEMPTS {
                state.codes.remove(username);
                return Err(TenantError::new(
                    StatusCode::FORBIDDEN,
                    "invalid_grant",
                    "You've reached the maximum number of attempts. Please try to login again.",
                ));
            }
            return Err(TenantError::new(
                StatusCode::FORBIDDEN,
                "invalid_grant",
                wrong,
            ));
        }
        state.codes.remove(username);
        let session = Session::sign_in(
            subject_for(username),
            audience.unwrap_or_default().to_string(),
            scope.to_string(),
            issuer.to_string(),
        );
        if super::mfa::requires_mfa(username) {
            return Err(self.mfa_required(&mut state, session));
        }
        Ok(self.issue_tokens(&mut state, &session, true))
    }

    /// The `authorization_code` grant that completes a magic link.
    pub fn authorization_code(&self, code: &str, redirect_uri: &str, issuer: &str) -> TenantResult {
        let invalid = || {
            TenantError::new(
                StatusCode::FORBIDDEN,
                "invalid_grant",
                "Invalid authorization code",
            )
        };
        let mut state = self.lock();
        let link = state.links.remove(code).ok_or_else(invalid)?;
        if link.expires < Instant::now() || link.redirect_uri != redirect_uri {
            return Err(invalid());
        }
        let session = Session::sign_in(
            subject_for(&link.identifier),
            String::new(),
            "openid profile email offline_access".to_string(),
            issuer.to_string(),
        );
        if super::mfa::requires_mfa(&link.identifier) {
            return Err(self.mfa_required(&mut state, session));
        }
        Ok(self.issue_tokens(&mut state, &session, true))
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
            remember_sid(state, session);
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

impl Tenant {
    /// The live Auth0 session ids (`sid`) of `subject`, oldest first.
    pub fn sids_of(&self, subject: &str) -> Vec<String> {
        self.lock().sids.get(subject).cloned().unwrap_or_default()
    }

    /// Ends Auth0 sessions of `subject` in the tenant: `sid` alone when
    /// given, otherwise every one it knows. Returns the `sid`s ended (an
    /// unknown `sid` is still returned: the relying party may know it).
    pub(super) fn end_sessions(&self, subject: &str, sid: Option<&str>) -> Vec<String> {
        let mut state = self.lock();
        match sid {
            Some(sid) => {
                if let Some(sids) = state.sids.get_mut(subject) {
                    sids.retain(|s| s != sid);
                }
                vec![sid.to_string()]
            }
            None => state.sids.remove(subject).unwrap_or_default(),
        }
    }

    /// A logout token as Auth0 signs one (OIDC Back-Channel Logout 1.0
    /// §2.4): RS256 under the tenant's key, for the demo client, with the
    /// back-channel logout event and the `sid` and/or `sub` it ends.
    pub fn logout_token(&self, subject: Option<&str>, sid: Option<&str>) -> String {
        let now = unix_now();
        let mut claims = json!({
            "iss": self.issuer(false),
            "aud": DEMO_CLIENT_ID,
            "iat": now,
            "exp": now + LOGOUT_TOKEN_LIFETIME_SECS,
            "jti": random_token(24),
            "events": { crate::session::logout_token::BACKCHANNEL_LOGOUT_EVENT: {} },
        });
        if let Some(subject) = subject {
            claims["sub"] = json!(subject);
        }
        if let Some(sid) = sid {
            claims["sid"] = json!(sid);
        }
        self.key.sign(&claims)
    }

    /// The gateway's origin, once [`Tenant::link`] told it.
    pub(super) fn gateway(&self) -> Option<&str> {
        self.gateway.get().map(String::as_str)
    }
}

/// Records a sign-in's `sid` under its user, bounded per user and overall.
fn remember_sid(state: &mut State, session: &Session) {
    if !state.sids.contains_key(&session.subject) && state.sids.len() >= MAX_ENTRIES {
        state.sids.clear();
    }
    let sids = state.sids.entry(session.subject.clone()).or_default();
    if !sids.contains(&session.sid) {
        if sids.len() >= MAX_SIDS_PER_USER {
            sids.remove(0);
        }
        sids.push(session.sid.clone());
    }
}

/// Auth0's `bad.*` answer for a missing `/passwordless/start` property.
fn missing_property(error: &'static str, property: &str) -> TenantError {
    TenantError::new(
        StatusCode::BAD_REQUEST,
        error,
        format!("Missing required property: {property}"),
    )
}

fn not_allowed(property: &str) -> TenantError {
    TenantError::new(
        StatusCode::BAD_REQUEST,
        "bad.request",
        format!("the following properties are not allowed: {property}"),
    )
}

/// An address Auth0's `email` format accepts: the gateway's own check
/// (`local@domain`, a dotted domain of letters, digits and hyphens, at most
/// 254 characters), without its trimming: Auth0 refuses the spaces.
fn check_email(email: &str) -> Result<&str, TenantError> {
    let valid = email == email.trim() && crate::domain::Email::parse(email).is_ok();
    if valid {
        Ok(email)
    } else {
        Err(TenantError::new(
            StatusCode::BAD_REQUEST,
            "bad.email",
            format!("error in email - email format validation failed: {email}"),
        ))
    }
}

/// Auth0's own pattern for `/passwordless/start`: `^\+[0-9]{1,15}$`.
fn check_phone_number(phone: &str) -> Result<&str, TenantError> {
    let digits = phone.strip_prefix('+').unwrap_or("");
    if (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(phone)
    } else {
        Err(TenantError::new(
            StatusCode::BAD_REQUEST,
            "bad.phone_number",
            "String does not match pattern: ^\\+[0-9]{1,15}$",
        ))
    }
}

/// `email|jane@example.com` / `sms|+14155550100`, like Auth0's user ids.
pub(super) fn subject_for(identifier: &str) -> String {
    if identifier.contains('@') {
        format!("email|{identifier}")
    } else {
        format!("sms|{identifier}")
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

    const ISS: &str = "http://127.0.0.1:1/";

    fn start(tenant: &Tenant, email: &str) {
        let result = tenant.passwordless_start(StartRequest {
            connection: "email",
            email: Some(email),
            phone_number: None,
            send: "code",
            redirect_uri: None,
            state: None,
            language: None,
            end_user_ip: None,
        });
        assert!(result.is_ok());
    }

    fn code_for(tenant: &Tenant, email: &str) -> String {
        tenant
            .lock()
            .codes
            .get(email)
            .map(|c| c.code.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a_code_works_once_and_wrong_codes_burn_it() {
        let tenant = Tenant::new("http://127.0.0.1:1".into());
        start(&tenant, "jane@example.com");
        let code = code_for(&tenant, "jane@example.com");
        let scope = "openid offline_access";
        let ok = tenant.passwordless_otp("jane@example.com", &code, "email", None, scope, ISS);
        assert!(ok.as_ref().is_ok_and(|v| v["refresh_token"].is_string()));
        let again = tenant.passwordless_otp("jane@example.com", &code, "email", None, scope, ISS);
        assert_eq!(again.err().map(|e| e.error), Some("invalid_grant"));

        start(&tenant, "jane@example.com");
        for _ in 0..2 {
            let wrong =
                tenant.passwordless_otp("jane@example.com", "000000x", "email", None, scope, ISS);
            assert_eq!(
                wrong.err().map(|e| e.description),
                Some("Wrong email or verification code.".into())
            );
        }
        let last =
            tenant.passwordless_otp("jane@example.com", "000000x", "email", None, scope, ISS);
        assert!(last
            .err()
            .is_some_and(|e| e.description.contains("maximum number of attempts")));
    }

    fn start_request<'a>(
        connection: &'a str,
        email: Option<&'a str>,
        phone_number: Option<&'a str>,
    ) -> StartRequest<'a> {
        StartRequest {
            connection,
            email,
            phone_number,
            send: "code",
            redirect_uri: None,
            state: None,
            language: None,
            end_user_ip: None,
        }
    }

    #[test]
    fn passwordless_start_answers_auth0s_bad_input_codes() {
        let tenant = Tenant::new("http://127.0.0.1:1".into());
        let cases = [
            ("email", Some("not-an-email"), None, "bad.email"),
            ("email", Some("jane@localhost"), None, "bad.email"),
            ("email", Some("jane doe@example.com"), None, "bad.email"),
            ("email", Some("@example.com"), None, "bad.email"),
            ("email", None, None, "bad.email"),
            ("sms", None, Some("not-a-phone"), "bad.phone_number"),
            ("sms", None, Some("14155550100"), "bad.phone_number"),
            ("sms", None, Some("+1234567890123456"), "bad.phone_number"),
            ("sms", None, None, "bad.phone_number"),
            (
                "email",
                Some("jane@example.com"),
                Some("+14155550100"),
                "bad.request",
            ),
            ("push", Some("jane@example.com"), None, "bad.connection"),
        ];
        for (connection, email, phone, error) in cases {
            let answer = tenant.passwordless_start(start_request(connection, email, phone));
            let got = answer.err().map(|e| (e.status.as_u16(), e.error));
            assert_eq!(got, Some((400, error)), "{connection} {email:?} {phone:?}");
        }
        for (connection, email, phone) in [
            ("email", Some("mfa+alice@mail.example.co.uk"), None),
            ("sms", None, Some("+14155550100")),
        ] {
            let answer = tenant.passwordless_start(start_request(connection, email, phone));
            assert!(answer.is_ok(), "{email:?} {phone:?}");
        }
        assert!(tenant.pending_code("+14155550100").is_some());
    }

    #[test]
    fn a_refresh_with_an_empty_scope_keeps_the_original_scope_and_its_id_token() {
        let tenant = Tenant::new("http://127.0.0.1:1".into());
        start(&tenant, "jane@example.com");
        let code = code_for(&tenant, "jane@example.com");
        let login = tenant
            .passwordless_otp(
                "jane@example.com",
                &code,
                "email",
                None,
                "openid offline_access",
                ISS,
            )
            .expect("tokens");
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

    /// A sign-in through the code grant; its id_token's claims and its
    /// refresh token.
    fn sign_in(tenant: &Tenant, email: &str) -> (Value, String) {
        start(tenant, email);
        let code = code_for(tenant, email);
        let scope = "openid offline_access";
        let tokens = tenant
            .passwordless_otp(email, &code, "email", None, scope, ISS)
            .expect("tokens");
        let claims = tenant
            .key()
            .verify(tokens["id_token"].as_str().expect("an id_token"))
            .expect("signed by the tenant");
        let refresh = tokens["refresh_token"].as_str().expect("a refresh token");
        (claims, refresh.to_string())
    }

    #[test]
    fn each_sign_in_gets_its_own_sid_which_its_refreshes_keep() {
        let tenant = Tenant::new("http://127.0.0.1:1".into());
        let jane = "email|jane@example.com";
        let (first, refresh) = sign_in(&tenant, "jane@example.com");
        let (second, _) = sign_in(&tenant, "jane@example.com");
        let sid = |claims: &Value| claims["sid"].as_str().unwrap_or_default().to_string();
        assert_eq!(sid(&first).len(), 32);
        assert_ne!(sid(&first), sid(&second));
        assert_eq!(tenant.sids_of(jane), vec![sid(&first), sid(&second)]);

        let refreshed = tenant.refresh(&refresh, None, None, ISS).expect("tokens");
        let claims = tenant
            .key()
            .verify(refreshed["id_token"].as_str().expect("an id_token"))
            .expect("signed by the tenant");
        assert_eq!(sid(&claims), sid(&first), "a refresh is the same session");
        assert_eq!(tenant.sids_of(jane).len(), 2);

        assert_eq!(
            tenant.end_sessions(jane, Some(&sid(&first))),
            vec![sid(&first)]
        );
        assert_eq!(tenant.sids_of(jane), vec![sid(&second)]);
        assert_eq!(tenant.end_sessions(jane, None), vec![sid(&second)]);
        assert!(tenant.sids_of(jane).is_empty());
        assert!(tenant.end_sessions(jane, None).is_empty());
    }

    #[test]
    fn a_user_keeps_at_most_the_last_sids() {
        let tenant = Tenant::new("http://127.0.0.1:1".into());
        for _ in 0..MAX_SIDS_PER_USER + 3 {
            sign_in(&tenant, "jane@example.com");
        }
        assert_eq!(
            tenant.sids_of("email|jane@example.com").len(),
            MAX_SIDS_PER_USER
        );
    }

    #[test]
    fn a_logout_token_is_signed_by_the_tenant_for_the_demo_client() {
        let tenant = Tenant::new("http://127.0.0.1:1".into());
        let token = tenant.logout_token(Some("email|jane@example.com"), Some("sid-1"));
        let claims = tenant.key().verify(&token).expect("signed by the tenant");
        assert_eq!(claims["iss"], "http://127.0.0.1:1/");
        assert_eq!(claims["aud"], DEMO_CLIENT_ID);
        assert_eq!(claims["sub"], "email|jane@example.com");
        assert_eq!(claims["sid"], "sid-1");
        assert!(claims["jti"].is_string());
        assert!(claims.get("nonce").is_none());
        assert_eq!(
            claims["events"][crate::session::logout_token::BACKCHANNEL_LOGOUT_EVENT],
            json!({})
        );
        let only_sub = tenant.key().verify(&tenant.logout_token(Some("s"), None));
        assert!(only_sub.is_some_and(|c| c.get("sid").is_none()));
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
