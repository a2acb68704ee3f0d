//! The front door and the generic error shape (SPEC §1, §2, §6):
//! 404 / 405 / 413, request ids, nosniff, health endpoints.

use reqwest::Method;
use serde_json::json;
use wiremock::ResponseTemplate;

use crate::helpers::*;

#[tokio::test]
async fn healthz_answers_ok_without_calling_auth0() {
    let app = spawn_app().await;
    assert_eq!(app.address, format!("http://127.0.0.1:{}", app.port));

    let response = app.get("/healthz").await;

    let (_, body) = assert_ok_json(response).await;
    assert_eq!(body, json!({"status": "ok"}));
    assert!(app.upstream_requests().await.is_empty());
}

#[tokio::test]
async fn readyz_answers_200_while_accepting_traffic_without_calling_auth0() {
    let app = spawn_app().await;

    let response = app.get("/readyz").await;

    let (_, body) = assert_ok_json(response).await;
    assert_eq!(body["status"], "ready");
    assert!(app.upstream_requests().await.is_empty());
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/login",
        "/login/start/",
        "/login/start/extra",
        "/.env",
    ] {
        let response = app.get(path).await;
        let (_, body) = assert_error(&app, response, 404, "not_found").await;
        assert!(!body.to_string().contains(".env"), "path is not echoed");
    }
    let response = app
        .post_json("/login/unknown", &json!({"email": "jane@example.com"}))
        .await;
    assert_error(&app, response, 404, "not_found").await;
    assert!(app.upstream_requests().await.is_empty());
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405_with_an_allow_header() {
    let app = spawn_app().await;
    let cases = [
        (Method::GET, "/login/start", "POST"),
        (Method::PUT, "/login/verify", "POST"),
        (Method::DELETE, "/login/callback", "POST"),
        (Method::GET, "/token/refresh", "POST"),
        (Method::PATCH, "/token/revoke", "POST"),
        (Method::POST, "/healthz", "GET"),
        (Method::DELETE, "/readyz", "GET"),
    ];
    for (method, path, allow) in cases {
        let response = app.request(method.clone(), path).await;
        let (headers, _) = assert_error(&app, response, 405, "method_not_allowed").await;
        assert_eq!(
            header_str(&headers, "allow"),
            Some(allow),
            "{method} {path}"
        );
    }
    assert!(app.upstream_requests().await.is_empty());
}

#[tokio::test]
async fn a_body_over_max_body_bytes_is_a_json_413() {
    let app = spawn_app_with(&[("GATEWAY__SERVER__MAX_BODY_BYTES", "1024")]).await;
    any_call("/passwordless/start")
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&app.auth0)
        .await;
    let padding = "x".repeat(2000);
    let body = json!({"email": "jane@example.com", "locale": padding});

    let response = app.post_json("/login/start", &body).await;

    assert_error(&app, response, 413, "payload_too_large").await;
}

/// A refresh body of exactly `len` bytes: `{"refresh_token":"rrr…"}`.
fn refresh_body_of(len: usize) -> String {
    let wrapper = r#"{"refresh_token":""}"#.len();
    let body = format!(r#"{{"refresh_token":"{}"}}"#, "r".repeat(len - wrapper));
    assert_eq!(body.len(), len);
    body
}

#[tokio::test]
async fn the_default_body_limit_is_16384_bytes() {
    let app = spawn_app().await;
    any_call("/oauth/token")
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&app.auth0)
        .await;

    // Exactly the limit is read and parsed (then refused for its content:
    // no refresh token is that long, so Auth0 is not asked).
    let response = app
        .post_raw(
            "/token/refresh",
            "application/json",
            refresh_body_of(16_384),
        )
        .await;
    assert_error(&app, response, 400, "invalid_request").await;

    // One byte more is refused before it is parsed.
    let response = app
        .post_raw(
            "/token/refresh",
            "application/json",
            refresh_body_of(16_385),
        )
        .await;
    assert_error(&app, response, 413, "payload_too_large").await;
}

