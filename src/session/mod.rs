//! Cookie sessions (SPEC §10): the gateway as the browser app's
//! backend-for-frontend. Auth0's tokens are sealed into `HttpOnly` cookies
//! ([`seal`]) instead of being handed to JavaScript; the gateway stays
//! stateless. This module reads and writes those cookies and decides the
//! CSRF rule; the routes (`routes::session`, the login-completing calls,
//! `/mfa/*`) use it.

pub mod logout_token;
pub mod revocation;
pub mod seal;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::header::{self, HeaderValue};
use actix_web::HttpRequest;
use serde::{Deserialize, Serialize};

use crate::settings::SessionSettings;
use seal::{OpenError, Sealer};

/// The opt-in header, and the CSRF proof on every cookie-bearing call.
pub const OPT_IN_HEADER: &str = "x-lgw-session";
/// The mfa_token's cookie lives at most this long (SPEC §10).
pub const MFA_COOKIE_SECS: u64 = 600;
/// The last-use time is resealed at most this often.
const TOUCH_EVERY_SECS: u64 = 60;

/// What the session cookie holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionData {
    /// Auth0's refresh token (`None` without `offline_access`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub access_token: String,
    /// When the access token expires (unix seconds).
    pub access_expires_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The id_token's profile claims (`user` in answers).
    pub user: serde_json::Map<String, serde_json::Value>,
    /// The absolute end: login + `session.max_age_secs`.
    pub expires_at: u64,
    /// The last use, for `session.idle_secs`.
    pub used_at: u64,
    /// Access tokens for `/api` targets with their own audience.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub api_tokens: BTreeMap<String, ApiToken>,
    /// This session's own id (SPEC §12): 128 random bits, base64url. A
    /// sign-out marks it, so every copy of the cookie ends. `None` in a
    /// cookie sealed before revocation existed: only its `sid` and `sub`
    /// markers can end such a session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Auth0's session id (the login id_token's `sid`), when it had one:
    /// a back-channel logout of that Auth0 session ends this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The login time (unix seconds): a `sub` marker ends the user's
    /// sessions that began at or before its time. `0` in a cookie sealed
    /// before revocation existed, which is before any marker.
    #[serde(default)]
    pub login_at: u64,
}

