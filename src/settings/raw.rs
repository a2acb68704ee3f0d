//! The settings as they are written in files and the environment: one
//! struct per TOML table, one field per key (SPEC §5).
//!
//! The doc comment of each field is its line in the configuration
//! reference (`--print-config-reference`, `docs/src/configuration.md`):
//! keep it one sentence, what the key means and which values it takes.
//! The generator refuses a key without one. `format = Password` marks a
//! secret: never logged, never printed by `--check-config`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

/// The SPEC §5 keys as they are written in files and the environment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    /// The listeners, the client IP behind proxies, CORS and the limits on
    /// connections and request bodies.
    #[schema(inline)]
    pub server: RawServer,
    /// The Auth0 application the gateway speaks for; its secret is injected
    /// into every upstream call and never reaches a client.
    #[schema(inline)]
    pub auth0: RawAuth0,
    /// The rate limits. Each quota is `N/unit` (`unit`: second,
    /// minute, hour, day): bursts of N, refilled at N per unit. A rejected
    /// call gets `429 too_many_requests` and never reaches Auth0.
    #[schema(inline)]
    pub rate_limit: RawRateLimit,
    /// Which countries may be texted or phoned, and the SMS fraud guard
    /// that pauses a country whose codes are sent but never verified.
    #[schema(inline)]
    pub sms: RawSms,
    /// Cookie sessions (BFF mode): tokens stay in an encrypted
    /// cookie, out of the browser's JavaScript. Off by default.
    #[schema(inline)]
    pub session: RawSession,
    /// Passkey sign-up, sign-in and enrolment through Auth0's native Passkey
    /// API. Off by default.
    #[schema(inline)]
    pub passkey: RawPasskey,
    /// The log output; the level comes from `RUST_LOG` (default `info`).
    #[schema(inline)]
    pub log: RawLog,
}

/// `[server]`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Address and port of the public listener.
    pub bind: String,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// CIDRs (or bare addresses) of the proxies whose client-IP header is
    /// believed; from any other peer the header is ignored.
    /// `0.0.0.0/0` and `::/0` are refused.
    #[serde(deserialize_with = "string_or_list")]
    pub trusted_proxies: Vec<String>,
    /// The header a trusted proxy writes the client chain into:
    /// `x-forwarded-for` or `forwarded` (RFC 7239).
    #[schema(inline)]
    pub client_ip_header: ClientIpHeader,
    /// Exact origins (`https://app.example.com`) allowed to call from a
    /// browser; empty: no CORS headers. `http://` only on loopback while
    /// `session.enabled`.
    #[serde(deserialize_with = "string_or_list")]
    pub cors_allowed_origins: Vec<String>,
    /// Largest request body accepted; a larger one is `413`.
    pub max_body_bytes: usize,
    /// Seconds in-flight requests get to finish on SIGTERM.
    pub shutdown_timeout_secs: u64,
    /// Milliseconds `/readyz` answers 503 on SIGTERM before the listener
    /// closes, so load balancers stop sending first.
    pub drain_delay_ms: u64,
    /// Milliseconds a client gets to send its request head (slow-loris
    /// protection).
    pub client_request_timeout_ms: u64,
    /// Milliseconds a client gets, from the end of the head, to send the
    /// whole body.
    pub client_body_timeout_ms: u64,
    /// Address of the `/metrics` listener, kept apart from the public port;
    /// empty: no metrics listener.
    pub metrics_bind: String,
    /// Open connections the process holds at most; past it new ones wait in
    /// the kernel's backlog.
    pub max_connections: usize,
}

