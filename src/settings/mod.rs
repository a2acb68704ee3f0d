//! The settings tree: compiled-in defaults, then an optional TOML file, then
//! `GATEWAY__SECTION__KEY` environment variables, validated into typed values.
//!
//! Loading happens in two steps. [`RawSettings`] mirrors the SPEC's keys one
//! to one so the `config` crate can layer them; [`Settings::from_raw`] turns
//! them into types that cannot be invalid (URLs, CIDRs, quotas, secrets). Every
//! failure names the key it is about, because an operator reads one line.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;
use serde::Deserialize;

mod passkey;
mod session;
mod validate;

pub use passkey::PasskeySettings;
pub use session::{check_api_url, SessionApi, SessionKey, SessionSettings};
pub use validate::normalise_domain;
use validate::{validate_auth0, validate_rate_limit, validate_server, validate_sms};

/// Environment variable prefix; `__` separates the levels.
pub const ENV_PREFIX: &str = "GATEWAY";

/// A configuration problem, always about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// The dotted key, e.g. `auth0.domain`.
    pub key: String,
    pub message: String,
}

impl SettingsError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}: {}", self.key, self.message)
    }
}

impl std::error::Error for SettingsError {}

/// The SPEC §5 keys as they are written in files and the environment.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    pub server: RawServer,
    pub auth0: RawAuth0,
    pub rate_limit: RawRateLimit,
    pub sms: RawSms,
    pub session: session::RawSession,
    pub passkey: passkey::RawPasskey,
    pub log: RawLog,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub bind: String,
    /// 0 means "one per core".
    pub workers: usize,
    #[serde(deserialize_with = "string_or_list")]
    pub trusted_proxies: Vec<String>,
    pub client_ip_header: ClientIpHeader,
    #[serde(deserialize_with = "string_or_list")]
    pub cors_allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
    pub shutdown_timeout_secs: u64,
    /// How long `/readyz` answers 503 before the listener closes on SIGTERM.
    pub drain_delay_ms: u64,
    /// Time a client gets to send its request head (slow-loris protection).
    pub client_request_timeout_ms: u64,
    /// Time a client gets, from the end of the head, to send the whole body.
    pub client_body_timeout_ms: u64,
    /// The `/metrics` listener; empty = no metrics listener.
    pub metrics_bind: String,
    /// Open connections the process holds at most (SPEC §13).
    pub max_connections: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth0 {
    pub domain: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub client_secret_file: Option<PathBuf>,
    pub email_connection: String,
    pub sms_connection: String,
    pub audience: String,
    #[serde(deserialize_with = "string_or_list")]
    pub allowed_audiences: Vec<String>,
    pub scope: String,
    #[serde(deserialize_with = "string_or_list")]
    pub allowed_scopes: Vec<String>,
    pub magic_link_redirect_uri: String,
    pub timeout_ms: u64,
    pub connect_timeout_ms: u64,
    /// Largest upstream body the gateway reads; a larger one is a 502.
    pub max_response_bytes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    pub enabled: bool,
    pub backend: LimitBackend,
    pub max_keys: usize,
    pub per_ip: String,
    pub login_start_per_ip: String,
    pub login_start_per_identifier_ip: String,
    pub login_start_per_identifier: String,
    pub verify_per_identifier_ip: String,
    pub verify_per_identifier: String,
    pub mfa_verify_per_token: String,
    pub sms_per_phone: String,
    pub sms_global: String,
    pub passkey_register_per_ip: String,
    pub redis: RawRedis,
}

/// `[rate_limit.redis]` (SPEC §9).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedis {
    pub url: Option<SecretString>,
    pub url_file: Option<PathBuf>,
    pub key_prefix: String,
    pub key_hash_secret: Option<SecretString>,
    pub key_hash_secret_file: Option<PathBuf>,
    pub timeout_ms: u64,
    pub on_error: OnStoreError,
}

/// Where the limits live (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitBackend {
    /// governor, in this process.
    Memory,
    /// One Redis (or Valkey) for the whole fleet.
    Redis,
}

/// What a call gets while the shared store does not answer (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnStoreError {
    /// This replica's in-memory limits.
    Local,
    /// No limit.
    Open,
    /// `503 rate_limit_unavailable`.
    Closed,
}