impl SessionData {
    /// The user's `sub` (the login id_token's, kept through refreshes).
    pub fn sub(&self) -> Option<&str> {
        self.user.get("sub").and_then(|sub| sub.as_str())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiToken {
    pub access_token: String,
    pub expires_at: u64,
}

/// What a request's cookies say.
pub enum Found<T> {
    /// No such cookie.
    None,
    /// It opened.
    Open(T),
    /// It is there but does not open (tampered, unknown key, expired):
    /// `401 session_expired`, and the answer clears it.
    Broken,
}

pub struct Sessions {
    sealer: Sealer,
    settings: SessionSettings,
    mfa_cookie: String,
}

impl Sessions {
    /// `None` while `session.enabled = false`.
    pub fn new(settings: &SessionSettings) -> Option<Self> {
        if !settings.enabled {
            return None;
        }
        Some(Self {
            sealer: Sealer::new(&settings.keys)?,
            mfa_cookie: format!("{}-mfa", settings.cookie_name),
            settings: settings.clone(),
        })
    }

    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    pub fn cookie_name(&self) -> &str {
        &self.settings.cookie_name
    }

    pub fn mfa_cookie_name(&self) -> &str {
        &self.mfa_cookie
    }

    /// Whether the request carries a session or mfa cookie (or a chunk).
    pub fn carries_cookie(&self, req: &HttpRequest) -> bool {
        let names = cookie_names(req);
        [self.cookie_name(), self.mfa_cookie_name()]
            .iter()
            .any(|ours| names.iter().any(|name| is_ours(name, ours)))
    }

    /// The session, with idle expiry applied.
    pub fn read(&self, req: &HttpRequest) -> Found<SessionData> {
        let now = unix_now();
        match self.open::<SessionData>(req, self.cookie_name(), now) {
            Found::Open(data)
                if data.used_at + self.settings.idle.as_secs() <= now || data.expires_at <= now =>
            {
                Found::Broken
            }
            found => found,
        }
    }

    /// The sealed mfa_token.
    pub fn read_mfa_token(&self, req: &HttpRequest) -> Found<String> {
        self.open(req, &self.mfa_cookie, unix_now())
    }

    fn open<T: serde::de::DeserializeOwned>(
        &self,
        req: &HttpRequest,
        name: &str,
        now: u64,
    ) -> Found<T> {
        let cookies = request_cookies(req);
        let Some(value) = seal::join(name, |wanted| {
            cookies.iter().find(|(n, _)| *n == wanted).map(|(_, v)| *v)
        }) else {
            return Found::None;
        };
        match self.sealer.open(name, &value, now) {
            Ok(data) => Found::Open(data),
            Err(OpenError::Malformed | OpenError::Forged | OpenError::Expired) => Found::Broken,
        }
    }

    /// A new session from a login's tokens, with a new random id and the
    /// login time (SPEC §12).
    pub fn start(
        &self,
        refresh_token: Option<String>,
        access_token: String,
        expires_in: u64,
        scope: Option<String>,
        claims: IdClaims,
    ) -> SessionData {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let now = unix_now();
        SessionData {
            refresh_token,
            access_token,
            access_expires_at: now + expires_in,
            scope,
            user: claims.user,
            expires_at: now + self.settings.max_age.as_secs(),
            used_at: now,
            api_tokens: BTreeMap::new(),
            id: Some(URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>())),
            sid: claims.sid,
            login_at: now,
        }
    }

    /// The `Set-Cookie` values that reseal a read session: when the call
    /// `changed` it (new tokens), or when its last use is due to move on
    /// (idle expiry, at most once a minute); none otherwise.
    pub fn reseal(
        &self,
        req: &HttpRequest,
        data: &mut SessionData,
        changed: bool,
    ) -> Vec<HeaderValue> {
        if changed || data.used_at + TOUCH_EVERY_SECS <= unix_now() {
            self.store(req, data)
        } else {
            Vec::new()
        }
    }

    /// The `Set-Cookie` values that store `data` (and clear chunks of
    /// another length that the request still carries).
    pub fn store(&self, req: &HttpRequest, data: &mut SessionData) -> Vec<HeaderValue> {
        let now = unix_now();
        data.used_at = now;
        let max_age = data.expires_at.saturating_sub(now);
        let name = self.cookie_name().to_string();
        match self.sealer.seal(&name, data, data.expires_at) {
            Some(value) => self.set(req, &name, &value, max_age),
            None => self.clear_named(req, &name),
        }
    }

    /// The `Set-Cookie` values that store an mfa_token for
    /// [`MFA_COOKIE_SECS`].
    pub fn store_mfa_token(&self, req: &HttpRequest, mfa_token: &str) -> Vec<HeaderValue> {
        let expires_at = unix_now() + MFA_COOKIE_SECS;
        let name = self.mfa_cookie.clone();
        match self.sealer.seal(&name, &mfa_token, expires_at) {
            Some(value) => self.set(req, &name, &value, MFA_COOKIE_SECS),
            None => self.clear_named(req, &name),
        }
    }

    /// Clears every session and mfa cookie the request carries (chunks
    /// included), and the plain names in any case.
    pub fn clear_all(&self, req: &HttpRequest) -> Vec<HeaderValue> {
        let mut headers = self.clear_named(req, &self.settings.cookie_name);
        headers.extend(self.clear_named(req, &self.mfa_cookie));
        headers
    }

    /// Clears the session cookie (and its chunks) only.
    pub fn clear_session(&self, req: &HttpRequest) -> Vec<HeaderValue> {
        self.clear_named(req, &self.settings.cookie_name)
    }

    /// Clears the mfa_token's cookie when the request carries it.
    pub fn clear_mfa_if_present(&self, req: &HttpRequest) -> Vec<HeaderValue> {
        if cookie_names(req)
            .iter()
            .any(|n| is_ours(n, &self.mfa_cookie))
        {
            self.clear_named(req, &self.mfa_cookie)
        } else {
            Vec::new()
        }
    }

    fn set(&self, req: &HttpRequest, name: &str, value: &str, max_age: u64) -> Vec<HeaderValue> {
        let Some(cookies) = seal::split(name, value) else {
            return self.clear_named(req, name);
        };
        let written: Vec<&str> = cookies.iter().map(|(n, _)| n.as_str()).collect();
        let mut headers: Vec<HeaderValue> = cookies
            .iter()
            .filter_map(|(n, v)| set_cookie(n, v, max_age))
            .collect();
        // Whatever else of this cookie the browser holds (the whole one or
        // chunks of a longer value) must go, or `join` would mix them.
        for stale in carried(req, name)
            .iter()
            .filter(|n| !written.contains(&n.as_str()))
        {
            headers.extend(set_cookie(stale, "", 0));
        }
        headers
    }

    fn clear_named(&self, req: &HttpRequest, name: &str) -> Vec<HeaderValue> {
        let mut names = carried(req, name);
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
        names.iter().filter_map(|n| set_cookie(n, "", 0)).collect()
    }

    /// SPEC §10 CSRF: a call that carries a session or mfa cookie must send
    /// `X-Lgw-Session: 1` and, when it has an `Origin`, an allowed one or the
    /// gateway's own. `allowed`: `server.cors_allowed_origins`; the own
    /// origin is `session.public_origin` when set, else `request_origin`
    /// (what the request names, read only through trusted proxies, §13).
    pub fn csrf_ok(
        &self,
        req: &HttpRequest,
        allowed: &[String],
        request_origin: Option<&str>,
    ) -> bool {
        if !self.carries_cookie(req) {
            return true;
        }
        if !opted_in(req) {
            return false;
        }
        let Some(origin) = req.headers().get(header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let own = self.settings.public_origin.as_deref().or(request_origin);
        allowed.iter().any(|o| o == origin) || own == Some(origin)
    }
}

/// `X-Lgw-Session: 1`, exactly.
pub fn opted_in(req: &HttpRequest) -> bool {
    req.headers()
        .get(OPT_IN_HEADER)
        .is_some_and(|value| value.as_bytes() == b"1")
}

/// `name` itself or one of its chunks `name.0` … `name.7` ([`seal::MAX_CHUNKS`]):
/// a cookie that does not open clears at most these nine names, whatever
/// the request invented (SPEC §13).
fn is_ours(candidate: &str, name: &str) -> bool {
    candidate == name
        || candidate
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(|n| n.parse::<usize>().ok().filter(|i| i.to_string() == n))
            .is_some_and(|index| index < seal::MAX_CHUNKS)
}

/// The names of `name`'s cookies the request carries, each once.
fn carried(req: &HttpRequest, name: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for candidate in cookie_names(req) {
        if is_ours(candidate, name) && !names.iter().any(|n| n == candidate) {
            names.push(candidate.to_string());
        }
    }
    names
}

fn request_cookies(req: &HttpRequest) -> Vec<(&str, &str)> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .collect()
}

fn cookie_names(req: &HttpRequest) -> Vec<&str> {
    request_cookies(req).into_iter().map(|(n, _)| n).collect()
}

/// `HttpOnly; Secure; SameSite=Strict; Path=/`, no `Domain` (what the
/// `__Host-` prefix demands); `Max-Age=0` clears.
fn set_cookie(name: &str, value: &str, max_age: u64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{name}={value}; Max-Age={max_age}; Path=/; Secure; HttpOnly; SameSite=Strict"
    ))
    .ok()
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Longest Auth0 `sid` a session keeps (Auth0's are about 32 characters);
/// a longer one is not kept, so the cookie stays small.
const MAX_SID_CHARS: usize = 256;

/// What a session keeps of a login's id_token.
#[derive(Debug, Default)]
pub struct IdClaims {
    /// The profile claims (`user` in answers).
    pub user: serde_json::Map<String, serde_json::Value>,
    /// Auth0's session id, when present (SPEC §12).
    pub sid: Option<String>,
}

/// The id_token's profile claims for `user`, after the checks SPEC §10
/// asks of a token that came straight from Auth0 over TLS (OIDC Core
/// 3.1.3.7: no signature check): `iss` is the tenant URL with a trailing
/// `/`, `aud` the client id, `exp` in the future (60 s leeway). `Err` on a
/// mismatch (`502 upstream_error`).
pub fn user_claims(
    id_token: Option<&str>,
    issuer: &str,
    client_id: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, &'static str> {
    id_claims(id_token, issuer, client_id).map(|claims| claims.user)
}

/// [`user_claims`] and the `sid`, under the same checks.
pub fn id_claims(
    id_token: Option<&str>,
    issuer: &str,
    client_id: &str,
) -> Result<IdClaims, &'static str> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let Some(id_token) = id_token else {
        return Ok(IdClaims::default());
    };
    let payload = id_token
        .split('.')
        .nth(1)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .ok_or("the id_token is not a readable JWT")?;
    if payload["iss"].as_str() != Some(issuer) {
        return Err("the id_token's iss is not the tenant");
    }
    if !audience_matches(&payload["aud"], |aud| aud == client_id) {
        return Err("the id_token's aud is not this client");
    }
    let exp = payload["exp"].as_u64().ok_or("the id_token has no exp")?;
    if exp + 60 <= unix_now() {
        return Err("the id_token has expired");
    }
    let mut user = serde_json::Map::new();
    for claim in [
        "sub",
        "email",
        "email_verified",
        "phone_number",
        "name",
        "picture",
    ] {
        if let Some(value) = payload.get(claim) {
            if !value.is_null() {
                user.insert(claim.to_string(), value.clone());
            }
        }
    }
    let sid = payload["sid"]
        .as_str()
        .filter(|sid| !sid.is_empty() && sid.len() <= MAX_SID_CHARS)
        .map(str::to_owned);
    Ok(IdClaims { user, sid })
}

