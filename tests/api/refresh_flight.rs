//! Refresh single-flight (SPEC §10) in token mode: racing `POST
//! /token/refresh` calls with one refresh token make one Auth0 call, a
//! success is reused for a short window, an error is shared but not reused,
//! and a revoke drops the reused result.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{json, Value};
use wiremock::ResponseTemplate;

use crate::helpers::*;

/// How long the fake Auth0 takes to answer: long enough that every racing
/// caller arrives while the first call is still in flight.
const AUTH0_DELAY: Duration = Duration::from_millis(300);

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

/// A rotated answer: a new refresh token, as Auth0 gives with rotation on.
fn rotated(access_token: &str) -> Value {
    json!({
        "access_token": access_token,
        "id_token": ID_TOKEN,
        "refresh_token": format!("{access_token}-rotated-refresh-token"),
        "scope": DEFAULT_SCOPE,
        "expires_in": 86400,
        "token_type": "Bearer",
    })
}

fn invalid_grant() -> ResponseTemplate {
    ResponseTemplate::new(403).set_body_json(json!({
        "error": "invalid_grant",
        "error_description": "Unknown or invalid refresh token.",
    }))
}

async fn refresh(app: &TestApp, scope: Option<&str>) -> reqwest::Response {
    let mut body = json!({"refresh_token": REFRESH_TOKEN});
    if let Some(scope) = scope {
        body["scope"] = json!(scope);
    }
    app.post_json("/token/refresh", &body).await
}

/// `n` refreshes sent at once; their statuses and bodies.
async fn race(app: &TestApp, n: usize) -> Vec<(u16, Value)> {
    let calls = (0..n).map(|_| async {
        let response = refresh(app, None).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("a JSON body");
        (status, body)
    });
    join_all(calls).await
}

async fn token_calls(app: &TestApp) -> usize {
    app.upstream_requests()
        .await
        .iter()
        .filter(|r| r.url.path() == "/oauth/token")
        .count()
}

#[tokio::test]
async fn twenty_racing_refreshes_of_one_token_make_one_auth0_call_and_get_the_same_tokens() {
    let app = spawn_app().await;
    upstream("POST", "/oauth/token", refresh_grant(None), "127.0.0.1")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(rotated("fake-access-token-once"))
                .set_delay(AUTH0_DELAY),
        )
        .expect(1)
        .mount(&app.auth0)
        .await;

    let answers = race(&app, 20).await;

    assert_eq!(answers.len(), 20);
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(*body, rotated("fake-access-token-once"));
    }
    assert_eq!(token_calls(&app).await, 1, "one Auth0 call for 20 racers");
    app.auth0.verify().await;
}

#[tokio::test]
async fn a_refresh_within_the_reuse_window_gets_the_same_tokens_and_another_scope_is_its_own_call()
{
    let app = spawn_app().await;
    upstream("POST", "/oauth/token", refresh_grant(None), "127.0.0.1")
        .respond_with(ResponseTemplate::new(200).set_body_json(rotated("fake-access-token-1")))
        .expect(1)
        .mount(&app.auth0)
        .await;
    upstream(
        "POST",
        "/oauth/token",
        refresh_grant(Some("openid email")),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(rotated("fake-access-token-2")))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let (headers, first) = assert_ok_json(refresh(&app, None).await).await;
    assert_no_store(&headers);
    let (headers, late) = assert_ok_json(refresh(&app, None).await).await;
    assert_no_store(&headers);
    assert_eq!(first, rotated("fake-access-token-1"));
    assert_eq!(late, first, "the late racer gets the rotated tokens too");

    let (_, scoped) = assert_ok_json(refresh(&app, Some("openid email")).await).await;
    assert_eq!(scoped, rotated("fake-access-token-2"));
    let (_, scoped_again) = assert_ok_json(refresh(&app, Some("openid email")).await).await;
    assert_eq!(scoped_again, scoped);

    assert_eq!(token_calls(&app).await, 2);
    app.auth0.verify().await;
}

