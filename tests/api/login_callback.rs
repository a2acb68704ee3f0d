//! POST /login/callback → POST {auth0}/oauth/token (authorization_code grant)

use serde_json::{json, Value};
use wiremock::ResponseTemplate;

use crate::helpers::*;

const LINK_ENV: &[(&str, &str)] = &[("GATEWAY__AUTH0__MAGIC_LINK_REDIRECT_URI", REDIRECT_URI)];

fn code_grant(code: &str) -> Value {
    json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
    })
}

#[tokio::test]
async fn a_magic_link_code_is_exchanged_with_the_configured_redirect_uri() {
    let app = spawn_app_with(LINK_ENV).await;
    upstream(
        "POST",
        "/oauth/token",
        code_grant("fake-link-code-AbC123"),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
    .expect(1)
    .mount(&app.auth0)
    .await;

    // `state` is for the app to compare; it is not sent upstream.
    let response = app
        .post_json(
            "/login/callback",
            &json!({"code": "fake-link-code-AbC123", "state": "app-state-123"}),
        )
        .await;

    let (headers, body) = assert_ok_json(response).await;
    assert_no_store(&headers);
    assert_eq!(body, expected_tokens());
}

#[tokio::test]
async fn a_callback_answers_mfa_required_like_verify() {
    let app = spawn_app_with(LINK_ENV).await;
    upstream(
        "POST",
        "/oauth/token",
        code_grant("fake-link-code"),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(403).set_body_json(mfa_required_answer()))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = app
        .post_json("/login/callback", &json!({"code": "fake-link-code"}))
        .await;

    let (headers, body) = assert_error(&app, response, 403, "mfa_required").await;
    assert_no_store(&headers);
    assert_eq!(body["mfa_token"], MFA_TOKEN);
    assert_eq!(
        body["mfa_requirements"],
        json!({"challenge": [{"type": "otp"}]})
    );
}

#[tokio::test]
async fn an_invalid_link_code_is_passed_through_as_invalid_grant() {
    for answer in [
        json!({"error": "invalid_grant", "error_description": "Invalid authorization code"}),
        json!({"statusCode": 403, "error": "invalid_grant", "message": "Invalid authorization code"}),
    ] {
        let app = spawn_app_with(LINK_ENV).await;
        upstream(
            "POST",
            "/oauth/token",
            code_grant("stale-code"),
            "127.0.0.1",
        )
        .respond_with(ResponseTemplate::new(403).set_body_json(answer))
        .expect(1)
        .mount(&app.auth0)
        .await;

        let response = app
            .post_json("/login/callback", &json!({"code": "stale-code"}))
            .await;
        assert_error_described(
            &app,
            response,
            403,
            "invalid_grant",
            "Invalid authorization code",
        )
        .await;
    }
}

#[tokio::test]
async fn a_callback_is_refused_while_no_redirect_uri_is_configured() {
    let app = spawn_app().await;
    any_call("/oauth/token")
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
        .expect(0)
        .mount(&app.auth0)
        .await;

    let response = app
        .post_json("/login/callback", &json!({"code": "fake-link-code"}))
        .await;
    let (_, body) = assert_error(&app, response, 400, "invalid_request").await;
    assert!(body["error_description"]
        .as_str()
        .is_some_and(|d| d.contains("magic_link_redirect_uri")));
}

#[tokio::test]
async fn invalid_callback_bodies_are_rejected_before_auth0_is_called() {
    let app = spawn_app_with(LINK_ENV).await;
    any_call("/oauth/token")
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
        .expect(0)
        .mount(&app.auth0)
        .await;

    let long = "a".repeat(513);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("missing code", json!({"state": "x"}), ""),
        (
            "empty code",
            json!({"code": ""}),
            "code must be 1 to 512 visible ASCII characters",
        ),
        (
            "code with a space",
            json!({"code": "abc def"}),
            "code must be 1 to 512 visible ASCII characters",
        ),
        (
            "code too long",
            json!({"code": long}),
            "code must be 1 to 512 visible ASCII characters",
        ),
        (
            "non-ASCII code",
            json!({"code": "caf\u{e9}"}),
            "code must be 1 to 512 visible ASCII characters",
        ),
        (
            "redirect_uri in the body",
            json!({"code": "abc", "redirect_uri": "https://evil.example.com"}),
            "redirect_uri is set by the gateway and may not be sent",
        ),
        (
            "client_secret in the body",
            json!({"code": "abc", "client_secret": "attacker-chosen"}),
            "client_secret is set by the gateway and may not be sent",
        ),
        (
            "grant_type in the body",
            json!({"code": "abc", "grant_type": "password"}),
            "grant_type is set by the gateway and may not be sent",
        ),
        (
            "unknown field",
            json!({"code": "abc", "nonce": "n"}),
            "unknown field nonce",
        ),
    ];
    for (name, body, description) in &cases {
        let response = app.post_json("/login/callback", body).await;
        let (_, answer) = assert_error(&app, response, 400, "invalid_request").await;
        if !description.is_empty() {
            assert_eq!(answer["error_description"], *description, "case: {name}");
        }
        let text = answer.to_string();
        assert!(!text.contains("attacker-chosen") && !text.contains("evil.example.com"));
    }
}

#[tokio::test]
async fn upstream_failures_on_callback_map_to_the_spec_errors() {
    for failure in ALL_FAILURES {
        check_upstream_failure(
            *failure,
            LINK_ENV,
            "/oauth/token",
            "/login/callback",
            &json!({"code": "fake-link-code"}),
        )
        .await;
    }
}
