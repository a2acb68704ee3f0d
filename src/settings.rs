//! The settings tree: compiled-in defaults, then an optional TOML file, then
//! `GATEWAY__SECTION__KEY` environment variables, validated into typed values.
//!
//! Loading happens in two steps. [`RawSettings`] mirrors the SPEC's keys one
//! to one so the `config` crate can layer them; [`Settings::from_raw`] turns
//! them into types that cannot be invalid (URLs, CIDRs, quotas, secrets). Every
//! failure names the key it is about, because an operator reads one line.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

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
    pub client_ip_header: String,
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
    pub max_keys: usize,
    pub per_ip: String,
    pub login_start_per_ip: String,
    pub login_start_per_identifier: String,
    pub verify_per_identifier: String,
    pub mfa_verify_per_token: String,
    pub sms_global: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    pub format: String,
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
max_keys = 1000000
per_ip = "120/minute"
login_start_per_ip = "20/hour"
login_start_per_identifier = "5/hour"
verify_per_identifier = "10/hour"
mfa_verify_per_token = "10/minute"
sms_global = "1000/hour"

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
}

/// Which header carries the client chain behind a trusted proxy (SPEC §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientIpHeader {
    XForwardedFor,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    pub per_ip: QuotaSpec,
    pub login_start_per_ip: QuotaSpec,
    pub login_start_per_identifier: QuotaSpec,
    pub verify_per_identifier: QuotaSpec,
    pub mfa_verify_per_token: QuotaSpec,
    pub sms_global: QuotaSpec,
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
        Ok(Self {
            server: validate_server(raw.server)?,
            auth0: validate_auth0(raw.auth0)?,
            rate_limit: validate_rate_limit(raw.rate_limit)?,
            log: LogSettings {
                format: match raw.log.format.as_str() {
                    "json" => LogFormat::Json,
                    "pretty" => LogFormat::Pretty,
                    _ => return Err(SettingsError::new("log.format", "is not json or pretty")),
                },
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
            let key = text
                .split('`')
                .nth(1)
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

fn validate_server(raw: RawServer) -> Result<ServerSettings, SettingsError> {
    let bind: SocketAddr =
        raw.bind.trim().parse().map_err(|_| {
            SettingsError::new("server.bind", "is not an address such as 0.0.0.0:8080")
        })?;
    let workers = if raw.workers == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        raw.workers
    };
    let trusted_proxies = non_empty(raw.trusted_proxies)
        .map(|cidr| parse_cidr(&cidr))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|message| SettingsError::new("server.trusted_proxies", message))?;
    let client_ip_header = match raw.client_ip_header.trim().to_ascii_lowercase().as_str() {
        "x-forwarded-for" => ClientIpHeader::XForwardedFor,
        "forwarded" => ClientIpHeader::Forwarded,
        _ => {
            return Err(SettingsError::new(
                "server.client_ip_header",
                "is not x-forwarded-for or forwarded",
            ))
        }
    };
    let cors_allowed_origins = non_empty(raw.cors_allowed_origins)
        .map(|origin| parse_origin(&origin))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|message| SettingsError::new("server.cors_allowed_origins", message))?;
    if raw.max_body_bytes == 0 {
        return Err(SettingsError::new(
            "server.max_body_bytes",
            "must be at least 1",
        ));
    }
    if raw.client_body_timeout_ms == 0 {
        return Err(SettingsError::new(
            "server.client_body_timeout_ms",
            "must be at least 1",
        ));
    }
    let metrics_bind = match raw.metrics_bind.trim() {
        "" => None,
        text => Some(text.parse::<SocketAddr>().map_err(|_| {
            SettingsError::new(
                "server.metrics_bind",
                "is not an address such as 127.0.0.1:9464 (or empty for no metrics listener)",
            )
        })?),
    };
    Ok(ServerSettings {
        bind,
        workers,
        trusted_proxies,
        client_ip_header,
        cors_allowed_origins,
        max_body_bytes: raw.max_body_bytes,
        shutdown_timeout: Duration::from_secs(raw.shutdown_timeout_secs),
        drain_delay: Duration::from_millis(raw.drain_delay_ms),
        client_request_timeout: Duration::from_millis(raw.client_request_timeout_ms),
        client_body_timeout: Duration::from_millis(raw.client_body_timeout_ms),
        metrics_bind,
    })
}

/// Environment lists such as `GATEWAY__SERVER__TRUSTED_PROXIES=` yield one
/// empty entry; an empty entry means "nothing", not an error.
fn non_empty(values: Vec<String>) -> impl Iterator<Item = String> {
    values
        .into_iter()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// A CIDR, or a bare address meaning a single host.
fn parse_cidr(text: &str) -> Result<IpNet, String> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| "an entry is not a CIDR such as 10.0.0.0/8".to_string())
}

/// An origin is scheme://host[:port], exactly as browsers send it.
fn parse_origin(text: &str) -> Result<String, String> {
    let url = Url::parse(text).map_err(|_| "an entry is not an origin".to_string())?;
    let origin = url.origin().ascii_serialization();
    if origin == "null" || text.trim_end_matches('/') != origin {
        return Err(
            "an entry is not an origin such as https://app.example.com (no path)".to_string(),
        );
    }
    Ok(origin)
}