/// `[auth0]`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAuth0 {
    /// The tenant (or custom) domain: `tenant.eu.auth0.com` means
    /// `https://tenant.eu.auth0.com`; a full URL is used as is; `http://`
    /// only for loopback hosts. Passkeys need the custom domain.
    #[schema(required = true)]
    pub domain: Option<String>,
    /// The Auth0 application's client id.
    #[schema(required = true)]
    pub client_id: Option<String>,
    /// The Auth0 application's client secret; exactly one of it and
    /// `client_secret_file` is required. Never logged, never in a response.
    #[schema(value_type = Option<String>, format = Password, required = true)]
    pub client_secret: Option<SecretString>,
    /// A file holding `auth0.client_secret` (a trailing newline is ignored),
    /// e.g. a mounted Kubernetes Secret.
    #[schema(value_type = Option<String>, format = "path")]
    pub client_secret_file: Option<PathBuf>,
    /// The passwordless connection for email logins.
    pub email_connection: String,
    /// The passwordless connection for SMS logins.
    pub sms_connection: String,
    /// The API audience asked for when a login names none; empty: none.
    pub audience: String,
    /// Audiences a client may ask for in `/login/verify` and the other
    /// token-issuing calls.
    #[serde(deserialize_with = "string_or_list")]
    pub allowed_audiences: Vec<String>,
    /// Space-separated scopes asked for when a login names none; each must
    /// be in `auth0.allowed_scopes`.
    pub scope: String,
    /// Scopes a client may ask for.
    #[serde(deserialize_with = "string_or_list")]
    pub allowed_scopes: Vec<String>,
    /// Where a magic link leads the browser (`https://`, `http://` only on
    /// loopback); until set, `send: "link"` and `/login/callback` answer
    /// `400 invalid_request`.
    pub magic_link_redirect_uri: String,
    /// Milliseconds an Auth0 call may take in all.
    pub timeout_ms: u64,
    /// Milliseconds to open a connection to Auth0.
    pub connect_timeout_ms: u64,
    /// Largest Auth0 answer the gateway reads; a larger one is `502`.
    pub max_response_bytes: usize,
}

/// `[rate_limit]` (SPEC §4).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    /// `false` turns every rate limit off.
    pub enabled: bool,
    /// Where the buckets live: `memory` (per process) or `redis` (shared by
    /// the fleet).
    #[schema(inline)]
    pub backend: LimitBackend,
    /// Keys each in-memory store holds at most, per policy; idle keys are
    /// pruned.
    pub max_keys: usize,
    /// Every `/login`, `/mfa`, `/token`, `/session`, `/api` and `/passkey`
    /// call, whatever its answer, per client network (IPv4 address or IPv6 /64).
    #[schema(format = "quota")]
    pub per_ip: String,
    /// `/login/start` per client network.
    #[schema(format = "quota")]
    pub login_start_per_ip: String,
    /// `/login/start` per identifier and client network, so no one locks a
    /// user out from another network.
    #[schema(format = "quota")]
    pub login_start_per_identifier_ip: String,
    /// `/login/start` per identifier across all networks.
    #[schema(format = "quota")]
    pub login_start_per_identifier: String,
    /// `/login/verify` per identifier and client network.
    #[schema(format = "quota")]
    pub verify_per_identifier_ip: String,
    /// `/login/verify` per identifier across all networks.
    #[schema(format = "quota")]
    pub verify_per_identifier: String,
    /// `/mfa/verify` per mfa_token.
    #[schema(format = "quota")]
    pub mfa_verify_per_token: String,
    /// Calls that make Auth0 text or phone someone, per destination number.
    #[schema(format = "quota")]
    pub sms_per_phone: String,
    /// Calls that make Auth0 text or phone someone, all callers together.
    #[schema(format = "quota")]
    pub sms_global: String,
    /// Passkey sign-ups (`/passkey/register`) per client network: each
    /// creates a user.
    #[schema(format = "quota")]
    pub passkey_register_per_ip: String,
    /// The store shared by the fleet, read when `rate_limit.backend = "redis"`.
    #[schema(inline)]
    pub redis: RawRedis,
}

/// `[rate_limit.redis]` (SPEC §9).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRedis {
    /// `redis://` or `rediss://` (TLS) URL, required with the `redis`
    /// backend; a secret like `client_secret` (it may hold a password).
    #[schema(value_type = Option<String>, format = Password)]
    pub url: Option<SecretString>,
    /// A file holding `rate_limit.redis.url`.
    #[schema(value_type = Option<String>, format = "path")]
    pub url_file: Option<PathBuf>,
    /// Prefix of every key the gateway writes.
    pub key_prefix: String,
    /// At least 32 bytes, the same on every replica: keys are keyed hashes,
    /// never an address, number or token. Required with the `redis` backend;
    /// never logged.
    #[schema(value_type = Option<String>, format = Password)]
    pub key_hash_secret: Option<SecretString>,
    /// A file holding `rate_limit.redis.key_hash_secret`.
    #[schema(value_type = Option<String>, format = "path")]
    pub key_hash_secret_file: Option<PathBuf>,
    /// Milliseconds one check may take before `on_error` applies.
    pub timeout_ms: u64,
    /// While Redis does not answer: `local` (this replica's in-memory
    /// limits), `open` (no limit) or `closed` (`503 rate_limit_unavailable`).
    #[schema(inline)]
    pub on_error: OnStoreError,
}

