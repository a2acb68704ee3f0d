//! Validation: raw settings become types that cannot be invalid. Every
//! error names its key and never quotes the value (it could be a secret).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;
use url::Url;

use super::*;

pub(super) fn validate_server(raw: RawServer) -> Result<ServerSettings, SettingsError> {
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
    // Trusting every peer lets any client write its own X-Forwarded-For,
    // choosing its address for every limit and every log line.
    if trusted_proxies.iter().any(|net| net.prefix_len() == 0) {
        return Err(SettingsError::new(
            "server.trusted_proxies",
            "an entry trusts every address (0.0.0.0/0 or ::/0): any client could then \
             choose its own address; list your proxies' ranges only",
        ));
    }
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
    if raw.max_connections == 0 {
        return Err(SettingsError::new(
            "server.max_connections",
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
        client_ip_header: raw.client_ip_header,
        cors_allowed_origins,
        max_body_bytes: raw.max_body_bytes,
        shutdown_timeout: Duration::from_secs(raw.shutdown_timeout_secs),
        drain_delay: Duration::from_millis(raw.drain_delay_ms),
        client_request_timeout: Duration::from_millis(raw.client_request_timeout_ms),
        client_body_timeout: Duration::from_millis(raw.client_body_timeout_ms),
        metrics_bind,
        max_connections: raw.max_connections,
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
pub(super) fn parse_origin(text: &str) -> Result<String, String> {
    let url = Url::parse(text).map_err(|_| "an entry is not an origin".to_string())?;
    let origin = url.origin().ascii_serialization();
    if origin == "null" || text.trim_end_matches('/') != origin {
        return Err(
            "an entry is not an origin such as https://app.example.com (no path)".to_string(),
        );
    }
    Ok(origin)
}

pub(super) fn validate_auth0(raw: RawAuth0) -> Result<Auth0Settings, SettingsError> {
    let domain = required(raw.domain, "auth0.domain")?;
    let base_url =
        normalise_domain(&domain).map_err(|message| SettingsError::new("auth0.domain", message))?;
    let client_id = required(raw.client_id, "auth0.client_id")?;
    let client_secret = secret_setting(
        "auth0.client_secret",
        raw.client_secret,
        raw.client_secret_file,
    )?
    .ok_or_else(|| {
        SettingsError::new(
            "auth0.client_secret",
            "missing (set auth0.client_secret or auth0.client_secret_file)",
        )
    })?;
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

/// An `http://` URL is allowed only to this machine.
pub(super) fn is_loopback_url_host(url: &Url) -> bool {
    url.host().is_some_and(|host| is_loopback_host(&host))
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

/// A secret given as `key` or as `key_file` (not both); `None` when
/// neither is set. An empty path means "not set" (the demo uses this to
/// clear a file). Errors name the key, never the value.
fn secret_setting(
    key: &str,
    value: Option<SecretString>,
    file: Option<PathBuf>,
) -> Result<Option<SecretString>, SettingsError> {
    use secrecy::ExposeSecret;
    let file = file.filter(|path| !path.as_os_str().is_empty());
    match (value, file) {
        (Some(_), Some(_)) => Err(SettingsError::new(
            key,
            format!("set either {key} or {key}_file, not both"),
        )),
        (None, None) => Ok(None),
        (Some(secret), None) => {
            if secret.expose_secret().trim().is_empty() {
                return Err(SettingsError::new(key, "is empty"));
            }
            Ok(Some(secret))
        }
        (None, Some(path)) => read_secret_file(&format!("{key}_file"), &path).map(Some),
    }
}

pub(super) fn read_secret_file(key: &str, path: &Path) -> Result<SecretString, SettingsError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SettingsError::new(key, format!("cannot read the file ({})", e.kind())))?;
    // Secret files written by `echo` or Kubernetes often end in a newline.
    let secret = text.trim();
    if secret.is_empty() {
        return Err(SettingsError::new(key, "the file is empty"));
    }
    Ok(SecretString::from(secret.to_string()))
}

fn validate_redis(raw: RawRedis) -> Result<RedisSettings, SettingsError> {
    use secrecy::ExposeSecret;
    let url = secret_setting("rate_limit.redis.url", raw.url, raw.url_file)?.ok_or_else(|| {
        SettingsError::new(
            "rate_limit.redis.url",
            "missing: rate_limit.backend = \"redis\" needs rate_limit.redis.url (or url_file)",
        )
    })?;
    // Only the scheme is checked and named: the URL may hold a password.
    let scheme = url.expose_secret().split("://").next().unwrap_or("");
    if !matches!(scheme, "redis" | "rediss") {
        return Err(SettingsError::new(
            "rate_limit.redis.url",
            "must start with redis:// or rediss:// (TLS)",
        ));
    }
    if redis::Client::open(url.expose_secret()).is_err() {
        return Err(SettingsError::new(
            "rate_limit.redis.url",
            "is not a valid Redis URL",
        ));
    }
    let key_hash_secret = secret_setting(
        "rate_limit.redis.key_hash_secret",
        raw.key_hash_secret,
        raw.key_hash_secret_file,
    )?
    .ok_or_else(|| {
        SettingsError::new(
            "rate_limit.redis.key_hash_secret",
            "missing: the fleet-wide secret the Redis keys are hashed with",
        )
    })?;
    if key_hash_secret.expose_secret().len() < 32 {
        return Err(SettingsError::new(
            "rate_limit.redis.key_hash_secret",
            "must be at least 32 bytes",
        ));
    }
    if raw.timeout_ms == 0 {
        return Err(SettingsError::new(
            "rate_limit.redis.timeout_ms",
            "must be at least 1",
        ));
    }
    Ok(RedisSettings {
        url,
        key_prefix: raw.key_prefix,
        key_hash_secret,
        timeout: Duration::from_millis(raw.timeout_ms),
        on_error: raw.on_error,
    })
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

pub(super) fn validate_rate_limit(raw: RawRateLimit) -> Result<RateLimitSettings, SettingsError> {
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
    let redis = match raw.backend {
        LimitBackend::Memory => None,
        LimitBackend::Redis => Some(validate_redis(raw.redis)?),
    };
    Ok(RateLimitSettings {
        enabled: raw.enabled,
        max_keys: raw.max_keys,
        redis,
        per_ip: quota("per_ip", &raw.per_ip)?,
        login_start_per_ip: quota("login_start_per_ip", &raw.login_start_per_ip)?,
        login_start_per_identifier_ip: quota(
            "login_start_per_identifier_ip",
            &raw.login_start_per_identifier_ip,
        )?,
        login_start_per_identifier: quota(
            "login_start_per_identifier",
            &raw.login_start_per_identifier,
        )?,
        verify_per_identifier_ip: quota("verify_per_identifier_ip", &raw.verify_per_identifier_ip)?,
        verify_per_identifier: quota("verify_per_identifier", &raw.verify_per_identifier)?,
        mfa_verify_per_token: quota("mfa_verify_per_token", &raw.mfa_verify_per_token)?,
        sms_per_phone: quota("sms_per_phone", &raw.sms_per_phone)?,
        sms_global: quota("sms_global", &raw.sms_global)?,
        passkey_register_per_ip: quota("passkey_register_per_ip", &raw.passkey_register_per_ip)?,
    })
}

pub(super) fn validate_sms(raw: RawSms) -> Result<SmsSettings, SettingsError> {
    let mut allowed_countries = Vec::new();
    for code in non_empty(raw.allowed_countries) {
        let code = code.to_ascii_uppercase();
        // The codes libphonenumber knows: a typo would otherwise refuse a
        // whole country's users, or allow nobody.
        if code.len() != 2 || code.parse::<phonenumber::country::Id>().is_err() {
            return Err(SettingsError::new(
                "sms.allowed_countries",
                "an entry is not an ISO 3166-1 alpha-2 code with phone numbers, such as US",
            ));
        }
        if !allowed_countries.contains(&code) {
            allowed_countries.push(code);
        }
    }
    let guard = raw.fraud_guard;
    let key = |name: &str| format!("sms.fraud_guard.{name}");
    if guard.window_secs == 0 {
        return Err(SettingsError::new(key("window_secs"), "must be at least 1"));
    }
    if guard.pause_secs == 0 {
        return Err(SettingsError::new(key("pause_secs"), "must be at least 1"));
    }
    if guard.min_sends == 0 {
        return Err(SettingsError::new(key("min_sends"), "must be at least 1"));
    }
    if !(0.0..=1.0).contains(&guard.min_conversion) {
        return Err(SettingsError::new(
            key("min_conversion"),
            "must be between 0 and 1",
        ));
    }
    Ok(SmsSettings {
        allowed_countries,
        fraud_guard: FraudGuardSettings {
            enabled: guard.enabled,
            window: Duration::from_secs(guard.window_secs),
            min_sends: guard.min_sends,
            min_conversion: guard.min_conversion,
            pause: Duration::from_secs(guard.pause_secs),
        },
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
