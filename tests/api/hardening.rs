//! Issue 12's attacks, tried over the wire (and against the real binary
//! where the property is about the process): compressed bodies, slow
//! bodies, non-ASCII forwarding headers, the metrics listener, value echo,
//! lax media types, configuration errors, `Debug` output.

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;
use crate::real_binary::RealGateway;

/// 16 MiB of zeros, gzipped to about 16 KB: a classic decompression bomb.
fn gzip_bomb() -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..16 {
        encoder.write_all(&zeros).expect("gzip in memory");
    }
    encoder.finish().expect("gzip in memory")
}

#[tokio::test]
async fn eight_parallel_gzip_bombs_get_415_and_peak_memory_barely_moves() {
    let auth0 = wiremock::MockServer::start().await;
    let gateway = RealGateway::spawn(&auth0.uri(), &[]).await;
    let client = reqwest::Client::new();
    let bomb = gzip_bomb();
    assert!(bomb.len() < 20_000, "the bomb is small: {}", bomb.len());
    // Warm up the paths a normal error answer takes before the baseline.
    let warm = client
        .post(gateway.url("/login/start"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .expect("answer");
    assert_eq!(warm.status(), 400);
    let before_kib = gateway.peak_rss_kib();

    let sends = (0..8).map(|_| {
        client
            .post(gateway.url("/login/start"))
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(bomb.clone())
            .send()
    });
    for response in futures_util::future::join_all(sends).await {
        let response = response.expect("the gateway answers");
        assert_eq!(response.status(), 415);
        let body: serde_json::Value = response.json().await.expect("JSON error");
        assert_eq!(body["error"], "unsupported_media_type");
    }

    let growth_kib = gateway.peak_rss_kib().saturating_sub(before_kib);
    println!("peak RSS growth after 8 gzip bombs: {growth_kib} KiB");
    assert!(growth_kib < 16 * 1024, "VmHWM grew by {growth_kib} KiB");
    assert!(auth0
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty());
}

#[tokio::test]
async fn any_content_encoding_but_identity_is_refused_before_the_body_is_read() {
    let app = spawn_app().await;
    for encoding in [
        "gzip",
        "deflate",
        "br",
        "zstd",
        "identity, gzip",
        "x-custom",
    ] {
        let response = app
            .client
            .post(app.url("/login/start"))
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(r#"{"email":"jane@example.com"}"#)
            .send()
            .await
            .expect("answer");
        assert_error(&app, response, 415, "unsupported_media_type").await;
    }
    // `identity` is no encoding at all.
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"_id": "x"})))
        .expect(1)
        .mount(&app.auth0)
        .await;
    let response = app
        .client
        .post(app.url("/login/start"))
        .header("content-type", "application/json")
        .header("content-encoding", "identity")
        .body(r#"{"email":"jane@example.com"}"#)
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
}

