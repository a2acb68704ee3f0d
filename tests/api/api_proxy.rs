//! The `/api` proxy core (SPEC §10) called directly against an API played by
//! wiremock over real HTTP: what reaches the API (the bearer, the
//! allowlisted headers, never the browser's cookies or `Authorization`),
//! what comes back, and each refusal with the client answer it maps to.
//! Then the demo tenant's protected API, alone and through the proxy.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::http::Method;
use actix_web::web::Bytes;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use login_gateway::api_proxy::{
    ApiProxy, ApiProxyError, ApiTarget, ProxiedAnswer, ProxyLimits, ProxyRequest,
};
use login_gateway::demo::{DemoTenant, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
use login_gateway::error::ApiError;
use serde_json::{json, Value};
use wiremock::matchers::{body_string, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{
    otp_grant, spawn_app_with, upstream, RefusedPort, TestApp, ACCESS_TOKEN, DEFAULT_SCOPE,
    REFRESH_TOKEN,
};

const TOKEN: &str = "api-access-token-1234";

fn proxy_to(name: &str, url: &str, limits: ProxyLimits) -> ApiProxy {
    let target = ApiTarget {
        url: reqwest::Url::parse(url).expect("a URL"),
        audience: None,
    };
    ApiProxy::new(BTreeMap::from([(name.to_string(), target)]), limits).expect("a valid API")
}

/// A proxy to `server` under `/v1`, named `orders`.
fn proxy(server: &MockServer) -> ApiProxy {
    proxy_with(server, ProxyLimits::default())
}

fn proxy_with(server: &MockServer, limits: ProxyLimits) -> ApiProxy {
    proxy_to("orders", &format!("{}/v1", server.uri()), limits)
}

/// What a browser sends beside the allowlisted headers.
fn browser_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("content-type", "application/json"),
        ("accept", "application/json"),
        ("accept-language", "fr-CA"),
        ("cookie", "__Host-lgw=sealed-session; other=1"),
        ("authorization", "Bearer browser-token"),
        ("x-lgw-session", "1"),
        ("origin", "https://app.example.com"),
        ("x-forwarded-for", "203.0.113.9"),
    ] {
        headers.append(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    headers
}

fn get<'a>(rest: &'a str, headers: &'a HeaderMap) -> ProxyRequest<'a> {
    ProxyRequest {
        name: "orders",
        rest,
        query: None,
        method: Method::GET,
        headers,
        body: Bytes::new(),
    }
}

/// The status and code a refusal answers the browser with.
fn client_answer(error: ApiProxyError) -> (u16, String) {
    let api = ApiError::from(error);
    (api.status.as_u16(), api.code.to_string())
}

/// Status, headers and body of the `HttpResponse` a route would send.
async fn sent(answer: ProxiedAnswer) -> (u16, HeaderMap, Bytes) {
    let response = answer.into_response();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = actix_web::body::to_bytes(response.into_body())
        .await
        .unwrap_or_default();
    (status, headers, body)
}

#[tokio::test]
async fn the_api_gets_the_bearer_body_query_and_allowlisted_headers_only() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/orders/42/items"))
        .and(query_param("expand", "all"))
        .and(query_param("q", "a b"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("content-type", "application/json"))
        .and(header("accept", "application/json"))
        .and(header("accept-language", "fr-CA"))
        .and(body_string(r#"{"sku":"x"}"#))
        .respond_with(ResponseTemplate::new(201).set_body_string("{}"))
        .expect(1)
        .mount(&server)
        .await;
    let headers = browser_headers();
    let request = ProxyRequest {
        name: "orders",
        rest: "orders/42/items",
        query: Some("expand=all&q=a%20b"),
        method: Method::POST,
        headers: &headers,
        body: Bytes::from_static(br#"{"sku":"x"}"#),
    };
    let answer = proxy(&server)
        .forward(request, TOKEN)
        .await
        .expect("proxied");
    assert_eq!(answer.status.as_u16(), 201);

    let received = server.received_requests().await.expect("recording on");
    assert_eq!(received.len(), 1);
    let upstream = &received[0].headers;
    for name in ["cookie", "x-lgw-session", "origin", "x-forwarded-for"] {
        assert!(upstream.get(name).is_none(), "{name} reached the API");
    }
    let authorization: Vec<_> = upstream.get_all("authorization").iter().collect();
    assert_eq!(authorization, [format!("Bearer {TOKEN}").as_str()]);
}

#[tokio::test]
async fn a_2xx_comes_back_with_its_body_and_end_to_end_headers_only() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/me"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(r#"{"id":7}"#, "application/json; charset=utf-8")
                .insert_header("cache-control", "private, max-age=30")
                .insert_header("x-api-version", "3")
                .insert_header("set-cookie", "api_session=leak; Path=/")
                .insert_header("connection", "close")
                .insert_header("access-control-allow-origin", "*"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let headers = browser_headers();
    let answer = proxy(&server)
        .forward(get("me", &headers), TOKEN)
        .await
        .expect("proxied");
    let (status, headers, body) = sent(answer).await;
    assert_eq!(status, 200);
    assert_eq!(body, Bytes::from_static(br#"{"id":7}"#));
    assert_eq!(
        headers.get("content-type").map(HeaderValue::as_bytes),
        Some(&b"application/json; charset=utf-8"[..])
    );
    // The API's cache directive is the gateway's to decide (SPEC §13).
    assert_eq!(
        headers.get("cache-control").map(HeaderValue::as_bytes),
        Some(&b"private, no-store"[..])
    );
    assert_eq!(
        headers.get("x-api-version").map(HeaderValue::as_bytes),
        Some(&b"3"[..])
    );
    for dropped in ["set-cookie", "connection", "access-control-allow-origin"] {
        assert!(headers.get(dropped).is_none(), "{dropped} passed back");
    }
}

#[tokio::test]
async fn non_2xx_answers_pass_through_as_they_are() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/missing"))
        .respond_with(
            ResponseTemplate::new(404).set_body_raw("no such order", "text/plain; charset=utf-8"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/v1/broken"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_raw(r#"{"message":"db down"}"#, "application/problem+json"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/v1/moved"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "https://elsewhere/"))
        .mount(&server)
        .await;
    let proxy = proxy(&server);
    let headers = browser_headers();
    let cases: [(&str, u16, &str, &[u8]); 3] = [
        (
            "missing",
            404,
            "text/plain; charset=utf-8",
            b"no such order",
        ),
        (
            "broken",
            500,
            "application/problem+json",
            br#"{"message":"db down"}"#,
        ),
        ("moved", 302, "", b""),
    ];
    for (rest, status, content_type, body) in cases {
        let answer = proxy
            .forward(get(rest, &headers), TOKEN)
            .await
            .expect("proxied");
        let (sent_status, sent_headers, sent_body) = sent(answer).await;
        assert_eq!(sent_status, status, "{rest}");
        assert_eq!(&sent_body[..], body, "{rest}");
        let sent_type = sent_headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert_eq!(sent_type, content_type, "{rest}");
    }
    // The redirect is passed back, not followed (the bearer stays home).
    let received = server.received_requests().await.expect("recording on");
    assert_eq!(received.len(), 3);
}

#[tokio::test]
async fn dot_dot_segments_are_refused_before_the_api_is_called() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let proxy = proxy(&server);
    let headers = browser_headers();
    for rest in [
        "../admin",
        "a/../../admin",
        "%2e%2e/admin",
        "%2E%2E%2Fadmin",
    ] {
        let error = proxy
            .forward(get(rest, &headers), TOKEN)
            .await
            .expect_err(rest);
        assert!(matches!(error, ApiProxyError::DotSegment), "{rest}");
        assert_eq!(
            client_answer(error),
            (400, "invalid_request".to_string()),
            "{rest}"
        );
    }
}

#[tokio::test]
async fn an_unknown_api_is_not_found() {
    let server = MockServer::start().await;
    let headers = browser_headers();
    let mut request = get("me", &headers);
    request.name = "billing";
    let error = proxy(&server)
        .forward(request, TOKEN)
        .await
        .expect_err("no such API");
    assert!(matches!(error, ApiProxyError::UnknownApi));
    assert_eq!(client_answer(error), (404, "not_found".to_string()));
    assert!(server
        .received_requests()
        .await
        .expect("recording on")
        .is_empty());
}

#[tokio::test]
async fn an_answer_over_the_cap_is_an_upstream_error() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/big"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(1025)))
        .mount(&server)
        .await;
    Mock::given(path("/v1/fits"))
        .respond_with(ResponseTemplate::new(200).set_body_string("x".repeat(1024)))
        .mount(&server)
        .await;
    let limits = ProxyLimits {
        max_response_bytes: 1024,
        ..ProxyLimits::default()
    };
    let proxy = proxy_with(&server, limits);
    let headers = browser_headers();
    let fits = proxy
        .forward(get("fits", &headers), TOKEN)
        .await
        .expect("at the cap");
    assert_eq!(fits.body.len(), 1024);
    let error = proxy
        .forward(get("big", &headers), TOKEN)
        .await
        .expect_err("over the cap");
    assert!(
        matches!(error, ApiProxyError::BadAnswer { .. }),
        "{error:?}"
    );
    assert_eq!(client_answer(error), (502, "upstream_error".to_string()));
}

#[tokio::test]
async fn a_request_body_over_the_cap_is_refused_unsent() {
    let server = MockServer::start().await;
    let limits = ProxyLimits {
        max_request_bytes: 16,
        ..ProxyLimits::default()
    };
    let headers = browser_headers();
    let mut request = get("me", &headers);
    request.method = Method::PUT;
    request.body = Bytes::from(vec![b'x'; 17]);
    let error = proxy_with(&server, limits)
        .forward(request, TOKEN)
        .await
        .expect_err("over the cap");
    assert_eq!(client_answer(error), (413, "payload_too_large".to_string()));
    assert!(server
        .received_requests()
        .await
        .expect("recording on")
        .is_empty());
}

#[tokio::test]
async fn a_slow_api_hits_the_timeout() {
    let server = MockServer::start().await;
    Mock::given(path("/v1/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let limits = ProxyLimits {
        timeout: Duration::from_millis(300),
        ..ProxyLimits::default()
    };
    let headers = browser_headers();
    let started = std::time::Instant::now();
    let error = proxy_with(&server, limits)
        .forward(get("slow", &headers), TOKEN)
        .await
        .expect_err("too slow");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(error, ApiProxyError::Timeout), "{error:?}");
    assert_eq!(client_answer(error), (504, "upstream_timeout".to_string()));
}

#[tokio::test]
async fn an_unreachable_api_is_an_upstream_error() {
    let refused = RefusedPort::bind();
    let proxy = proxy_to("orders", &refused.url(), ProxyLimits::default());
    let headers = browser_headers();
    let error = proxy
        .forward(get("me", &headers), TOKEN)
        .await
        .expect_err("refused");
    assert!(
        matches!(error, ApiProxyError::Unreachable { .. }),
        "{error:?}"
    );
    assert_eq!(client_answer(error), (502, "upstream_error".to_string()));
}

const GRANT_OTP: &str = "http://auth0.com/oauth/grant-type/passwordless/otp";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// An access token from the tenant's own `/oauth/token` (passwordless OTP),
/// for `audience` when given.
async fn demo_access_token(demo: &DemoTenant, email: &str, audience: Option<&str>) -> String {
    let client = http();
    let started = client
        .post(format!("{}/passwordless/start", demo.base_url))
        .json(&json!({
            "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
            "connection": "email", "email": email, "send": "code",
        }))
        .send()
        .await
        .expect("the tenant answers");
    assert_eq!(started.status(), 200);
    let code = demo.tenant.pending_code(email).expect("a code was sent");
    let mut grant = json!({
        "grant_type": GRANT_OTP, "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET, "username": email, "otp": code,
        "realm": "email", "scope": "openid email",
    });
    if let Some(audience) = audience {
        grant["audience"] = json!(audience);
    }
    let tokens: Value = client
        .post(format!("{}/oauth/token", demo.base_url))
        .json(&grant)
        .send()
        .await
        .expect("the tenant answers")
        .json()
        .await
        .expect("tokens");
    tokens["access_token"]
        .as_str()
        .expect("an access token")
        .to_string()
}

/// `GET /demo-api/profile` with `bearer` as the `Authorization` value.
async fn profile(demo: &DemoTenant, authorization: Option<&str>) -> (u16, Option<String>, Value) {
    let mut request = http().get(format!("{}/demo-api/profile", demo.base_url));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.expect("the tenant answers");
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, challenge, response.json().await.expect("JSON"))
}

#[tokio::test]
async fn the_demo_api_accepts_the_tenants_access_tokens_and_nothing_else() {
    let demo = DemoTenant::start().await.expect("demo tenant starts");
    let api_audience = login_gateway::demo::api::audience(&demo.base_url);
    for audience in [None, Some(api_audience.as_str())] {
        let token = demo_access_token(&demo, "jane@example.com", audience).await;
        let (status, _, body) = profile(&demo, Some(&format!("Bearer {token}"))).await;
        assert_eq!(status, 200, "{audience:?}: {body}");
        assert_eq!(
            body,
            json!({
                "sub": "email|jane@example.com",
                "message": "Hello from the demo API",
                "scope": "openid email",
            })
        );
    }

    let token = demo_access_token(&demo, "jane@example.com", None).await;
    // Jane's signature over Mallory's claims.
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url"))
            .expect("claims");
    claims["sub"] = json!("email|mallory@example.com");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let foreign =
        demo_access_token(&demo, "jane@example.com", Some("https://other.example/")).await;
    for authorization in [
        None,
        Some(format!("Bearer {tampered}")),
        Some(format!("Bearer {foreign}")),
        Some(token.clone()),
        Some("Bearer ".to_string()),
    ] {
        let (status, challenge, body) = profile(&demo, authorization.as_deref()).await;
        assert_eq!(status, 401, "{authorization:?}");
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer error="invalid_token""#)
        );
        assert_eq!(body["error"], "invalid_token", "{authorization:?}");
        assert!(body["error_description"].is_string());
    }

    let post = http()
        .post(format!("{}/demo-api/profile", demo.base_url))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("the tenant answers");
    assert_eq!(post.status(), 405);
    demo.stop().await;
}

#[tokio::test]
async fn the_demo_api_answers_through_the_proxy() {
    let demo = DemoTenant::start().await.expect("demo tenant starts");
    let token = demo_access_token(&demo, "jane@example.com", None).await;
    let proxy = proxy_to(
        "demo",
        &format!("{}/demo-api", demo.base_url),
        ProxyLimits::default(),
    );
    let mut headers = browser_headers();
    headers.insert(
        HeaderName::from_static("authorization"),
        HeaderValue::from_static("Bearer not-the-session-token"),
    );
    let mut request = get("profile", &headers);
    request.name = "demo";
    let answer = proxy.forward(request, &token).await.expect("proxied");
    let (status, _, body) = sent(answer).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(body["sub"], "email|jane@example.com");

    let mut request = get("profile", &headers);
    request.name = "demo";
    let answer = proxy
        .forward(request, "not-a-token")
        .await
        .expect("proxied");
    assert_eq!(answer.status.as_u16(), 401);
    assert!(answer.headers.get("www-authenticate").is_some());
    demo.stop().await;
}

// Through the whole gateway (SPEC §13): a cookie session logged in over the
// wire, `/api/orders/…` proxied to wiremock under `/v1`.

/// An obviously fake session key that is not one byte repeated (SPEC §13
/// refuses those): the bytes 0, 1, …, 31.
const SESSION_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A session gateway whose `orders` API is `api` under `/v1`, and the
/// `Cookie` header of a session logged in through `/login/verify`.
async fn gateway_with_session(api: &MockServer) -> (TestApp, String) {
    let orders = format!("{}/v1", api.uri());
    let app = spawn_app_with(&[
        ("GATEWAY__SESSION__ENABLED", "true"),
        ("GATEWAY__SESSION__KEYS", SESSION_KEY),
        ("GATEWAY__SESSION__APIS__ORDERS__URL", &orders),
    ])
    .await;
    // No id_token: the session's user is `{}`, which is all these tests need.
    upstream(
        "POST",
        "/oauth/token",
        otp_grant("jane@example.com", "123456", "email"),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": ACCESS_TOKEN,
        "refresh_token": REFRESH_TOKEN,
        "scope": DEFAULT_SCOPE,
        "expires_in": 86400,
        "token_type": "Bearer",
    })))
    .expect(1)
    .mount(&app.auth0)
    .await;
    let login = app
        .post_json_with(
            "/login/verify",
            &json!({"email": "jane@example.com", "code": "123456"}),
            &[("x-lgw-session", "1")],
        )
        .await;
    assert_eq!(login.status(), 200);
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|line| line.split(';').next())
        .filter(|pair| pair.split_once('=').is_some_and(|(_, v)| !v.is_empty()))
        .collect::<Vec<_>>()
        .join("; ");
    assert!(cookie.starts_with("__Host-lgw="), "{cookie}");
    (app, cookie)
}

