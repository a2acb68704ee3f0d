//! POST /token/refresh → POST {auth0}/oauth/token (refresh_token grant)
//! POST /token/revoke  → POST {auth0}/oauth/revoke

use serde_json::{json, Value};
use wiremock::ResponseTemplate;

use crate::helpers::*;

fn refresh_grant(scope: Option<&str>) -> Value {
    let mut grant = json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": REFRESH_TOKEN,
    });
    if let Some(scope) = scope {
        grant["scope"] = json!(scope);
    }
    grant
}

fn revoke_body() -> Value {
    json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "token": REFRESH_TOKEN,
    })
}

#[tokio::test]
async fn a_refresh_sends_the_refresh_token_grant_and_returns_no_store_tokens() {
    let app = spawn_app().await;
    upstream("POST", "/oauth/token", refresh_grant(None), "127.0.0.1")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "fake-access-token-refreshed",
            "id_token": ID_TOKEN,
            "scope": "openid profile email offline_access",
            "expires_in": 86400,
            "token_type": "Bearer",
            "undocumented": "do-not-reflect",
        })))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = app
        .post_json("/token/refresh", &json!({"refresh_token": REFRESH_TOKEN}))
        .await;

    let (headers, body) = assert_ok_json(response).await;
    assert_no_store(&headers);
    assert_eq!(
        body,
        json!({
            "access_token": "fake-access-token-refreshed",
            "id_token": ID_TOKEN,
            "scope": "openid profile email offline_access",
            "expires_in": 86400,
            "token_type": "Bearer",
        })
    );
}

#[tokio::test]
async fn a_refresh_with_an_allowed_scope_sends_that_scope() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/oauth/token",
        refresh_grant(Some("openid email")),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = app
        .post_json(
            "/token/refresh",
            &json!({"refresh_token": REFRESH_TOKEN, "scope": "openid email"}),
        )
        .await;
    let (headers, body) = assert_ok_json(response).await;
    assert_no_store(&headers);
    assert_eq!(body, expected_tokens());
}

#[tokio::test]
async fn an_unknown_or_revoked_refresh_token_is_passed_through_as_invalid_grant() {
    for answer in [
        json!({"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."}),
        json!({"statusCode": 403, "error": "invalid_grant", "message": "Unknown or invalid refresh token."}),
    ] {
        let app = spawn_app().await;
        upstream("POST", "/oauth/token", refresh_grant(None), "127.0.0.1")
            .respond_with(ResponseTemplate::new(403).set_body_json(answer))
            .expect(1)
            .mount(&app.auth0)
            .await;

        let response = app
            .post_json("/token/refresh", &json!({"refresh_token": REFRESH_TOKEN}))
            .await;
        assert_error_described(
            &app,
            response,
            403,
            "invalid_grant",
            "Unknown or invalid refresh token.",
        )
        .await;
    }
}

#[tokio::test]
async fn invalid_refresh_bodies_are_rejected_before_auth0_is_called() {
    let app = spawn_app().await;
    any_call("/oauth/token")
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
        .expect(0)
        .mount(&app.auth0)
        .await;

    let long = "r".repeat(4097);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("missing refresh_token", json!({}), ""),
        (
            "empty refresh_token",
            json!({"refresh_token": ""}),
            "refresh_token must be 1 to 4096 visible ASCII characters",
        ),
        (
            "refresh_token with a newline",
            json!({"refresh_token": "abc\ndef"}),
            "refresh_token must be 1 to 4096 visible ASCII characters",
        ),
        (
            "refresh_token too long",
            json!({"refresh_token": long}),
            "refresh_token must be 1 to 4096 visible ASCII characters",
        ),
        (
            "scope not allowed",
            json!({"refresh_token": REFRESH_TOKEN, "scope": "openid admin"}),
            "scope \"admin\" is not allowed",
        ),
        (
            "grant_type in the body",
            json!({"refresh_token": REFRESH_TOKEN, "grant_type": "client_credentials"}),
            "grant_type is set by the gateway and may not be sent",
        ),
        (
            "client_secret in the body",
            json!({"refresh_token": REFRESH_TOKEN, "client_secret": "attacker-chosen"}),
            "client_secret is set by the gateway and may not be sent",
        ),
        (
            "audience not allowed",
            json!({"refresh_token": REFRESH_TOKEN, "audience": "https://api.example.com"}),
            "audience is not in the gateway's allowed audiences",
        ),
        (
            // Passkeys are off: the My Account audience is not handed out.
            "the My Account audience while passkeys are off",
            json!({"refresh_token": REFRESH_TOKEN, "audience": format!("{}/me/", app.auth0.uri())}),
            "audience is not in the gateway's allowed audiences",
        ),
    ];
    for (name, body, description) in &cases {
        let response = app.post_json("/token/refresh", body).await;
        let (_, answer) = assert_error(&app, response, 400, "invalid_request").await;
        if !description.is_empty() {
            assert_eq!(answer["error_description"], *description, "case: {name}");
        }
        assert!(!answer.to_string().contains(REFRESH_TOKEN), "case {name}");
    }
}