/// Sends a request head announcing `content_length` bytes, then `body`
/// slowly (one byte per `pause`), and returns what the gateway answered
/// and how long after the head its answer began; reads until the gateway
/// closes the connection (bounded: 5 s after the answer).
async fn slow_body(
    app: &TestApp,
    content_length: usize,
    body: &[u8],
    pause: Duration,
) -> (String, Duration) {
    let mut stream = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let head = format!(
        "POST /login/start HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {content_length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let body = body.to_vec();
    let trickle = tokio::spawn(async move {
        for byte in body {
            tokio::time::sleep(pause).await;
            if writer.write_all(&[byte]).await.is_err() {
                break;
            }
        }
        // Keep the write half open: silence, not EOF.
        tokio::time::sleep(Duration::from_secs(20)).await;
        drop(writer);
    });
    let mut answer = vec![0u8; 1];
    let first = tokio::time::timeout(Duration::from_secs(15), reader.read_exact(&mut answer)).await;
    let to_answer = started.elapsed();
    assert!(matches!(first, Ok(Ok(_))), "the gateway answers");
    let rest = tokio::time::timeout(Duration::from_secs(5), reader.read_to_end(&mut answer)).await;
    trickle.abort();
    assert!(
        rest.is_ok(),
        "the gateway closes the connection after answering"
    );
    (String::from_utf8_lossy(&answer).into_owned(), to_answer)
}

#[tokio::test]
async fn a_body_that_never_arrives_gets_408_and_the_connection_closes() {
    let app = spawn_app_with(&[("GATEWAY__SERVER__CLIENT_BODY_TIMEOUT_MS", "400")]).await;

    let (answer, elapsed) = slow_body(&app, 100, b"", Duration::ZERO).await;

    println!("silent body: 408 after {elapsed:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(answer.contains(r#""error":"request_timeout""#), "{answer}");
    assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(app.upstream_requests().await.is_empty());
}

#[tokio::test]
async fn a_trickled_body_is_cut_at_the_deadline_not_per_byte() {
    let app = spawn_app_with(&[("GATEWAY__SERVER__CLIENT_BODY_TIMEOUT_MS", "500")]).await;
    let body = br#"{"email":"jane@example.com"}"#;

    // One byte per 100 ms: each byte arrives well within any per-read
    // timeout, the whole body would take 2.8 s.
    let (answer, elapsed) = slow_body(&app, body.len(), body, Duration::from_millis(100)).await;

    println!("trickled body: 408 after {elapsed:?}");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""error":"request_timeout""#), "{answer}");
    assert!(elapsed >= Duration::from_millis(500), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1200), "{elapsed:?}");
    assert!(app.upstream_requests().await.is_empty());
}

#[tokio::test]
async fn the_body_deadline_defaults_to_ten_seconds() {
    let settings = settings_from_env(&base_env("http://127.0.0.1:9")).expect("valid");
    assert_eq!(settings.server.client_body_timeout, Duration::from_secs(10));
    let env = [
        base_env("http://127.0.0.1:9"),
        vec![(
            "GATEWAY__SERVER__CLIENT_BODY_TIMEOUT_MS".to_string(),
            "0".to_string(),
        )],
    ]
    .concat();
    let error = settings_from_env(&env).expect_err("0 is refused");
    assert_eq!(error.key, "server.client_body_timeout_ms");
}

#[tokio::test]
async fn a_non_ascii_entry_in_x_forwarded_for_does_not_hide_the_client_behind_the_proxy() {
    let app = spawn_app_with(&[("GATEWAY__SERVER__TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .and(header("auth0-forwarded-for", "198.51.100.5"))
        .and(body_json(json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "connection": "email",
            "email": "jane@example.com",
            "send": "code",
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"_id": "x"})))
        .expect(1)
        .mount(&app.auth0)
        .await;
    // What nginx's $proxy_add_x_forwarded_for makes of a client's "café".
    let value = reqwest::header::HeaderValue::from_bytes(b"caf\xc3\xa9, 198.51.100.5")
        .expect("obs-text is a valid header value");

    let response = app
        .client
        .post(app.url("/login/start"))
        .header("x-forwarded-for", value)
        .json(&json!({"email": "jane@example.com"}))
        .send()
        .await
        .expect("answer");

    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn metrics_are_served_on_the_metrics_listener_only() {
    let app = spawn_app().await;

    let public = app.get("/metrics").await;
    assert_error(&app, public, 404, "not_found").await;

    let private = app
        .client
        .get(format!("{}/metrics", app.metrics_address))
        .send()
        .await
        .expect("the metrics listener answers");
    assert_eq!(private.status(), 200);
    assert_eq!(
        header_str(private.headers(), "x-content-type-options"),
        Some("nosniff")
    );
    assert!(private
        .text()
        .await
        .expect("text")
        .contains("gateway_http_requests_total"));
    // The metrics listener serves nothing else.
    let other = app
        .client
        .post(format!("{}/login/start", app.metrics_address))
        .json(&json!({"email": "jane@example.com"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(other.status(), 404);
    assert!(app.upstream_requests().await.is_empty());
}

#[tokio::test]
async fn the_metrics_listener_defaults_to_loopback_and_can_be_turned_off() {
    let settings = settings_from_env(
        &base_env("http://127.0.0.1:9")
            .into_iter()
            .filter(|(k, _)| k != "GATEWAY__SERVER__METRICS_BIND")
            .collect::<Vec<_>>(),
    )
    .expect("valid");
    assert_eq!(
        settings.server.metrics_bind,
        Some("127.0.0.1:9464".parse().expect("address"))
    );
    let app = spawn_app_with(&[("GATEWAY__SERVER__METRICS_BIND", "")]).await;
    assert_eq!(app.metrics_address, "http://127.0.0.1:0");
    assert_error(&app, app.get("/metrics").await, 404, "not_found").await;
}

#[tokio::test]
async fn error_descriptions_never_echo_the_clients_values() {
    let app = spawn_app().await;
    let secretish = "918273645";
    let cases = [
        (json!({"email": 918273645}), "email"),
        (
            json!({"email": "jane@example.com", "send": "918273645"}),
            "send",
        ),
        (json!({"phone_number": ["918273645"]}), "phone_number"),
        (
            json!({"email": "jane@example.com", "locale": 918273645}),
            "locale",
        ),
    ];
    for (body, field) in cases {
        let response = app.post_json("/login/start", &body).await;
        let (_, error) = assert_error(&app, response, 400, "invalid_request").await;
        let description = error["error_description"].as_str().unwrap_or("");
        assert!(!description.contains(secretish), "{description}");
        assert!(description.contains(field), "{description} names {field}");
    }
    for (route, body) in [
        (
            "/login/verify",
            json!({"email": "jane@example.com", "code": 918273645}),
        ),
        ("/token/refresh", json!({"refresh_token": 918273645})),
    ] {
        let response = app.post_json(route, &body).await;
        let (_, error) = assert_error(&app, response, 400, "invalid_request").await;
        assert!(!error.to_string().contains(secretish), "{error}");
    }
    assert!(app.upstream_requests().await.is_empty());
}

#[tokio::test]
async fn only_application_json_is_accepted_with_or_without_parameters() {
    let app = spawn_app().await;
    let body = r#"{"email":"jane@example.com"}"#;
    for content_type in [
        "text/json",
        "application/problem+json",
        "application/vnd.api+json",
        "application/jsonx",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let response = app.post_raw("/login/start", content_type, body).await;
        assert_error(&app, response, 415, "unsupported_media_type").await;
    }
    // No Content-Type at all is not JSON either.
    let response = app
        .client
        .post(app.url("/login/start"))
        .body(body)
        .send()
        .await
        .expect("answer");
    assert_error(&app, response, 415, "unsupported_media_type").await;
    assert!(app.upstream_requests().await.is_empty());
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"_id": "x"})))
        .expect(2)
        .mount(&app.auth0)
        .await;
    for content_type in ["application/json; charset=utf-8", "Application/JSON"] {
        let response = app.post_raw("/login/start", content_type, body).await;
        assert_eq!(response.status(), 200, "{content_type}");
    }
}

#[tokio::test]
async fn a_toml_syntax_error_on_the_secret_line_never_prints_the_line() {
    let secret = "S3cr3tValueNotReal-7f1c";
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    write!(
        file,
        "[auth0]\ndomain = \"tenant.example.com\"\nclient_id = \"abc\"\nclient_secret = {secret}\n"
    )
    .expect("write");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_login-gateway"))
        .env_clear()
        .arg("--config")
        .arg(file.path())
        .arg("--check-config")
        .output()
        .expect("the binary runs");

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stderr.contains(secret) && !stdout.contains(secret),
        "{stderr}"
    );
    assert!(!stderr.contains("S3cr"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("line 4"), "names the position: {stderr}");
}

#[test]
fn check_config_names_the_redis_backend_never_its_url() {
    let password = "redis-password-not-real-5e2d";
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path
    };
    // Written the way Kubernetes mounts a Secret key: with a final newline.
    let url = write(
        "url",
        &format!("redis://:{password}@redis.internal:6379/0\n"),
    );
    let key = write("key", "key-hash-secret-not-real-0123456789abcdef\n");
    let client_secret = write("client_secret", "client-secret-not-real\n");

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_login-gateway"))
        .env_clear()
        .env("GATEWAY__AUTH0__DOMAIN", "tenant.example.com")
        .env("GATEWAY__AUTH0__CLIENT_ID", "client-id")
        .env("GATEWAY__AUTH0__CLIENT_SECRET_FILE", &client_secret)
        .env("GATEWAY__RATE_LIMIT__BACKEND", "redis")
        .env("GATEWAY__RATE_LIMIT__REDIS__URL_FILE", &url)
        .env("GATEWAY__RATE_LIMIT__REDIS__KEY_HASH_SECRET_FILE", &key)
        .env("GATEWAY__RATE_LIMIT__REDIS__ON_ERROR", "closed")
        .env("GATEWAY__SESSION__ENABLED", "true")
        .env(
            "GATEWAY__SESSION__KEYS",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        )
        .arg("--check-config")
        .output()
        .expect("the binary runs");

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    // The keys that differ from the defaults, the URL's file by its path.
    for line in [
        "  rate_limit.backend = redis\n",
        "  rate_limit.redis.on_error = closed\n",
        "  rate_limit.redis.url_file = ",
    ] {
        assert!(stdout.contains(line), "{line:?} not in {stdout}");
    }
    assert!(!stdout.contains(password) && !stdout.contains("redis.internal"));
    assert!(!stdout.contains("key-hash-secret-not-real"), "{stdout}");
    for line in [
        "  session.enabled = true\n",
        "  session.keys = [set, not shown]\n",
    ] {
        assert!(stdout.contains(line), "{line:?} not in {stdout}");
    }
    assert!(
        !stdout.contains("AAECAwQF"),
        "a session key shown: {stdout}"
    );
}

#[tokio::test]
async fn configuration_errors_name_the_key_never_the_value() {
    let cases = [
        (
            "GATEWAY__SERVER__BIND",
            "bind-value-918273645",
            "server.bind",
        ),
        (
            "GATEWAY__AUTH0__DOMAIN",
            "ftp://value-918273645",
            "auth0.domain",
        ),
        (
            "GATEWAY__SERVER__TRUSTED_PROXIES",
            "value-918273645",
            "server.trusted_proxies",
        ),
        (
            "GATEWAY__RATE_LIMIT__PER_IP",
            "918273645/fortnight",
            "rate_limit.per_ip",
        ),
        (
            "GATEWAY__SERVER__WORKERS",
            "value-918273645",
            "server.workers",
        ),
        ("GATEWAY__LOG__FORMAT", "value-918273645", "log.format"),
    ];
    for (key, value, named) in cases {
        let env = [
            base_env("http://127.0.0.1:9"),
            vec![(key.to_string(), value.to_string())],
        ]
        .concat();
        let error = settings_from_env(&env).expect_err(key);
        let line = error.to_string();
        assert!(line.contains(named), "{line} names {named}");
        assert!(!line.contains("918273645"), "{line}");
    }
}

#[tokio::test]
async fn an_unknown_key_is_named_with_its_section() {
    let env = [
        base_env("http://127.0.0.1:9"),
        vec![("GATEWAY__SERVER__NO_SUCH_KEY".to_string(), "1".to_string())],
    ]
    .concat();
    let error = settings_from_env(&env).expect_err("unknown key");
    assert_eq!(error.key, "server.no_such_key", "{error}");
}

#[tokio::test]
async fn magic_link_redirect_uri_must_be_https_or_loopback_http() {
    for (uri, ok) in [
        ("https://app.example.com/callback", true),
        ("http://127.0.0.1:5173/callback", true),
        ("http://localhost/callback", true),
        ("http://[::1]:8080/cb", true),
        ("http://app.example.com/callback", false),
        ("ftp://app.example.com/callback", false),
        ("javascript:alert(1)", false),
        ("/relative/callback", false),
    ] {
        let env = [
            base_env("http://127.0.0.1:9"),
            vec![(
                "GATEWAY__AUTH0__MAGIC_LINK_REDIRECT_URI".to_string(),
                uri.to_string(),
            )],
        ]
        .concat();
        match settings_from_env(&env) {
            Ok(_) => assert!(ok, "{uri} must be refused"),
            Err(error) => {
                assert!(!ok, "{uri} must be accepted: {error}");
                assert_eq!(error.key, "auth0.magic_link_redirect_uri");
            }
        }
    }
}

#[test]
fn debug_output_never_shows_codes_tokens_or_identifiers() {
    use login_gateway::auth0::{
        AssociateRequest, AuthenticatorType, ChallengeRequest, ChallengeType, OobChannel,
        PasswordlessStart, SendKind, TokenGrant,
    };
    use login_gateway::routes::{login, mfa, token};

    const EMAIL: &str = "debug.victim@example.com";
    const PHONE: &str = "+14155550123";
    const CODE: &str = "918273";
    const TOKEN: &str = "debug-token-not-real-1234";
    fn body<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
        serde_json::from_value(value).expect("test body")
    }
    let printed = [
        format!("{:?}", body::<login::StartRequest>(json!({"email": EMAIL}))),
        format!(
            "{:?}",
            body::<login::StartRequest>(json!({"phone_number": PHONE}))
        ),
        format!(
            "{:?}",
            body::<login::VerifyRequest>(json!({"email": EMAIL, "code": CODE}))
        ),
        format!(
            "{:?}",
            body::<login::CallbackRequest>(json!({"code": TOKEN}))
        ),
        format!(
            "{:?}",
            body::<mfa::AssociateBody>(json!({"factor": "sms", "phone_number": PHONE}))
        ),
        format!(
            "{:?}",
            body::<mfa::ChallengeBody>(json!({"challenge_type": "oob", "authenticator_id": TOKEN}))
        ),
        format!("{:?}", body::<mfa::VerifyBody>(json!({"otp": CODE}))),
        format!(
            "{:?}",
            body::<mfa::VerifyBody>(json!({"recovery_code": TOKEN}))
        ),
        format!(
            "{:?}",
            body::<token::RefreshRequest>(json!({"refresh_token": TOKEN}))
        ),
        format!(
            "{:?}",
            body::<token::RevokeRequest>(json!({"refresh_token": TOKEN}))
        ),
        format!(
            "{:?}",
            PasswordlessStart {
                connection: "email",
                email: Some(EMAIL),
                phone_number: Some(PHONE),
                send: SendKind::Code,
                auth_params: None
            }
        ),
        format!(
            "{:?}",
            TokenGrant::PasswordlessOtp {
                username: EMAIL,
                otp: CODE,
                realm: "email",
                audience: "",
                scope: "openid"
            }
        ),
        format!(
            "{:?}",
            TokenGrant::RefreshToken {
                refresh_token: TOKEN,
                scope: None,
                audience: None,
            }
        ),
        format!(
            "{:?}",
            TokenGrant::MfaOtp {
                mfa_token: TOKEN,
                otp: CODE
            }
        ),
        format!(
            "{:?}",
            AssociateRequest {
                authenticator_types: [AuthenticatorType::Oob],
                oob_channels: Some([OobChannel::Sms]),
                phone_number: Some(PHONE),
                email: Some(EMAIL)
            }
        ),
        format!(
            "{:?}",
            ChallengeRequest {
                mfa_token: TOKEN,
                challenge_type: ChallengeType::Oob,
                authenticator_id: None
            }
        ),
    ];
    for text in printed {
        for secret in [EMAIL, PHONE, CODE, TOKEN] {
            assert!(!text.contains(secret), "{text} shows {secret}");
        }
    }
}

