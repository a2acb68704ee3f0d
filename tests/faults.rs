//! Fault injection over the wire: a slow, refusing, lying or truncating
//! upstream, and shutdown with requests in flight. Every wait is bounded.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use login_gateway::settings::{Settings, Sources};
use login_gateway::startup::Application;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CLIENT_SECRET: &str = "test-client-secret-not-real";

fn env_map(domain: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        ("GATEWAY__AUTH0__DOMAIN", domain),
        ("GATEWAY__AUTH0__CLIENT_ID", "test-client-id"),
        ("GATEWAY__AUTH0__CLIENT_SECRET", CLIENT_SECRET),
        ("GATEWAY__SERVER__BIND", "127.0.0.1:0"),
        ("GATEWAY__SERVER__WORKERS", "1"),
        ("GATEWAY__SERVER__METRICS_BIND", "127.0.0.1:0"),
        ("GATEWAY__RATE_LIMIT__ENABLED", "false"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

/// An in-process gateway pointed at `domain`; returns its base URL.
async fn spawn_gateway(domain: &str, extra: &[(&str, &str)]) -> String {
    let settings = Settings::load(&Sources {
        file: None,
        env: Some(env_map(domain, extra)),
        overrides: vec![],
    })
    .expect("valid settings");
    let app = Application::build(settings).expect("builds");
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    url
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

async fn verify(client: &reqwest::Client, gateway: &str) -> reqwest::Response {
    client
        .post(format!("{gateway}/login/verify"))
        .json(&json!({"email": "jane@example.com", "code": "123456"}))
        .send()
        .await
        .expect("the gateway answers")
}

fn token_answer() -> serde_json::Value {
    json!({"access_token": "fake-access", "token_type": "Bearer", "expires_in": 60})
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
    let auth0 = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_answer())
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&auth0)
        .await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"_id": "x"})))
        .mount(&auth0)
        .await;
    let gateway = spawn_gateway(&auth0.uri(), &[("GATEWAY__AUTH0__TIMEOUT_MS", "800")]).await;
    let client = client();

    let started = Instant::now();
    let slow = tokio::spawn({
        let (client, gateway) = (client.clone(), gateway.clone());
        async move { verify(&client, &gateway).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // While the slow call waits, the single worker still serves others.
    let other_started = Instant::now();
    let other = client
        .post(format!("{gateway}/login/start"))
        .json(&json!({"email": "john@example.com"}))
        .send()
        .await
        .unwrap();
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

#[tokio::test]
async fn an_upstream_refusing_connections_is_a_502() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let gateway = spawn_gateway(&format!("http://127.0.0.1:{port}"), &[]).await;
    let (status, code) = error_code(verify(&client(), &gateway).await).await;
    assert_eq!((status, code.as_str()), (502, "upstream_error"));
}

#[tokio::test]
async fn garbage_and_html_answers_are_502() {
    for (status, body, content_type) in [
        (200, "not json at all", "text/plain"),
        (200, "<html><body>Bad gateway</body></html>", "text/html"),
        (403, "<html>Forbidden</html>", "text/html"),
        (200, "{\"token_type\":\"Bearer\"}", "application/json"),
    ] {
        let auth0 = MockServer::start().await;
        Mock::given(path("/oauth/token"))
            .respond_with(ResponseTemplate::new(status).set_body_raw(body, content_type))
            .mount(&auth0)
            .await;
        let gateway = spawn_gateway(&auth0.uri(), &[]).await;
        let response = verify(&client(), &gateway).await;
        let text = response.text().await.unwrap();
        assert!(text.contains("\"upstream_error\""), "{body} -> {text}");
        assert!(
            !text.contains("html") && !text.contains(&auth0.uri()),
            "{text}"
        );
    }
}

/// A raw HTTP/1.1 upstream that answers every connection with `head`, then
/// `body_chunk` repeated `repeats` times (slowly if asked), then closes.
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
    let gateway = spawn_gateway(&upstream, &[("GATEWAY__AUTH0__TIMEOUT_MS", "10000")]).await;
    let started = Instant::now();
    let (status, code) = error_code(verify(&client(), &gateway).await).await;
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
    let gateway = spawn_gateway(
        &upstream,
        &[
            ("GATEWAY__AUTH0__TIMEOUT_MS", "10000"),
            ("GATEWAY__AUTH0__MAX_RESPONSE_BYTES", "65536"),
        ],
    )
    .await;
    let started = Instant::now();
    let (status, code) = error_code(verify(&client(), &gateway).await).await;
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
    let gateway = spawn_gateway(&upstream, &[]).await;
    let (status, code) = error_code(verify(&client(), &gateway).await).await;
    assert_eq!((status, code.as_str()), (502, "upstream_error"));
}

/// The real binary as a child process, killed if the test fails early.
struct Gateway {
    child: Child,
    url: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    async fn start(domain: &str, extra: &[(&str, &str)]) -> Self {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let bind = format!("127.0.0.1:{port}");
        let mut env = env_map(domain, extra);
        env.insert("GATEWAY__SERVER__BIND".into(), bind);
        env.insert("GATEWAY__SERVER__WORKERS".into(), "2".into());
        env.insert("GATEWAY__SERVER__METRICS_BIND".into(), String::new());
        let child = Command::new(env!("CARGO_BIN_EXE_login-gateway"))
            .env_clear()
            .envs(&env)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let gateway = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = client();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(response) = client.get(format!("{}/healthz", gateway.url)).send().await {
                if response.status() == 200 {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "gateway did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        gateway
    }

    fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits (bounded) for the process to exit; returns its exit code.
    async fn exit_code(&mut self, within: Duration) -> Option<i32> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_request_finish_and_exits_zero() {
    let auth0 = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_answer())
                .set_delay(Duration::from_millis(1500)),
        )
        .expect(1)
        .mount(&auth0)
        .await;
    let mut gateway =
        Gateway::start(&auth0.uri(), &[("GATEWAY__SERVER__DRAIN_DELAY_MS", "500")]).await;
    let client = client();
    let in_flight = tokio::spawn({
        let (client, url) = (client.clone(), gateway.url.clone());
        async move { verify(&client, &url).await.status().as_u16() }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    gateway.sigterm();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ready = client
        .get(format!("{}/readyz", gateway.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503, "readiness turns 503 at once");
    assert_eq!(
        in_flight.await.unwrap(),
        200,
        "the in-flight request completes"
    );
    assert_eq!(gateway.exit_code(Duration::from_secs(10)).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_see_no_reset_while_the_gateway_drains() {
    let auth0 = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"_id": "x"})))
        .mount(&auth0)
        .await;
    let mut gateway =
        Gateway::start(&auth0.uri(), &[("GATEWAY__SERVER__DRAIN_DELAY_MS", "2500")]).await;
    let stop_at = Instant::now() + Duration::from_millis(2000);
    let mut clients = Vec::new();
    for n in 0..200 {
        let url = gateway.url.clone();
        clients.push(tokio::spawn(async move {
            let client = client();
            let mut outcomes = Vec::new();
            // Keep calling until well inside the drain window.
            while Instant::now() < stop_at {
                let result = client
                    .post(format!("{url}/login/start"))
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
    let probe = client();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let ready = probe
            .get(format!("{}/readyz", gateway.url))
            .send()
            .await
            .unwrap();
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
    assert_eq!(gateway.exit_code(Duration::from_secs(15)).await, Some(0));
}
