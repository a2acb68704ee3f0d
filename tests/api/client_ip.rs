//! SPEC §3: who the end user is, and `auth0-forwarded-for` on every call.

use serde_json::{json, Value};
use wiremock::ResponseTemplate;

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

#[tokio::test]
async fn every_upstream_call_carries_the_resolved_client_ip() {
    let app = spawn_app_with(&[
        TRUST_LOOPBACK,
        ("GATEWAY__AUTH0__MAGIC_LINK_REDIRECT_URI", REDIRECT_URI),
    ])
    .await;
    for (endpoint, answer) in [
        ("/passwordless/start", json!({"_id": "x"})),
        ("/oauth/token", token_answer()),
        ("/oauth/revoke", Value::Null),
    ] {
        let template = if answer.is_null() {
            ResponseTemplate::new(200)
        } else {
            ResponseTemplate::new(200).set_body_json(answer)
        };
        any_call(endpoint)
            .and(wiremock::matchers::header(
                "auth0-forwarded-for",
                "198.51.100.4",
            ))
            .respond_with(template)
            .mount(&app.auth0)
            .await;
    }
    let calls = [
        ("/login/start", json!({"email": "jane@example.com"})),
        (
            "/login/verify",
            json!({"email": "jane@example.com", "code": "123456"}),
        ),
        ("/login/callback", json!({"code": "fake-link-code"})),
        ("/token/refresh", json!({"refresh_token": REFRESH_TOKEN})),
        ("/token/revoke", json!({"refresh_token": REFRESH_TOKEN})),
    ];
    for (route, body) in &calls {
        let response = app
            .post_json_with(
                route,
                body,
                &[
                    ("x-forwarded-for", "198.51.100.4"),
                    ("auth0-forwarded-for", "203.0.113.66"),
                ],
            )
            .await;
        assert_eq!(response.status(), 200, "{route}");
    }
    let requests = app.upstream_requests().await;
    assert_eq!(requests.len(), calls.len());
    for request in requests {
        let values: Vec<_> = request
            .headers
            .get_all("auth0-forwarded-for")
            .iter()
            .collect();
        assert_eq!(values.len(), 1, "{}", request.url);
        assert_eq!(values[0], "198.51.100.4", "{}", request.url);
    }
}
