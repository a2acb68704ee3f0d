//! SPEC §9 against a real `redis-server` that the test starts on a free
//! loopback port (no persistence): gateway processes sharing one budget,
//! what the keys look like, and what a dead or slow Redis does under each
//! `on_error` policy. Built with `--features redis-tests` (`.ci/run` runs
//! them); a machine without `redis-server` fails them, never skips them.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::real_binary::RealGateway;

const PREFIX: &str = "lgw-test:";
const KEY_HASH_SECRET: &str = "redis-test-key-hash-secret-not-real-0123456789";

/// A `redis-server` child on 127.0.0.1, killed when dropped.
struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let mut server = Self { child: None, port };
        server.restart().await;
        server
    }

    /// Starts (again) on the same port, empty, and waits until it answers.
    async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "local",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "redis-server must be installed for the Redis tests \
                 (apt-get install redis-server); they never skip",
            );
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.try_connection().await.is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "redis-server did not answer on port {} within 10 s",
            self.port
        );
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    async fn try_connection(&self) -> Option<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(self.url()).ok()?;
        let mut connection = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .ok()?;
        Some(connection)
    }

    async fn connection(&self) -> redis::aio::MultiplexedConnection {
        self.try_connection().await.expect("redis answers")
    }

    async fn keys(&self) -> Vec<String> {
        let mut connection = self.connection().await;
        redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut connection)
            .await
            .expect("KEYS")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A gateway process with `backend = "redis"` on `redis`.
async fn gateway(auth0: &MockServer, redis: &RedisServer, extra: &[(&str, &str)]) -> RealGateway {
    let url = redis.url();
    let mut env: Vec<(&str, &str)> = vec![
        ("GATEWAY__RATE_LIMIT__BACKEND", "redis"),
        ("GATEWAY__RATE_LIMIT__REDIS__URL", &url),
        (
            "GATEWAY__RATE_LIMIT__REDIS__KEY_HASH_SECRET",
            KEY_HASH_SECRET,
        ),
        ("GATEWAY__RATE_LIMIT__REDIS__KEY_PREFIX", PREFIX),
        ("GATEWAY__SERVER__METRICS_BIND", "127.0.0.1:0"),
        // A check slower than the timeout falls back (`local`, `open`): on
        // a loaded CI machine the default 50 ms can pass while Redis is
        // up, and a test would read the fallback's answer as Redis'. A
        // killed Redis refuses at once, so the longer bound costs the
        // down-Redis tests nothing; the slow-Redis test sets its own.
        ("GATEWAY__RATE_LIMIT__REDIS__TIMEOUT_MS", "400"),
    ];
    env.extend_from_slice(extra);
    RealGateway::spawn(&auth0.uri(), &env).await
}

/// Auth0 answering every OTP grant for `email` with tokens; the exact
/// upstream request (secret, grant type, `auth0-forwarded-for`) must match.
async fn mount_verify(auth0: &MockServer, email: &str) {
    upstream(
        "POST",
        "/oauth/token",
        otp_grant(email, "123456", "email"),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
    .mount(auth0)
    .await;
}

async fn verify(gateway: &RealGateway, email: &str) -> reqwest::Response {
    http_client()
        .post(gateway.url("/login/verify"))
        .json(&json!({"email": email, "code": "123456"}))
        .send()
        .await
        .expect("the gateway answers")
}

async fn post(gateway: &RealGateway, route: &str, body: Value) -> reqwest::Response {
    http_client()
        .post(gateway.url(route))
        .json(&body)
        .send()
        .await
        .expect("the gateway answers")
}

async fn upstream_calls(auth0: &MockServer) -> usize {
    auth0.received_requests().await.unwrap_or_default().len()
}

async fn metrics(gateway: &RealGateway) -> String {
    let port = gateway.metrics_port.expect("a metrics listener");
    http_client()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text")
}

/// Waits (bounded) until `/metrics` shows the store up or down.
async fn wait_store_up(gateway: &RealGateway, up: bool) {
    let expected = format!("gateway_rate_limit_store_up {}", u8::from(up));
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if metrics(gateway).await.contains(&expected) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no `{expected}` within 10 s:\n{}", metrics(gateway).await);
}

fn policy_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("ratelimit-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

/// The JSON log events named `event` in a stopped gateway's output.
async fn events(gateway: &mut RealGateway, event: &str) -> usize {
    gateway.sigterm();
    assert!(gateway.wait_exit(Duration::from_secs(10)).await.is_some());
    gateway
        .output()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["event"] == event || line["event"] == event)
        .count()
}

#[tokio::test]
async fn two_gateway_processes_share_one_budget() {
    let redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    mount_verify(&auth0, "jane@example.com").await;
    let limit = [("GATEWAY__RATE_LIMIT__VERIFY_PER_IDENTIFIER_IP", "3/hour")];
    let a = gateway(&auth0, &redis, &limit).await;
    let b = gateway(&auth0, &redis, &limit).await;

    // Three calls spread over both replicas spend the one budget of 3.
    for replica in [&a, &b, &a] {
        assert_eq!(verify(replica, "jane@example.com").await.status(), 200);
    }
    for replica in [&b, &a] {
        let refused = verify(replica, "jane@example.com").await;
        assert_eq!(refused.status(), 429);
        assert_eq!(
            policy_of(&refused),
            "\"verify_per_identifier_ip\";q=3;w=3600"
        );
    }
    assert_eq!(upstream_calls(&auth0).await, 3, "Auth0 saw N calls");
    for replica in [&a, &b] {
        let metrics = metrics(replica).await;
        assert!(
            !metrics.contains("gateway_rate_limit_store_fallbacks_total"),
            "every check went to Redis:\n{metrics}"
        );
    }
}

#[tokio::test]
async fn the_sms_fraud_guard_is_the_fleets() {
    let redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"_id": "fake-id"})))
        .mount(&auth0)
        .await;
    let guard = [
        ("GATEWAY__SMS__FRAUD_GUARD__MIN_SENDS", "2"),
        ("GATEWAY__SMS__FRAUD_GUARD__MIN_CONVERSION", "0.5"),
        ("GATEWAY__SMS__FRAUD_GUARD__PAUSE_SECS", "60"),
    ];
    let mut a = gateway(&auth0, &redis, &guard).await;
    let mut b = gateway(&auth0, &redis, &guard).await;

    // One unverified French text per replica: two sends, no verification,
    // judged fleet-wide.
    let text = |n: u8| json!({"phone_number": format!("+3361234567{n}")});
    assert_eq!(post(&a, "/login/start", text(1)).await.status(), 200);
    assert_eq!(post(&b, "/login/start", text(2)).await.status(), 200);
    let paused = post(&b, "/login/start", text(3)).await;
    assert_eq!(paused.status(), 429);
    assert_eq!(policy_of(&paused), "\"sms_fraud_guard\";q=2;w=3600");
    // The other replica asks Redis before its next text: refused at once,
    // Auth0 never asked.
    let paused = post(&a, "/login/start", text(4)).await;
    assert_eq!(paused.status(), 429);
    assert_eq!(policy_of(&paused), "\"sms_fraud_guard\";q=2;w=3600");
    // Other countries are untouched.
    assert_eq!(
        post(&a, "/login/start", json!({"phone_number": "+14155550100"}))
            .await
            .status(),
        200
    );
    assert_eq!(upstream_calls(&auth0).await, 3);
    // Its paused-countries gauge follows the fleet's on the housekeeping tick.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !metrics(&a).await.contains("sms_countries_paused 1") {
        assert!(
            Instant::now() < deadline,
            "sms_countries_paused 1 on replica A"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The pause is announced once, by the replica whose send tripped it.
    assert_eq!(events(&mut b, "sms_fraud_guard_paused").await, 1);
    assert_eq!(events(&mut a, "sms_fraud_guard_paused").await, 0);
}

