//! SPEC §3: who the end user is, and `auth0-forwarded-for` on every call.

use serde_json::{json, Value};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

const TRUST_LOOPBACK: (&str, &str) = ("GATEWAY__SERVER__TRUSTED_PROXIES", "127.0.0.1/32");

fn start_body() -> Value {
    json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "connection": "email",
        "email": "jane@example.com",
        "send": "code",
    })
}

/// Starts a gateway with `env`, sends one `/login/start` with `headers`, and
/// checks that Auth0 got exactly one `auth0-forwarded-for: expected`.
async fn forwarded_for_is(env: &[(&str, &str)], headers: &[(&str, &str)], expected: &str) {
    let app = spawn_app_with(env).await;
    upstream("POST", "/passwordless/start", start_body(), expected)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"_id": "x"})))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = app
        .post_json_with(
            "/login/start",
            &json!({"email": "jane@example.com"}),
            headers,
        )
        .await;
    assert_ok_json(response).await;

    let requests = app.upstream_requests().await;
    assert_eq!(requests.len(), 1);
    let values: Vec<&str> = requests[0]
        .headers
        .get_all("auth0-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(
        values,
        vec![expected],
        "env {env:?}, headers {headers:?}: exactly one auth0-forwarded-for"
    );
}

#[tokio::test]
async fn without_a_trusted_proxy_the_tcp_peer_is_forwarded() {
    forwarded_for_is(&[], &[], "127.0.0.1").await;
}

