//! Shared test harness: a real gateway on 127.0.0.1 (port 0) in front of a
//! wiremock server that plays Auth0, and a reqwest client that talks to the
//! gateway over the wire.

use std::collections::HashMap;
use std::time::Duration;

use login_gateway::settings::{Settings, SettingsError, Sources};
use login_gateway::startup::Application;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

/// Obviously fake credentials; no real tenant accepts them.
pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "test-client-secret-not-real";

/// The default `auth0.scope`.
pub const DEFAULT_SCOPE: &str = "openid profile email offline_access";
pub const GRANT_PASSWORDLESS_OTP: &str = "http://auth0.com/oauth/grant-type/passwordless/otp";
pub const REDIRECT_URI: &str = "https://app.example.com/callback";

/// Recorded Auth0 answers (SPEC §7), with obviously fake token values.
pub const ACCESS_TOKEN: &str = "fake-access-token-aaaa";
pub const ID_TOKEN: &str = "fake-id-token-bbbb";
pub const REFRESH_TOKEN: &str = "fake-refresh-token-cccc";
pub const MFA_TOKEN: &str = "fake-mfa-token-dddd";

pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub port: u16,
    /// `http://127.0.0.1:<metrics port>`, the `/metrics` listener.
    pub metrics_address: String,
    /// Plays Auth0.
    pub auth0: MockServer,
    pub client: reqwest::Client,
}

/// The environment every test app gets; `extra` pairs override these.
pub fn base_env(auth0_uri: &str) -> Vec<(String, String)> {
    [
        ("GATEWAY__AUTH0__DOMAIN", auth0_uri),
        ("GATEWAY__AUTH0__CLIENT_ID", CLIENT_ID),
        ("GATEWAY__AUTH0__CLIENT_SECRET", CLIENT_SECRET),
        ("GATEWAY__SERVER__BIND", "127.0.0.1:0"),
        ("GATEWAY__SERVER__WORKERS", "1"),
        ("GATEWAY__SERVER__METRICS_BIND", "127.0.0.1:0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Settings from the compiled defaults plus an explicit environment map.
pub fn settings_from_env(env: &[(String, String)]) -> Result<Settings, SettingsError> {
    let map: HashMap<String, String> = env.iter().cloned().collect();
    Settings::load(&Sources {
        defaults: Vec::new(),
        file: None,
        env: Some(map),
        overrides: vec![],
    })
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let auth0 = MockServer::start().await;
    let mut env = base_env(&auth0.uri());
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let settings = settings_from_env(&env).expect("test settings are valid");
    let app = Application::build(settings).expect("the application builds");
    let port = app.port();
    let metrics_port = app.metrics_port().unwrap_or(0);
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        metrics_address: format!("http://127.0.0.1:{metrics_port}"),
        auth0,
        client: http_client(),
    }
}

/// The test client: no proxy, no redirects followed, a 10 s deadline.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("test client")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.post_json_with(path, body, &[]).await
    }

    pub async fn post_json_with(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.client.post(self.url(path)).json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("the gateway answers")
    }

    /// A POST with an arbitrary body and content type.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the gateway answers")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("the gateway answers")
    }

    pub async fn request(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        self.client
            .request(method, self.url(path))
            .send()
            .await
            .expect("the gateway answers")
    }

    /// Every request the fake Auth0 received so far.
    pub async fn upstream_requests(&self) -> Vec<wiremock::Request> {
        self.auth0.received_requests().await.unwrap_or_default()
    }

    /// Things that must never appear in a client-facing body.
    pub fn forbidden_in_bodies(&self) -> Vec<String> {
        let uri = self.auth0.uri();
        vec![
            CLIENT_SECRET.to_string(),
            uri.clone(),
            uri.trim_start_matches("http://").to_string(),
            format!(":{}", self.auth0.address().port()),
            "passwordless/start".to_string(),
            "oauth/token".to_string(),
            "oauth/revoke".to_string(),
        ]
    }
}

/// A mock of one Auth0 endpoint that only matches the exact request the
/// gateway must send: method, path, exact JSON body, and the end-user IP.
pub fn upstream(
    http_method: &str,
    endpoint: &str,
    body: Value,
    forwarded_for: &str,
) -> MockBuilder {
    Mock::given(method(http_method))
        .and(path(endpoint))
        .and(body_json(body))
        .and(header("auth0-forwarded-for", forwarded_for))
        .and(header("content-type", "application/json"))
}

/// Any call to `endpoint`, whatever its body: for failure-mode tests.
pub fn any_call(endpoint: &str) -> MockBuilder {
    Mock::given(path(endpoint))
}