/// SPEC §13 on the fleet: an `sms|` authenticator's challenges share one
/// `sms_per_phone` bucket whatever the mfa_token and the replica, and the
/// bucket's key is a keyed hash, not the authenticator id; an unseen
/// number's challenges are judged under `unknown` fleet-wide.
#[tokio::test]
async fn an_authenticators_texts_share_one_bucket_across_tokens_and_replicas() {
    let redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    for n in 1..=3 {
        upstream(
            "POST",
            "/mfa/challenge",
            json!({
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "mfa_token": format!("fake-login-{n}-mfa-token"),
                "challenge_type": "oob",
                "authenticator_id": "sms|dev_victim",
            }),
            "127.0.0.1",
        )
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "challenge_type": "oob", "oob_code": "fake-oob-code", "binding_method": "prompt"
        })))
        .expect(if n == 3 { 1 } else { 2 })
        .mount(&auth0)
        .await;
    }
    let guard = [
        ("GATEWAY__SMS__FRAUD_GUARD__MIN_SENDS", "6"),
        ("GATEWAY__SMS__FRAUD_GUARD__MIN_CONVERSION", "0.5"),
    ];
    let a = gateway(&auth0, &redis, &guard).await;
    let b = gateway(&auth0, &redis, &guard).await;
    let challenge = |replica: &RealGateway, n: u32| {
        http_client()
            .post(replica.url("/mfa/challenge"))
            .bearer_auth(format!("fake-login-{n}-mfa-token"))
            .json(&json!({"challenge_type": "oob", "authenticator_id": "sms|dev_victim"}))
            .send()
    };
    for (replica, n) in [(&a, 1), (&b, 2), (&a, 3), (&b, 1), (&a, 2)] {
        let answer = challenge(replica, n).await.expect("answers");
        assert_eq!(answer.status(), 200, "login {n}");
    }
    let sixth = challenge(&b, 3).await.expect("answers");
    assert_eq!(sixth.status(), 429);
    assert_eq!(policy_of(&sixth), "\"sms_per_phone\";q=5;w=3600");
    assert_eq!(upstream_calls(&auth0).await, 5);
    let keys = redis.keys().await;
    assert!(
        keys.iter()
            .any(|key| key.starts_with(&format!("{PREFIX}sms_per_phone:"))),
        "{keys:?}"
    );
    for key in &keys {
        assert!(!key.contains("victim") && !key.contains("sms|"), "{key}");
    }
    // Five unverified sends under `unknown` and a sixth on another
    // authenticator: `unknown` is paused for the fleet.
    upstream(
        "POST",
        "/mfa/challenge",
        json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "mfa_token": "fake-login-4-mfa-token",
            "challenge_type": "oob",
            "authenticator_id": "voice|dev_other",
        }),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(json!({
        "challenge_type": "oob", "oob_code": "fake-oob-code", "binding_method": "prompt"
    })))
    .expect(1)
    .mount(&auth0)
    .await;
    let other = |replica: &RealGateway| {
        http_client()
            .post(replica.url("/mfa/challenge"))
            .bearer_auth("fake-login-4-mfa-token")
            .json(&json!({"challenge_type": "oob", "authenticator_id": "voice|dev_other"}))
            .send()
    };
    assert_eq!(other(&a).await.expect("answers").status(), 200);
    let paused = other(&b).await.expect("answers");
    assert_eq!(paused.status(), 429);
    assert_eq!(policy_of(&paused), "\"sms_fraud_guard\";q=6;w=3600");
    assert_eq!(upstream_calls(&auth0).await, 6);
}

#[tokio::test]
async fn keys_are_keyed_hashes_that_expire_when_their_bucket_is_full() {
    let redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"_id": "fake-id"})))
        .mount(&auth0)
        .await;
    mount_verify(&auth0, "jane.doe+news@example.com").await;
    upstream(
        "POST",
        "/oauth/token",
        otp_grant("john.roe@example.com", "123456", "email"),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(403).set_body_json(mfa_required_answer()))
    .expect(1)
    .mount(&auth0)
    .await;
    Mock::given(method("POST"))
        .and(path("/mfa/associate"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "authenticator_type": "oob",
            "oob_channel": "sms",
            "oob_code": "fake-oob-code",
            "binding_method": "prompt",
        })))
        .mount(&auth0)
        .await;
    let gateway = gateway(&auth0, &redis, &[]).await;

    let phone = "+33612345678";
    let email = "jane.doe+news@example.com";
    assert_eq!(
        post(&gateway, "/login/start", json!({"email": email}))
            .await
            .status(),
        200
    );
    assert_eq!(
        post(&gateway, "/login/start", json!({"phone_number": phone}))
            .await
            .status(),
        200
    );
    assert_eq!(verify(&gateway, email).await.status(), 200);
    // A login that needs a second factor: its mfa_token is remembered.
    assert_eq!(verify(&gateway, "john.roe@example.com").await.status(), 403);
    let associate = http_client()
        .post(gateway.url("/mfa/associate"))
        .bearer_auth(MFA_TOKEN)
        .json(&json!({"factor": "sms", "phone_number": phone}))
        .send()
        .await
        .expect("answers");
    assert_eq!(
        associate.status(),
        200,
        "{}",
        associate.text().await.unwrap_or_default()
    );

    let keys = redis.keys().await;
    let kinds: Vec<&str> = keys
        .iter()
        .filter_map(|key| key.strip_prefix(PREFIX))
        .filter_map(|rest| rest.split(':').next())
        .collect();
    for kind in [
        "per_ip",
        "login_start_per_ip",
        "login_start_per_identifier_ip",
        "login_start_per_identifier",
        "verify_per_identifier_ip",
        "verify_per_identifier",
        "sms_per_phone",
        "sms_global",
        "sms_window",
        "sms_token",
        "known_network",
        "known_token",
    ] {
        assert!(kinds.contains(&kind), "a {kind} key in {keys:?}");
    }
    let mut connection = redis.connection().await;
    for key in &keys {
        let rest = key.strip_prefix(PREFIX).expect("every key has the prefix");
        let (_, hash) = rest.split_once(':').expect("{kind}:{hash}");
        assert!(
            hash.len() == 32 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "a 128-bit keyed hash, not a name: {key}"
        );
        for secret in [
            "jane",
            "doe",
            "john",
            "roe",
            "example",
            "33612345678",
            "127.0.0.1",
            MFA_TOKEN,
        ] {
            assert!(
                !key.to_lowercase().contains(&secret.to_lowercase()),
                "{key} names {secret}"
            );
        }
        let ttl_ms: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut connection)
            .await
            .expect("PTTL");
        assert!(ttl_ms > 0, "{key} expires (PTTL {ttl_ms})");
    }
    // A bucket's key lives until the bucket is full again: one call of 5
    // per hour is 12 minutes.
    let key = keys
        .iter()
        .find(|key| key.starts_with(&format!("{PREFIX}login_start_per_identifier_ip:")))
        .expect("the key");
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut connection)
        .await
        .expect("PTTL");
    assert!((700_000..=720_000).contains(&ttl_ms), "PTTL {ttl_ms}");
    // A known network is remembered for 30 days, an mfa_token's login for
    // the token's 10 minutes; neither value names anyone either.
    for (kind, ttl) in [("known_network", 30 * 86_400_000), ("known_token", 600_000)] {
        let key = keys
            .iter()
            .find(|key| key.starts_with(&format!("{PREFIX}{kind}:")))
            .expect("the key");
        let ttl_ms: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut connection)
            .await
            .expect("PTTL");
        assert!(
            (ttl - 60_000..=ttl).contains(&ttl_ms),
            "{kind}: PTTL {ttl_ms}"
        );
        let value: String = redis::cmd("GET")
            .arg(key)
            .query_async(&mut connection)
            .await
            .expect("GET");
        assert!(
            value.len() <= 64 && value.bytes().all(|b| b.is_ascii_hexdigit()),
            "{kind} holds keyed hashes only: {value:?}"
        );
    }
}

