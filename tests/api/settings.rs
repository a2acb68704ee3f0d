//! SPEC §5: compiled defaults < TOML file < environment < overrides, and
//! bad values rejected with the key named.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use login_gateway::settings::{ClientIpHeader, LogFormat, Settings, SettingsError, Sources};
use secrecy::ExposeSecret;

const FAKE_SECRET: &str = "settings-test-secret-not-real";

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The two required keys plus a secret.
fn minimal_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GATEWAY__AUTH0__DOMAIN", "tenant.eu.auth0.com"),
        ("GATEWAY__AUTH0__CLIENT_ID", "settings-test-client"),
        ("GATEWAY__AUTH0__CLIENT_SECRET", FAKE_SECRET),
    ]
}

fn load_env(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    Settings::load(&Sources {
        defaults: Vec::new(),
        file: None,
        env: Some(env(pairs)),
        overrides: vec![],
    })
}

fn with_minimal(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut pairs = minimal_env();
    pairs.extend_from_slice(extra);
    pairs
}

fn toml_file(content: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("temp file");
    file.write_all(content.as_bytes()).expect("write");
    file.flush().expect("flush");
    file
}

/// Loading must fail, name `key`, and never echo the secret.
fn rejected(result: Result<Settings, SettingsError>, key: &str) -> SettingsError {
    let error = match result {
        Ok(settings) => panic!("expected {key} to be rejected, got {settings:?}"),
        Err(error) => error,
    };
    assert_eq!(error.key, key, "{error}");
    let line = error.to_string();
    assert!(line.contains(key), "the line names the key: {line}");
    assert!(!line.contains('\n'), "one line: {line}");
    assert!(!line.contains(FAKE_SECRET), "no secret in {line}");
    error
}

#[test]
fn compiled_defaults_fill_everything_but_the_auth0_application() {
    let settings = load_env(&minimal_env()).expect("valid");

    assert_eq!(settings.server.bind.to_string(), "0.0.0.0:8080");
    assert!(settings.server.workers >= 1);
    assert!(settings.server.trusted_proxies.is_empty());
    assert_eq!(
        settings.server.client_ip_header,
        ClientIpHeader::XForwardedFor
    );
    assert!(settings.server.cors_allowed_origins.is_empty());
    assert_eq!(settings.server.max_body_bytes, 16384);
    assert_eq!(settings.server.shutdown_timeout, Duration::from_secs(30));

    let auth0 = &settings.auth0;
    assert_eq!(auth0.base_url, "https://tenant.eu.auth0.com");
    assert_eq!(auth0.client_id, "settings-test-client");
    assert_eq!(auth0.client_secret.expose_secret(), FAKE_SECRET);
    assert_eq!(auth0.email_connection, "email");
    assert_eq!(auth0.sms_connection, "sms");
    assert_eq!(auth0.audience, "");
    assert!(auth0.allowed_audiences.is_empty());
    assert_eq!(auth0.scope, "openid profile email offline_access");
    assert_eq!(
        auth0.allowed_scopes,
        vec!["openid", "profile", "email", "offline_access"]
    );
    assert_eq!(auth0.magic_link_redirect_uri, None);
    assert_eq!(auth0.timeout, Duration::from_millis(5000));
    assert_eq!(auth0.connect_timeout, Duration::from_millis(2000));

    let rl = &settings.rate_limit;
    assert!(rl.enabled);
    assert_eq!(rl.max_keys, 1_000_000);
    let quota = |q: login_gateway::settings::QuotaSpec| (q.count.get(), q.period.as_secs());
    assert_eq!(quota(rl.per_ip), (120, 60));
    assert_eq!(quota(rl.login_start_per_ip), (20, 3600));
    assert_eq!(quota(rl.login_start_per_identifier_ip), (5, 3600));
    assert_eq!(quota(rl.login_start_per_identifier), (20, 3600));
    assert_eq!(quota(rl.verify_per_identifier_ip), (10, 3600));
    assert_eq!(quota(rl.verify_per_identifier), (50, 3600));
    assert_eq!(quota(rl.mfa_verify_per_token), (10, 60));
    assert_eq!(quota(rl.sms_per_phone), (5, 3600));
    assert_eq!(quota(rl.sms_global), (1000, 3600));

    let sms = &settings.sms;
    assert!(sms.allowed_countries.is_empty(), "every country by default");
    assert!(sms.fraud_guard.enabled);
    assert_eq!(sms.fraud_guard.window, Duration::from_secs(3600));
    assert_eq!(sms.fraud_guard.min_sends, 50);
    assert_eq!(sms.fraud_guard.min_conversion, 0.2);
    assert_eq!(sms.fraud_guard.pause, Duration::from_secs(900));

    assert_eq!(settings.log.format, LogFormat::Json);
}