// ---------------------------------------------------------------------------
// No body without a deadline (SPEC §13): a body sent to a route that reads
// none is read and dropped under server.max_body_bytes and
// server.client_body_timeout_ms; past either, the connection closes.
// ---------------------------------------------------------------------------

/// How long a test waits for the gateway to close a connection: the body
/// deadline the tests set (300 ms) plus actix's lingering close (1 s), with
/// room for a loaded machine.
const CLOSE_BOUND: Duration = Duration::from_secs(3);

/// What the gateway sent on a connection, when its first byte came and
/// when the connection closed (EOF or a reset), each counted from the end
/// of the request head; `closed` is `None` when it was still open after
/// [`CLOSE_BOUND`].
struct Ending {
    answer: String,
    answered: Option<Duration>,
    closed: Option<Duration>,
}

/// Reads until the gateway closes the connection or [`CLOSE_BOUND`] passes.
async fn read_until_closed(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    started: Instant,
) -> Ending {
    let mut received = Vec::new();
    let mut answered = None;
    let mut buffer = [0u8; 4096];
    let closed = loop {
        let left = CLOSE_BOUND.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, reader.read(&mut buffer)).await {
            Err(_) => break None,
            Ok(Ok(0)) | Ok(Err(_)) => break Some(started.elapsed()),
            Ok(Ok(read)) => {
                answered.get_or_insert_with(|| started.elapsed());
                received.extend_from_slice(&buffer[..read]);
            }
        }
    };
    Ending {
        answer: String::from_utf8_lossy(&received).into_owned(),
        answered,
        closed,
    }
}

