//! `session.*` (SPEC §10): cookie sessions, off by default. The keys are
//! secrets like `client_secret` (never logged, also `session.keys_file`,
//! one key per line); the first seals, all open.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::validate::{is_loopback_url_host, parse_origin, read_secret_file};
use super::{string_or_list, SettingsError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSession {
    pub enabled: bool,
    #[serde(default, deserialize_with = "string_or_list")]
    pub keys: Vec<String>,
    pub keys_file: Option<PathBuf>,
    pub cookie_name: String,
    pub max_age_secs: u64,
    pub idle_secs: u64,
    #[serde(default)]
    pub apis: BTreeMap<String, RawSessionApi>,
    pub refresh_reuse_secs: u64,
    pub public_origin: String,
    pub api_timeout_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSessionApi {
    pub url: String,
    pub audience: Option<String>,
}

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
}

#[derive(Debug, Clone)]
pub struct SessionApi {
    pub url: url::Url,
    pub audience: Option<String>,
}

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
    for (key, value) in [
        ("session.max_age_secs", raw.max_age_secs),
        ("session.idle_secs", raw.idle_secs),
        ("session.api_timeout_ms", raw.api_timeout_ms),
    ] {
        if value == 0 {
            return Err(SettingsError::new(key, "must be at least 1"));
        }
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
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            STANDARD
                .decode(text.expose_secret())
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .map(SessionKey)
                .ok_or_else(|| {
                    SettingsError::new(
                        key_name,
                        format!("key {} is not standard base64 of 32 bytes", i + 1),
                    )
                })
        })
        .collect()
}