fn validate_auth0(raw: RawAuth0) -> Result<Auth0Settings, SettingsError> {
    let domain = required(raw.domain, "auth0.domain")?;
    let base_url =
        normalise_domain(&domain).map_err(|message| SettingsError::new("auth0.domain", message))?;
    let client_id = required(raw.client_id, "auth0.client_id")?;
    // An empty path means "not set" (the demo uses this to clear a file).
    let secret_file = raw
        .client_secret_file
        .filter(|path| !path.as_os_str().is_empty());
    let client_secret = match (raw.client_secret, secret_file) {
        (Some(_), Some(_)) => {
            return Err(SettingsError::new(
                "auth0.client_secret",
                "set either auth0.client_secret or auth0.client_secret_file, not both",
            ))
        }
        (None, None) => {
            return Err(SettingsError::new(
                "auth0.client_secret",
                "missing (set auth0.client_secret or auth0.client_secret_file)",
            ))
        }
        (Some(secret), None) => {
            use secrecy::ExposeSecret;
            if secret.expose_secret().trim().is_empty() {
                return Err(SettingsError::new("auth0.client_secret", "is empty"));
            }
            secret
        }
        (None, Some(path)) => read_secret_file(&path)?,
    };
    let magic_link_redirect_uri = match raw.magic_link_redirect_uri.trim() {
        "" => None,
        uri => Some(
            parse_redirect_uri(uri)
                .map_err(|message| SettingsError::new("auth0.magic_link_redirect_uri", message))?,
        ),
    };
    if raw.timeout_ms == 0 {
        return Err(SettingsError::new("auth0.timeout_ms", "must be at least 1"));
    }
    if raw.connect_timeout_ms == 0 {
        return Err(SettingsError::new(
            "auth0.connect_timeout_ms",
            "must be at least 1",
        ));
    }
    for (key, value) in [
        ("auth0.client_id", client_id.as_str()),
        ("auth0.email_connection", raw.email_connection.as_str()),
        ("auth0.sms_connection", raw.sms_connection.as_str()),
    ] {
        if value.trim().is_empty() {
            return Err(SettingsError::new(key, "is empty"));
        }
    }
    let allowed_scopes: Vec<String> = non_empty(raw.allowed_scopes).collect();
    if raw
        .scope
        .split_whitespace()
        .any(|scope| !allowed_scopes.iter().any(|allowed| allowed == scope))
    {
        return Err(SettingsError::new(
            "auth0.scope",
            "names a scope that is not in auth0.allowed_scopes",
        ));
    }
    Ok(Auth0Settings {
        base_url,
        client_id,
        client_secret,
        email_connection: raw.email_connection,
        sms_connection: raw.sms_connection,
        audience: raw.audience.trim().to_string(),
        allowed_audiences: non_empty(raw.allowed_audiences).collect(),
        scope: raw.scope.split_whitespace().collect::<Vec<_>>().join(" "),
        allowed_scopes,
        magic_link_redirect_uri,
        timeout: Duration::from_millis(raw.timeout_ms),
        connect_timeout: Duration::from_millis(raw.connect_timeout_ms),
        max_response_bytes: raw.max_response_bytes,
    })
}

/// Where Auth0 sends the user's browser with a login code: `https://`, or
/// `http://` to a loopback host only (the code must not cross a network in
/// clear text).
fn parse_redirect_uri(uri: &str) -> Result<String, String> {
    let url = Url::parse(uri).map_err(|_| "is not an absolute URL".to_string())?;
    match url.scheme() {
        "https" if url.host().is_some() => Ok(uri.to_string()),
        "http" if url.host().is_some_and(|host| is_loopback_host(&host)) => Ok(uri.to_string()),
        "http" => Err("http:// is allowed for loopback hosts only; use https://".to_string()),
        _ => Err("must be an https:// URL".to_string()),
    }
}

fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

fn required(value: Option<String>, key: &str) -> Result<String, SettingsError> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_string()),
        _ => Err(SettingsError::new(key, "missing (required)")),
    }
}

fn read_secret_file(path: &Path) -> Result<SecretString, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        SettingsError::new(
            "auth0.client_secret_file",
            format!("cannot read the file ({})", e.kind()),
        )
    })?;
    // Secret files written by `echo` or Kubernetes often end in a newline.
    let secret = text.trim();
    if secret.is_empty() {
        return Err(SettingsError::new(
            "auth0.client_secret_file",
            "the file is empty",
        ));
    }
    Ok(SecretString::from(secret.to_string()))
}