/// `[sms]` (SPEC §8).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSms {
    #[serde(deserialize_with = "string_or_list")]
    pub allowed_countries: Vec<String>,
    pub fraud_guard: RawFraudGuard,
}

/// `[sms.fraud_guard]` (SPEC §8).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFraudGuard {
    pub enabled: bool,
    pub window_secs: u64,
    pub min_sends: u64,
    pub min_conversion: f64,
    pub pause_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: LogFormat,
}

/// Lists are TOML arrays in a file and one comma-separated string in the
/// environment (`GATEWAY__SERVER__TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1/32`).
fn string_or_list<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        One(String),
    }
    Ok(match Raw::deserialize(deserializer)? {
        Raw::List(list) => list,
        Raw::One(text) => text
            .split(',')
            .map(|item| item.trim().to_string())
            .collect(),
    })
}

/// Compiled-in defaults, written as the TOML an operator would write.
pub const DEFAULTS_TOML: &str = r#"
[server]
bind = "0.0.0.0:8080"
workers = 0
trusted_proxies = []
client_ip_header = "x-forwarded-for"
cors_allowed_origins = []
max_body_bytes = 16384
shutdown_timeout_secs = 30
drain_delay_ms = 5000
client_request_timeout_ms = 5000
client_body_timeout_ms = 10000
metrics_bind = "127.0.0.1:9464"
max_connections = 10000

[auth0]
email_connection = "email"
sms_connection = "sms"
audience = ""
allowed_audiences = []
scope = "openid profile email offline_access"
allowed_scopes = ["openid", "profile", "email", "offline_access"]
magic_link_redirect_uri = ""
timeout_ms = 5000
connect_timeout_ms = 2000
max_response_bytes = 65536

[rate_limit]
enabled = true
backend = "memory"
max_keys = 1000000
per_ip = "120/minute"
login_start_per_ip = "20/hour"
login_start_per_identifier_ip = "5/hour"
login_start_per_identifier = "20/hour"
verify_per_identifier_ip = "10/hour"
verify_per_identifier = "50/hour"
mfa_verify_per_token = "10/minute"
sms_per_phone = "5/hour"
sms_global = "1000/hour"
passkey_register_per_ip = "10/hour"

[rate_limit.redis]
key_prefix = "login-gateway:"
timeout_ms = 50
on_error = "local"

[sms]
allowed_countries = []

[sms.fraud_guard]
enabled = true
window_secs = 3600
min_sends = 50
min_conversion = 0.2
pause_secs = 900

[session]
enabled = false
keys = []
cookie_name = "__Host-lgw"
max_age_secs = 86400
idle_secs = 3600
refresh_reuse_secs = 10
public_origin = ""
api_timeout_ms = 10000
backchannel_logout = false

[session.apis]

[passkey]
enabled = false
connection = "Username-Password-Authentication"

[log]
format = "json"
"#;

/// Where the layers come from. Tests pass their own environment map instead
/// of mutating the process environment.
#[derive(Debug, Default)]
pub struct Sources {
    pub file: Option<PathBuf>,
    /// `None` reads the process environment.
    pub env: Option<HashMap<String, String>>,
    /// Applied last; `--demo` uses this to point at the built-in tenant.
    pub overrides: Vec<(String, String)>,
    /// Applied first, over the built-in defaults and under everything
    /// else; `--demo` uses this for its generous limits, which a file or
    /// the environment still override.
    pub defaults: Vec<(String, String)>,
}

/// Which header carries the client chain behind a trusted proxy (SPEC §3).
/// Header names are case-insensitive, so the usual spellings are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientIpHeader {
    #[serde(alias = "X-Forwarded-For", alias = "X-FORWARDED-FOR")]
    XForwardedFor,
    #[serde(alias = "Forwarded", alias = "FORWARDED")]
    Forwarded,
}

impl ClientIpHeader {
    pub fn header_name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }
}

/// `log.format`: one JSON object per line, or human-readable lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// A quota `N/unit`: bursts of N, refilled at N per unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaSpec {
    pub count: NonZeroU32,
    pub period: Duration,
}

