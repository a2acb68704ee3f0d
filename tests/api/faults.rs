//! Fault injection over the wire: a slow, refusing, lying or truncating
//! upstream, and shutdown with requests in flight. Every wait is bounded.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{http_client, spawn_app_with, TestApp};
use crate::real_binary::RealGateway;

/// These tests are about the upstream, not about the per-IP limits.
const NO_LIMITS: (&str, &str) = ("GATEWAY__RATE_LIMIT__ENABLED", "false");

/// An in-process gateway (its own wiremock Auth0 in `auth0`) with the rate
/// limits off; `extra` pairs override, e.g. `GATEWAY__AUTH0__DOMAIN`.
async fn spawn_gateway(extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![NO_LIMITS];
    env.extend_from_slice(extra);
    spawn_app_with(&env).await
}

async fn verify(client: &reqwest::Client, url: &str) -> reqwest::Response {
    client
        .post(url)
        .json(&json!({"email": "jane@example.com", "code": "123456"}))
        .send()
        .await
        .expect("the gateway answers")
}

fn token_answer() -> serde_json::Value {
    json!({"access_token": "fake-access", "token_type": "Bearer", "expires_in": 60})
}

/// Waits (at most 5 s) until `auth0` has received a request for `path`;
/// wiremock records it before it starts any response delay, so the
/// gateway's call is then in flight.
async fn until_received(auth0: &MockServer, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let received = auth0.received_requests().await.unwrap_or_default();
        if received.iter().any(|request| request.url.path() == path) {
            return;
        }
        assert!(Instant::now() < deadline, "{path} never reached Auth0");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("JSON error body");
    (
        status,
        body["error"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn an_upstream_slower_than_timeout_ms_is_a_504_and_other_requests_are_still_served() {
    let app = spawn_gateway(&[("GATEWAY__AUTH0__TIMEOUT_MS", "800")]).await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_answer())
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&app.auth0)
        .await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"_id": "x"})))
        .mount(&app.auth0)
        .await;

    let started = Instant::now();
    let slow = tokio::spawn({
        let (client, url) = (app.client.clone(), app.url("/login/verify"));
        async move { verify(&client, &url).await }
    });
    until_received(&app.auth0, "/oauth/token").await;
    // While the slow call waits, the single worker still serves others.
    let other_started = Instant::now();
    let other = app
        .post_json("/login/start", &json!({"email": "john@example.com"}))
        .await;
    assert_eq!(other.status(), 200);
    assert!(
        other_started.elapsed() < Duration::from_millis(700),
        "not blocked by the slow call"
    );

    let (status, code) = error_code(slow.await.unwrap()).await;
    assert_eq!((status, code.as_str()), (504, "upstream_timeout"));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(700) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
}

/// Answers that are not JSON at all, or JSON cut short. (HTML answers, a
/// refused connection and a token answer without `access_token` are the
/// `check_upstream_failure` cases of `login_verify`.)
#[tokio::test]
async fn garbage_answers_are_502() {
    for (status, body, content_type) in [
        (200, "not json at all", "text/plain"),
        (200, "{\"access_token\":", "application/json"),
    ] {
        let app = spawn_gateway(&[]).await;
        Mock::given(path("/oauth/token"))
            .respond_with(ResponseTemplate::new(status).set_body_raw(body, content_type))
            .mount(&app.auth0)
            .await;
        let response = verify(&app.client, &app.url("/login/verify")).await;
        let answered = response.status().as_u16();
        let text = response.text().await.unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&text).expect("a JSON error body");
        assert_eq!(
            (answered, parsed["error"].as_str()),
            (502, Some("upstream_error")),
            "{status} {body} -> {text}"
        );
        assert!(
            !text.contains("html") && !text.contains(&app.auth0.uri()),
            "{text}"
        );
    }
}

/// A raw HTTP/1.1 upstream that answers every connection with `head`, then
/// `body_chunk` repeated `repeats` times (slowly if asked), then closes. Its
/// listener is bound once and moved into the task that serves it.
async fn raw_upstream(
    head: String,
    body_chunk: Vec<u8>,
    repeats: usize,
    pause: Duration,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let head = head.clone();
            let chunk = body_chunk.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 16 * 1024];
                let _ = socket.read(&mut buffer).await;
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                for _ in 0..repeats {
                    if socket.write_all(&chunk).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(pause).await;
                }
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{address}")
}

