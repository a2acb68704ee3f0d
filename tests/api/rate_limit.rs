//! SPEC §4 over the wire: each policy's (N+1)th call is a 429 with the IETF
//! headers and never reaches Auth0; per-IP limits follow the trusted-proxy
//! client IP; `rate_limit.enabled = false` lets everything through.

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

fn start_ok() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"_id": "fake-id", "email": "x", "email_verified": false}))
}

/// Asserts a local-limit 429 with all its headers; returns Retry-After.
async fn assert_limited(
    app: &TestApp,
    response: reqwest::Response,
    policy: &str,
    q: u32,
    w: u64,
) -> u64 {
    let (headers, _) = assert_error(app, response, 429, "too_many_requests").await;
    let retry_after: u64 = header_str(&headers, "retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in whole seconds");
    assert!(
        (1..=w).contains(&retry_after),
        "Retry-After {retry_after} within the window"
    );
    assert_eq!(
        header_str(&headers, "ratelimit-policy"),
        Some(format!("\"{policy}\";q={q};w={w}").as_str())
    );
    assert_eq!(
        header_str(&headers, "ratelimit"),
        Some(format!("\"{policy}\";r=0;t={retry_after}").as_str())
    );
    retry_after
}

async fn start(app: &TestApp, body: Value) -> reqwest::Response {
    app.post_json("/login/start", &body).await
}

#[tokio::test]
async fn login_start_per_identifier_stops_the_third_code_for_one_address() {
    let app =
        spawn_app_with(&[("GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER", "2/hour")]).await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(start_ok())
        .expect(3)
        .mount(&app.auth0)
        .await;
    // Normalisation: both spellings are one identifier.
    assert_eq!(
        start(&app, json!({"email": "jane@example.com"}))
            .await
            .status(),
        200
    );
    assert_eq!(
        start(&app, json!({"email": " Jane@Example.COM "}))
            .await
            .status(),
        200
    );
    let third = start(&app, json!({"email": "jane@example.com"})).await;
    let retry_after = assert_limited(&app, third, "login_start_per_identifier", 2, 3600).await;
    // One cell comes back every 1800 s.
    assert!(retry_after > 1700, "{retry_after}");
    // Another address is not affected.
    assert_eq!(
        start(&app, json!({"email": "john@example.com"}))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn login_start_per_ip_counts_every_address_from_one_client() {
    let app = spawn_app_with(&[("GATEWAY__RATE_LIMIT__LOGIN_START_PER_IP", "2/hour")]).await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(start_ok())
        .expect(2)
        .mount(&app.auth0)
        .await;
    for email in ["a@example.com", "b@example.com"] {
        assert_eq!(start(&app, json!({"email": email})).await.status(), 200);
    }
    let third = start(&app, json!({"email": "c@example.com"})).await;
    assert_limited(&app, third, "login_start_per_ip", 2, 3600).await;
}

#[tokio::test]
async fn sms_global_caps_text_messages_for_all_callers_but_not_email() {
    let app = spawn_app_with(&[("GATEWAY__RATE_LIMIT__SMS_GLOBAL", "2/day")]).await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(start_ok())
        .expect(3)
        .mount(&app.auth0)
        .await;
    for phone in ["+14155550100", "+14155550101"] {
        assert_eq!(
            start(&app, json!({"phone_number": phone})).await.status(),
            200
        );
    }
    let third = start(&app, json!({"phone_number": "+14155550102"})).await;
    assert_limited(&app, third, "sms_global", 2, 86_400).await;
    assert_eq!(
        start(&app, json!({"email": "jane@example.com"}))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn verify_per_identifier_stops_code_guessing() {
    let app = spawn_app_with(&[("GATEWAY__RATE_LIMIT__VERIFY_PER_IDENTIFIER", "2/hour")]).await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "Wrong email or verification code."
        })))
        .expect(2)
        .mount(&app.auth0)
        .await;
    let guess = |code: &str| json!({"email": "jane@example.com", "code": code});
    for code in ["111111", "222222"] {
        assert_eq!(
            app.post_json("/login/verify", &guess(code)).await.status(),
            403
        );
    }
    let third = app.post_json("/login/verify", &guess("333333")).await;
    assert_limited(&app, third, "verify_per_identifier", 2, 3600).await;
}