/// Sends `head` and the first part of a body, then nothing (the write half
/// stays open: silence, not EOF), and reads until the gateway closes.
async fn stalled_body(app: &TestApp, head: String, start_of_body: &str) -> Ending {
    let stream = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(format!("{head}{start_of_body}").as_bytes())
        .await
        .expect("head");
    let ending = read_until_closed(&mut reader, Instant::now()).await;
    drop(writer);
    ending
}

/// A request head for `request_line` announcing a chunked body.
fn chunked_head(request_line: &str) -> String {
    format!("{request_line} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n")
}

/// A request head for `request_line` announcing `length` body bytes.
fn sized_head(request_line: &str, length: usize) -> String {
    format!("{request_line} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {length}\r\n\r\n")
}

/// Routes that read no body: the ops and docs routes, a route of a
/// disabled feature, an unknown path, a method a route does not serve.
const ROUTES_THAT_READ_NO_BODY: [(&str, u16); 7] = [
    ("GET /healthz", 200),
    ("GET /readyz", 200),
    ("GET /openapi.json", 200),
    ("GET /docs/", 200),
    ("GET /session", 404),
    ("GET /no/such/path", 404),
    ("DELETE /healthz", 405),
];

#[tokio::test]
async fn a_stalled_body_on_a_route_that_reads_none_is_closed_at_the_body_deadline() {
    let app = spawn_app_with(&[("GATEWAY__SERVER__CLIENT_BODY_TIMEOUT_MS", "300")]).await;
    let calls = ROUTES_THAT_READ_NO_BODY.iter().flat_map(|&(line, status)| {
        // One chunk, or 5 of 100 announced bytes, then silence.
        [
            (line, status, chunked_head(line), "5\r\nhello\r\n"),
            (line, status, sized_head(line, 100), "hello"),
        ]
    });
    let answers = futures_util::future::join_all(calls.map(|(line, status, head, body)| {
        let app = &app;
        async move { (line, status, stalled_body(app, head, body).await) }
    }))
    .await;

    for (line, status, ending) in answers {
        let Ending {
            answer,
            answered,
            closed,
        } = ending;
        let closed = closed.unwrap_or_else(|| panic!("{line}: still open after {CLOSE_BOUND:?}"));
        println!("{line}: answered after {answered:?}, closed after {closed:?}");
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{line}: {answer}"
        );
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{line}: {answer}"
        );
        // The body had its deadline before the answer said close.
        assert!(
            answered.is_some_and(|at| at >= Duration::from_millis(290)),
            "{line}: {answered:?}"
        );
    }
}