#[tokio::test]
async fn with_redis_down_local_keeps_serving_and_redis_back_is_shared_again() {
    let mut redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    mount_verify(&auth0, "jane@example.com").await;
    let mut gateway = gateway(
        &auth0,
        &redis,
        &[("GATEWAY__RATE_LIMIT__VERIFY_PER_IDENTIFIER_IP", "2/hour")],
    )
    .await;
    assert_eq!(verify(&gateway, "jane@example.com").await.status(), 200);
    assert!(!redis.keys().await.is_empty());

    redis.kill();
    // This replica's memory limits decide, within the timeout.
    let started = Instant::now();
    assert_eq!(verify(&gateway, "jane@example.com").await.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(verify(&gateway, "jane@example.com").await.status(), 200);
    let refused = verify(&gateway, "jane@example.com").await;
    assert_eq!(refused.status(), 429, "the local limits still hold");
    assert_eq!(upstream_calls(&auth0).await, 3);
    wait_store_up(&gateway, false).await;
    let during = metrics(&gateway).await;
    assert!(
        during.contains("gateway_rate_limit_store_fallbacks_total"),
        "{during}"
    );
    assert!(
        during.contains("gateway_rate_limit_store_errors_total"),
        "{during}"
    );
    let ready = http_client()
        .get(gateway.url("/readyz"))
        .send()
        .await
        .expect("answers");
    assert_eq!(ready.status(), 200, "local: still ready");

    redis.restart().await;
    wait_store_up(&gateway, true).await;
    assert_eq!(verify(&gateway, "jane@example.com").await.status(), 200);
    assert!(
        redis
            .keys()
            .await
            .iter()
            .any(|key| key.starts_with(&format!("{PREFIX}verify_per_identifier_ip:"))),
        "charged in Redis again"
    );
    assert_eq!(
        events(&mut gateway, "rate_limit_store_unavailable").await,
        1
    );
}

#[tokio::test]
async fn with_redis_down_closed_answers_503_and_auth0_is_not_called() {
    let mut redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    mount_verify(&auth0, "jane@example.com").await;
    let mut gateway = gateway(
        &auth0,
        &redis,
        &[("GATEWAY__RATE_LIMIT__REDIS__ON_ERROR", "closed")],
    )
    .await;
    assert_eq!(verify(&gateway, "jane@example.com").await.status(), 200);

    redis.kill();
    let refused = verify(&gateway, "jane@example.com").await;
    assert_eq!(refused.status(), 503);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["error"], "rate_limit_unavailable");
    assert_eq!(upstream_calls(&auth0).await, 1, "a 503 never reaches Auth0");
    let ready = http_client()
        .get(gateway.url("/readyz"))
        .send()
        .await
        .expect("answers");
    assert_eq!(ready.status(), 503, "closed and down: not ready");

    redis.restart().await;
    wait_store_up(&gateway, true).await;
    assert_eq!(verify(&gateway, "jane@example.com").await.status(), 200);
    let ready = http_client()
        .get(gateway.url("/readyz"))
        .send()
        .await
        .expect("answers");
    assert_eq!(ready.status(), 200);
    assert_eq!(events(&mut gateway, "rate_limit_store_recovered").await, 1);
}

#[tokio::test]
async fn with_redis_down_open_lets_calls_through() {
    let mut redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    mount_verify(&auth0, "jane@example.com").await;
    let gateway = gateway(
        &auth0,
        &redis,
        &[
            ("GATEWAY__RATE_LIMIT__REDIS__ON_ERROR", "open"),
            ("GATEWAY__RATE_LIMIT__VERIFY_PER_IDENTIFIER_IP", "1/hour"),
        ],
    )
    .await;
    assert_eq!(verify(&gateway, "jane@example.com").await.status(), 200);
    assert_eq!(verify(&gateway, "jane@example.com").await.status(), 429);
    redis.kill();
    for _ in 0..3 {
        assert_eq!(verify(&gateway, "jane@example.com").await.status(), 200);
    }
    assert_eq!(upstream_calls(&auth0).await, 4);
}