/// Where the limits live (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LimitBackend {
    /// governor, in this process.
    Memory,
    /// One Redis (or Valkey) for the whole fleet.
    Redis,
}

/// What a call gets while the shared store does not answer (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSms {
    /// ISO 3166-1 alpha-2 codes (`US,CA,FR`) that may be texted or phoned;
    /// another country's number gets `400 phone_country_not_allowed` before
    /// Auth0 is called. Empty: every country.
    #[serde(deserialize_with = "string_or_list")]
    pub allowed_countries: Vec<String>,
    /// Pauses a country whose texts are not followed by verifications
    /// (SMS pumping).
    #[schema(inline)]
    pub fraud_guard: RawFraudGuard,
}

/// `[sms.fraud_guard]` (SPEC §8).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFraudGuard {
    /// `false` turns the guard off.
    pub enabled: bool,
    /// Seconds of the sliding window sends and verifications are counted in.
    pub window_secs: u64,
    /// No judgement below this many sends to a country in the window.
    pub min_sends: u64,
    /// Verified / sent below this (0 to 1) pauses the country.
    pub min_conversion: f64,
    /// Seconds a paused country stays paused.
    pub pause_secs: u64,
}

/// `[session]` (SPEC §10).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSession {
    /// Turns cookie sessions on: login calls with `X-Lgw-Session: 1` set the
    /// session cookie, and `/session/*` and `/api/*` answer.
    pub enabled: bool,
    /// Standard base64 of 32 random bytes each (`openssl rand -base64 32`),
    /// required when enabled; the first seals, all open (rotate by adding a
    /// new key first). Secrets: never logged.
    #[serde(default, deserialize_with = "string_or_list")]
    #[schema(format = Password)]
    pub keys: Vec<String>,
    /// A file holding `session.keys`, one per line.
    #[schema(value_type = Option<String>, format = "path")]
    pub keys_file: Option<PathBuf>,
    /// The cookie's name; must start with `__Host-` (browsers then keep it
    /// `Secure`, on `Path=/`, off other subdomains).
    pub cookie_name: String,
    /// Absolute session lifetime in seconds, at most 30 days.
    pub max_age_secs: u64,
    /// Seconds unused after which a session expires.
    pub idle_secs: u64,
    /// Upstream APIs reachable through `/api/{name}/…` with the session's
    /// access token.
    #[serde(default)]
    #[schema(inline)]
    pub apis: BTreeMap<String, RawSessionApi>,
    /// Seconds one refresh's result is reused for concurrent refreshes of
    /// the same token (two tabs), at most 60.
    pub refresh_reuse_secs: u64,
    /// The app's origin when it is served from the gateway's own origin
    /// (allowed to send the CSRF header); empty: none.
    pub public_origin: String,
    /// Milliseconds one `/api` call may take.
    pub api_timeout_ms: u64,
    /// Serve `POST /session/backchannel-logout`, where Auth0 posts a signed
    /// `logout_token` when it ends a user's session (OIDC back-channel
    /// logout); needs
    /// `session.enabled`.
    pub backchannel_logout: bool,
}

/// `[session.apis.<name>]`: one upstream API (SPEC §10).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSessionApi {
    /// The API's base URL: `https://` (`http://` only on loopback), no
    /// query, fragment or credentials.
    pub url: String,
    /// The audience its access token is refreshed for; unset: the login's
    /// access token is sent.
    pub audience: Option<String>,
}

/// `[passkey]` (SPEC §11).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPasskey {
    /// While off, every `/passkey/*` route answers `404`.
    pub enabled: bool,
    /// The database connection with passkeys on (Auth0's `realm`).
    pub connection: String,
}

/// `[log]`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLog {
    /// `json` (one object per line) or `pretty` (for people).
    #[schema(inline)]
    pub format: LogFormat,
}

/// Which header carries the client chain behind a trusted proxy (SPEC §3).
/// Header names are case-insensitive, so the usual spellings are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Lists are TOML arrays in a file and one comma-separated string in the
/// environment (`GATEWAY__SERVER__TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1/32`).
pub(super) fn string_or_list<'de, D: serde::Deserializer<'de>>(
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