#[test]
fn a_toml_file_overrides_defaults_and_the_environment_overrides_the_file() {
    let file = toml_file(
        r#"
[server]
bind = "127.0.0.1:9000"
max_body_bytes = 4096
trusted_proxies = ["10.0.0.0/8"]

[auth0]
domain = "file-tenant.auth0.com"
client_id = "file-client"
client_secret = "file-secret-not-real"
email_connection = "email-from-file"
scope = "openid email"

[rate_limit]
per_ip = "60/minute"

[log]
format = "pretty"
"#,
    );
    let settings = Settings::load(&Sources {
        defaults: Vec::new(),
        file: Some(file.path().to_path_buf()),
        env: Some(env(&[
            ("GATEWAY__SERVER__MAX_BODY_BYTES", "2048"),
            ("GATEWAY__AUTH0__CLIENT_ID", "env-client"),
            ("GATEWAY__RATE_LIMIT__PER_IP", "7/second"),
        ])),
        overrides: vec![],
    })
    .expect("valid");

    // From the file.
    assert_eq!(settings.server.bind.to_string(), "127.0.0.1:9000");
    assert_eq!(
        settings
            .server
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>(),
        vec!["10.0.0.0/8"]
    );
    assert_eq!(settings.auth0.base_url, "https://file-tenant.auth0.com");
    assert_eq!(
        settings.auth0.client_secret.expose_secret(),
        "file-secret-not-real"
    );
    assert_eq!(settings.auth0.email_connection, "email-from-file");
    assert_eq!(settings.auth0.scope, "openid email");
    assert_eq!(settings.log.format, LogFormat::Pretty);
    // From the environment, over the file.
    assert_eq!(settings.server.max_body_bytes, 2048);
    assert_eq!(settings.auth0.client_id, "env-client");
    assert_eq!(settings.rate_limit.per_ip.count.get(), 7);
    assert_eq!(settings.rate_limit.per_ip.period, Duration::from_secs(1));
    // Still the defaults.
    assert_eq!(settings.auth0.sms_connection, "sms");
    assert_eq!(settings.server.shutdown_timeout, Duration::from_secs(30));
}

#[test]
fn overrides_win_over_the_environment() {
    let settings = Settings::load(&Sources {
        defaults: Vec::new(),
        file: None,
        env: Some(env(&minimal_env())),
        overrides: vec![
            ("auth0.domain".into(), "http://127.0.0.1:4000".into()),
            ("auth0.client_id".into(), "override-client".into()),
        ],
    })
    .expect("valid");
    assert_eq!(settings.auth0.base_url, "http://127.0.0.1:4000");
    assert_eq!(settings.auth0.client_id, "override-client");
}

#[test]
fn environment_lists_are_comma_separated() {
    let settings = load_env(&with_minimal(&[
        (
            "GATEWAY__SERVER__TRUSTED_PROXIES",
            "10.0.0.0/8,127.0.0.1/32, 192.168.1.7",
        ),
        (
            "GATEWAY__AUTH0__ALLOWED_AUDIENCES",
            "https://api.example.com,https://billing.example.com",
        ),
        (
            "GATEWAY__SERVER__CORS_ALLOWED_ORIGINS",
            "https://app.example.com",
        ),
        ("GATEWAY__SERVER__CLIENT_IP_HEADER", "Forwarded"),
    ]))
    .expect("valid");
    assert_eq!(
        settings
            .server
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>(),
        vec!["10.0.0.0/8", "127.0.0.1/32", "192.168.1.7/32"]
    );
    assert_eq!(
        settings.auth0.allowed_audiences,
        vec!["https://api.example.com", "https://billing.example.com"]
    );
    assert_eq!(
        settings.server.cors_allowed_origins,
        vec!["https://app.example.com"]
    );
    assert_eq!(settings.server.client_ip_header, ClientIpHeader::Forwarded);
}

#[test]
fn an_empty_trusted_proxies_variable_means_none() {
    let settings =
        load_env(&with_minimal(&[("GATEWAY__SERVER__TRUSTED_PROXIES", "")])).expect("valid");
    assert!(settings.server.trusted_proxies.is_empty());
}

#[test]
fn auth0_domain_forms_are_normalised() {
    for (domain, expected) in [
        ("tenant.eu.auth0.com", "https://tenant.eu.auth0.com"),
        ("https://login.example.com/", "https://login.example.com"),
        ("http://127.0.0.1:8081", "http://127.0.0.1:8081"),
        ("http://localhost:8081", "http://localhost:8081"),
    ] {
        let settings = load_env(&[
            ("GATEWAY__AUTH0__DOMAIN", domain),
            ("GATEWAY__AUTH0__CLIENT_ID", "c"),
            ("GATEWAY__AUTH0__CLIENT_SECRET", FAKE_SECRET),
        ])
        .expect("valid");
        assert_eq!(settings.auth0.base_url, expected, "{domain}");
    }
}

#[test]
fn plain_http_to_a_non_loopback_auth0_domain_is_rejected() {
    for domain in [
        "http://tenant.auth0.com",
        "http://10.0.0.5:8080",
        "ftp://tenant.auth0.com",
        "https://tenant.auth0.com/some/path",
        "https://user:pass@tenant.auth0.com",
    ] {
        let error = rejected(
            load_env(&[
                ("GATEWAY__AUTH0__DOMAIN", domain),
                ("GATEWAY__AUTH0__CLIENT_ID", "c"),
                ("GATEWAY__AUTH0__CLIENT_SECRET", FAKE_SECRET),
            ]),
            "auth0.domain",
        );
        assert!(!error.to_string().contains("pass@"), "{error}");
    }
}