/// The upstream body of a passwordless OTP grant with the default settings.
pub fn otp_grant(username: &str, otp: &str, realm: &str) -> Value {
    json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": GRANT_PASSWORDLESS_OTP,
        "username": username,
        "otp": otp,
        "realm": realm,
        "scope": DEFAULT_SCOPE,
    })
}

/// Auth0's token answer, with one undocumented field that must be dropped.
pub fn token_answer() -> Value {
    json!({
        "access_token": ACCESS_TOKEN,
        "id_token": ID_TOKEN,
        "refresh_token": REFRESH_TOKEN,
        "scope": DEFAULT_SCOPE,
        "expires_in": 86400,
        "token_type": "Bearer",
        "internal_user_id": "auth0|undocumented-do-not-reflect",
    })
}

/// What the gateway must answer for [`token_answer`].
pub fn expected_tokens() -> Value {
    json!({
        "access_token": ACCESS_TOKEN,
        "id_token": ID_TOKEN,
        "refresh_token": REFRESH_TOKEN,
        "scope": DEFAULT_SCOPE,
        "expires_in": 86400,
        "token_type": "Bearer",
    })
}

pub fn mfa_required_answer() -> Value {
    json!({
        "error": "mfa_required",
        "error_description": "Multifactor authentication required",
        "mfa_token": MFA_TOKEN,
        "mfa_requirements": {"challenge": [{"type": "otp"}]},
        "internal": "undocumented-do-not-reflect",
    })
}

pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Headers every answer carries.
pub fn assert_common_headers(headers: &HeaderMap) {
    assert_eq!(
        header_str(headers, "x-content-type-options"),
        Some("nosniff"),
        "every answer carries X-Content-Type-Options: nosniff"
    );
    let id = header_str(headers, "x-request-id").expect("every answer has X-Request-Id");
    assert!(
        !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()),
        "request id {id:?} is sane"
    );
}

/// The RFC 6749 §5.1 headers of an answer that carries tokens or secrets.
pub fn assert_no_store(headers: &HeaderMap) {
    assert_eq!(header_str(headers, "cache-control"), Some("no-store"));
    assert_eq!(header_str(headers, "pragma"), Some("no-cache"));
}

/// Reads a 200 answer: status, common headers, JSON body.
pub async fn assert_ok_json(response: reqwest::Response) -> (HeaderMap, Value) {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    assert_eq!(status, StatusCode::OK, "unexpected answer: {text}");
    assert_common_headers(&headers);
    assert!(
        header_str(&headers, "content-type").is_some_and(|c| c.starts_with("application/json")),
        "JSON content type"
    );
    let body: Value = serde_json::from_str(&text).expect("JSON body");
    (headers, body)
}

/// Checks the SPEC §2 error shape: status, `error`, a non-empty
/// `error_description`, `request_id` equal to the `X-Request-Id` header, no
/// other fields (except the two `mfa_required` adds), no secret and no
/// upstream URL anywhere in the body. Returns headers and body.
pub async fn assert_error(
    app: &TestApp,
    response: reqwest::Response,
    status: u16,
    code: &str,
) -> (HeaderMap, Value) {
    let actual = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    assert_eq!(actual.as_u16(), status, "unexpected answer: {text}");
    assert_common_headers(&headers);
    assert!(
        header_str(&headers, "content-type").is_some_and(|c| c.starts_with("application/json")),
        "error answers are JSON: {headers:?}"
    );
    for forbidden in app.forbidden_in_bodies() {
        assert!(
            !text.contains(&forbidden),
            "error body {text} must not contain {forbidden:?}"
        );
    }
    let body: Value = serde_json::from_str(&text).expect("error body is JSON");
    assert_eq!(body["error"], code, "error code in {text}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "error_description in {text}"
    );
    assert_eq!(
        body["request_id"].as_str(),
        header_str(&headers, "x-request-id"),
        "request_id equals X-Request-Id"
    );
    let allowed: &[&str] = if code == "mfa_required" {
        &[
            "error",
            "error_description",
            "request_id",
            "mfa_token",
            "mfa_requirements",
        ]
    } else {
        &["error", "error_description", "request_id"]
    };
    let keys: Vec<&String> = body.as_object().expect("object").keys().collect();
    for key in &keys {
        assert!(
            allowed.contains(&key.as_str()),
            "unexpected field {key} in {text}"
        );
    }
    (headers, body)
}

/// Like [`assert_error`], and also checks `error_description`.
pub async fn assert_error_described(
    app: &TestApp,
    response: reqwest::Response,
    status: u16,
    code: &str,
    description: &str,
) -> Value {
    let (_, body) = assert_error(app, response, status, code).await;
    assert_eq!(body["error_description"], description);
    body
}