/// `GET target` written byte for byte on a fresh connection (an HTTP client
/// would normalise `..` and `%2e%2e` away before sending), with the session
/// cookie and the CSRF header. Returns the status and the body.
async fn raw_get(app: &TestApp, target: &str, cookie: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\
         X-Lgw-Session: 1\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the gateway answers in time")
        .expect("read");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Headers an API could use to act on the gateway's whole origin, beyond
/// the answer itself: pinning HSTS, wiping its storage, redirecting,
/// preloading, moving it to another endpoint, replacing or loosening its
/// policies, setting cookies.
const ORIGIN_WIDE: [(&str, &str); 11] = [
    (
        "strict-transport-security",
        "max-age=63072000; includeSubDomains",
    ),
    ("clear-site-data", "\"cookies\", \"storage\""),
    ("refresh", "0; url=https://evil.example/"),
    (
        "link",
        "<https://evil.example/x.js>; rel=preload; as=script",
    ),
    ("alt-svc", "h3=\"evil.example:443\"; ma=86400"),
    ("content-security-policy", "script-src *"),
    ("content-security-policy-report-only", "default-src 'none'"),
    ("permissions-policy", "camera=*, microphone=*"),
    ("set-cookie", "__Host-lgw=planted; Path=/; Secure"),
    ("cdn-cache-control", "public, max-age=600"),
    ("surrogate-control", "max-age=600"),
];

#[tokio::test]
async fn every_proxied_answer_is_sandboxed_uncached_and_loses_origin_wide_headers() {
    let api = MockServer::start().await;
    let (app, cookie) = gateway_with_session(&api).await;
    let page = "<html><script>fetch('/session/token')</script></html>";
    for (rest, status) in [("page", 200), ("oops", 500)] {
        let mut answer = ResponseTemplate::new(status)
            .set_body_raw(page, "text/html; charset=utf-8")
            .insert_header("cache-control", "public, max-age=600")
            .insert_header("x-api-version", "3");
        for (name, value) in ORIGIN_WIDE {
            answer = answer.append_header(name, value);
        }
        Mock::given(method("GET"))
            .and(path(format!("/v1/{rest}")))
            .and(header(
                "authorization",
                format!("Bearer {ACCESS_TOKEN}").as_str(),
            ))
            .respond_with(answer)
            .expect(1)
            .mount(&api)
            .await;
    }
    for (rest, status) in [("page", 200), ("oops", 500)] {
        let answer = app
            .client
            .get(app.url(&format!("/api/orders/{rest}")))
            .header("cookie", &cookie)
            .header("x-lgw-session", "1")
            .send()
            .await
            .expect("the gateway answers");
        assert_eq!(answer.status().as_u16(), status, "{rest}");
        let headers = answer.headers().clone();
        let all = |name: &str| -> Vec<String> {
            headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect()
        };
        assert_eq!(
            all("content-security-policy"),
            ["sandbox; default-src 'none'"],
            "{rest}"
        );
        assert_eq!(all("cache-control"), ["private, no-store"], "{rest}");
        assert_eq!(all("content-type"), ["text/html; charset=utf-8"], "{rest}");
        assert_eq!(all("x-api-version"), ["3"], "{rest}");
        assert_eq!(all("x-content-type-options"), ["nosniff"], "{rest}");
        for (name, _) in ORIGIN_WIDE {
            if name == "content-security-policy" {
                continue;
            }
            assert!(all(name).is_empty(), "{rest}: {name} passed back");
        }
        assert_eq!(answer.text().await.expect("body"), page, "{rest}");
    }
}

#[tokio::test]
async fn dot_segments_behind_parameters_encoding_or_nfkc_are_refused_before_the_api() {
    let api = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&api)
        .await;
    let (app, cookie) = gateway_with_session(&api).await;
    for rest in [
        "..;/admin",
        "..;jsessionid=x/admin",
        ".;x/admin",
        "a/.;/admin",
        "%2e%2e/admin",
        "%2E%2e;/admin",
        "..%3bx/admin",
        "%2e/admin",
        "a/./admin",
        // Fullwidth full stops `．．` (U+FF0E).
        "%EF%BC%8E%EF%BC%8E/admin",
        "%EF%BC%8E%EF%BC%8E;x/admin",
        // One dot leader `․` (U+2024) twice, two dot leader `‥` (U+2025),
        // small full stop `﹒` (U+FE52).
        "%E2%80%A4%E2%80%A4/admin",
        "%E2%80%A5/admin",
        "a/%EF%B9%92/admin",
        // Fullwidth `．．／` (U+FF0F): a separator once normalised.
        "%EF%BC%8E%EF%BC%8E%EF%BC%8Fadmin",
    ] {
        let (status, body) = raw_get(&app, &format!("/api/orders/{rest}"), &cookie).await;
        assert_eq!(status, 400, "{rest}: {body}");
        let body: Value = serde_json::from_str(&body).expect("a JSON error");
        assert_eq!(body["error"], "invalid_request", "{rest}");
    }
}

#[tokio::test]
async fn parameters_and_dots_in_ordinary_segments_still_reach_the_api() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/items;version=2/.../a..b/...;x/.well-known"))
        .and(header(
            "authorization",
            format!("Bearer {ACCESS_TOKEN}").as_str(),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&api)
        .await;
    let (app, cookie) = gateway_with_session(&api).await;
    let (status, body) = raw_get(
        &app,
        "/api/orders/items;version=2/.../a..b/...;x/.well-known",
        &cookie,
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "ok"));
}