#[test]
fn a_missing_domain_or_client_id_is_named() {
    rejected(
        load_env(&[
            ("GATEWAY__AUTH0__CLIENT_ID", "c"),
            ("GATEWAY__AUTH0__CLIENT_SECRET", FAKE_SECRET),
        ]),
        "auth0.domain",
    );
    rejected(
        load_env(&[
            ("GATEWAY__AUTH0__DOMAIN", "tenant.auth0.com"),
            ("GATEWAY__AUTH0__CLIENT_SECRET", FAKE_SECRET),
        ]),
        "auth0.client_id",
    );
}

#[test]
fn both_client_secret_and_client_secret_file_is_a_configuration_error() {
    let file = toml_file("file-secret-not-real\n");
    let path = file.path().to_string_lossy().to_string();
    let mut pairs = minimal_env();
    pairs.push(("GATEWAY__AUTH0__CLIENT_SECRET_FILE", path.as_str()));
    let error = rejected(load_env(&pairs), "auth0.client_secret");
    assert!(error.message.contains("client_secret_file"), "{error}");
    assert!(!error.to_string().contains("file-secret-not-real"));
}

#[test]
fn neither_client_secret_nor_client_secret_file_is_a_configuration_error() {
    rejected(
        load_env(&[
            ("GATEWAY__AUTH0__DOMAIN", "tenant.auth0.com"),
            ("GATEWAY__AUTH0__CLIENT_ID", "c"),
        ]),
        "auth0.client_secret",
    );
}

#[test]
fn the_client_secret_file_is_read_and_trimmed() {
    let file = toml_file("  file-secret-not-real\n\n");
    let path = file.path().to_string_lossy().to_string();
    let settings = load_env(&[
        ("GATEWAY__AUTH0__DOMAIN", "tenant.auth0.com"),
        ("GATEWAY__AUTH0__CLIENT_ID", "c"),
        ("GATEWAY__AUTH0__CLIENT_SECRET_FILE", path.as_str()),
    ])
    .expect("valid");
    assert_eq!(
        settings.auth0.client_secret.expose_secret(),
        "file-secret-not-real"
    );
}

#[test]
fn an_unreadable_or_empty_client_secret_file_is_named() {
    let dir = tempfile::tempdir().expect("dir");
    let missing = dir.path().join("no-such-secret");
    let missing = missing.to_string_lossy().to_string();
    let empty = toml_file(" \n");
    let empty = empty.path().to_string_lossy().to_string();
    for path in [missing.as_str(), empty.as_str()] {
        rejected(
            load_env(&[
                ("GATEWAY__AUTH0__DOMAIN", "tenant.auth0.com"),
                ("GATEWAY__AUTH0__CLIENT_ID", "c"),
                ("GATEWAY__AUTH0__CLIENT_SECRET_FILE", path),
            ]),
            "auth0.client_secret_file",
        );
    }
}

#[test]
fn a_bad_quota_is_rejected_with_its_key() {
    for (var, value, key) in [
        (
            "GATEWAY__RATE_LIMIT__PER_IP",
            "5/fortnight",
            "rate_limit.per_ip",
        ),
        (
            "GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER",
            "0/hour",
            "rate_limit.login_start_per_identifier",
        ),
        (
            "GATEWAY__RATE_LIMIT__SMS_GLOBAL",
            "lots",
            "rate_limit.sms_global",
        ),
    ] {
        let error = rejected(load_env(&with_minimal(&[(var, value)])), key);
        assert!(!error.message.is_empty());
    }
}

#[test]
fn a_bad_cidr_is_rejected_with_its_key() {
    for value in ["10.0.0.0/33", "proxy.internal", "10.0.0.0/8,nonsense"] {
        rejected(
            load_env(&with_minimal(&[(
                "GATEWAY__SERVER__TRUSTED_PROXIES",
                value,
            )])),
            "server.trusted_proxies",
        );
    }
}

#[test]
fn other_bad_values_are_rejected_with_their_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("GATEWAY__SERVER__BIND", "not-an-address", "server.bind"),
        (
            "GATEWAY__SERVER__CLIENT_IP_HEADER",
            "x-real-ip",
            "server.client_ip_header",
        ),
        (
            "GATEWAY__SERVER__MAX_BODY_BYTES",
            "0",
            "server.max_body_bytes",
        ),
        (
            "GATEWAY__SERVER__CORS_ALLOWED_ORIGINS",
            "https://app.example.com/path",
            "server.cors_allowed_origins",
        ),
        ("GATEWAY__AUTH0__TIMEOUT_MS", "0", "auth0.timeout_ms"),
        ("GATEWAY__AUTH0__SCOPE", "openid admin", "auth0.scope"),
        (
            "GATEWAY__AUTH0__MAGIC_LINK_REDIRECT_URI",
            "not a url",
            "auth0.magic_link_redirect_uri",
        ),
        ("GATEWAY__LOG__FORMAT", "xml", "log.format"),
    ];
    for (var, value, key) in cases {
        rejected(load_env(&with_minimal(&[(var, value)])), key);
    }
}