impl QuotaSpec {
    /// Parses `"5/hour"`; the error text is meant to follow the key's name.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (count, unit) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| "expected N/unit such as 5/hour".to_string())?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| "N is not a whole number (expected N/unit such as 5/hour)".to_string())?;
        let count = NonZeroU32::new(count).ok_or_else(|| "N must be at least 1".to_string())?;
        let seconds = match unit.trim() {
            "second" => 1,
            "minute" => 60,
            "hour" => 3600,
            "day" => 86_400,
            _ => return Err("the unit is not one of second, minute, hour, day".to_string()),
        };
        Ok(Self {
            count,
            period: Duration::from_secs(seconds),
        })
    }

    /// The window in whole seconds, as the `RateLimit-Policy` header wants it.
    pub fn window_secs(&self) -> u64 {
        self.period.as_secs()
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub auth0: Auth0Settings,
    pub rate_limit: RateLimitSettings,
    pub sms: SmsSettings,
    pub session: SessionSettings,
    pub passkey: PasskeySettings,
    pub log: LogSettings,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub bind: SocketAddr,
    pub workers: usize,
    pub trusted_proxies: Vec<IpNet>,
    pub client_ip_header: ClientIpHeader,
    pub cors_allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
    pub shutdown_timeout: Duration,
    pub drain_delay: Duration,
    pub client_request_timeout: Duration,
    pub client_body_timeout: Duration,
    /// `None`: no metrics listener.
    pub metrics_bind: Option<SocketAddr>,
    /// Open connections the process holds at most; past it, new ones wait
    /// in the kernel's backlog until one closes (SPEC §13).
    pub max_connections: usize,
}

#[derive(Debug, Clone)]
pub struct Auth0Settings {
    /// Scheme, host and optional port, without a trailing slash.
    pub base_url: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub email_connection: String,
    pub sms_connection: String,
    pub audience: String,
    pub allowed_audiences: Vec<String>,
    pub scope: String,
    pub allowed_scopes: Vec<String>,
    /// `None` until configured: magic links are then refused.
    pub magic_link_redirect_uri: Option<String>,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_response_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub max_keys: usize,
    /// `None`: the in-memory backend.
    pub redis: Option<RedisSettings>,
    pub per_ip: QuotaSpec,
    pub login_start_per_ip: QuotaSpec,
    /// Identifier + client network: a caller cannot lock a user out from
    /// another network.
    pub login_start_per_identifier_ip: QuotaSpec,
    /// Identifier across all networks: the ceiling for distributed callers.
    pub login_start_per_identifier: QuotaSpec,
    pub verify_per_identifier_ip: QuotaSpec,
    pub verify_per_identifier: QuotaSpec,
    pub mfa_verify_per_token: QuotaSpec,
    pub sms_per_phone: QuotaSpec,
    pub sms_global: QuotaSpec,
    /// Passkey sign-ups from one client network: each creates a user.
    pub passkey_register_per_ip: QuotaSpec,
}

/// SPEC §9: the shared store.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `redis://` or `rediss://`; may hold a password.
    pub url: SecretString,
    pub key_prefix: String,
    /// At least 32 bytes, the same on every replica.
    pub key_hash_secret: SecretString,
    pub timeout: Duration,
    pub on_error: OnStoreError,
}

/// SPEC §8.
#[derive(Debug, Clone)]
pub struct SmsSettings {
    /// ISO 3166-1 alpha-2 codes, upper case; empty: every country.
    pub allowed_countries: Vec<String>,
    pub fraud_guard: FraudGuardSettings,
}

#[derive(Debug, Clone)]
pub struct FraudGuardSettings {
    pub enabled: bool,
    pub window: Duration,
    pub min_sends: u64,
    pub min_conversion: f64,
    pub pause: Duration,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
}

impl Settings {
    /// Layers the sources and validates the result.
    pub fn load(sources: &Sources) -> Result<Self, SettingsError> {
        let raw = RawSettings::load(sources)?;
        Self::from_raw(raw)
    }

    pub fn from_raw(raw: RawSettings) -> Result<Self, SettingsError> {
        let server = validate_server(raw.server)?;
        let auth0 = validate_auth0(raw.auth0)?;
        let rate_limit = validate_rate_limit(raw.rate_limit)?;
        let sms = validate_sms(raw.sms)?;
        let session = session::validate_session(raw.session)?;
        session::check_session_origins(&server.cors_allowed_origins, &session)?;
        let passkey = passkey::validate_passkey(raw.passkey)?;
        Ok(Self {
            server,
            auth0,
            rate_limit,
            sms,
            session,
            passkey,
            log: LogSettings {
                format: raw.log.format,
            },
        })
    }
}

