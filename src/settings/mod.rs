//! The settings tree: compiled-in defaults, then an optional TOML file, then
//! `GATEWAY__SECTION__KEY` environment variables, validated into typed values.
//!
//! Loading happens in two steps. [`RawSettings`] mirrors the SPEC's keys one
//! to one so the `config` crate can layer them; [`Settings::from_raw`] turns
//! them into types that cannot be invalid (URLs, CIDRs, quotas, secrets). Every
//! failure names the key it is about, because an operator reads one line.
//!
//! The modules, by concern: `raw` (the keys, with the doc comments the
//! configuration reference is generated from), `defaults` (the bottom
//! layer), `load` (layering and config errors), `validate`, `session` and
//! `passkey` (raw → typed), `quota`, `reference` (the Markdown reference)
//! and `effective` (what `--check-config` prints).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;

mod defaults;
mod effective;
mod load;
mod passkey;
mod quota;
mod raw;
pub mod reference;
mod session;
mod validate;

pub use defaults::DEFAULTS_TOML;
pub use effective::{changed_from_defaults, NOT_SHOWN};
pub use passkey::PasskeySettings;
pub use quota::QuotaSpec;
pub use raw::{
    ClientIpHeader, LimitBackend, LogFormat, OnStoreError, RawAuth0, RawFraudGuard, RawLog,
    RawPasskey, RawRateLimit, RawRedis, RawServer, RawSession, RawSessionApi, RawSettings, RawSms,
};
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