#[tokio::test]
async fn a_slow_redis_costs_a_request_at_most_the_timeout() {
    let redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    mount_verify(&auth0, "jane@example.com").await;
    let gateway = gateway(
        &auth0,
        &redis,
        &[("GATEWAY__RATE_LIMIT__REDIS__TIMEOUT_MS", "50")],
    )
    .await;
    assert_eq!(verify(&gateway, "jane@example.com").await.status(), 200);

    // Redis stalls for 3 s (one command blocks the whole server), on a
    // connection of the test's that waits for it.
    let client = redis::Client::open(redis.url()).expect("url");
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let mut connection = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .expect("connects");
    let stall = tokio::spawn(async move {
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg("3")
            .query_async::<()>(&mut connection)
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    assert_eq!(verify(&gateway, "jane@example.com").await.status(), 200);
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(1500),
        "answered in {took:?} while Redis stalls"
    );
    assert!(!stall.is_finished(), "Redis was still stalled");
    assert!(metrics(&gateway)
        .await
        .contains("gateway_rate_limit_store_errors_total{reason=\"timeout\"}"));
    stall.await.expect("join").expect("DEBUG SLEEP");
}

/// Every command Redis runs, as `MONITOR` prints it, collected in the
/// background.
struct CommandLog {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl CommandLog {
    async fn attach(redis: &RedisServer) -> Self {
        use futures_util::StreamExt;
        let client = redis::Client::open(redis.url()).expect("a Redis URL");
        let monitor = client.get_async_monitor().await.expect("MONITOR");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        let task = tokio::spawn(async move {
            let mut stream = monitor.into_on_message::<String>();
            while let Some(line) = stream.next().await {
                if let Ok(mut lines) = sink.lock() {
                    lines.push(line);
                }
            }
        });
        Self { lines, task }
    }

    /// The commands run since the last call: waits (bounded) until a
    /// marker sent after them comes through, so none is missed.
    async fn take(&self, redis: &RedisServer) -> Vec<String> {
        let marker = format!("end-of-call-{}", uuid::Uuid::new_v4());
        let _: String = redis::cmd("ECHO")
            .arg(&marker)
            .query_async(&mut redis.connection().await)
            .await
            .expect("ECHO");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let taken = {
                let mut lines = self.lines.lock().expect("the log");
                lines
                    .iter()
                    .position(|line| line.contains(&marker))
                    .map(|end| lines.drain(..=end).collect::<Vec<String>>())
            };
            if let Some(taken) = taken {
                return taken;
            }
            assert!(Instant::now() < deadline, "MONITOR showed no {marker}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for CommandLog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The SPEC §4 policies whose buckets one script charges.
const BUCKET_POLICIES: [&str; 10] = [
    "per_ip",
    "login_start_per_ip",
    "login_start_per_identifier_ip",
    "login_start_per_identifier",
    "verify_per_identifier_ip",
    "verify_per_identifier",
    "mfa_verify_per_token",
    "sms_per_phone",
    "sms_global",
    "passkey_register_per_ip",
];

/// The policies of the bucket keys a `MONITOR` line names.
fn bucket_policies(line: &str) -> Vec<&'static str> {
    BUCKET_POLICIES
        .into_iter()
        .filter(|policy| line.contains(&format!("\"{PREFIX}{policy}:")))
        .collect()
}

/// Auth0 answering every call the one-round-trip test makes, each request
/// matched field by field.
async fn mount_every_limited_route(auth0: &MockServer, email: &str, phone: &str) {
    let start = |connection: &str, field: &str, value: &str| {
        json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "connection": connection,
            field: value,
            "send": "code",
        })
    };
    for body in [
        start("email", "email", email),
        start("sms", "phone_number", phone),
    ] {
        upstream("POST", "/passwordless/start", body, "127.0.0.1")
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"_id": "fake-id"})))
            .mount(auth0)
            .await;
    }
    mount_verify(auth0, email).await;
    let bearer = format!("Bearer {MFA_TOKEN}");
    let associations = [
        (
            json!({"authenticator_types": ["otp"]}),
            json!({"authenticator_type": "otp", "secret": "FAKEFAKEFAKEFAKE",
                   "barcode_uri": "otpauth://totp/Example:jane?secret=FAKEFAKEFAKEFAKE"}),
        ),
        (
            json!({"authenticator_types": ["oob"], "oob_channels": ["sms"], "phone_number": phone}),
            json!({"authenticator_type": "oob", "oob_channel": "sms",
                   "oob_code": "fake-oob-code", "binding_method": "prompt"}),
        ),
    ];
    for (extra, answer) in associations {
        let mut body = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET});
        if let (Some(map), Value::Object(extra)) = (body.as_object_mut(), extra) {
            map.extend(extra);
        }
        upstream("POST", "/mfa/associate", body, "127.0.0.1")
            .and(wiremock::matchers::header("authorization", bearer.as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(auth0)
            .await;
    }
    for (challenge, answer) in [
        (
            json!({"challenge_type": "otp"}),
            json!({"challenge_type": "otp"}),
        ),
        (
            json!({"challenge_type": "oob", "authenticator_id": "sms|dev_fake1"}),
            json!({"challenge_type": "oob", "oob_code": "fake-oob-code", "binding_method": "prompt"}),
        ),
    ] {
        let mut body = json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "mfa_token": MFA_TOKEN,
        });
        if let (Some(map), Value::Object(challenge)) = (body.as_object_mut(), challenge) {
            map.extend(challenge);
        }
        upstream("POST", "/mfa/challenge", body, "127.0.0.1")
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(auth0)
            .await;
    }
    let mfa_grant = json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "http://auth0.com/oauth/grant-type/mfa-otp",
        "mfa_token": MFA_TOKEN,
        "otp": "654321",
    });
    upstream("POST", "/oauth/token", mfa_grant, "127.0.0.1")
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
        .mount(auth0)
        .await;
    Mock::given(method("GET"))
        .and(path("/mfa/authenticators"))
        .and(wiremock::matchers::header("authorization", bearer.as_str()))
        .and(wiremock::matchers::header(
            "auth0-forwarded-for",
            "127.0.0.1",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(auth0)
        .await;
}

#[tokio::test]
async fn each_call_charges_all_its_buckets_per_ip_included_in_one_script() {
    let redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    let email = "jane@example.com";
    let phone = "+14155550100";
    mount_every_limited_route(&auth0, email, phone).await;
    let gateway = gateway(&auth0, &redis, &[("GATEWAY__RATE_LIMIT__PER_IP", "9/hour")]).await;
    let mfa = |route: &'static str, body: Value| {
        http_client()
            .post(gateway.url(route))
            .bearer_auth(MFA_TOKEN)
            .json(&body)
            .send()
    };
    // A route without buckets of its own is charged by the scope guard
    // (and loads the script, so no call below shows a NOSCRIPT retry).
    let listed = http_client()
        .get(gateway.url("/mfa/authenticators"))
        .bearer_auth(MFA_TOKEN)
        .send()
        .await
        .expect("answers");
    assert_eq!(listed.status(), 200);
    let log = CommandLog::attach(&redis).await;
    log.take(&redis).await;

    let calls: [(&str, Value, &[&str]); 8] = [
        (
            "/login/start",
            json!({"email": email}),
            &[
                "login_start_per_ip",
                "login_start_per_identifier_ip",
                "login_start_per_identifier",
            ],
        ),
        (
            "/login/start",
            json!({"phone_number": phone}),
            &[
                "login_start_per_ip",
                "login_start_per_identifier_ip",
                "login_start_per_identifier",
                "sms_per_phone",
                "sms_global",
            ],
        ),
        (
            "/login/verify",
            json!({"email": email, "code": "123456"}),
            &["verify_per_identifier_ip", "verify_per_identifier"],
        ),
        ("/mfa/associate", json!({"factor": "otp"}), &[]),
        (
            "/mfa/associate",
            json!({"factor": "sms", "phone_number": phone}),
            &["sms_per_phone", "sms_global"],
        ),
        ("/mfa/challenge", json!({"challenge_type": "otp"}), &[]),
        (
            "/mfa/challenge",
            json!({"challenge_type": "oob", "authenticator_id": "sms|dev_fake1"}),
            &["sms_per_phone", "sms_global"],
        ),
        (
            "/mfa/verify",
            json!({"otp": "654321"}),
            &["mfa_verify_per_token"],
        ),
    ];
    for (route, body, own) in &calls {
        let answer = mfa(route, body.clone()).await.expect("answers");
        let status = answer.status();
        assert_eq!(
            status,
            200,
            "{route} {body}: {}",
            answer.text().await.unwrap_or_default()
        );
        let commands = log.take(&redis).await;
        let charges: Vec<&String> = commands
            .iter()
            // A client's commands, not those its script ran (`[0 lua]`).
            .filter(|line| !line.contains(" lua]") && !bucket_policies(line).is_empty())
            .collect();
        assert_eq!(charges.len(), 1, "{route} {body}: one script, {charges:#?}");
        let mut expected = vec!["per_ip"];
        expected.extend_from_slice(own);
        expected.sort_unstable();
        let mut charged = bucket_policies(charges[0]);
        charged.sort_unstable();
        assert_eq!(charged, expected, "{route} {body}: {}", charges[0]);
        assert!(charges[0].contains("\"EVALSHA\""), "{}", charges[0]);
        // The known-network lookup rides in the same script (SPEC §13).
        let ceiling = own
            .iter()
            .any(|p| matches!(*p, "login_start_per_identifier" | "verify_per_identifier"));
        assert_eq!(
            charges[0].contains(&format!("\"{PREFIX}known_network:")),
            ceiling,
            "{route} {body}: {}",
            charges[0]
        );
    }
    assert_eq!(upstream_calls(&auth0).await, 1 + calls.len());

    // The ninth call spent the budget of 9: each route is now refused by
    // `per_ip`, in its one script, and Auth0 is not called.
    for (route, body, _) in &calls {
        let refused = mfa(route, body.clone()).await.expect("answers");
        assert_eq!(refused.status(), 429, "{route} {body}");
        assert_eq!(policy_of(&refused), "\"per_ip\";q=9;w=3600", "{route}");
    }
    assert_eq!(upstream_calls(&auth0).await, 1 + calls.len());
}

/// Passkey sign-ups on the fleet (SPEC §11): `passkey_register_per_ip`
/// is one budget across replicas, charged with `per_ip` (and, for a
/// phone, the text's buckets) in one script; a refusal never reaches
/// Auth0.
#[tokio::test]
async fn passkey_sign_ups_share_one_budget_charged_in_one_script() {
    let redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/passkey/register"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "auth_session": "fake-auth-session-fleet",
            "authn_params_public_key": {"challenge": "Y2hhbGxlbmdl"},
        })))
        .expect(2)
        .mount(&auth0)
        .await;
    let env = [
        ("GATEWAY__PASSKEY__ENABLED", "true"),
        ("GATEWAY__RATE_LIMIT__PASSKEY_REGISTER_PER_IP", "2/hour"),
    ];
    let a = gateway(&auth0, &redis, &env).await;
    let b = gateway(&auth0, &redis, &env).await;
    // Loads the script, so no call below shows a NOSCRIPT retry.
    assert_eq!(post(&a, "/passkey/verify", json!({})).await.status(), 400);
    let log = CommandLog::attach(&redis).await;
    log.take(&redis).await;
    for (replica, body, own) in [
        (
            &a,
            json!({"email": "jane@example.com"}),
            vec!["passkey_register_per_ip"],
        ),
        (
            &b,
            json!({"phone_number": "+14155550100"}),
            vec!["passkey_register_per_ip", "sms_global", "sms_per_phone"],
        ),
    ] {
        assert_eq!(
            post(replica, "/passkey/register", body.clone())
                .await
                .status(),
            200
        );
        let commands = log.take(&redis).await;
        let charges: Vec<&String> = commands
            .iter()
            .filter(|line| !line.contains(" lua]") && !bucket_policies(line).is_empty())
            .collect();
        assert_eq!(charges.len(), 1, "{body}: one script, {charges:#?}");
        let mut charged = bucket_policies(charges[0]);
        charged.sort_unstable();
        let mut expected = own;
        expected.push("per_ip");
        expected.sort_unstable();
        assert_eq!(charged, expected, "{body}: {}", charges[0]);
    }
    for replica in [&a, &b] {
        let refused = post(replica, "/passkey/register", json!({"username": "jd"})).await;
        assert_eq!(refused.status(), 429);
        assert_eq!(
            policy_of(&refused),
            "\"passkey_register_per_ip\";q=2;w=3600"
        );
    }
    assert_eq!(upstream_calls(&auth0).await, 2);
}