#[test]
fn a_mistyped_number_names_its_key() {
    let error = load_env(&with_minimal(&[(
        "GATEWAY__SERVER__MAX_BODY_BYTES",
        "lots",
    )]))
    .expect_err("rejected");
    assert!(error.key.contains("max_body_bytes"), "key named: {error}");
}

#[test]
fn a_missing_config_file_is_reported() {
    let dir = tempfile::tempdir().expect("dir");
    let error = Settings::load(&Sources {
        defaults: Vec::new(),
        file: Some(dir.path().join("absent.toml")),
        env: Some(env(&minimal_env())),
        overrides: vec![],
    })
    .expect_err("rejected");
    assert_eq!(error.key, "--config");
}

#[test]
fn an_unknown_key_in_the_file_is_rejected_and_named() {
    let file = toml_file("[server]\nbnd = \"127.0.0.1:9000\"\n");
    let error = Settings::load(&Sources {
        defaults: Vec::new(),
        file: Some(file.path().to_path_buf()),
        env: Some(env(&minimal_env())),
        overrides: vec![],
    })
    .expect_err("rejected");
    assert!(error.to_string().contains("bnd"), "{error}");
}

#[test]
fn the_secret_never_shows_in_debug_output() {
    let settings = load_env(&minimal_env()).expect("valid");
    let debug = format!("{settings:?}");
    assert!(!debug.contains(FAKE_SECRET), "{debug}");
}

/// `sms.*` from the environment: a comma list of countries (case folded,
/// duplicates dropped) and the guard's numbers; bad values name the key,
/// never the value.
#[test]
fn sms_settings_come_from_the_environment_and_are_checked() {
    let mut pairs = minimal_env();
    pairs.extend([
        ("GATEWAY__SMS__ALLOWED_COUNTRIES", "us, CA,us"),
        ("GATEWAY__SMS__FRAUD_GUARD__MIN_SENDS", "7"),
        ("GATEWAY__SMS__FRAUD_GUARD__MIN_CONVERSION", "0.5"),
        ("GATEWAY__SMS__FRAUD_GUARD__PAUSE_SECS", "60"),
        ("GATEWAY__SMS__FRAUD_GUARD__ENABLED", "false"),
    ]);
    let settings = load_env(&pairs).expect("valid sms settings");
    assert_eq!(settings.sms.allowed_countries, vec!["US", "CA"]);
    assert_eq!(settings.sms.fraud_guard.min_sends, 7);
    assert_eq!(settings.sms.fraud_guard.min_conversion, 0.5);
    assert_eq!(settings.sms.fraud_guard.pause, Duration::from_secs(60));
    assert!(!settings.sms.fraud_guard.enabled);

    for (key, value, named) in [
        (
            "GATEWAY__SMS__ALLOWED_COUNTRIES",
            "US,XX-secret",
            "sms.allowed_countries",
        ),
        (
            "GATEWAY__SMS__ALLOWED_COUNTRIES",
            "USA",
            "sms.allowed_countries",
        ),
        (
            "GATEWAY__SMS__FRAUD_GUARD__MIN_CONVERSION",
            "1.5",
            "sms.fraud_guard.min_conversion",
        ),
        (
            "GATEWAY__SMS__FRAUD_GUARD__WINDOW_SECS",
            "0",
            "sms.fraud_guard.window_secs",
        ),
        (
            "GATEWAY__SMS__FRAUD_GUARD__MIN_SENDS",
            "0",
            "sms.fraud_guard.min_sends",
        ),
    ] {
        let mut pairs = minimal_env();
        pairs.push((key, value));
        let error = load_env(&pairs).expect_err(value);
        assert_eq!(error.key, named, "{value}");
        assert!(!error.to_string().contains("secret"), "{error}");
    }
}

// SPEC §9: the Redis backend's keys.

const FAKE_REDIS_PASSWORD: &str = "redis-password-not-real";
const FAKE_KEY_HASH_SECRET: &str = "key-hash-secret-not-real-0123456789abcdef";

#[test]
fn the_memory_backend_needs_no_redis_keys() {
    let settings = load_env(&minimal_env()).expect("defaults load");
    assert!(settings.rate_limit.redis.is_none());
}

