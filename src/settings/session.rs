//! `session.*` (SPEC §10): cookie sessions, off by default. The keys are
//! secrets like `client_secret` (never logged, also `session.keys_file`,
//! one key per line); the first seals, all open.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

use super::validate::{is_loopback_url_host, parse_origin, read_secret_file};
use super::{RawSession, SettingsError};

/// A 32-byte AEAD key; `Debug` never shows it.
#[derive(Clone)]
pub struct SessionKey(pub [u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey([redacted])")
    }
}

#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub enabled: bool,
    /// The first seals, all open. Empty when sessions are off.
    pub keys: Vec<SessionKey>,
    pub cookie_name: String,
    pub max_age: Duration,
    pub idle: Duration,
    pub apis: BTreeMap<String, SessionApi>,
    pub refresh_reuse: Duration,
    /// The app's origin when it is served from the gateway's own; `None`
    /// when empty.
    pub public_origin: Option<String>,
    pub api_timeout: Duration,
    /// Serve `POST /session/backchannel-logout` (SPEC §12): Auth0 posts a
    /// signed `logout_token` there when it ends a user's session, and the
    /// gateway ends the cookie sessions born of it. Off by default: the
    /// route is only useful once its URL is registered in Auth0 (an
    /// Enterprise-plan feature), and needs `session.enabled`.
    pub backchannel_logout: bool,
}

#[derive(Debug, Clone)]
pub struct SessionApi {
    pub url: url::Url,
    pub audience: Option<String>,
}

/// The cookie prefix browsers enforce: a `__Host-` cookie is only accepted
/// `Secure`, with `Path=/` and no `Domain`, so a sibling subdomain or a
/// cleartext page cannot plant or shadow the session cookie.
const HOST_PREFIX: &str = "__Host-";

/// `session.max_age_secs` at most: 30 days (SPEC §13).
const MAX_SESSION_SECS: u64 = 30 * 24 * 3600;

/// `session.refresh_reuse_secs` at most (SPEC §13): within the window the
/// refresh token already rotated still gets the new tokens, so a longer one
/// lets a stolen token ride past Auth0's reuse detection.
const MAX_REFRESH_REUSE_SECS: u64 = 60;

pub(super) fn validate_session(raw: RawSession) -> Result<SessionSettings, SettingsError> {
    let name = raw.cookie_name.trim().to_string();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    {
        return Err(SettingsError::new(
            "session.cookie_name",
            "letters, digits, `-` and `_` only (e.g. __Host-lgw)",
        ));
    }
    if !name.starts_with(HOST_PREFIX) || name.len() == HOST_PREFIX.len() {
        return Err(SettingsError::new(
            "session.cookie_name",
            "must start with __Host- and name something after it (e.g. __Host-lgw): \
             the prefix makes browsers keep the cookie Secure, on Path=/ and off \
             other subdomains",
        ));
    }
    for (key, value) in [
        ("session.max_age_secs", raw.max_age_secs),
        ("session.idle_secs", raw.idle_secs),
        ("session.api_timeout_ms", raw.api_timeout_ms),
    ] {
        if value == 0 {
            return Err(SettingsError::new(key, "must be at least 1"));
        }
    }
    if raw.max_age_secs > MAX_SESSION_SECS {
        return Err(SettingsError::new(
            "session.max_age_secs",
            "must be at most 2592000 (30 days)",
        ));
    }
    // Checked with sessions off too: the single-flight also serves
    // `/token/refresh` in token mode.
    if raw.refresh_reuse_secs > MAX_REFRESH_REUSE_SECS {
        return Err(SettingsError::new(
            "session.refresh_reuse_secs",
            "must be at most 60: while a refresh result is reused, the rotated-out \
             refresh token still gets the new tokens",
        ));
    }
    let public_origin = match raw.public_origin.trim() {
        "" => None,
        origin => Some(
            parse_origin(origin)
                .map_err(|message| SettingsError::new("session.public_origin", message))?,
        ),
    };
    let mut apis = BTreeMap::new();
    for (api, raw_api) in raw.apis {
        let key = format!("session.apis.{api}.url");
        if api.is_empty()
            || !api
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
        {
            return Err(SettingsError::new(
                "session.apis",
                "an API name is letters, digits, `-` and `_` only",
            ));
        }
        let url = url::Url::parse(raw_api.url.trim())
            .map_err(|_| SettingsError::new(&key, "is not an absolute URL"))?;
        check_api_url(&url).map_err(|message| SettingsError::new(&key, message))?;
        let audience = raw_api
            .audience
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty());
        apis.insert(api, SessionApi { url, audience });
    }
    // The route ends cookie sessions; without them Auth0's logouts would be
    // accepted and end nothing, while the operator believes they do.
    if raw.backchannel_logout && !raw.enabled {
        return Err(SettingsError::new(
            "session.backchannel_logout",
            "needs session.enabled = true: a back-channel logout ends cookie sessions",
        ));
    }
    let keys = if raw.enabled {
        session_keys(raw.keys, raw.keys_file)?
    } else {
        Vec::new()
    };
    Ok(SessionSettings {
        enabled: raw.enabled,
        keys,
        cookie_name: name,
        max_age: Duration::from_secs(raw.max_age_secs),
        idle: Duration::from_secs(raw.idle_secs),
        apis,
        refresh_reuse: Duration::from_secs(raw.refresh_reuse_secs),
        public_origin,
        api_timeout: Duration::from_millis(raw.api_timeout_ms),
        backchannel_logout: raw.backchannel_logout,
    })
}