/// A 127.0.0.1 port where every connection is refused, for as long as this
/// guard lives: the stand-in for an Auth0 that is down.
///
/// Why a held socket and not just a port number: a port found by binding
/// port 0 and releasing it is free for anyone, and with tests running in
/// parallel another test's gateway or mock server may take it before this
/// test connects, so the "refused" call would reach a live server. A socket
/// that is bound but never listens keeps the port taken (it does not set
/// `SO_REUSEADDR`, so no other socket can bind it), and the kernel answers
/// every connection attempt to it with a reset: `connect` fails with
/// `ECONNREFUSED`. Keep the guard alive until the test is done.
pub struct RefusedPort {
    _socket: tokio::net::TcpSocket,
    port: u16,
}

impl RefusedPort {
    pub fn bind() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
        socket.set_reuseaddr(false).expect("SO_REUSEADDR off");
        socket
            .bind(([127, 0, 0, 1], 0).into())
            .expect("bind 127.0.0.1:0");
        let port = socket.local_addr().expect("bound address").port();
        Self {
            _socket: socket,
            port,
        }
    }

    /// `http://127.0.0.1:<port>`, for `GATEWAY__AUTH0__DOMAIN`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The generic upstream failures of SPEC §2 every route that calls Auth0 can
/// produce; each runs against a fresh gateway.
#[derive(Debug, Clone, Copy)]
pub enum UpstreamFailure {
    /// Auth0 answered 500.
    ServerError,
    /// Auth0 answered 200 with HTML.
    HtmlBody,
    /// Auth0 answered 403 with HTML.
    HtmlError,
    /// Auth0 rejected the gateway's credentials.
    InvalidClient,
    /// `unauthorized_client` in the second shape.
    UnauthorizedClient,
    /// An error code nobody documented.
    UndocumentedError,
    /// Auth0's own rate limit with `x-ratelimit-reset`.
    RateLimited,
    /// No answer within `auth0.timeout_ms`.
    Timeout,
    /// Nothing listens on the configured port.
    ConnectionRefused,
    /// A body over `auth0.max_response_bytes`.
    Oversized,
}

pub const ALL_FAILURES: &[UpstreamFailure] = &[
    UpstreamFailure::ServerError,
    UpstreamFailure::HtmlBody,
    UpstreamFailure::HtmlError,
    UpstreamFailure::InvalidClient,
    UpstreamFailure::UnauthorizedClient,
    UpstreamFailure::UndocumentedError,
    UpstreamFailure::RateLimited,
    UpstreamFailure::Timeout,
    UpstreamFailure::ConnectionRefused,
    UpstreamFailure::Oversized,
];

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Runs `request` against a gateway whose `endpoint` fails as `failure`
/// and checks the SPEC §2 answer, and that Auth0 was called exactly once
/// (never retried; a refused connection leaves nothing to count).
pub async fn check_upstream_failure(
    failure: UpstreamFailure,
    extra_env: &[(&str, &str)],
    endpoint: &str,
    route: &str,
    request: &Value,
) {
    let mut env: Vec<(&str, &str)> = extra_env.to_vec();
    // Held until the end of the check, so the port stays refused.
    let refused = RefusedPort::bind();
    let refused_domain = refused.url();
    match failure {
        UpstreamFailure::Timeout => env.push(("GATEWAY__AUTH0__TIMEOUT_MS", "300")),
        UpstreamFailure::ConnectionRefused => {
            env.push(("GATEWAY__AUTH0__DOMAIN", refused_domain.as_str()))
        }
        UpstreamFailure::Oversized => env.push(("GATEWAY__AUTH0__MAX_RESPONSE_BYTES", "1024")),
        _ => {}
    }
    let app = spawn_app_with(&env).await;
    let reset = (unix_now() + 30).to_string();
    let answer = match failure {
        UpstreamFailure::ServerError => Some(
            ResponseTemplate::new(500)
                .set_body_json(json!({"error": "server_error", "error_description": "boom"})),
        ),
        UpstreamFailure::HtmlBody => Some(
            ResponseTemplate::new(200)
                .set_body_raw("<html><body>Service Unavailable</body></html>", "text/html"),
        ),
        UpstreamFailure::HtmlError => Some(
            ResponseTemplate::new(403).set_body_raw("<html><body>Forbidden</body></html>", "text/html"),
        ),
        UpstreamFailure::InvalidClient => Some(ResponseTemplate::new(401).set_body_json(
            json!({"error": "invalid_client", "error_description": "Client authentication failed."}),
        )),
        UpstreamFailure::UnauthorizedClient => Some(ResponseTemplate::new(403).set_body_json(json!({
            "statusCode": 403,
            "error": "Forbidden",
            "message": "Grant type not allowed for the client.",
            "errorCode": "unauthorized_client",
        }))),
        UpstreamFailure::UndocumentedError => Some(ResponseTemplate::new(400).set_body_json(
            json!({"error": "something_new", "error_description": "internal detail"}),
        )),
        UpstreamFailure::RateLimited => Some(
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-limit", "10")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.as_str())
                .set_body_json(json!({
                    "error": "too_many_requests",
                    "error_description": "Global limit has been reached",
                })),
        ),
        UpstreamFailure::Timeout => Some(
            ResponseTemplate::new(200)
                .set_body_json(token_answer())
                .set_delay(Duration::from_millis(1500)),
        ),
        UpstreamFailure::ConnectionRefused => None,
        UpstreamFailure::Oversized => Some(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "x".repeat(4096), "token_type": "Bearer", "expires_in": 60})),
        ),
    };
    if let Some(answer) = answer {
        any_call(endpoint)
            .respond_with(answer)
            .expect(1)
            .named(format!("{failure:?}"))
            .mount(&app.auth0)
            .await;
    }
    // ConnectionRefused mounts nothing: the gateway is pointed at the
    // refused port, not at `app.auth0`, so an expectation there would hold
    // whatever the gateway did.
    let response = app.post_json(route, request).await;
    let (status, code) = match failure {
        UpstreamFailure::RateLimited => (429, "too_many_requests"),
        UpstreamFailure::Timeout => (504, "upstream_timeout"),
        _ => (502, "upstream_error"),
    };
    let (headers, body) = assert_error(&app, response, status, code).await;
    let description = body["error_description"].as_str().unwrap_or_default();
    for leaked in [
        "boom",
        "internal detail",
        "invalid_client",
        "unauthorized_client",
        "Client authentication failed",
        "Grant type not allowed",
        "html",
    ] {
        assert!(
            !description.contains(leaked),
            "{failure:?}: description {description:?} must not blame the client or leak {leaked:?}"
        );
    }
    if let UpstreamFailure::RateLimited = failure {
        let retry_after: u64 = header_str(&headers, "retry-after")
            .expect("Retry-After on 429")
            .parse()
            .expect("Retry-After is seconds");
        assert!(
            (25..=30).contains(&retry_after),
            "Retry-After {retry_after} follows x-ratelimit-reset"
        );
    }
    // Expectations are verified when the mock server drops; do it now so the
    // failing case is named.
    app.auth0.verify().await;
}