#[tokio::test]
async fn per_ip_applies_to_every_upstream_route() {
    // One gateway per route, so each route's second call can only be
    // refused by the budget its own first call spent.
    for (name, route) in UPSTREAM_ROUTES {
        let app = spawn_app_with(&[
            ("GATEWAY__RATE_LIMIT__PER_IP", "1/minute"),
            ("GATEWAY__PASSKEY__ENABLED", "true"),
            ("GATEWAY__AUTH0__MAGIC_LINK_REDIRECT_URI", REDIRECT_URI),
        ])
        .await;
        // The guard charges before the body is read: the first call spends
        // the budget whatever it answers.
        let first = app.request(http_method(name), route).await;
        assert_ne!(first.status(), 429, "{name} {route}");
        let asked = app.upstream_requests().await.len();
        let second = app.request(http_method(name), route).await;
        assert_eq!(second.status(), 429, "{name} {route}");
        assert_limited(&app, second, "per_ip", 1, 60).await;
        assert_eq!(app.upstream_requests().await.len(), asked, "{name} {route}");
        // Operations routes are not limited.
        assert_eq!(app.get("/healthz").await.status(), 200);
    }
}

#[tokio::test]
async fn a_spoofed_forwarded_for_from_an_untrusted_peer_does_not_dodge_the_per_ip_limit() {
    let app = spawn_app_with(&[("GATEWAY__RATE_LIMIT__PER_IP", "1/minute")]).await;
    Mock::given(method("POST"))
        .and(path("/oauth/revoke"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&app.auth0)
        .await;
    let body = json!({"refresh_token": "fake-refresh-token"});
    let first = app
        .post_json_with(
            "/token/revoke",
            &body,
            &[("x-forwarded-for", "198.51.100.1")],
        )
        .await;
    assert_eq!(first.status(), 200);
    let second = app
        .post_json_with(
            "/token/revoke",
            &body,
            &[("x-forwarded-for", "198.51.100.2")],
        )
        .await;
    assert_limited(&app, second, "per_ip", 1, 60).await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_per_ip_budget() {
    let app = spawn_app_with(&[
        ("GATEWAY__RATE_LIMIT__PER_IP", "1/minute"),
        ("GATEWAY__SERVER__TRUSTED_PROXIES", "127.0.0.1/32"),
    ])
    .await;
    Mock::given(method("POST"))
        .and(path("/oauth/revoke"))
        .respond_with(ResponseTemplate::new(200))
        .expect(2)
        .mount(&app.auth0)
        .await;
    let body = json!({"refresh_token": "fake-refresh-token"});
    let revoke = |client: &'static str| {
        let app = &app;
        let body = &body;
        async move {
            app.post_json_with("/token/revoke", body, &[("x-forwarded-for", client)])
                .await
        }
    };
    assert_eq!(revoke("198.51.100.1").await.status(), 200);
    assert_eq!(revoke("198.51.100.2").await.status(), 200);
    // A spoofed leftmost entry does not make a new client either.
    let again = revoke("203.0.113.9, 198.51.100.1").await;
    assert_limited(&app, again, "per_ip", 1, 60).await;
}

#[tokio::test]
async fn disabled_rate_limits_let_everything_through() {
    let app = spawn_app_with(&[
        ("GATEWAY__RATE_LIMIT__ENABLED", "false"),
        ("GATEWAY__RATE_LIMIT__PER_IP", "1/hour"),
        ("GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER", "1/hour"),
    ])
    .await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(start_ok())
        .expect(4)
        .mount(&app.auth0)
        .await;
    for _ in 0..4 {
        assert_eq!(
            start(&app, json!({"email": "jane@example.com"}))
                .await
                .status(),
            200
        );
    }
}

#[tokio::test]
async fn metrics_count_requests_upstream_calls_and_rejections_without_pii() {
    let app =
        spawn_app_with(&[("GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER", "1/hour")]).await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(start_ok())
        .expect(1)
        .mount(&app.auth0)
        .await;
    let email = "metrics.person@example.com";
    assert_eq!(start(&app, json!({"email": email})).await.status(), 200);
    assert_eq!(start(&app, json!({"email": email})).await.status(), 429);
    assert_eq!(app.get("/no/such/route/metrics-probe").await.status(), 404);

    let response = app
        .client
        .get(format!("{}/metrics", app.metrics_address))
        .send()
        .await
        .expect("the metrics listener answers");
    assert_eq!(response.status(), 200);
    assert!(
        header_str(response.headers(), "content-type").is_some_and(|c| c.starts_with("text/plain"))
    );
    let text = response.text().await.expect("metrics text");
    for expected in [
        "gateway_http_requests_total{route=\"/login/start\",status=\"200\"}",
        "gateway_http_requests_total{route=\"/login/start\",status=\"429\"}",
        "gateway_http_requests_total{route=\"unmatched\",status=\"404\"}",
        "gateway_http_request_duration_seconds_bucket{route=\"/login/start\",le=\"",
        "gateway_upstream_requests_total{endpoint=\"passwordless_start\",outcome=\"ok\"}",
        "gateway_rate_limit_rejections_total{policy=\"login_start_per_identifier\"}",
        "gateway_rate_limit_keys{policy=\"login_start_per_identifier\"}",
    ] {
        assert!(text.contains(expected), "metrics lack {expected}:\n{text}");
    }
    for forbidden in [email, "metrics-probe", "127.0.0.1", CLIENT_SECRET] {
        assert!(
            !text.contains(forbidden),
            "metrics must not contain {forbidden}"
        );
    }
}

// ---------------------------------------------------------------------------
// SPEC §4 v2: identifier buckets split by client network, under a ceiling
// ---------------------------------------------------------------------------

/// The gateway behind a proxy on loopback: `X-Forwarded-For` names the client.
async fn behind_proxy(extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![("GATEWAY__SERVER__TRUSTED_PROXIES", "127.0.0.1/32")];
    env.extend_from_slice(extra);
    spawn_app_with(&env).await
}

async fn verify_from(app: &TestApp, client: &str, email: &str, code: &str) -> reqwest::Response {
    app.post_json_with(
        "/login/verify",
        &json!({"email": email, "code": code}),
        &[("x-forwarded-for", client)],
    )
    .await
}

async fn start_from(app: &TestApp, client: &str, body: Value) -> reqwest::Response {
    app.post_json_with("/login/start", &body, &[("x-forwarded-for", client)])
        .await
}

fn wrong_code() -> ResponseTemplate {
    ResponseTemplate::new(403).set_body_json(json!({
        "error": "invalid_grant",
        "error_description": "Wrong email or verification code."
    }))
}

/// An attacker guessing codes for the victim from network A spends the
/// bucket of (victim, A) only: the victim at network B still reaches Auth0.
#[tokio::test]
async fn an_attacker_at_one_network_cannot_lock_the_victim_out_of_verify() {
    let app = behind_proxy(&[("GATEWAY__RATE_LIMIT__VERIFY_PER_IDENTIFIER_IP", "3/hour")]).await;
    let victim = "victim@example.com";
    upstream(
        "POST",
        "/oauth/token",
        otp_grant(victim, "111111", "email"),
        "203.0.113.7",
    )
    .respond_with(wrong_code())
    .expect(3)
    .named("the attacker's guesses")
    .mount(&app.auth0)
    .await;
    upstream(
        "POST",
        "/oauth/token",
        otp_grant(victim, "424242", "email"),
        "198.51.100.20",
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
    .expect(1)
    .named("the victim's own code, from home")
    .mount(&app.auth0)
    .await;

    for _ in 0..3 {
        let guess = verify_from(&app, "203.0.113.7", victim, "111111").await;
        assert_eq!(guess.status(), 403);
    }
    let fourth = verify_from(&app, "203.0.113.7", victim, "111111").await;
    assert_limited(&app, fourth, "verify_per_identifier_ip", 3, 3600).await;

    let victim_call = verify_from(&app, "198.51.100.20", victim, "424242").await;
    assert_eq!(victim_call.status(), 200, "the victim is not locked out");
    assert_eq!(app.upstream_requests().await.len(), 4);
}

/// Many networks together still meet the all-network ceiling.
#[tokio::test]
async fn the_all_network_ceiling_still_stops_a_distributed_guesser() {
    let app = behind_proxy(&[
        ("GATEWAY__RATE_LIMIT__VERIFY_PER_IDENTIFIER_IP", "3/hour"),
        ("GATEWAY__RATE_LIMIT__VERIFY_PER_IDENTIFIER", "4/hour"),
    ])
    .await;
    let victim = "victim@example.com";
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(wrong_code())
        .expect(4)
        .mount(&app.auth0)
        .await;
    for network in 1..=4 {
        let client = format!("198.51.100.{network}");
        let guess = verify_from(&app, &client, victim, "111111").await;
        assert_eq!(guess.status(), 403, "{client}");
    }
    let fifth = verify_from(&app, "198.51.100.5", victim, "111111").await;
    assert_limited(&app, fifth, "verify_per_identifier", 4, 3600).await;
    for request in app.upstream_requests().await {
        let body: Value = serde_json::from_slice(&request.body).expect("JSON");
        assert_eq!(body["username"], victim);
        assert_eq!(body["client_secret"], CLIENT_SECRET);
    }
}

/// Code delivery: five starts from an attacker's network do not stop the
/// victim asking for a code from theirs.
#[tokio::test]
async fn an_attacker_at_one_network_cannot_block_the_victims_code_delivery() {
    let app = behind_proxy(&[(
        "GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER_IP",
        "2/hour",
    )])
    .await;
    let victim = json!({"email": "victim@example.com"});
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(start_ok())
        .expect(3)
        .mount(&app.auth0)
        .await;
    for _ in 0..2 {
        assert_eq!(
            start_from(&app, "203.0.113.7", victim.clone())
                .await
                .status(),
            200
        );
    }
    let third = start_from(&app, "203.0.113.7", victim.clone()).await;
    assert_limited(&app, third, "login_start_per_identifier_ip", 2, 3600).await;
    assert_eq!(
        start_from(&app, "198.51.100.20", victim).await.status(),
        200,
        "the victim still gets a code"
    );
    let forwarded: Vec<String> = app
        .upstream_requests()
        .await
        .iter()
        .map(|r| {
            header_str(&r.headers, "auth0-forwarded-for")
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(forwarded, ["203.0.113.7", "203.0.113.7", "198.51.100.20"]);
}

/// `victim+x@…` and, at Gmail, `v.ictim@…` are the victim's bucket; Auth0
/// still receives each address as typed.
#[tokio::test]
async fn tagged_and_dotted_spellings_share_the_victims_bucket() {
    let app = spawn_app_with(&[(
        "GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER_IP",
        "2/hour",
    )])
    .await;
    for email in ["victim+x@gmail.com", "v.ictim@gmail.com"] {
        upstream(
            "POST",
            "/passwordless/start",
            json!({
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "connection": "email",
                "email": email,
                "send": "code",
            }),
            "127.0.0.1",
        )
        .respond_with(start_ok())
        .expect(1)
        .named(email)
        .mount(&app.auth0)
        .await;
    }
    for email in ["Victim+x@Gmail.com", "v.ictim@gmail.com"] {
        assert_eq!(
            start(&app, json!({"email": email})).await.status(),
            200,
            "{email}"
        );
    }
    let third = start(&app, json!({"email": "VICTIM+other@googlemail.com"})).await;
    assert_limited(&app, third, "login_start_per_identifier_ip", 2, 3600).await;
    // Another Gmail user is not affected.
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(start_ok())
        .expect(1)
        .mount(&app.auth0)
        .await;
    assert_eq!(
        start(&app, json!({"email": "someone.else@gmail.com"}))
            .await
            .status(),
        200
    );
}

/// One IPv6 /64 is one client network for the identifier buckets too.
#[tokio::test]
async fn an_ipv6_64_is_one_network_for_identifier_buckets() {
    let app = behind_proxy(&[(
        "GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER_IP",
        "1/hour",
    )])
    .await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(start_ok())
        .expect(2)
        .mount(&app.auth0)
        .await;
    let victim = json!({"email": "victim@example.com"});
    assert_eq!(
        start_from(&app, "2001:db8:1:2::1", victim.clone())
            .await
            .status(),
        200
    );
    let same_64 = start_from(&app, "2001:db8:1:2::ffff", victim.clone()).await;
    assert_limited(&app, same_64, "login_start_per_identifier_ip", 1, 3600).await;
    assert_eq!(
        start_from(&app, "2001:db8:1:3::1", victim).await.status(),
        200
    );
}

/// Writes one request on `stream` and reads its whole answer (the head,
/// then `Content-Length` bytes). Returns the head, lower-cased, and the body.
async fn exchange(stream: &mut tokio::net::TcpStream, request: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = std::time::Duration::from_secs(5);
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
        let read = tokio::time::timeout(deadline, stream.read(&mut buffer))
            .await
            .expect("the gateway answers in time")
            .expect("read");
        assert!(read > 0, "the connection closed mid-answer: {text}");
        received.extend_from_slice(&buffer[..read]);
    }
}

fn start_request(body: &str, content_length: usize) -> String {
    format!(
        "POST /login/start HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {content_length}\r\n\r\n{body}"
    )
}

const START_BODY: &str = r#"{"email":"jane@example.com","send":"code"}"#;

/// A gateway allowing one call an hour per address, and a connection whose
/// first `/login/start` spent it (Auth0 answered it, once).
async fn per_ip_budget_spent() -> (TestApp, tokio::net::TcpStream) {
    let app = spawn_app_with(&[("GATEWAY__RATE_LIMIT__PER_IP", "1/hour")]).await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"_id": "x"})))
        .expect(1)
        .mount(&app.auth0)
        .await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let (head, _) = exchange(&mut stream, &start_request(START_BODY, START_BODY.len())).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    (app, stream)
}