#[tokio::test]
async fn a_body_over_max_body_bytes_to_a_route_that_reads_none_closes_the_connection() {
    // The body deadline stays at its 10 s default: only the size closes.
    let app = spawn_app_with(&[("GATEWAY__SERVER__MAX_BODY_BYTES", "1024")]).await;

    // Chunked, endless: 512-byte chunks every 10 ms until the gateway
    // closes (or 4 s pass).
    let stream = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    writer
        .write_all(chunked_head("GET /healthz").as_bytes())
        .await
        .expect("head");
    let started = Instant::now();
    let chunk = format!("200\r\n{}\r\n", "a".repeat(512));
    let endless = tokio::spawn(async move {
        while started.elapsed() < Duration::from_secs(4) {
            if writer.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let Ending {
        answer,
        answered,
        closed,
    } = read_until_closed(&mut reader, started).await;
    endless.abort();
    let closed = closed.unwrap_or_else(|| panic!("still open after {CLOSE_BOUND:?}: {answer}"));
    println!("endless chunked body: answered after {answered:?}, closed after {closed:?}");
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );

    // Announced over the cap: not read at all.
    let Ending { answer, closed, .. } =
        stalled_body(&app, sized_head("GET /healthz", 1 << 20), "").await;
    assert!(
        closed.is_some(),
        "still open after {CLOSE_BOUND:?}: {answer}"
    );
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_small_body_sent_whole_to_a_route_that_reads_none_keeps_the_connection() {
    let app = spawn_app().await;
    for (head, body) in [
        (sized_head("GET /healthz", 5), "hello"),
        (chunked_head("GET /healthz"), "5\r\nhello\r\n0\r\n\r\n"),
    ] {
        let mut stream = TcpStream::connect(("127.0.0.1", app.port))
            .await
            .expect("connect");
        // The body comes in its own segment, after the head: the route has
        // answered before it arrives.
        stream.write_all(head.as_bytes()).await.expect("head");
        tokio::time::sleep(Duration::from_millis(100)).await;
        stream.write_all(body.as_bytes()).await.expect("body");
        let (first, _) = exchange(&mut stream, "").await;
        assert!(first.starts_with("http/1.1 200"), "{head}: {first}");
        assert!(!first.contains("connection: close"), "{head}: {first}");

        let (second, _) = exchange(
            &mut stream,
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        )
        .await;
        assert!(second.starts_with("http/1.1 200"), "{head}: {second}");
    }
}

/// Writes `request` on `stream` (nothing when empty) and reads one whole
/// answer: the head (lower-cased) and `Content-Length` bytes of body.
async fn exchange(stream: &mut TcpStream, request: &str) -> (String, String) {
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = text[..end].to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                return (head, text[end + 4..end + 4 + length].to_string());
            }
        }
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("the gateway answers in time")
            .expect("read");
        assert!(read > 0, "the connection closed mid-answer: {text}");
        received.extend_from_slice(&buffer[..read]);
    }
}