#[test]
fn the_redis_backend_loads_every_key_and_keeps_the_url_secret() {
    let url = format!("rediss://:{FAKE_REDIS_PASSWORD}@redis.internal:6380/2");
    let settings = load_env(&with_minimal(&[
        ("GATEWAY__RATE_LIMIT__BACKEND", "redis"),
        (
            "GATEWAY__RATE_LIMIT__REDIS__URL",
            Box::leak(url.clone().into_boxed_str()),
        ),
        (
            "GATEWAY__RATE_LIMIT__REDIS__KEY_HASH_SECRET",
            FAKE_KEY_HASH_SECRET,
        ),
        ("GATEWAY__RATE_LIMIT__REDIS__KEY_PREFIX", "lgw-eu:"),
        ("GATEWAY__RATE_LIMIT__REDIS__TIMEOUT_MS", "20"),
        ("GATEWAY__RATE_LIMIT__REDIS__ON_ERROR", "closed"),
    ]))
    .expect("redis settings load");
    let redis = settings.rate_limit.redis.as_ref().expect("redis settings");
    assert_eq!(redis.url.expose_secret(), url);
    assert_eq!(redis.key_prefix, "lgw-eu:");
    assert_eq!(redis.timeout, Duration::from_millis(20));
    assert_eq!(
        redis.on_error,
        login_gateway::settings::OnStoreError::Closed
    );
    let printed = format!("{settings:?}");
    assert!(!printed.contains(FAKE_REDIS_PASSWORD), "{printed}");
    assert!(!printed.contains(FAKE_KEY_HASH_SECRET), "{printed}");
}

#[test]
fn the_redis_defaults_are_the_spec_defaults() {
    let settings = load_env(&with_minimal(&[
        ("GATEWAY__RATE_LIMIT__BACKEND", "redis"),
        ("GATEWAY__RATE_LIMIT__REDIS__URL", "redis://127.0.0.1:6379"),
        (
            "GATEWAY__RATE_LIMIT__REDIS__KEY_HASH_SECRET",
            FAKE_KEY_HASH_SECRET,
        ),
    ]))
    .expect("redis settings load");
    let redis = settings.rate_limit.redis.expect("redis settings");
    assert_eq!(redis.key_prefix, "login-gateway:");
    assert_eq!(redis.timeout, Duration::from_millis(50));
    assert_eq!(redis.on_error, login_gateway::settings::OnStoreError::Local);
}

#[test]
fn the_redis_url_and_key_hash_secret_can_come_from_files() {
    let url = toml_file(&format!("redis://:{FAKE_REDIS_PASSWORD}@127.0.0.1:6379\n"));
    let secret = toml_file(&format!("{FAKE_KEY_HASH_SECRET}\n"));
    let url_path = url.path().to_str().expect("utf-8 path").to_string();
    let secret_path = secret.path().to_str().expect("utf-8 path").to_string();
    let settings = load_env(&with_minimal(&[
        ("GATEWAY__RATE_LIMIT__BACKEND", "redis"),
        (
            "GATEWAY__RATE_LIMIT__REDIS__URL_FILE",
            Box::leak(url_path.into_boxed_str()),
        ),
        (
            "GATEWAY__RATE_LIMIT__REDIS__KEY_HASH_SECRET_FILE",
            Box::leak(secret_path.into_boxed_str()),
        ),
    ]))
    .expect("secrets from files load");
    let redis = settings.rate_limit.redis.expect("redis settings");
    assert_eq!(
        redis.url.expose_secret(),
        format!("redis://:{FAKE_REDIS_PASSWORD}@127.0.0.1:6379")
    );
    assert_eq!(redis.key_hash_secret.expose_secret(), FAKE_KEY_HASH_SECRET);
}

#[test]
fn bad_redis_settings_are_rejected_without_echoing_secrets() {
    let redis = |extra: &[(&'static str, &'static str)]| {
        let mut pairs = with_minimal(&[("GATEWAY__RATE_LIMIT__BACKEND", "redis")]);
        pairs.extend_from_slice(extra);
        load_env(&pairs)
    };
    let secret = (
        "GATEWAY__RATE_LIMIT__REDIS__KEY_HASH_SECRET",
        FAKE_KEY_HASH_SECRET,
    );
    rejected(redis(&[secret]), "rate_limit.redis.url");
    let wrong_scheme = "http://:redis-password-not-real@127.0.0.1:6379";
    let error = rejected(
        redis(&[("GATEWAY__RATE_LIMIT__REDIS__URL", wrong_scheme), secret]),
        "rate_limit.redis.url",
    );
    assert!(!error.to_string().contains(FAKE_REDIS_PASSWORD), "{error}");
    let url = ("GATEWAY__RATE_LIMIT__REDIS__URL", "redis://127.0.0.1:6379");
    rejected(redis(&[url]), "rate_limit.redis.key_hash_secret");
    let short = "short-secret-not-real";
    let error = rejected(
        redis(&[url, ("GATEWAY__RATE_LIMIT__REDIS__KEY_HASH_SECRET", short)]),
        "rate_limit.redis.key_hash_secret",
    );
    assert!(!error.to_string().contains(short), "{error}");
    rejected(
        redis(&[url, secret, ("GATEWAY__RATE_LIMIT__REDIS__TIMEOUT_MS", "0")]),
        "rate_limit.redis.timeout_ms",
    );
    rejected(
        redis(&[
            url,
            secret,
            ("GATEWAY__RATE_LIMIT__REDIS__ON_ERROR", "retry"),
        ]),
        "rate_limit.redis.on_error",
    );
    rejected(
        load_env(&with_minimal(&[(
            "GATEWAY__RATE_LIMIT__BACKEND",
            "memcached",
        )])),
        "rate_limit.backend",
    );
}