/// Whether a JWT's `aud` (one string, or a list of them) names an
/// audience `accept` takes.
pub fn audience_matches(aud: &serde_json::Value, accept: impl Fn(&str) -> bool) -> bool {
    match aud {
        serde_json::Value::String(aud) => accept(aud),
        serde_json::Value::Array(auds) => auds.iter().filter_map(|a| a.as_str()).any(accept),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_names_are_recognised_and_nothing_else() {
        assert!(is_ours("__Host-lgw", "__Host-lgw"));
        assert!(is_ours("__Host-lgw.0", "__Host-lgw"));
        assert!(is_ours("__Host-lgw.7", "__Host-lgw"));
        assert!(!is_ours("__Host-lgw.8", "__Host-lgw"), "at most MAX_CHUNKS");
        assert!(!is_ours("__Host-lgw.5000", "__Host-lgw"));
        assert!(
            !is_ours("__Host-lgw.01", "__Host-lgw"),
            "one spelling per chunk"
        );
        assert!(!is_ours("__Host-lgw-mfa", "__Host-lgw"));
        assert!(!is_ours("__Host-lgw.", "__Host-lgw"));
        assert!(!is_ours("__Host-lgw.x", "__Host-lgw"));
    }

    #[test]
    fn the_id_token_must_come_from_the_tenant_for_this_client() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let token = |claims: serde_json::Value| {
            format!(
                "e30.{}.sig",
                URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes())
            )
        };
        let exp = unix_now() + 3600;
        let good = token(serde_json::json!({
            "iss": "https://t.example/", "aud": "cid", "exp": exp,
            "sub": "email|1", "email": "j@example.com", "nonce": "x"
        }));
        let user = user_claims(Some(&good), "https://t.example/", "cid").expect("valid");
        assert_eq!(user["sub"], "email|1");
        assert_eq!(user["email"], "j@example.com");
        assert!(!user.contains_key("nonce"), "only the profile claims");
        let with_sid = token(serde_json::json!({
            "iss": "https://t.example/", "aud": "cid", "exp": exp, "sub": "email|1",
            "sid": "auth0-session-1"
        }));
        let claims = id_claims(Some(&with_sid), "https://t.example/", "cid").expect("valid");
        assert_eq!(claims.sid.as_deref(), Some("auth0-session-1"));
        assert!(!claims.user.contains_key("sid"), "the sid is not shown");
        assert_eq!(
            id_claims(Some(&good), "https://t.example/", "cid").map(|c| c.sid),
            Ok(None)
        );
        for bad in [
            serde_json::json!({"iss": "https://evil.example/", "aud": "cid", "exp": exp}),
            serde_json::json!({"iss": "https://t.example/", "aud": "other", "exp": exp}),
            serde_json::json!({"iss": "https://t.example/", "aud": "cid", "exp": 1}),
        ] {
            assert!(user_claims(Some(&token(bad)), "https://t.example/", "cid").is_err());
        }
        assert_eq!(user_claims(None, "i", "c").map(|u| u.len()), Ok(0));
    }
}