#[tokio::test]
async fn max_connections_caps_the_open_connections_of_the_process() {
    let app = spawn_app_with(&[
        ("GATEWAY__SERVER__MAX_CONNECTIONS", "4"),
        ("GATEWAY__SERVER__WORKERS", "2"),
    ])
    .await;
    let healthz = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    // Four connections, each answered once and then held open (keep-alive).
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(("127.0.0.1", app.port))
            .await
            .expect("connect");
        let (head, _) = exchange(&mut stream, healthz).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        held.push(stream);
    }

    // A fifth: the kernel completes the handshake, the gateway does not
    // take the connection while four are open.
    let mut fifth = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    fifth.write_all(healthz.as_bytes()).await.expect("write");
    let mut buffer = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), fifth.read(&mut buffer)).await;
    assert!(early.is_err(), "the fifth connection was served: {early:?}");

    // One closes: the fifth is served.
    drop(held.pop());
    let (head, _) = exchange(&mut fifth, "").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
}

#[tokio::test]
async fn max_connections_defaults_to_ten_thousand_and_must_be_at_least_one() {
    let settings = settings_from_env(&base_env("http://127.0.0.1:9")).expect("valid");
    assert_eq!(settings.server.max_connections, 10_000);
    let env = [
        base_env("http://127.0.0.1:9"),
        vec![(
            "GATEWAY__SERVER__MAX_CONNECTIONS".to_string(),
            "0".to_string(),
        )],
    ]
    .concat();
    let error = settings_from_env(&env).expect_err("0 is refused");
    assert_eq!(error.key, "server.max_connections");
}