impl RawSettings {
    pub fn load(sources: &Sources) -> Result<Self, SettingsError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULTS_TOML,
            config::FileFormat::Toml,
        ));
        // A layer of its own right above the built-in defaults (`config`'s
        // `set_default` would sit below them and never show).
        let defaults: String = sources
            .defaults
            .iter()
            .map(|(key, value)| format!("{key} = {}\n", serde_json::Value::from(value.as_str())))
            .collect();
        builder = builder.add_source(config::File::from_str(&defaults, config::FileFormat::Toml));
        if let Some(path) = &sources.file {
            if !path.is_file() {
                return Err(SettingsError::new(
                    "--config",
                    format!("{} is not a readable file", path.display()),
                ));
            }
            let text = read_settings_file(path)?;
            builder = builder.add_source(config::File::from_str(&text, config::FileFormat::Toml));
        }
        // Values stay strings here (no `try_parsing`): an all-digit client id
        // or secret must not turn into a number. Lists are split by
        // `string_or_list`, numbers and booleans are parsed by serde.
        let mut env = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__");
        if let Some(map) = &sources.env {
            env = env.source(Some(map.clone()));
        }
        builder = builder.add_source(env);
        for (key, value) in &sources.overrides {
            builder = builder
                .set_override(key.as_str(), value.as_str())
                .map_err(|e| SettingsError::new(key.as_str(), e.to_string()))?;
        }
        let config = builder.build().map_err(config_error)?;
        config.try_deserialize().map_err(config_error)
    }
}

/// `config` errors carry the key in their text; keep only that one line and
/// make sure no value (which could be a secret) is echoed back.
fn config_error(error: config::ConfigError) -> SettingsError {
    match error {
        config::ConfigError::Type { key, expected, .. } => SettingsError::new(
            key.unwrap_or_else(|| "<root>".to_string()),
            format!("expected {expected}"),
        ),
        config::ConfigError::NotFound(key) => SettingsError::new(key, "missing"),
        config::ConfigError::At { key, error, .. } => {
            let inner = config_error(*error);
            let key = match key {
                // serde names an unknown key relative to its section.
                Some(section) if inner.message == UNKNOWN_KEY => {
                    format!("{section}.{}", inner.key)
                }
                Some(key) => key,
                None => inner.key,
            };
            SettingsError::new(key, inner.message)
        }
        other => {
            let text = other.to_string();
            // serde's "unknown field `x`, expected one of ..." and "missing
            // field `x`" name the key; any other message may quote a value.
            let names_key = text.starts_with("unknown field") || text.starts_with("missing field");
            let key = text
                .split('`')
                .nth(1)
                .filter(|_| names_key)
                .map(str::to_string)
                .unwrap_or_else(|| "<config>".to_string());
            let message = if text.starts_with("unknown field") {
                UNKNOWN_KEY
            } else if text.starts_with("missing field") {
                "missing"
            } else {
                "invalid value"
            };
            SettingsError::new(key, message)
        }
    }
}

const UNKNOWN_KEY: &str = "unknown key";

/// Reads the `--config` file and checks its TOML syntax first, so that a
/// syntax error is reported by position only: the parser's own message
/// quotes the offending line, which may hold a secret.
fn read_settings_file(path: &Path) -> Result<String, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        SettingsError::new("--config", format!("cannot read the file ({})", e.kind()))
    })?;
    if let Err(error) = toml::from_str::<toml::Table>(&text) {
        let position = error
            .span()
            .map(|span| {
                let before = &text.as_bytes()[..span.start.min(text.len())];
                let line = before.iter().filter(|b| **b == b'\n').count() + 1;
                let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
                format!(" at line {line}, column {column}")
            })
            .unwrap_or_default();
        return Err(SettingsError::new(
            "--config",
            format!("TOML syntax error{position} (the line is not shown: it may hold a secret)"),
        ));
    }
    Ok(text)
}