#[tokio::test]
async fn an_oversize_declared_body_is_a_502_without_reading_it() {
    // Declares 100 MB and trickles it: the gateway must give up at once.
    let upstream = raw_upstream(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 104857600\r\n\r\n"
            .into(),
        vec![b' '; 1024],
        100_000,
        Duration::from_millis(10),
    )
    .await;
    let app = spawn_gateway(&[
        ("GATEWAY__AUTH0__DOMAIN", &upstream),
        ("GATEWAY__AUTH0__TIMEOUT_MS", "10000"),
    ])
    .await;
    let started = Instant::now();
    let (status, code) = error_code(verify(&app.client, &app.url("/login/verify")).await).await;
    assert_eq!((status, code.as_str()), (502, "upstream_error"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_endless_chunked_body_is_cut_at_the_size_cap() {
    let chunk = format!("{:x}\r\n{}\r\n", 4096, " ".repeat(4096)).into_bytes();
    let upstream = raw_upstream(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
            .into(),
        chunk,
        100_000,
        Duration::from_millis(1),
    )
    .await;
    let app = spawn_gateway(&[
        ("GATEWAY__AUTH0__DOMAIN", &upstream),
        ("GATEWAY__AUTH0__TIMEOUT_MS", "10000"),
        ("GATEWAY__AUTH0__MAX_RESPONSE_BYTES", "65536"),
    ])
    .await;
    let started = Instant::now();
    let (status, code) = error_code(verify(&app.client, &app.url("/login/verify")).await).await;
    assert_eq!((status, code.as_str()), (502, "upstream_error"));
    // 64 KiB at 4 KiB per millisecond or so: far less than the 10 s timeout.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_truncated_body_is_a_502() {
    let upstream = raw_upstream(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n".into(),
        b"{\"access_token\":\"fake".to_vec(),
        1,
        Duration::from_millis(1),
    )
    .await;
    let app = spawn_gateway(&[("GATEWAY__AUTH0__DOMAIN", &upstream)]).await;
    let (status, code) = error_code(verify(&app.client, &app.url("/login/verify")).await).await;
    assert_eq!((status, code.as_str()), (502, "upstream_error"));
}

/// The real binary with two workers and the rate limits off; `drain_delay_ms`
/// is how long it keeps serving after SIGTERM.
async fn spawn_binary(auth0: &MockServer, drain_delay_ms: &str) -> RealGateway {
    RealGateway::spawn(
        &auth0.uri(),
        &[
            ("GATEWAY__SERVER__WORKERS", "2"),
            NO_LIMITS,
            ("GATEWAY__SERVER__DRAIN_DELAY_MS", drain_delay_ms),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_request_finish_and_exits_zero() {
    let auth0 = MockServer::start().await;
    // Auth0 answers 3 s after the call: the listener closes 0.5 s after
    // SIGTERM, and actix checks its shutdown timeout once a second, so the
    // request is still in flight well after a gateway that did not wait
    // (shutdown_timeout 0, or a forced stop) would have cut it.
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_answer())
                .set_delay(Duration::from_millis(3000)),
        )
        .expect(1)
        .mount(&auth0)
        .await;
    let mut gateway = spawn_binary(&auth0, "500").await;
    let client = http_client();
    let in_flight = tokio::spawn({
        let (client, url) = (client.clone(), gateway.url("/login/verify"));
        async move { verify(&client, &url).await.status().as_u16() }
    });
    // SIGTERM only once the request is in flight: Auth0 holds its answer.
    until_received(&auth0, "/oauth/token").await;
    gateway.sigterm();
    // Within the 500 ms drain delay, while the gateway still serves.
    let deadline = Instant::now() + Duration::from_millis(400);
    loop {
        let ready = client.get(gateway.url("/readyz")).send().await.unwrap();
        if ready.status() == 503 {
            break;
        }
        assert!(Instant::now() < deadline, "readiness never turned 503");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        in_flight.await.unwrap(),
        200,
        "the in-flight request completes"
    );
    let exit = gateway.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(exit.and_then(|status| status.code()), Some(0), "{exit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_see_no_reset_while_the_gateway_drains() {
    let auth0 = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"_id": "x"})))
        .mount(&auth0)
        .await;
    let mut gateway = spawn_binary(&auth0, "2500").await;
    let stop_at = Instant::now() + Duration::from_millis(2000);
    let mut clients = Vec::new();
    for n in 0..200 {
        let url = gateway.url("/login/start");
        clients.push(tokio::spawn(async move {
            let client = http_client();
            let mut outcomes = Vec::new();
            // Keep calling until well inside the drain window.
            while Instant::now() < stop_at {
                let result = client
                    .post(&url)
                    .json(&json!({"email": format!("user{n}@example.com")}))
                    .send()
                    .await;
                outcomes.push(
                    result
                        .map(|r| r.status().as_u16())
                        .map_err(|e| e.to_string()),
                );
            }
            outcomes
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    gateway.sigterm();
    let probe = http_client();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let ready = probe.get(gateway.url("/readyz")).send().await.unwrap();
        if ready.status() == 503 {
            break;
        }
        assert!(Instant::now() < deadline, "readiness never turned 503");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut total = 0;
    for handle in clients {
        for outcome in handle.await.unwrap() {
            total += 1;
            assert_eq!(outcome, Ok(200), "every request during the drain succeeds");
        }
    }
    assert!(total >= 200, "{total} requests");
    let exit = gateway.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(exit.and_then(|status| status.code()), Some(0), "{exit:?}");
}