#[tokio::test]
async fn a_revoke_sends_the_token_with_the_credentials_and_answers_an_empty_object() {
    let app = spawn_app().await;
    // Auth0 answers an empty 200 (SPEC §7).
    upstream("POST", "/oauth/revoke", revoke_body(), "127.0.0.1")
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = app
        .post_json("/token/revoke", &json!({"refresh_token": REFRESH_TOKEN}))
        .await;

    let (_, body) = assert_ok_json(response).await;
    assert_eq!(body, json!({}));
}

#[tokio::test]
async fn a_revoke_rejected_by_auth0_keeps_its_code_and_description() {
    let app = spawn_app().await;
    upstream("POST", "/oauth/revoke", revoke_body(), "127.0.0.1")
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": "invalid_request", "error_description": "Missing required parameter: token"}),
        ))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = app
        .post_json("/token/revoke", &json!({"refresh_token": REFRESH_TOKEN}))
        .await;
    assert_error_described(
        &app,
        response,
        400,
        "invalid_request",
        "Missing required parameter: token",
    )
    .await;
}

#[tokio::test]
async fn invalid_revoke_bodies_are_rejected_before_auth0_is_called() {
    let app = spawn_app().await;
    any_call("/oauth/revoke")
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&app.auth0)
        .await;

    let cases: Vec<(&str, Value, &str)> = vec![
        ("missing refresh_token", json!({}), ""),
        (
            "refresh_token with a space",
            json!({"refresh_token": "a b"}),
            "refresh_token must be 1 to 4096 visible ASCII characters",
        ),
        (
            "token instead of refresh_token",
            json!({"token": REFRESH_TOKEN}),
            "unknown field token",
        ),
        (
            "client_id in the body",
            json!({"refresh_token": REFRESH_TOKEN, "client_id": "attacker-chosen"}),
            "client_id is set by the gateway and may not be sent",
        ),
    ];
    for (name, body, description) in &cases {
        let response = app.post_json("/token/revoke", body).await;
        let (_, answer) = assert_error(&app, response, 400, "invalid_request").await;
        if !description.is_empty() {
            assert_eq!(answer["error_description"], *description, "case: {name}");
        }
    }
}

#[tokio::test]
async fn upstream_failures_on_refresh_map_to_the_spec_errors() {
    for failure in ALL_FAILURES {
        check_upstream_failure(
            *failure,
            &[],
            "/oauth/token",
            "/token/refresh",
            &json!({"refresh_token": REFRESH_TOKEN}),
        )
        .await;
    }
}

#[tokio::test]
async fn upstream_failures_on_revoke_map_to_the_spec_errors() {
    for failure in ALL_FAILURES {
        check_upstream_failure(
            *failure,
            &[],
            "/oauth/revoke",
            "/token/revoke",
            &json!({"refresh_token": REFRESH_TOKEN}),
        )
        .await;
    }
}