/// A path inside the repository.
pub fn repo_path(relative: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A committed file the code generates (the OpenAPI document, the
/// configuration reference) must be exactly what the code generates now.
/// With `update_var=1` in the environment it is rewritten instead.
/// `regenerate`: the commands that rewrite it, for the failure message.
pub fn assert_committed_file_is_current(
    relative: &str,
    generated: &str,
    update_var: &str,
    regenerate: &str,
) {
    let path = repo_path(relative);
    if std::env::var_os(update_var).is_some_and(|v| v == "1") {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("the directory can be made");
        }
        std::fs::write(&path, generated).expect("the file can be written");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let first_difference = committed
            .lines()
            .zip(generated.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| {
                format!(
                    "first difference at line {}:\n  committed: {a}\n  generated: {b}",
                    i + 1
                )
            })
            .unwrap_or_else(|| "the files differ in length".to_string());
        panic!(
            "{relative} is not what the code generates ({first_difference}).\n\
             Regenerate it with:\n\n    {regenerate}\n\nreview the diff and commit it."
        );
    }
}

/// Every route that calls Auth0 when sessions are off, `/passkey/*`
/// included (it needs `passkey.enabled`): the routes the per-IP limit and
/// the forwarded client IP must cover (SPEC §3, §4).
pub const UPSTREAM_ROUTES: [(&str, &str); 15] = [
    ("POST", "/login/start"),
    ("POST", "/login/verify"),
    ("POST", "/login/callback"),
    ("GET", "/mfa/authenticators"),
    ("DELETE", "/mfa/authenticators/totp%7Cdev_abc"),
    ("POST", "/mfa/associate"),
    ("POST", "/mfa/challenge"),
    ("POST", "/mfa/verify"),
    ("POST", "/token/refresh"),
    ("POST", "/token/revoke"),
    ("POST", "/passkey/register"),
    ("POST", "/passkey/challenge"),
    ("POST", "/passkey/verify"),
    ("POST", "/passkey/enroll"),
    ("POST", "/passkey/enroll/verify"),
];

/// `http_method` as reqwest takes it (the names above are valid methods).
pub fn http_method(name: &str) -> reqwest::Method {
    reqwest::Method::from_bytes(name.as_bytes()).unwrap_or(reqwest::Method::GET)
}