/// Obviously fake session keys: the bytes 0, 1, …, 31 and 32, 33, …, 63
/// (one byte repeated is refused, SPEC §13).
const FAKE_SESSION_KEY_1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const FAKE_SESSION_KEY_2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

/// The bytes `first`, `first + 1`, … of a 32-byte key.
fn key_bytes(first: u8) -> [u8; 32] {
    std::array::from_fn(|i| first + i as u8)
}

#[test]
fn session_settings_default_off_and_need_keys_when_on() {
    let settings = load_env(&minimal_env()).expect("valid");
    assert!(!settings.session.enabled);
    assert_eq!(settings.session.cookie_name, "__Host-lgw");
    assert_eq!(settings.session.max_age.as_secs(), 86_400);
    assert_eq!(settings.session.idle.as_secs(), 3_600);
    assert_eq!(settings.session.refresh_reuse.as_secs(), 10);
    assert_eq!(settings.session.api_timeout.as_millis(), 10_000);
    rejected(
        load_env(&with_minimal(&[("GATEWAY__SESSION__ENABLED", "true")])),
        "session.keys",
    );
    let two = format!("{FAKE_SESSION_KEY_2},{FAKE_SESSION_KEY_1}");
    let settings = load_env(&with_minimal(&[
        ("GATEWAY__SESSION__ENABLED", "true"),
        ("GATEWAY__SESSION__KEYS", Box::leak(two.into_boxed_str())),
    ]))
    .expect("two keys");
    assert_eq!(settings.session.keys.len(), 2);
    assert_eq!(settings.session.keys[0].0, key_bytes(32), "the first seals");
    assert!(
        !format!("{:?}", settings.session).contains(FAKE_SESSION_KEY_1),
        "keys never show in Debug"
    );
}

#[test]
fn a_session_key_that_is_not_32_bytes_of_base64_is_named_by_position_never_shown() {
    let short = "c2hvcnQta2V5LW5vdC0zMi1ieXRlcw==";
    let keys = format!("{FAKE_SESSION_KEY_1},{short}");
    let error = rejected(
        load_env(&with_minimal(&[
            ("GATEWAY__SESSION__ENABLED", "true"),
            ("GATEWAY__SESSION__KEYS", Box::leak(keys.into_boxed_str())),
        ])),
        "session.keys",
    );
    assert!(error.message.contains("key 2"), "{error}");
    assert!(!error.to_string().contains(short), "{error}");
}

#[test]
fn session_keys_file_holds_one_key_per_line_and_excludes_session_keys() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "{FAKE_SESSION_KEY_2}\n\n{FAKE_SESSION_KEY_1}").expect("write");
    let path = file.path().to_string_lossy().into_owned();
    let path: &'static str = Box::leak(path.into_boxed_str());
    let settings = load_env(&with_minimal(&[
        ("GATEWAY__SESSION__ENABLED", "true"),
        ("GATEWAY__SESSION__KEYS_FILE", path),
    ]))
    .expect("keys from the file");
    assert_eq!(settings.session.keys.len(), 2);
    rejected(
        load_env(&with_minimal(&[
            ("GATEWAY__SESSION__ENABLED", "true"),
            ("GATEWAY__SESSION__KEYS_FILE", path),
            ("GATEWAY__SESSION__KEYS", FAKE_SESSION_KEY_1),
        ])),
        "session.keys",
    );
}

#[test]
fn session_apis_are_https_or_loopback_http() {
    let on = [
        ("GATEWAY__SESSION__ENABLED", "true"),
        ("GATEWAY__SESSION__KEYS", FAKE_SESSION_KEY_1),
    ];
    let settings = load_env(&with_minimal(&[
        on[0],
        on[1],
        (
            "GATEWAY__SESSION__APIS__ORDERS__URL",
            "https://orders.example.com/v1",
        ),
        (
            "GATEWAY__SESSION__APIS__ORDERS__AUDIENCE",
            "https://orders.example.com/",
        ),
        (
            "GATEWAY__SESSION__APIS__LOCAL__URL",
            "http://127.0.0.1:9000/api",
        ),
    ]))
    .expect("valid APIs");
    let orders = &settings.session.apis["orders"];
    assert_eq!(orders.url.as_str(), "https://orders.example.com/v1");
    assert_eq!(
        orders.audience.as_deref(),
        Some("https://orders.example.com/")
    );
    for bad in [
        "http://orders.example.com/v1",
        "ftp://127.0.0.1/x",
        "https://orders.example.com/v1?x=1",
        "https://user:not-a-real-password@orders.example.com/v1",
        "not a url",
    ] {
        rejected(
            load_env(&with_minimal(&[
                on[0],
                on[1],
                ("GATEWAY__SESSION__APIS__ORDERS__URL", bad),
            ])),
            "session.apis.orders.url",
        );
    }
    rejected(
        load_env(&with_minimal(&[
            on[0],
            on[1],
            (
                "GATEWAY__SESSION__PUBLIC_ORIGIN",
                "https://app.example.com/path",
            ),
        ])),
        "session.public_origin",
    );
}

// SPEC §13: settings that would silently weaken security are refused at
// start, naming the key, never quoting a key.