/// A phone sign-up texted on one replica and verified on another counts
/// as that text's conversion: the `auth_session`'s country is the
/// fleet's.
#[tokio::test]
async fn a_sign_ups_text_verified_on_another_replica_counts_for_its_country() {
    let redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    for n in 1..=3 {
        Mock::given(method("POST"))
            .and(path("/passkey/register"))
            .and(wiremock::matchers::body_partial_json(
                json!({"user_profile": {"phone_number": format!("+3361234567{n}")}}),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "auth_session": format!("fake-auth-session-fr-{n}"),
                "authn_params_public_key": {"challenge": "Y2hhbGxlbmdl"},
                "verification_required": ["phone"],
            })))
            .expect(1)
            .mount(&auth0)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(wiremock::matchers::body_partial_json(json!({
            "grant_type": "urn:okta:params:oauth:grant-type:webauthn",
            "auth_session": "fake-auth-session-fr-1",
            "verification": {"phone": "123456"},
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
        .expect(1)
        .mount(&auth0)
        .await;
    let env = [
        ("GATEWAY__PASSKEY__ENABLED", "true"),
        ("GATEWAY__SMS__FRAUD_GUARD__MIN_SENDS", "2"),
        ("GATEWAY__SMS__FRAUD_GUARD__MIN_CONVERSION", "0.5"),
    ];
    let a = gateway(&auth0, &redis, &env).await;
    let b = gateway(&auth0, &redis, &env).await;
    let text = |n: u8| json!({"phone_number": format!("+3361234567{n}")});
    assert_eq!(post(&a, "/passkey/register", text(1)).await.status(), 200);
    let verified = post(
        &b,
        "/passkey/verify",
        json!({
            "auth_session": "fake-auth-session-fr-1",
            "credential": crate::passkey::new_passkey(),
            "verification": {"phone": "123456"},
        }),
    )
    .await;
    assert_eq!(verified.status(), 200);
    // 2 sends, 1 verified: open; 3 sends, 1 verified: paused after it.
    assert_eq!(post(&b, "/passkey/register", text(2)).await.status(), 200);
    assert_eq!(post(&a, "/passkey/register", text(3)).await.status(), 200);
    let paused = post(&b, "/passkey/register", text(4)).await;
    assert_eq!(paused.status(), 429);
    assert_eq!(policy_of(&paused), "\"sms_fraud_guard\";q=2;w=3600");
    assert_eq!(upstream_calls(&auth0).await, 4);
}

// The refresh single-flight across replicas (SPEC §10, "shared through
// Redis when §9's backend is on").

/// How long the fake Auth0 takes to answer a refresh: every racer on both
/// replicas arrives while the first call is still in flight.
const REFRESH_DELAY: Duration = Duration::from_millis(300);

/// The exact upstream body of a `/token/refresh` without a scope.
fn fleet_refresh_grant() -> Value {
    json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": REFRESH_TOKEN,
    })
}

/// Auth0's answer with rotation on: a new refresh token every time.
fn fleet_rotated(access_token: &str) -> Value {
    json!({
        "access_token": access_token,
        "id_token": ID_TOKEN,
        "refresh_token": format!("{access_token}-rotated-refresh-token"),
        "scope": DEFAULT_SCOPE,
        "expires_in": 86400,
        "token_type": "Bearer",
    })
}

async fn fleet_refresh(gateway: &RealGateway) -> (u16, Value) {
    let response = post(
        gateway,
        "/token/refresh",
        json!({"refresh_token": REFRESH_TOKEN}),
    )
    .await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

/// `n` refreshes sent at once, alternating between the replicas.
async fn fleet_race(replicas: [&RealGateway; 2], n: usize) -> Vec<(u16, Value)> {
    futures_util::future::join_all((0..n).map(|i| fleet_refresh(replicas[i % 2]))).await
}

async fn oauth_token_calls(auth0: &MockServer) -> usize {
    auth0
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|request| request.url.path() == "/oauth/token")
        .count()
}

fn assert_no_fallback(metrics: &str) {
    assert!(
        !metrics.contains("gateway_rate_limit_store_fallbacks_total"),
        "every call went to Redis:\n{metrics}"
    );
}

#[tokio::test]
async fn refreshes_racing_on_two_replicas_make_one_auth0_call_and_a_revoke_on_one_reaches_the_other(
) {
    let redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    let a = gateway(&auth0, &redis, &[]).await;
    let b = gateway(&auth0, &redis, &[]).await;
    let before_revoke = upstream("POST", "/oauth/token", fleet_refresh_grant(), "127.0.0.1")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fleet_rotated("fleet-access-token-1"))
                .set_delay(REFRESH_DELAY),
        )
        .expect(1)
        .named("the fleet's one refresh before the revoke")
        .mount_as_scoped(&auth0)
        .await;

    let answers = fleet_race([&a, &b], 10).await;

    assert_eq!(answers.len(), 10);
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(*body, fleet_rotated("fleet-access-token-1"));
    }
    assert_eq!(oauth_token_calls(&auth0).await, 1, "one call for the fleet");

    // Within the reuse window, either replica answers the same.
    for replica in [&b, &a, &b] {
        assert_eq!(
            fleet_refresh(replica).await,
            (200, fleet_rotated("fleet-access-token-1"))
        );
    }
    assert_eq!(oauth_token_calls(&auth0).await, 1, "reused fleet-wide");

    // Redis holds keyed hashes and sealed values, every one expiring.
    let mut connection = redis.connection().await;
    let keys = redis.keys().await;
    let flight_keys: Vec<&String> = keys
        .iter()
        .filter(|key| key.starts_with(&format!("{PREFIX}refresh_")))
        .collect();
    for kind in ["refresh_result:", "refresh_token:"] {
        assert!(
            flight_keys
                .iter()
                .any(|key| key.starts_with(&format!("{PREFIX}{kind}"))),
            "a {kind} key in {keys:?}"
        );
    }
    for key in &keys {
        assert!(!key.contains(REFRESH_TOKEN), "{key}");
        assert!(!key.contains("fleet-access-token"), "{key}");
    }
    for key in &flight_keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key.as_str())
            .query_async(&mut connection)
            .await
            .expect("PTTL");
        assert!(ttl > 0 && ttl <= 10_000, "{key} expires: {ttl} ms");
        let kind: String = redis::cmd("TYPE")
            .arg(key.as_str())
            .query_async(&mut connection)
            .await
            .expect("TYPE");
        if kind == "string" {
            let value: String = redis::cmd("GET")
                .arg(key.as_str())
                .query_async(&mut connection)
                .await
                .expect("GET");
            for secret in ["fleet-access-token", REFRESH_TOKEN, ID_TOKEN, "Bearer"] {
                assert!(!value.contains(secret), "{key} holds {secret} in clear");
            }
        }
    }
    drop(before_revoke);

    // A revoke on one replica: the other asks Auth0 again.
    upstream(
        "POST",
        "/oauth/revoke",
        json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token": REFRESH_TOKEN}),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(200))
    .expect(1)
    .mount(&auth0)
    .await;
    upstream("POST", "/oauth/token", fleet_refresh_grant(), "127.0.0.1")
        .respond_with(
            ResponseTemplate::new(200).set_body_json(fleet_rotated("fleet-access-token-2")),
        )
        .expect(1)
        .named("the one refresh after the revoke")
        .mount(&auth0)
        .await;
    let revoked = post(&a, "/token/revoke", json!({"refresh_token": REFRESH_TOKEN})).await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(
        fleet_refresh(&b).await,
        (200, fleet_rotated("fleet-access-token-2"))
    );
    assert_eq!(
        fleet_refresh(&a).await,
        (200, fleet_rotated("fleet-access-token-2")),
        "and that new result is the fleet's"
    );
    assert_eq!(oauth_token_calls(&auth0).await, 2);
    for replica in [&a, &b] {
        assert_no_fallback(&metrics(replica).await);
    }
    auth0.verify().await;
}