#[tokio::test]
async fn racing_refreshes_share_an_auth0_error_and_the_next_refresh_calls_auth0_again() {
    let app = spawn_app().await;
    upstream("POST", "/oauth/token", refresh_grant(None), "127.0.0.1")
        .respond_with(invalid_grant().set_delay(AUTH0_DELAY))
        .up_to_n_times(1)
        .expect(1)
        .mount(&app.auth0)
        .await;
    upstream("POST", "/oauth/token", refresh_grant(None), "127.0.0.1")
        .respond_with(ResponseTemplate::new(200).set_body_json(rotated("fake-access-token-3")))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let answers = race(&app, 10).await;

    for (status, body) in &answers {
        assert_eq!(*status, 403, "{body}");
        assert_eq!(body["error"], "invalid_grant");
        assert_eq!(
            body["error_description"],
            "Unknown or invalid refresh token."
        );
    }
    assert_eq!(token_calls(&app).await, 1, "the racers shared one call");

    // Errors are not reused: the next refresh asks Auth0.
    let (_, body) = assert_ok_json(refresh(&app, None).await).await;
    assert_eq!(body, rotated("fake-access-token-3"));
    assert_eq!(token_calls(&app).await, 2);
    app.auth0.verify().await;
}

#[tokio::test]
async fn a_shared_error_keeps_the_single_error_shape() {
    let app = spawn_app().await;
    upstream("POST", "/oauth/token", refresh_grant(None), "127.0.0.1")
        .respond_with(invalid_grant().set_delay(AUTH0_DELAY))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let responses = join_all((0..3).map(|_| refresh(&app, None))).await;
    for response in responses {
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
async fn after_a_revoke_the_next_refresh_calls_auth0_again() {
    let app = spawn_app().await;
    upstream("POST", "/oauth/token", refresh_grant(None), "127.0.0.1")
        .respond_with(ResponseTemplate::new(200).set_body_json(rotated("fake-access-token-4")))
        .up_to_n_times(1)
        .expect(1)
        .mount(&app.auth0)
        .await;
    upstream("POST", "/oauth/token", refresh_grant(None), "127.0.0.1")
        .respond_with(invalid_grant())
        .expect(1)
        .mount(&app.auth0)
        .await;
    upstream(
        "POST",
        "/oauth/revoke",
        json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "token": REFRESH_TOKEN}),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(200))
    .expect(1)
    .mount(&app.auth0)
    .await;

    for _ in 0..2 {
        let (_, body) = assert_ok_json(refresh(&app, None).await).await;
        assert_eq!(body, rotated("fake-access-token-4"));
    }
    assert_eq!(token_calls(&app).await, 1, "the second refresh was reused");

    let revoked = app
        .post_json("/token/revoke", &json!({"refresh_token": REFRESH_TOKEN}))
        .await;
    assert_eq!(assert_ok_json(revoked).await.1, json!({}));

    let response = refresh(&app, None).await;
    assert_error(&app, response, 403, "invalid_grant").await;
    assert_eq!(
        token_calls(&app).await,
        2,
        "the revoke dropped the reused result"
    );
    app.auth0.verify().await;
}

#[tokio::test]
async fn a_racer_that_hangs_up_does_not_cancel_the_call_for_the_others_or_its_retry() {
    let app = spawn_app().await;
    upstream("POST", "/oauth/token", refresh_grant(None), "127.0.0.1")
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(rotated("fake-access-token-5"))
                .set_delay(AUTH0_DELAY),
        )
        .expect(1)
        .mount(&app.auth0)
        .await;

    // The first caller gives up long before Auth0 answers.
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let gone = impatient
        .post(app.url("/token/refresh"))
        .json(&json!({"refresh_token": REFRESH_TOKEN}))
        .send()
        .await;
    assert!(gone.is_err_and(|e| e.is_timeout()));

    let answers = race(&app, 3).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(*body, rotated("fake-access-token-5"));
    }
    // Its retry gets the rotated tokens the call it started brought back.
    let (_, retry) = assert_ok_json(refresh(&app, None).await).await;
    assert_eq!(retry, rotated("fake-access-token-5"));
    assert_eq!(token_calls(&app).await, 1);
    app.auth0.verify().await;
}