#[tokio::test]
async fn without_a_trusted_proxy_forwarding_headers_are_ignored() {
    forwarded_for_is(
        &[],
        &[
            ("x-forwarded-for", "198.51.100.4"),
            ("forwarded", "for=198.51.100.5"),
            ("x-real-ip", "198.51.100.6"),
        ],
        "127.0.0.1",
    )
    .await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_x_forwarded_for_client_is_forwarded() {
    forwarded_for_is(
        &[TRUST_LOOPBACK],
        &[("x-forwarded-for", "198.51.100.4")],
        "198.51.100.4",
    )
    .await;
}

#[tokio::test]
async fn a_spoofed_leftmost_x_forwarded_for_entry_is_ignored() {
    forwarded_for_is(
        &[TRUST_LOOPBACK],
        &[("x-forwarded-for", "6.6.6.6, 198.51.100.4")],
        "198.51.100.4",
    )
    .await;
}

#[tokio::test]
async fn trusted_hops_in_the_chain_are_skipped() {
    forwarded_for_is(
        &[(
            "GATEWAY__SERVER__TRUSTED_PROXIES",
            "10.0.0.0/8,127.0.0.1/32",
        )],
        &[(
            "x-forwarded-for",
            "6.6.6.6, 198.51.100.4, 10.1.1.1, 10.2.2.2",
        )],
        "198.51.100.4",
    )
    .await;
}

#[tokio::test]
async fn several_x_forwarded_for_lines_are_read_as_one_list() {
    forwarded_for_is(
        &[(
            "GATEWAY__SERVER__TRUSTED_PROXIES",
            "10.0.0.0/8,127.0.0.1/32",
        )],
        &[
            ("x-forwarded-for", "198.51.100.4"),
            ("x-forwarded-for", "10.1.1.1"),
        ],
        "198.51.100.4",
    )
    .await;
}

#[tokio::test]
async fn an_unparseable_entry_stops_the_walk_at_the_last_good_address() {
    forwarded_for_is(
        &[TRUST_LOOPBACK],
        &[("x-forwarded-for", "198.51.100.4, garbage")],
        "127.0.0.1",
    )
    .await;
}

#[tokio::test]
async fn an_ipv6_client_with_a_port_is_forwarded_without_the_port() {
    forwarded_for_is(
        &[TRUST_LOOPBACK],
        &[("x-forwarded-for", "[2001:db8::7]:443")],
        "2001:db8::7",
    )
    .await;
}

#[tokio::test]
async fn in_forwarded_mode_the_rfc7239_for_value_is_forwarded() {
    let env = [
        TRUST_LOOPBACK,
        ("GATEWAY__SERVER__CLIENT_IP_HEADER", "forwarded"),
    ];
    forwarded_for_is(
        &env,
        &[("forwarded", "for=\"[2001:db8:cafe::17]:4711\";proto=https")],
        "2001:db8:cafe::17",
    )
    .await;
    forwarded_for_is(
        &env,
        &[(
            "forwarded",
            "for=6.6.6.6, For=198.51.100.4;proto=https, for=127.0.0.1",
        )],
        "198.51.100.4",
    )
    .await;
}

#[tokio::test]
async fn in_forwarded_mode_x_forwarded_for_is_not_read() {
    forwarded_for_is(
        &[
            TRUST_LOOPBACK,
            ("GATEWAY__SERVER__CLIENT_IP_HEADER", "forwarded"),
        ],
        &[("x-forwarded-for", "198.51.100.4")],
        "127.0.0.1",
    )
    .await;
}

#[tokio::test]
async fn in_x_forwarded_for_mode_forwarded_is_not_read() {
    forwarded_for_is(
        &[TRUST_LOOPBACK],
        &[("forwarded", "for=198.51.100.4")],
        "127.0.0.1",
    )
    .await;
}

#[tokio::test]
async fn a_client_sent_auth0_forwarded_for_is_never_passed_on() {
    forwarded_for_is(&[], &[("auth0-forwarded-for", "203.0.113.66")], "127.0.0.1").await;
    forwarded_for_is(
        &[TRUST_LOOPBACK],
        &[
            ("auth0-forwarded-for", "203.0.113.66"),
            ("x-forwarded-for", "198.51.100.4"),
        ],
        "198.51.100.4",
    )
    .await;
}

/// A request to `route` that passes the gateway's own checks, so it
/// reaches Auth0: its `Authorization` and JSON body.
fn valid_request(route: &str) -> (Option<&'static str>, Option<Value>) {
    const BEARER: Option<&str> = Some("Bearer fake-mfa-token-dddd");
    match route {
        "/login/start" | "/passkey/register" => (None, Some(json!({"email": "jane@example.com"}))),
        "/login/verify" => (
            None,
            Some(json!({"email": "jane@example.com", "code": "123456"})),
        ),
        "/login/callback" => (None, Some(json!({"code": "fake-link-code"}))),
        "/mfa/authenticators" | "/mfa/authenticators/totp%7Cdev_abc" => (BEARER, None),
        "/mfa/associate" => (BEARER, Some(json!({"factor": "otp"}))),
        "/mfa/challenge" => (BEARER, Some(json!({"challenge_type": "otp"}))),
        "/mfa/verify" => (BEARER, Some(json!({"otp": "123456"}))),
        "/token/refresh" | "/token/revoke" => (None, Some(json!({"refresh_token": REFRESH_TOKEN}))),
        "/passkey/challenge" => (None, Some(json!({}))),
        "/passkey/verify" => (
            None,
            Some(
                json!({"auth_session": crate::passkey::AUTH_SESSION, "credential": crate::passkey::sign_in()}),
            ),
        ),
        "/passkey/enroll" => (BEARER, Some(json!({}))),
        "/passkey/enroll/verify" => (BEARER, Some(crate::passkey_enroll::verify_request())),
        other => panic!("no valid request for {other}: add one"),
    }
}

/// Sends one call from client `ip` (through the trusted loopback proxy,
/// with a spoofed `auth0-forwarded-for` the gateway must drop) and checks
/// that it reached Auth0 and that every upstream request it made carries
/// exactly `auth0-forwarded-for: ip`. Returns the gateway's answer.
async fn assert_forwards_ip(
    app: &TestApp,
    request: reqwest::RequestBuilder,
    what: &str,
    ip: &str,
) -> reqwest::Response {
    let before = app.upstream_requests().await.len();
    let answer = request
        .header("x-forwarded-for", ip)
        .header("auth0-forwarded-for", "203.0.113.66")
        .send()
        .await
        .expect("the gateway answers");
    let requests = app.upstream_requests().await;
    let made = &requests[before..];
    assert!(!made.is_empty(), "{what} reached Auth0");
    for request in made {
        let values: Vec<_> = request
            .headers
            .get_all("auth0-forwarded-for")
            .iter()
            .collect();
        assert_eq!(values, vec![ip], "{what}: {}", request.url);
    }
    answer
}

#[tokio::test]
async fn every_upstream_call_carries_the_resolved_client_ip() {
    let app = crate::session::session_app_and(
        crate::session::KEY_1,
        &[
            TRUST_LOOPBACK,
            crate::session::NO_REFRESH_REUSE,
            ("GATEWAY__AUTH0__MAGIC_LINK_REDIRECT_URI", REDIRECT_URI),
            ("GATEWAY__PASSKEY__ENABLED", "true"),
        ],
    )
    .await;
    // Auth0 refuses everything but the cookie login below: each call still
    // makes its upstream request, which is what is checked here.
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_request"})))
        .with_priority(10)
        .mount(&app.auth0)
        .await;
    // Each route its own client, so a request is matched with its caller.
    for (n, (name, route)) in UPSTREAM_ROUTES.iter().enumerate() {
        let ip = format!("198.51.100.{}", n + 1);
        let (authorization, body) = valid_request(route);
        let mut request = app.client.request(http_method(name), app.url(route));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        assert_forwards_ip(&app, request, &format!("{name} {route}"), &ip).await;
    }
    // `/session/*` (cookie mode): a session whose access token is about to
    // expire, so GET /session/token refreshes too.
    upstream(
        "POST",
        "/oauth/token",
        otp_grant("jane@example.com", "123456", "email"),
        "198.51.100.100",
    )
    .respond_with(
        ResponseTemplate::new(200).set_body_json(crate::session::tokens(&app, json!({}), 30)),
    )
    .with_priority(1)
    .expect(1)
    .mount(&app.auth0)
    .await;
    let login = app
        .client
        .post(app.url("/login/verify"))
        .header("x-lgw-session", "1")
        .json(&json!({"email": "jane@example.com", "code": "123456"}));
    let login = assert_forwards_ip(&app, login, "cookie login", "198.51.100.100").await;
    assert_eq!(login.status(), 200);
    let cookie = crate::session::cookie_header(login.headers());
    let session_calls = [
        (reqwest::Method::GET, "/session/token"),
        (reqwest::Method::POST, "/session/refresh"),
        (reqwest::Method::POST, "/session/logout"),
    ];
    for (n, (session_method, route)) in session_calls.into_iter().enumerate() {
        let ip = format!("198.51.100.{}", 101 + n);
        let request = app
            .client
            .request(session_method, app.url(route))
            .header("cookie", &cookie)
            .header("x-lgw-session", "1");
        assert_forwards_ip(&app, request, route, &ip).await;
    }
}