#[tokio::test]
async fn replicas_share_an_auth0_error_but_the_next_refresh_calls_auth0_again() {
    let redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    let a = gateway(&auth0, &redis, &[]).await;
    let b = gateway(&auth0, &redis, &[]).await;
    upstream("POST", "/oauth/token", fleet_refresh_grant(), "127.0.0.1")
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({
                    "error": "invalid_grant",
                    "error_description": "Unknown or invalid refresh token.",
                }))
                .set_delay(REFRESH_DELAY),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&auth0)
        .await;
    upstream("POST", "/oauth/token", fleet_refresh_grant(), "127.0.0.1")
        .respond_with(ResponseTemplate::new(200).set_body_json(fleet_rotated("fleet-after-error")))
        .expect(1)
        .mount(&auth0)
        .await;

    let answers = fleet_race([&a, &b], 6).await;

    for (status, body) in &answers {
        assert_eq!(*status, 403, "{body}");
        assert_eq!(body["error"], "invalid_grant");
        assert_eq!(
            body["error_description"],
            "Unknown or invalid refresh token."
        );
    }
    assert_eq!(
        oauth_token_calls(&auth0).await,
        1,
        "both replicas shared it"
    );
    // The error is in Redis for a moment, but only for the flight's waiters.
    assert_eq!(
        fleet_refresh(&b).await,
        (200, fleet_rotated("fleet-after-error"))
    );
    assert_eq!(oauth_token_calls(&auth0).await, 2);
    for replica in [&a, &b] {
        assert_no_fallback(&metrics(replica).await);
    }
    auth0.verify().await;
}

#[tokio::test]
async fn with_redis_down_a_refresh_still_succeeds_on_the_local_flight() {
    let mut redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    let a = gateway(&auth0, &redis, &[]).await;
    upstream("POST", "/oauth/token", fleet_refresh_grant(), "127.0.0.1")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fleet_rotated("fleet-local-token"))
                .set_delay(REFRESH_DELAY),
        )
        .expect(1)
        .mount(&auth0)
        .await;
    redis.kill();

    let answers = futures_util::future::join_all((0..4).map(|_| fleet_refresh(&a))).await;
    for answer in answers {
        assert_eq!(answer, (200, fleet_rotated("fleet-local-token")));
    }
    assert_eq!(
        fleet_refresh(&a).await,
        (200, fleet_rotated("fleet-local-token")),
        "reused in the process"
    );
    assert_eq!(oauth_token_calls(&auth0).await, 1);
    let metrics = metrics(&a).await;
    assert!(
        metrics.contains("gateway_rate_limit_store_fallbacks_total"),
        "{metrics}"
    );
    auth0.verify().await;
}

#[tokio::test]
async fn with_no_reuse_window_racing_replicas_still_share_one_call_but_keep_nothing() {
    let redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    let no_reuse = [("GATEWAY__SESSION__REFRESH_REUSE_SECS", "0")];
    let a = gateway(&auth0, &redis, &no_reuse).await;
    let b = gateway(&auth0, &redis, &no_reuse).await;
    upstream("POST", "/oauth/token", fleet_refresh_grant(), "127.0.0.1")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fleet_rotated("fleet-unreused-1"))
                .set_delay(REFRESH_DELAY),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&auth0)
        .await;
    upstream("POST", "/oauth/token", fleet_refresh_grant(), "127.0.0.1")
        .respond_with(ResponseTemplate::new(200).set_body_json(fleet_rotated("fleet-unreused-2")))
        .expect(1)
        .mount(&auth0)
        .await;

    for (status, body) in fleet_race([&a, &b], 6).await {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body, fleet_rotated("fleet-unreused-1"));
    }
    assert_eq!(oauth_token_calls(&auth0).await, 1, "the racers shared it");
    assert_eq!(
        fleet_refresh(&b).await,
        (200, fleet_rotated("fleet-unreused-2")),
        "a later refresh is its own call"
    );
    assert_eq!(oauth_token_calls(&auth0).await, 2);
    auth0.verify().await;
}

// Known networks (SPEC §13) across the fleet.

/// The network the victim logs in from.
const HOME: &str = "198.51.100.20";

/// `route` from `client`, through the trusted proxy on loopback.
async fn post_from(
    gateway: &RealGateway,
    route: &str,
    client: &str,
    body: Value,
) -> reqwest::Response {
    http_client()
        .post(gateway.url(route))
        .header("x-forwarded-for", client)
        .json(&body)
        .send()
        .await
        .expect("the gateway answers")
}

/// Two-cell ceilings, behind a trusted proxy on loopback.
const SMALL_CEILINGS: [(&str, &str); 3] = [
    ("GATEWAY__SERVER__TRUSTED_PROXIES", "127.0.0.1/32"),
    ("GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER", "2/hour"),
    ("GATEWAY__RATE_LIMIT__VERIFY_PER_IDENTIFIER", "2/hour"),
];

/// Auth0 for the known-network tests: codes sent to anyone, the victim's
/// right code (from home only) accepted, and a stranger's wrong one.
async fn mount_known_network_auth0(auth0: &MockServer, victim: &str) {
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"_id": "fake-id"})))
        .mount(auth0)
        .await;
    upstream(
        "POST",
        "/oauth/token",
        otp_grant(victim, "123456", "email"),
        HOME,
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
    .mount(auth0)
    .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(wiremock::matchers::body_partial_json(
            json!({"otp": "000000"}),
        ))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "Wrong email or verification code."
        })))
        .mount(auth0)
        .await;
}

/// Strangers spend both ceilings of `victim` through `replica`, from two
/// networks; a third, fresh network is refused by each.
async fn strangers_spend_the_ceilings(replica: &RealGateway, victim: &str) {
    let start = json!({"email": victim});
    let guess = json!({"email": victim, "code": "000000"});
    for client in ["203.0.113.1", "203.0.113.2"] {
        let started = post_from(replica, "/login/start", client, start.clone()).await;
        assert!(matches!(started.status().as_u16(), 200 | 429), "{client}");
        let guessed = post_from(replica, "/login/verify", client, guess.clone()).await;
        assert!(matches!(guessed.status().as_u16(), 403 | 429), "{client}");
    }
    let fresh = "192.0.2.77";
    let refused = post_from(replica, "/login/start", fresh, start).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(
        policy_of(&refused),
        "\"login_start_per_identifier\";q=2;w=3600"
    );
    let refused = post_from(replica, "/login/verify", fresh, guess).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(policy_of(&refused), "\"verify_per_identifier\";q=2;w=3600");
}