/// A `GET /healthz` head of exactly `length` bytes (request line, headers
/// and the blank line) in `headers` header lines, `Host` included.
fn head_of(length: usize, headers: usize) -> String {
    let mut head = String::from("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for i in 2..headers {
        head.push_str(&format!("X-H{i}: v\r\n"));
    }
    let pad = length.saturating_sub(head.len() + "X-Pad: \r\n\r\n".len());
    head.push_str(&format!("X-Pad: {}\r\n\r\n", "a".repeat(pad)));
    assert_eq!(head.len(), length);
    head
}

/// The status line the gateway answers `head` with.
async fn status_line(app: &TestApp, head: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    // The gateway may answer and close before it has read all of a head it
    // refuses: a failed write is part of the answer.
    let _ = stream.write_all(head.as_bytes()).await;
    let mut answer = vec![0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("the gateway answers in time")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
    answer.lines().next().unwrap_or_default().to_string()
}

/// The request-head limit the book's security page (docs/src/security.md) states is actix-http's (3.20, `h1/decoder.rs`
/// `MAX_BUFFER_SIZE`, `MAX_HEADERS`): a head is refused once 128 KiB are
/// buffered without its end. The check runs after each read, so a head
/// delivered in a pause-then-burst pattern can reach the buffer's doubled
/// capacity, 256 KiB, before it is judged; past that, never.
#[tokio::test]
async fn the_request_head_limit_is_128_kib_with_a_256_kib_ceiling_and_96_headers() {
    let app = spawn_app().await;
    let ok = "HTTP/1.1 200 OK";
    let too_large = "HTTP/1.1 431 Request Header Fields Too Large";
    assert_eq!(status_line(&app, &head_of(128 * 1024, 2)).await, ok);
    assert_eq!(
        status_line(&app, &head_of(256 * 1024 + 1, 2)).await,
        too_large
    );
    assert_eq!(status_line(&app, &head_of(4096, 96)).await, ok);
    assert_eq!(status_line(&app, &head_of(4096, 97)).await, too_large);
}