#[tokio::test]
async fn a_sane_client_request_id_is_echoed_in_the_header_and_the_error_body() {
    let app = spawn_app().await;
    let sane = "req-0123456789_abc.DEF:/+=";

    for path in ["/healthz", "/nope"] {
        let response = app
            .client
            .get(app.url(path))
            .header("x-request-id", sane)
            .send()
            .await
            .expect("answer");
        assert_eq!(header_str(response.headers(), "x-request-id"), Some(sane));
        if path == "/nope" {
            let (_, body) = assert_error(&app, response, 404, "not_found").await;
            assert_eq!(body["request_id"], sane);
        }
    }

    let longest = "a".repeat(128);
    let response = app
        .post_json_with(
            "/login/start",
            &json!({}),
            &[("x-request-id", longest.as_str())],
        )
        .await;
    let (headers, body) = assert_error(&app, response, 400, "invalid_request").await;
    assert_eq!(header_str(&headers, "x-request-id"), Some(longest.as_str()));
    assert_eq!(body["request_id"], longest);
}

#[tokio::test]
async fn an_insane_client_request_id_is_replaced_by_a_new_one() {
    let app = spawn_app().await;
    let too_long = "a".repeat(129);
    for insane in [too_long.as_str(), "has space", "tab\tinside", ""] {
        let response = app
            .post_json_with("/login/start", &json!({}), &[("x-request-id", insane)])
            .await;
        let (headers, body) = assert_error(&app, response, 400, "invalid_request").await;
        let id = header_str(&headers, "x-request-id").expect("id");
        assert_ne!(id, insane);
        assert!(!id.is_empty());
        assert_eq!(body["request_id"], id);
    }
}

#[tokio::test]
async fn generated_request_ids_are_unique_per_request() {
    let app = spawn_app().await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..5 {
        let response = app.get("/healthz").await;
        let id = header_str(response.headers(), "x-request-id")
            .expect("id")
            .to_string();
        assert!(seen.insert(id), "request ids repeat");
    }
}

#[tokio::test]
async fn every_answer_carries_nosniff_and_a_request_id() {
    let app = spawn_app().await;
    any_call("/passwordless/start")
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"_id": "x"})))
        .mount(&app.auth0)
        .await;
    let responses = vec![
        app.get("/healthz").await,
        app.get("/readyz").await,
        app.get("/nope").await,
        app.request(Method::GET, "/login/start").await,
        app.post_raw("/login/start", "text/plain", "x").await,
        app.post_raw("/login/start", "application/json", "{").await,
        app.post_json("/login/start", &json!({"email": "jane@example.com"}))
            .await,
    ];
    for response in responses {
        assert_common_headers(response.headers());
    }
}

#[tokio::test]
async fn error_bodies_never_show_the_secret_or_the_upstream_url() {
    // assert_error checks every body for the secret and the upstream
    // address; this drives the answers most likely to leak them.
    let app = spawn_app().await;
    any_call("/oauth/token")
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": "invalid_client",
            "error_description": format!("Client authentication failed for {CLIENT_SECRET} at {}/oauth/token", app.auth0.uri()),
        })))
        .expect(1)
        .mount(&app.auth0)
        .await;
    any_call("/oauth/revoke")
        .respond_with(ResponseTemplate::new(500).set_body_string(format!(
            "panic at {}/oauth/revoke with secret {CLIENT_SECRET}",
            app.auth0.uri()
        )))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = app
        .post_json("/token/refresh", &json!({"refresh_token": REFRESH_TOKEN}))
        .await;
    assert_error(&app, response, 502, "upstream_error").await;
    let response = app
        .post_json("/token/revoke", &json!({"refresh_token": REFRESH_TOKEN}))
        .await;
    assert_error(&app, response, 502, "upstream_error").await;
}