/// The victim, at home, asks for a code and logs in through `replica`.
async fn victim_logs_in_at_home(replica: &RealGateway, victim: &str) {
    let started = post_from(replica, "/login/start", HOME, json!({"email": victim})).await;
    assert_eq!(started.status(), 200, "start from home");
    let verified = post_from(
        replica,
        "/login/verify",
        HOME,
        json!({"email": victim, "code": "123456"}),
    )
    .await;
    assert_eq!(verified.status(), 200, "verify from home");
}

#[tokio::test]
async fn a_network_known_on_one_replica_passes_spent_ceilings_on_another() {
    let redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    let victim = "victim@example.com";
    mount_known_network_auth0(&auth0, victim).await;
    let a = gateway(&auth0, &redis, &SMALL_CEILINGS).await;
    let b = gateway(&auth0, &redis, &SMALL_CEILINGS).await;

    victim_logs_in_at_home(&a, victim).await;
    strangers_spend_the_ceilings(&b, victim).await;
    // Replica B never saw the victim's login: Redis knows the network.
    victim_logs_in_at_home(&b, victim).await;
    for replica in [&a, &b] {
        assert!(
            !metrics(replica)
                .await
                .contains("gateway_rate_limit_store_fallbacks_total"),
            "every check went to Redis"
        );
    }
}