#[tokio::test]
async fn a_per_ip_refusal_drops_the_body_unread_and_keeps_the_connection() {
    let (app, mut stream) = per_ip_budget_spent().await;
    // Refused on the same connection, three times: each answer is whole,
    // and the connection stays open for the next request.
    for _ in 0..3 {
        let (head, answer) =
            exchange(&mut stream, &start_request(START_BODY, START_BODY.len())).await;
        assert!(head.starts_with("http/1.1 429"), "{head}");
        assert!(!head.contains("connection: close"), "{head}");
        let answer: Value = serde_json::from_str(&answer).expect("JSON");
        assert_eq!(answer["error"], "too_many_requests");
    }
    assert_eq!(app.upstream_requests().await.len(), 1);
}

#[tokio::test]
async fn a_refused_call_whose_body_is_too_large_or_missing_loses_its_connection() {
    let (app, mut stream) = per_ip_budget_spent().await;

    // Announced over server.max_body_bytes: not read at all.
    let (head, _) = exchange(&mut stream, &start_request("", 1 << 20)).await;
    assert!(head.starts_with("http/1.1 429"), "{head}");
    assert!(head.contains("connection: close"), "{head}");

    // Announced but never sent: answered within the short drop deadline,
    // not the 10 s body deadline, and closed.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let started = std::time::Instant::now();
    let (head, _) = exchange(&mut stream, &start_request("", 40)).await;
    assert!(head.starts_with("http/1.1 429"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));

    // Chunked, with no length announced, past server.max_body_bytes (16 KiB
    // by default): counted while dropped, and closed.
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let chunk = "a".repeat(8 * 1024);
    let mut request = String::from(
        "POST /login/start HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n",
    );
    for _ in 0..3 {
        request.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    request.push_str("0\r\n\r\n");
    let (head, _) = exchange(&mut stream, &request).await;
    assert!(head.starts_with("http/1.1 429"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
}

// ---------------------------------------------------------------------------
// SPEC §13: translated IPv6, verify keys are Auth0's user, known networks
// ---------------------------------------------------------------------------

/// NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`) clients are the IPv4
/// clients they carry: two NAT64 clients behind one /64 are two networks,
/// and a NAT64 address and its plain IPv4 address are one.
#[tokio::test]
async fn translated_ipv6_clients_key_on_the_ipv4_address_they_carry() {
    let app = behind_proxy(&[("GATEWAY__RATE_LIMIT__LOGIN_START_PER_IP", "1/hour")]).await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(start_ok())
        .expect(2)
        .mount(&app.auth0)
        .await;
    let body = |n: u8| json!({"email": format!("user{n}@example.com")});
    // 198.51.100.1 and 198.51.100.2 through the well-known NAT64 prefix.
    assert_eq!(
        start_from(&app, "64:ff9b::c633:6401", body(1))
            .await
            .status(),
        200
    );
    assert_eq!(
        start_from(&app, "64:ff9b::c633:6402", body(2))
            .await
            .status(),
        200,
        "another IPv4 client behind the same NAT64 /64 has its own bucket"
    );
    // The first client seen as plain IPv4, and through 6to4: one network.
    for same in ["198.51.100.1", "2002:c633:6401::1"] {
        let again = start_from(&app, same, body(3)).await;
        assert_limited(&app, again, "login_start_per_ip", 1, 3600).await;
    }
    let forwarded: Vec<String> = app
        .upstream_requests()
        .await
        .iter()
        .map(|r| {
            header_str(&r.headers, "auth0-forwarded-for")
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(
        forwarded,
        ["64:ff9b::c633:6401", "64:ff9b::c633:6402"],
        "Auth0 still receives the client address as it is"
    );
}

/// Auth0 refusing `times` wrong codes (`000000`) for `identifier` from
/// `client`, each request matched field by field.
async fn mount_wrong_guesses(
    app: &TestApp,
    identifier: &str,
    client: &str,
    times: u64,
    name: impl Into<String>,
) {
    upstream(
        "POST",
        "/oauth/token",
        otp_grant(identifier, "000000", "email"),
        client,
    )
    .respond_with(wrong_code())
    .expect(times)
    .named(name)
    .mount(&app.auth0)
    .await;
}

/// Finding 4 of issue 26: five networks guessing ten codes each against
/// `victim+N@` spent the victim's all-network verify ceiling (50/hour).
/// Each `victim+N@` is another Auth0 user, so they now spend their own.
#[tokio::test]
async fn guesses_against_tagged_variants_leave_the_victims_own_login_working() {
    let app = behind_proxy(&[]).await;
    let victim = "victim@example.com";
    for n in 1..=5 {
        mount_wrong_guesses(
            &app,
            &format!("victim+{n}@example.com"),
            &format!("203.0.113.{n}"),
            10,
            format!("the guesses from network {n}"),
        )
        .await;
    }
    upstream(
        "POST",
        "/oauth/token",
        otp_grant(victim, "424242", "email"),
        "198.51.100.20",
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
    .expect(1)
    .named("the victim's own code")
    .mount(&app.auth0)
    .await;

    for n in 1..=5 {
        let client = format!("203.0.113.{n}");
        let variant = format!("victim+{n}@example.com");
        for _ in 0..10 {
            let guess = verify_from(&app, &client, &variant, "000000").await;
            assert_eq!(guess.status(), 403, "{variant} from {client}");
        }
    }
    let victim_call = verify_from(&app, "198.51.100.20", victim, "424242").await;
    assert_eq!(victim_call.status(), 200, "the victim is not locked out");
}

/// The network the victim last logged in from (A).
const HOME: &str = "198.51.100.20";

/// The victim logs in from [`HOME`]: a code, then the right code.
async fn victim_logs_in_at_home(app: &TestApp, victim: &str) {
    let started = start_from(app, HOME, json!({"email": victim})).await;
    assert_eq!(started.status(), 200);
    let verified = verify_from(app, HOME, victim, "424242").await;
    assert_eq!(verified.status(), 200);
}

/// Auth0 sending `times` email codes to `email` for `client`, each
/// request matched field by field.
async fn mount_codes_sent(
    app: &TestApp,
    email: &str,
    client: &str,
    times: u64,
    name: &'static str,
) {
    upstream(
        "POST",
        "/passwordless/start",
        json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "connection": "email",
            "email": email,
            "send": "code",
        }),
        client,
    )
    .respond_with(start_ok())
    .expect(times)
    .named(name)
    .mount(&app.auth0)
    .await;
}

/// Auth0 answering the victim at home: codes sent, the right code accepted.
async fn mount_victim_at_home(app: &TestApp, victim: &str, starts: u64, logins: u64) {
    mount_codes_sent(app, victim, HOME, starts, "the victim's codes, at home").await;
    upstream(
        "POST",
        "/oauth/token",
        otp_grant(victim, "424242", "email"),
        HOME,
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
    .expect(logins)
    .named("the victim's logins, at home")
    .mount(&app.auth0)
    .await;
}

/// Strangers on other networks spend the victim's exact identifier's
/// all-network ceilings; the victim's own network, known since the last
/// login, still gets codes sent and checked, while a fresh network is
/// refused.
#[tokio::test]
async fn a_known_network_passes_the_ceilings_strangers_spent() {
    let app = behind_proxy(&[
        ("GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER", "3/hour"),
        ("GATEWAY__RATE_LIMIT__VERIFY_PER_IDENTIFIER", "3/hour"),
    ])
    .await;
    let victim = "victim@example.com";
    mount_victim_at_home(&app, victim, 2, 2).await;
    for stranger in ["203.0.113.1", "203.0.113.2"] {
        mount_codes_sent(&app, victim, stranger, 1, "a stranger's start").await;
    }
    mount_wrong_guesses(&app, victim, "203.0.113.1", 2, "the strangers' guesses").await;

    victim_logs_in_at_home(&app, victim).await;
    // Each ceiling had 3 cells; the victim's login took one of each.
    for n in 1..=2 {
        let client = format!("203.0.113.{n}");
        let start = start_from(&app, &client, json!({"email": victim})).await;
        assert_eq!(start.status(), 200, "{client}");
    }
    for _ in 0..2 {
        let guess = verify_from(&app, "203.0.113.1", victim, "000000").await;
        assert_eq!(guess.status(), 403);
    }
    let fresh = "192.0.2.77";
    let start = start_from(&app, fresh, json!({"email": victim})).await;
    assert_limited(&app, start, "login_start_per_identifier", 3, 3600).await;
    let guess = verify_from(&app, fresh, victim, "000000").await;
    assert_limited(&app, guess, "verify_per_identifier", 3, 3600).await;

    // The victim, at home, is not locked out of either.
    victim_logs_in_at_home(&app, victim).await;
}

/// A known network is exempt from the all-network ceilings only: its own
/// per-identifier buckets still count its guesses.
#[tokio::test]
async fn a_known_network_still_meets_its_own_per_identifier_network_buckets() {
    let app = behind_proxy(&[
        (
            "GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER_IP",
            "3/hour",
        ),
        ("GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER", "2/hour"),
        ("GATEWAY__RATE_LIMIT__VERIFY_PER_IDENTIFIER_IP", "3/hour"),
        ("GATEWAY__RATE_LIMIT__VERIFY_PER_IDENTIFIER", "2/hour"),
    ])
    .await;
    let victim = "victim@example.com";
    mount_victim_at_home(&app, victim, 3, 3).await;
    mount_codes_sent(&app, victim, "203.0.113.1", 1, "a stranger's start").await;
    mount_wrong_guesses(&app, victim, "203.0.113.1", 1, "a stranger's guesses").await;

    victim_logs_in_at_home(&app, victim).await;
    // A stranger takes each ceiling's last cell.
    let start = start_from(&app, "203.0.113.1", json!({"email": victim})).await;
    assert_eq!(start.status(), 200);
    let guess = verify_from(&app, "203.0.113.1", victim, "000000").await;
    assert_eq!(guess.status(), 403);
    // Home passes the spent ceilings up to its own 3 an hour.
    for _ in 0..2 {
        victim_logs_in_at_home(&app, victim).await;
    }
    let start = start_from(&app, HOME, json!({"email": victim})).await;
    assert_limited(&app, start, "login_start_per_identifier_ip", 3, 3600).await;
    let verify = verify_from(&app, HOME, victim, "424242").await;
    assert_limited(&app, verify, "verify_per_identifier_ip", 3, 3600).await;
}

/// A login that passes its second factor at `/mfa/verify` makes the
/// network known too: the mfa_token `/login/verify` issued names the user.
#[tokio::test]
async fn a_login_finished_at_mfa_verify_makes_its_network_known() {
    let app = behind_proxy(&[("GATEWAY__RATE_LIMIT__VERIFY_PER_IDENTIFIER", "2/hour")]).await;
    let victim = "victim@example.com";
    upstream(
        "POST",
        "/oauth/token",
        otp_grant(victim, "111111", "email"),
        HOME,
    )
    .respond_with(ResponseTemplate::new(403).set_body_json(mfa_required_answer()))
    .expect(1)
    .named("the first factor")
    .mount(&app.auth0)
    .await;
    upstream(
        "POST",
        "/oauth/token",
        json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "grant_type": "http://auth0.com/oauth/grant-type/mfa-otp",
            "mfa_token": MFA_TOKEN,
            "otp": "654321",
        }),
        HOME,
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
    .expect(1)
    .named("the second factor")
    .mount(&app.auth0)
    .await;
    mount_wrong_guesses(&app, victim, "203.0.113.1", 1, "the stranger's guess").await;
    upstream(
        "POST",
        "/oauth/token",
        otp_grant(victim, "424242", "email"),
        HOME,
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
    .expect(1)
    .named("the victim's next login")
    .mount(&app.auth0)
    .await;

    let first = verify_from(&app, HOME, victim, "111111").await;
    assert_error(&app, first, 403, "mfa_required").await;
    let second = app
        .client
        .post(app.url("/mfa/verify"))
        .bearer_auth(MFA_TOKEN)
        .header("x-forwarded-for", HOME)
        .json(&json!({"otp": "654321"}))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(second.status(), 200);

    let guess = verify_from(&app, "203.0.113.1", victim, "000000").await;
    assert_eq!(guess.status(), 403, "the ceiling's last cell");
    let fresh = verify_from(&app, "192.0.2.77", victim, "000000").await;
    assert_limited(&app, fresh, "verify_per_identifier", 2, 3600).await;
    let home = verify_from(&app, HOME, victim, "424242").await;
    assert_eq!(home.status(), 200, "the network that passed MFA is known");
}