/// `tenant.eu.auth0.com` → `https://tenant.eu.auth0.com`; a full URL is used
/// as is; plain `http://` only for loopback hosts (the demo tenant, tests).
pub fn normalise_domain(domain: &str) -> Result<String, String> {
    let domain = domain.trim();
    let with_scheme = if domain.contains("://") {
        domain.to_string()
    } else {
        format!("https://{domain}")
    };
    let url = Url::parse(&with_scheme).map_err(|_| "is not a domain or URL".to_string())?;
    let host = url.host().ok_or_else(|| "has no host".to_string())?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("must be a bare domain or scheme://host[:port], without a path".to_string());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".to_string());
    }
    match url.scheme() {
        "https" => {}
        "http" => {
            if !is_loopback_host(&host) {
                return Err("http:// is only allowed for loopback hosts; use https://".to_string());
            }
        }
        _ => return Err("the scheme is not https".to_string()),
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn validate_rate_limit(raw: RawRateLimit) -> Result<RateLimitSettings, SettingsError> {
    let quota = |key: &str, text: &str| {
        QuotaSpec::parse(text)
            .map_err(|message| SettingsError::new(format!("rate_limit.{key}"), message))
    };
    if raw.max_keys == 0 {
        return Err(SettingsError::new(
            "rate_limit.max_keys",
            "must be at least 1",
        ));
    }
    Ok(RateLimitSettings {
        enabled: raw.enabled,
        max_keys: raw.max_keys,
        per_ip: quota("per_ip", &raw.per_ip)?,
        login_start_per_ip: quota("login_start_per_ip", &raw.login_start_per_ip)?,
        login_start_per_identifier: quota(
            "login_start_per_identifier",
            &raw.login_start_per_identifier,
        )?,
        verify_per_identifier: quota("verify_per_identifier", &raw.verify_per_identifier)?,
        mfa_verify_per_token: quota("mfa_verify_per_token", &raw.mfa_verify_per_token)?,
        sms_global: quota("sms_global", &raw.sms_global)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse_counts_and_units() {
        let cases = [
            ("5/hour", Some((5, 3600))),
            ("120/minute", Some((120, 60))),
            (" 1 / second ", Some((1, 1))),
            ("1000/day", Some((1000, 86_400))),
            ("0/hour", None),
            ("-1/hour", None),
            ("5/hours", None),
            ("5", None),
            ("five/hour", None),
            ("", None),
            ("5/", None),
            ("4294967296/second", None),
        ];
        for (text, expected) in cases {
            let parsed = QuotaSpec::parse(text)
                .ok()
                .map(|q| (q.count.get(), q.period.as_secs()));
            assert_eq!(parsed, expected, "quota {text:?}");
        }
    }

    #[test]
    fn domains_are_normalised_and_http_is_loopback_only() {
        let ok = [
            ("tenant.eu.auth0.com", "https://tenant.eu.auth0.com"),
            ("https://tenant.auth0.com/", "https://tenant.auth0.com"),
            ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
            ("http://localhost:9000", "http://localhost:9000"),
            ("http://[::1]:9000", "http://[::1]:9000"),
            ("login.example.com:8443", "https://login.example.com:8443"),
        ];
        for (input, expected) in ok {
            assert_eq!(normalise_domain(input).as_deref(), Ok(expected), "{input}");
        }
        for bad in [
            "http://tenant.auth0.com",
            "ftp://tenant.auth0.com",
            "https://tenant.auth0.com/path",
            "https://user:pw@tenant.auth0.com",
            "",
        ] {
            assert!(normalise_domain(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn cidrs_and_bare_addresses_parse() {
        assert_eq!(
            parse_cidr("10.1.2.3/8").map(|n| n.to_string()),
            Ok("10.0.0.0/8".into())
        );
        assert_eq!(
            parse_cidr("127.0.0.1").map(|n| n.to_string()),
            Ok("127.0.0.1/32".into())
        );
        assert_eq!(
            parse_cidr("::1").map(|n| n.to_string()),
            Ok("::1/128".into())
        );
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("proxy.local").is_err());
    }

    #[test]
    fn environment_values_stay_strings_and_lists_split_on_commas() {
        use secrecy::ExposeSecret;
        let env: HashMap<String, String> = [
            ("GATEWAY__AUTH0__DOMAIN", "tenant.example.com"),
            ("GATEWAY__AUTH0__CLIENT_ID", "000123"),
            ("GATEWAY__AUTH0__CLIENT_SECRET", "0000999-not-real"),
            ("GATEWAY__SERVER__TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
            ("GATEWAY__SERVER__WORKERS", "3"),
            ("GATEWAY__RATE_LIMIT__ENABLED", "false"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let settings = Settings::load(&Sources {
            env: Some(env),
            ..Sources::default()
        });
        let settings = settings.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.auth0.client_id, "000123");
        assert_eq!(
            settings.auth0.client_secret.expose_secret(),
            "0000999-not-real"
        );
        assert_eq!(settings.server.trusted_proxies.len(), 2);
        assert_eq!(settings.server.workers, 3);
        assert!(!settings.rate_limit.enabled);
    }

    #[test]
    fn origins_must_be_bare() {
        assert_eq!(
            parse_origin("https://app.example.com"),
            Ok("https://app.example.com".to_string())
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:5173"),
            Ok("http://127.0.0.1:5173".to_string())
        );
        assert!(parse_origin("https://app.example.com/login").is_err());
        assert!(parse_origin("app.example.com").is_err());
    }
}