#[tokio::test]
async fn an_mfa_login_finished_on_another_replica_makes_its_network_known() {
    let redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    let victim = "victim@example.com";
    upstream(
        "POST",
        "/oauth/token",
        otp_grant(victim, "111111", "email"),
        HOME,
    )
    .respond_with(ResponseTemplate::new(403).set_body_json(mfa_required_answer()))
    .expect(1)
    .mount(&auth0)
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
    .mount(&auth0)
    .await;
    mount_known_network_auth0(&auth0, victim).await;
    let a = gateway(&auth0, &redis, &SMALL_CEILINGS).await;
    let b = gateway(&auth0, &redis, &SMALL_CEILINGS).await;

    let first = post_from(
        &a,
        "/login/verify",
        HOME,
        json!({"email": victim, "code": "111111"}),
    )
    .await;
    assert_eq!(first.status(), 403);
    let second = http_client()
        .post(b.url("/mfa/verify"))
        .bearer_auth(MFA_TOKEN)
        .header("x-forwarded-for", HOME)
        .json(&json!({"otp": "654321"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(second.status(), 200);

    strangers_spend_the_ceilings(&a, victim).await;
    victim_logs_in_at_home(&a, victim).await;
}

#[tokio::test]
async fn with_redis_down_local_still_knows_the_networks_this_replica_saw() {
    let mut redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    let victim = "victim@example.com";
    mount_known_network_auth0(&auth0, victim).await;
    let gateway = gateway(&auth0, &redis, &SMALL_CEILINGS).await;

    victim_logs_in_at_home(&gateway, victim).await;
    redis.kill();
    // This replica's memory limits decide, with its memory of networks.
    strangers_spend_the_ceilings(&gateway, victim).await;
    victim_logs_in_at_home(&gateway, victim).await;
    assert!(metrics(&gateway)
        .await
        .contains("gateway_rate_limit_store_fallbacks_total"));
}

// --- Sessions that end when they should (SPEC §12) across replicas ---

/// Cookie sessions on, the same keys on every replica.
const SESSIONS_ON: [(&str, &str); 3] = [
    ("GATEWAY__SESSION__ENABLED", "true"),
    ("GATEWAY__SESSION__KEYS", crate::session::KEY_1),
    (
        "GATEWAY__SERVER__CORS_ALLOWED_ORIGINS",
        crate::session::APP_ORIGIN,
    ),
];

fn session_gateway_env<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = SESSIONS_ON.to_vec();
    env.extend_from_slice(extra);
    env
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A cookie-mode login of `email` on `replica`: Auth0 (asserted field by
/// field, answered once) issues an id_token for `sub` from Auth0 session
/// `sid`. The session cookie, as a browser sends it back.
async fn session_login(
    auth0: &MockServer,
    replica: &RealGateway,
    email: &str,
    sub: &str,
    sid: &str,
) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let claims = json!({
        "iss": format!("{}/", auth0.uri()),
        "aud": CLIENT_ID,
        "exp": unix_now() + 3600,
        "sub": sub,
        "email": email,
        "sid": sid,
    });
    let id_token = format!(
        "eyJhbGciOiJSUzI1NiJ9.{}.fake-signature",
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    upstream(
        "POST",
        "/oauth/token",
        otp_grant(email, "123456", "email"),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": ACCESS_TOKEN,
        "id_token": id_token,
        "refresh_token": REFRESH_TOKEN,
        "scope": DEFAULT_SCOPE,
        "expires_in": 86400,
        "token_type": "Bearer",
    })))
    .up_to_n_times(1)
    .expect(1)
    .mount(auth0)
    .await;
    let answer = http_client()
        .post(replica.url("/login/verify"))
        .header("x-lgw-session", "1")
        .json(&json!({"email": email, "code": "123456"}))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(answer.status(), 200);
    crate::session::cookie_header(answer.headers())
}

/// A cookie call on `replica` (with the CSRF header; `GET /session` does
/// not need it and ignores it).
async fn with_cookie(
    replica: &RealGateway,
    verb: reqwest::Method,
    route: &str,
    cookie: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = http_client()
        .request(verb, replica.url(route))
        .header("cookie", cookie)
        .header("x-lgw-session", "1");
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("the gateway answers")
}

async fn session_status(replica: &RealGateway, cookie: &str) -> u16 {
    with_cookie(replica, reqwest::Method::GET, "/session", cookie, None)
        .await
        .status()
        .as_u16()
}

/// `401 session_expired`, the session cookie cleared.
async fn assert_session_ended(answer: reqwest::Response) {
    assert_eq!(answer.status(), 401);
    let headers = answer.headers().clone();
    crate::session::assert_cleared(&headers, crate::session::COOKIE);
    let body: Value = answer.json().await.expect("JSON");
    assert_eq!(body["error"], "session_expired");
}

#[tokio::test]
async fn a_sign_out_on_one_replica_ends_the_copy_on_the_other_and_everywhere_ends_the_users_sessions_there(
) {
    let redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    let a = gateway(&auth0, &redis, &session_gateway_env(&[])).await;
    let b = gateway(&auth0, &redis, &session_gateway_env(&[])).await;
    let jane = ("jane.doe@example.com", "email|6f1c2e9a7b3d4c5e8f901234");
    let john = ("john.roe@example.com", "email|0a9b8c7d6e5f4a3b2c1d0e9f");

    let cookie = session_login(&auth0, &a, jane.0, jane.1, "auth0-sid-jane-1").await;
    assert_eq!(session_status(&b, &cookie).await, 200, "a copy works on B");
    crate::revocation::expect_revokes(&auth0, 2).await;
    let out = with_cookie(&a, reqwest::Method::POST, "/session/logout", &cookie, None).await;
    assert_eq!(out.status(), 204);
    let calls = upstream_calls(&auth0).await;
    for (verb, route) in [
        (reqwest::Method::GET, "/session"),
        (reqwest::Method::POST, "/session/refresh"),
        (reqwest::Method::GET, "/session/token"),
    ] {
        assert_session_ended(with_cookie(&b, verb, route, &cookie, None).await).await;
    }
    assert_eq!(upstream_calls(&auth0).await, calls, "no Auth0 call on B");

    // Everywhere, from a session on A: Jane's session on B ends, John's
    // does not; a later login of Jane works on either replica.
    let phone = session_login(&auth0, &b, jane.0, jane.1, "auth0-sid-jane-2").await;
    let laptop = session_login(&auth0, &a, jane.0, jane.1, "auth0-sid-jane-3").await;
    let other = session_login(&auth0, &b, john.0, john.1, "auth0-sid-john-1").await;
    let out = with_cookie(
        &a,
        reqwest::Method::POST,
        "/session/logout",
        &laptop,
        Some(json!({"everywhere": true})),
    )
    .await;
    assert_eq!(out.status(), 204);
    let marked_at = unix_now();
    assert_session_ended(with_cookie(&b, reqwest::Method::GET, "/session", &phone, None).await)
        .await;
    assert_eq!(session_status(&b, &other).await, 200, "another user");
    while unix_now() <= marked_at {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = session_login(&auth0, &b, jane.0, jane.1, "auth0-sid-jane-4").await;
    assert_eq!(session_status(&a, &again).await, 200);

    // The markers: keyed hashes only, each with a TTL of at most
    // `session.max_age_secs` (86400 s).
    let keys = redis.keys().await;
    let mut connection = redis.connection().await;
    for kind in ["revoked_session", "revoked_sub"] {
        assert!(
            keys.iter()
                .any(|k| k.starts_with(&format!("{PREFIX}{kind}:"))),
            "{kind} in {keys:?}"
        );
    }
    for key in &keys {
        for raw in [
            "jane",
            "john",
            "example.com",
            "email|",
            "6f1c2e9a",
            "0a9b8c7d",
            "auth0-sid",
        ] {
            assert!(!key.contains(raw), "{key} shows {raw}");
        }
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut connection)
            .await
            .expect("PTTL");
        assert!(ttl > 0, "{key} has no TTL");
        if key.contains("revoked_") {
            assert!((86_300_000..=86_400_000).contains(&ttl), "{key}: {ttl} ms");
        }
    }
    let seen = metrics(&a).await;
    for reason in ["logout", "everywhere"] {
        assert!(
            seen.contains(&format!(
                "gateway_session_revocations_total{{reason=\"{reason}\"}} 1"
            )),
            "{reason}:\n{seen}"
        );
    }
    assert_no_fallback(&seen);
    assert_no_fallback(&metrics(&b).await);
}

/// SPEC §12: Auth0's back-channel logout may reach any replica; the
/// marker it sets ends the Auth0 session's cookies on every replica.
#[tokio::test]
async fn a_back_channel_logout_received_by_one_replica_ends_the_session_on_the_other() {
    let redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    crate::backchannel::publish_tenant_key(&auth0, 1).await;
    let env = session_gateway_env(&[("GATEWAY__SESSION__BACKCHANNEL_LOGOUT", "true")]);
    let a = gateway(&auth0, &redis, &env).await;
    let b = gateway(&auth0, &redis, &env).await;
    let jane = ("jane.doe@example.com", "email|6f1c2e9a7b3d4c5e8f901234");
    let ended = session_login(&auth0, &b, jane.0, jane.1, "auth0-sid-jane-1").await;
    let kept = session_login(&auth0, &b, jane.0, jane.1, "auth0-sid-jane-2").await;
    assert_eq!(session_status(&b, &ended).await, 200);
    let calls = upstream_calls(&auth0).await;

    let token = crate::backchannel::tenant_logout_token(&auth0, Some("auth0-sid-jane-1"), jane.1);
    let answer = http_client()
        .post(a.url("/session/backchannel-logout"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("logout_token={token}"))
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(answer.status(), 204);
    assert_session_ended(with_cookie(&b, reqwest::Method::GET, "/session", &ended, None).await)
        .await;
    assert_eq!(
        session_status(&b, &kept).await,
        200,
        "another Auth0 session"
    );
    assert_eq!(
        upstream_calls(&auth0).await,
        calls + 1,
        "the key set only, fetched once by A"
    );
    let keys = redis.keys().await;
    assert!(
        keys.iter()
            .any(|k| k.starts_with(&format!("{PREFIX}revoked_sid:"))),
        "{keys:?}"
    );
    for key in &keys {
        for raw in ["auth0-sid", "jane", "email|"] {
            assert!(!key.contains(raw), "{key} shows {raw}");
        }
    }
}

#[tokio::test]
async fn with_redis_down_local_keeps_serving_sessions_and_this_replicas_sign_outs_hold() {
    let mut redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    let gateway = gateway(&auth0, &redis, &session_gateway_env(&[])).await;
    let cookie = session_login(
        &auth0,
        &gateway,
        "jane.doe@example.com",
        "email|6f1c2e9a7b3d4c5e8f901234",
        "auth0-sid-jane-1",
    )
    .await;
    redis.kill();
    let started = Instant::now();
    assert_eq!(session_status(&gateway, &cookie).await, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    crate::revocation::expect_revokes(&auth0, 1).await;
    let out = with_cookie(
        &gateway,
        reqwest::Method::POST,
        "/session/logout",
        &cookie,
        None,
    )
    .await;
    assert_eq!(out.status(), 204);
    // The marker this replica wrote holds here while Redis is away.
    let started = Instant::now();
    assert_session_ended(
        with_cookie(&gateway, reqwest::Method::GET, "/session", &cookie, None).await,
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(upstream_calls(&auth0).await, 2, "the login and the revoke");
    wait_store_up(&gateway, false).await;
}

#[tokio::test]
async fn with_redis_down_closed_refuses_cookie_calls_with_503_and_sign_out_still_answers_204() {
    let mut redis = RedisServer::start().await;
    let auth0 = MockServer::start().await;
    let closed = [("GATEWAY__RATE_LIMIT__REDIS__ON_ERROR", "closed")];
    let limited = gateway(&auth0, &redis, &session_gateway_env(&closed)).await;
    // Without limits the session check is the first to need Redis.
    let mut unlimited_env = session_gateway_env(&closed);
    unlimited_env.push(("GATEWAY__RATE_LIMIT__ENABLED", "false"));
    let unlimited = gateway(&auth0, &redis, &unlimited_env).await;
    let jane = ("jane.doe@example.com", "email|6f1c2e9a7b3d4c5e8f901234");
    let on_limited = session_login(&auth0, &limited, jane.0, jane.1, "auth0-sid-1").await;
    let on_unlimited = session_login(&auth0, &unlimited, jane.0, jane.1, "auth0-sid-2").await;
    redis.kill();
    let calls = upstream_calls(&auth0).await;

    let refused = with_cookie(
        &unlimited,
        reqwest::Method::GET,
        "/session",
        &on_unlimited,
        None,
    )
    .await;
    assert_eq!(refused.status(), 503);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["error"], "session_store_unavailable");
    // With limits on, `per_ip` needs Redis first and answers its own 503.
    let refused = with_cookie(
        &limited,
        reqwest::Method::GET,
        "/session",
        &on_limited,
        None,
    )
    .await;
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["error"], "rate_limit_unavailable");
    for verb_route in [
        (reqwest::Method::POST, "/session/refresh"),
        (reqwest::Method::GET, "/session/token"),
    ] {
        let refused =
            with_cookie(&unlimited, verb_route.0, verb_route.1, &on_unlimited, None).await;
        assert_eq!(refused.status(), 503);
    }
    assert_eq!(
        upstream_calls(&auth0).await,
        calls,
        "a 503 never reaches Auth0"
    );

    // Sign-out still works on both (the marker held by that replica).
    crate::revocation::expect_revokes(&auth0, 2).await;
    for (replica, cookie) in [(&limited, &on_limited), (&unlimited, &on_unlimited)] {
        let out = with_cookie(
            replica,
            reqwest::Method::POST,
            "/session/logout",
            cookie,
            Some(json!({"everywhere": true})),
        )
        .await;
        assert_eq!(out.status(), 204);
        crate::session::assert_cleared(out.headers(), crate::session::COOKIE);
    }
    redis.restart().await;
    wait_store_up(&unlimited, true).await;
    assert_session_ended(
        with_cookie(
            &unlimited,
            reqwest::Method::GET,
            "/session",
            &on_unlimited,
            None,
        )
        .await,
    )
    .await;
}