/// What an `/api` target's URL must be (SPEC §10): `https://`, or
/// `http://` to a loopback address only; no query, fragment or
/// credentials. The settings and the proxy itself both hold to it.
pub fn check_api_url(url: &url::Url) -> Result<(), &'static str> {
    let allowed = match url.scheme() {
        "https" => url.host_str().is_some(),
        "http" => is_loopback_url_host(url),
        _ => false,
    };
    if !allowed {
        return Err("must be https:// (http:// only to a loopback address)");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials");
    }
    Ok(())
}

/// `session.keys` or `session.keys_file` (one per line), never both; each
/// standard base64 of exactly 32 bytes. Errors name the key's position,
/// never its value.
fn session_keys(
    keys: Vec<String>,
    file: Option<PathBuf>,
) -> Result<Vec<SessionKey>, SettingsError> {
    let file = file.filter(|path| !path.as_os_str().is_empty());
    let keys: Vec<String> = keys
        .into_iter()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    let (key_name, texts): (&str, Vec<SecretString>) = match (keys.is_empty(), file) {
        (false, Some(_)) => {
            return Err(SettingsError::new(
                "session.keys",
                "set either session.keys or session.keys_file, not both",
            ))
        }
        (true, None) => {
            return Err(SettingsError::new(
                "session.keys",
                "missing: session.enabled = true needs session.keys (or keys_file): \
                 base64 of 32 random bytes, e.g. `openssl rand -base64 32`",
            ))
        }
        (false, None) => (
            "session.keys",
            keys.into_iter().map(SecretString::from).collect(),
        ),
        (true, Some(path)) => {
            let text = read_secret_file("session.keys_file", &path)?;
            (
                "session.keys_file",
                text.expose_secret()
                    .lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty())
                    .map(|line| SecretString::from(line.to_string()))
                    .collect(),
            )
        }
    };
    let mut keys: Vec<SessionKey> = Vec::with_capacity(texts.len());
    for (i, text) in texts.iter().enumerate() {
        let position = i + 1;
        let key = STANDARD
            .decode(text.expose_secret())
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or_else(|| {
                SettingsError::new(
                    key_name,
                    format!("key {position} is not standard base64 of 32 bytes"),
                )
            })?;
        // An all-zero (or any one-byte) key is a placeholder, not a secret:
        // anyone could seal a session under it.
        if key.iter().all(|byte| *byte == key[0]) {
            return Err(SettingsError::new(
                key_name,
                format!(
                    "key {position} is one byte repeated, not a random key \
                     (make one with `openssl rand -base64 32`)"
                ),
            ));
        }
        // A key listed twice is a rotation gone wrong: the key meant to
        // replace it is missing.
        if let Some(earlier) = keys.iter().position(|k| k.0 == key) {
            return Err(SettingsError::new(
                key_name,
                format!(
                    "key {position} is the same as key {}: list each key once",
                    earlier + 1
                ),
            ));
        }
        keys.push(SessionKey(key));
    }
    Ok(keys)
}

/// With sessions on, every origin allowed to send the session cookie with
/// its CSRF header (`server.cors_allowed_origins`, `session.public_origin`)
/// is `https://`, or `http://` on loopback (127.0.0.0/8, ::1, `localhost`):
/// a cleartext page elsewhere could be rewritten on the way and act with
/// the user's session. Names the key, never the origin.
pub(super) fn check_session_origins(
    cors_allowed_origins: &[String],
    session: &SessionSettings,
) -> Result<(), SettingsError> {
    if !session.enabled {
        return Ok(());
    }
    const CLEARTEXT: &str = "http:// is allowed for loopback origins only (127.0.0.0/8, ::1, \
        localhost) while session.enabled; use https://";
    if cors_allowed_origins.iter().any(|o| is_cleartext_remote(o)) {
        return Err(SettingsError::new("server.cors_allowed_origins", CLEARTEXT));
    }
    if session
        .public_origin
        .as_deref()
        .is_some_and(is_cleartext_remote)
    {
        return Err(SettingsError::new("session.public_origin", CLEARTEXT));
    }
    Ok(())
}

/// An `http://` origin off this machine (origins are already parsed).
fn is_cleartext_remote(origin: &str) -> bool {
    url::Url::parse(origin).map_or(true, |url| {
        url.scheme() == "http" && !is_loopback_url_host(&url)
    })
}