/// A 32-byte key of one repeated byte (all zeros), and one of all 0x01.
const ALL_ZERO_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const ALL_ONES_KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

/// Sessions on under a valid key, plus `extra`.
fn sessions_on(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut pairs = with_minimal(&[
        ("GATEWAY__SESSION__ENABLED", "true"),
        ("GATEWAY__SESSION__KEYS", FAKE_SESSION_KEY_1),
    ]);
    pairs.extend_from_slice(extra);
    pairs
}

/// `rejected`, and the line quotes none of `material`.
fn rejected_quoting_none(
    result: Result<Settings, SettingsError>,
    key: &str,
    material: &[&str],
) -> SettingsError {
    let error = rejected(result, key);
    for text in material {
        assert!(!error.to_string().contains(text), "{error} quotes {text}");
    }
    error
}

#[test]
fn a_session_cookie_name_without_the_host_prefix_is_refused() {
    for name in [
        "lgw",
        "__Secure-lgw",
        "__host-lgw",
        "__Host-",
        "x__Host-lgw",
    ] {
        rejected(
            load_env(&with_minimal(&[("GATEWAY__SESSION__COOKIE_NAME", name)])),
            "session.cookie_name",
        );
    }
    let settings = load_env(&sessions_on(&[(
        "GATEWAY__SESSION__COOKIE_NAME",
        "__Host-app",
    )]))
    .expect("a __Host- name");
    assert_eq!(settings.session.cookie_name, "__Host-app");
}

#[test]
fn a_session_key_of_one_repeated_byte_is_refused_by_position_never_shown() {
    for weak in [ALL_ZERO_KEY, ALL_ONES_KEY] {
        let keys: &'static str = Box::leak(format!("{FAKE_SESSION_KEY_1},{weak}").into_boxed_str());
        let error = rejected_quoting_none(
            load_env(&with_minimal(&[
                ("GATEWAY__SESSION__ENABLED", "true"),
                ("GATEWAY__SESSION__KEYS", keys),
            ])),
            "session.keys",
            &[weak, FAKE_SESSION_KEY_1, "AAAAAAAA", "AQEBAQEB"],
        );
        assert!(error.message.contains("key 2"), "{error}");
    }
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(file, "{ALL_ZERO_KEY}").expect("write");
    let path: &'static str = Box::leak(file.path().to_string_lossy().into_owned().into_boxed_str());
    rejected_quoting_none(
        load_env(&with_minimal(&[
            ("GATEWAY__SESSION__ENABLED", "true"),
            ("GATEWAY__SESSION__KEYS_FILE", path),
        ])),
        "session.keys_file",
        &[ALL_ZERO_KEY, "AAAAAAAA"],
    );
}

#[test]
fn a_session_key_listed_twice_is_refused_by_position_never_shown() {
    let keys: &'static str = Box::leak(
        format!("{FAKE_SESSION_KEY_1},{FAKE_SESSION_KEY_2},{FAKE_SESSION_KEY_1}").into_boxed_str(),
    );
    let error = rejected_quoting_none(
        load_env(&with_minimal(&[
            ("GATEWAY__SESSION__ENABLED", "true"),
            ("GATEWAY__SESSION__KEYS", keys),
        ])),
        "session.keys",
        &[FAKE_SESSION_KEY_1, FAKE_SESSION_KEY_2],
    );
    assert!(
        error.message.contains("key 3") && error.message.contains("key 1"),
        "{error}"
    );
}

#[test]
fn a_refresh_reuse_window_over_sixty_seconds_is_refused() {
    rejected(
        load_env(&with_minimal(&[(
            "GATEWAY__SESSION__REFRESH_REUSE_SECS",
            "61",
        )])),
        "session.refresh_reuse_secs",
    );
    let settings = load_env(&with_minimal(&[(
        "GATEWAY__SESSION__REFRESH_REUSE_SECS",
        "60",
    )]))
    .expect("60 s is allowed");
    assert_eq!(settings.session.refresh_reuse.as_secs(), 60);
}

/// SPEC §12: the back-channel route is off unless asked for, and asking for
/// it without cookie sessions (nothing it could end) is refused.
#[test]
fn backchannel_logout_is_off_by_default_and_needs_sessions() {
    let settings = load_env(&sessions_on(&[])).expect("valid");
    assert!(!settings.session.backchannel_logout);
    let settings = load_env(&sessions_on(&[(
        "GATEWAY__SESSION__BACKCHANNEL_LOGOUT",
        "true",
    )]))
    .expect("valid with sessions on");
    assert!(settings.session.backchannel_logout);
    rejected(
        load_env(&with_minimal(&[(
            "GATEWAY__SESSION__BACKCHANNEL_LOGOUT",
            "true",
        )])),
        "session.backchannel_logout",
    );
}

#[test]
fn a_session_lifetime_over_thirty_days_is_refused() {
    rejected(
        load_env(&sessions_on(&[(
            "GATEWAY__SESSION__MAX_AGE_SECS",
            "2592001",
        )])),
        "session.max_age_secs",
    );
    let settings = load_env(&sessions_on(&[(
        "GATEWAY__SESSION__MAX_AGE_SECS",
        "2592000",
    )]))
    .expect("30 days is allowed");
    assert_eq!(settings.session.max_age.as_secs(), 2_592_000);
}

#[test]
fn trusting_every_address_as_a_proxy_is_refused() {
    for proxies in ["0.0.0.0/0", "::/0", "10.0.0.0/8, ::/0", "192.0.2.1/0"] {
        rejected(
            load_env(&with_minimal(&[(
                "GATEWAY__SERVER__TRUSTED_PROXIES",
                proxies,
            )])),
            "server.trusted_proxies",
        );
    }
    let settings = load_env(&with_minimal(&[(
        "GATEWAY__SERVER__TRUSTED_PROXIES",
        "0.0.0.0/1, 10.0.0.0/8, ::1",
    )]))
    .expect("narrower ranges");
    assert_eq!(settings.server.trusted_proxies.len(), 3);
}

#[test]
fn with_sessions_an_http_cors_origin_must_be_loopback() {
    for origin in [
        "http://app.example.com",
        "http://10.0.0.5:8080",
        "http://[2001:db8::1]",
    ] {
        rejected(
            load_env(&sessions_on(&[(
                "GATEWAY__SERVER__CORS_ALLOWED_ORIGINS",
                origin,
            )])),
            "server.cors_allowed_origins",
        );
        // Without sessions no cookie is at stake: allowed as before.
        load_env(&with_minimal(&[(
            "GATEWAY__SERVER__CORS_ALLOWED_ORIGINS",
            origin,
        )]))
        .expect("sessions off");
    }
    let settings = load_env(&sessions_on(&[(
        "GATEWAY__SERVER__CORS_ALLOWED_ORIGINS",
        "https://app.example.com, http://127.0.0.1:5173, http://127.8.9.10, \
         http://localhost:3000, http://[::1]:8080",
    )]))
    .expect("https and loopback http");
    assert_eq!(settings.server.cors_allowed_origins.len(), 5);
}

#[test]
fn with_sessions_an_http_public_origin_must_be_loopback() {
    rejected(
        load_env(&sessions_on(&[(
            "GATEWAY__SESSION__PUBLIC_ORIGIN",
            "http://app.example.com",
        )])),
        "session.public_origin",
    );
    for origin in ["http://localhost:8080", "https://app.example.com"] {
        let settings = load_env(&sessions_on(&[("GATEWAY__SESSION__PUBLIC_ORIGIN", origin)]))
            .expect("loopback http or https");
        assert_eq!(settings.session.public_origin.as_deref(), Some(origin));
    }
}

/// `login-gateway --check-config` with exactly `env` (plus the Auth0
/// application): its exit status and stderr.
fn check_config(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_login-gateway"))
        .env_clear()
        .envs(minimal_env())
        .envs(env.iter().copied())
        .arg("--check-config")
        .output()
        .expect("the binary runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn check_config_refuses_each_weakening_setting_naming_its_key() {
    let on = ("GATEWAY__SESSION__ENABLED", "true");
    let key = ("GATEWAY__SESSION__KEYS", FAKE_SESSION_KEY_1);
    let twice = format!("{FAKE_SESSION_KEY_1},{FAKE_SESSION_KEY_1}");
    let cases: [(&[(&str, &str)], &str); 8] = [
        (
            &[("GATEWAY__SESSION__COOKIE_NAME", "lgw")],
            "session.cookie_name",
        ),
        (
            &[on, ("GATEWAY__SESSION__KEYS", ALL_ZERO_KEY)],
            "session.keys",
        ),
        (&[on, ("GATEWAY__SESSION__KEYS", &twice)], "session.keys"),
        (
            &[("GATEWAY__SESSION__REFRESH_REUSE_SECS", "61")],
            "session.refresh_reuse_secs",
        ),
        (
            &[on, key, ("GATEWAY__SESSION__MAX_AGE_SECS", "2592001")],
            "session.max_age_secs",
        ),
        (
            &[("GATEWAY__SERVER__TRUSTED_PROXIES", "0.0.0.0/0")],
            "server.trusted_proxies",
        ),
        (
            &[
                on,
                key,
                (
                    "GATEWAY__SERVER__CORS_ALLOWED_ORIGINS",
                    "http://app.example.com",
                ),
            ],
            "server.cors_allowed_origins",
        ),
        (
            &[
                on,
                key,
                ("GATEWAY__SESSION__PUBLIC_ORIGIN", "http://app.example.com"),
            ],
            "session.public_origin",
        ),
    ];
    for (env, key) in cases {
        let (code, stderr) = check_config(env);
        assert!(code.is_some_and(|c| c != 0), "{key}: exit {code:?}");
        assert!(stderr.contains(key), "{key} not named: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        for material in [FAKE_SESSION_KEY_1, ALL_ZERO_KEY, "AAAAAAAA", "AAECAwQF"] {
            assert!(!stderr.contains(material), "{key}: a key quoted: {stderr}");
        }
    }
    // The same binary accepts the safe forms.
    let (code, stderr) = check_config(&[on, key]);
    assert_eq!(code, Some(0), "{stderr}");
}
