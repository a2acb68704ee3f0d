//! Adding a passkey to a signed-in user (SPEC §11): `POST /passkey/enroll`
//! and `POST /passkey/enroll/verify` through Auth0's My Account API, in
//! token mode (the app's bearer) and cookie mode (the session's My
//! Account token, from a refresh kept in the cookie), against wiremock
//! playing Auth0 with every upstream request matched field by field.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use wiremock::matchers::header;
use wiremock::{Mock, MockBuilder, ResponseTemplate};

use crate::helpers::*;
use crate::session::{cookie_header, logged_in, set_cookies, APP_ORIGIN, KEY_1, OPTED_IN};

/// The user's access token for the My Account API (token mode).
const ME_TOKEN: &str = "fake-my-account-token-eeee";
/// What Auth0 gives the session's refresh for the My Account audience.
const SESSION_ME_TOKEN: &str = "fake-session-my-account-token-ffff";
const METHOD_ID: &str = "passkey|dev_Ahx4AKyCdjY3hVnO";
/// `METHOD_ID` as one path segment (Auth0's `Location`, and the upstream
/// path of `verify`).
const METHOD_ID_ENCODED: &str = "passkey%7Cdev_Ahx4AKyCdjY3hVnO";
const AUTH_SESSION: &str = "fake-auth-session-gggg";
const CONNECTION: &str = "Username-Password-Authentication";
const ENROLL_PATH: &str = "/me/v1/authentication-methods";
const CREATE_SCOPE: &str = "create:me:authentication_methods";

fn verify_path() -> String {
    format!("{ENROLL_PATH}/{METHOD_ID_ENCODED}/verify")
}

async fn passkey_app() -> TestApp {
    spawn_app_with(&[("GATEWAY__PASSKEY__ENABLED", "true")]).await
}

/// Passkeys and cookie sessions on; refresh results are not reused, so a
/// second call that makes no refresh proves the cookie kept the token.
async fn cookie_app() -> TestApp {
    spawn_app_with(&[
        ("GATEWAY__PASSKEY__ENABLED", "true"),
        ("GATEWAY__SESSION__ENABLED", "true"),
        ("GATEWAY__SESSION__KEYS", KEY_1),
        ("GATEWAY__SESSION__REFRESH_REUSE_SECS", "0"),
        ("GATEWAY__SERVER__CORS_ALLOWED_ORIGINS", APP_ORIGIN),
    ])
    .await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A My Account call as the gateway must send it: the user's bearer, JSON,
/// the end user's IP, the exact body (no client credentials).
fn my_account(endpoint: &str, body: Value, token: &str) -> MockBuilder {
    upstream("POST", endpoint, body, "127.0.0.1")
        .and(header("authorization", bearer(token).as_str()))
}

fn start_body() -> Value {
    json!({"type": "passkey", "connection": CONNECTION})
}

/// Auth0's creation options, passed to the client as they are.
fn creation_options() -> Value {
    json!({
        "challenge": "x7Tq3mJ0bXxRrYcEwq2aRg",
        "rp": {"id": "login.example.com", "name": "Example"},
        "user": {"id": "Zm9vYmFyLXVzZXItaWQ", "name": "jane@example.com", "displayName": "Jane"},
        "pubKeyCredParams": [
            {"type": "public-key", "alg": -8},
            {"type": "public-key", "alg": -7},
            {"type": "public-key", "alg": -257}
        ],
        "authenticatorSelection": {"residentKey": "required", "userVerification": "required"},
        "timeout": 60000
    })
}

/// Auth0's `202`: the id only in `Location`, one undocumented field.
fn started(app: &TestApp) -> ResponseTemplate {
    ResponseTemplate::new(202)
        .insert_header(
            "location",
            format!("{}{ENROLL_PATH}/{METHOD_ID_ENCODED}", app.auth0.uri()).as_str(),
        )
        .set_body_json(json!({
            "auth_session": AUTH_SESSION,
            "authn_params_public_key": creation_options(),
            "internal": "undocumented-do-not-reflect",
        }))
}

fn expected_start() -> Value {
    json!({"id": METHOD_ID, "auth_session": AUTH_SESSION, "public_key": creation_options()})
}

/// A new passkey as `PublicKeyCredential.toJSON()` gives it.
fn credential() -> Value {
    let client_data = json!({
        "type": "webauthn.create",
        "challenge": "x7Tq3mJ0bXxRrYcEwq2aRg",
        "origin": "https://app.example.com",
    });
    json!({
        "id": "pYB5b1vQhKc3aU0FZ7k0Vw",
        "rawId": "pYB5b1vQhKc3aU0FZ7k0Vw",
        "type": "public-key",
        "authenticatorAttachment": "platform",
        "clientExtensionResults": {"credProps": {"rk": true}},
        "response": {
            "clientDataJSON": URL_SAFE_NO_PAD.encode(client_data.to_string()),
            "attestationObject": URL_SAFE_NO_PAD.encode(b"\xa3cfmtdnonegattStmt\xa0hauthData"),
            "transports": ["internal", "hybrid"],
        },
    })
}

pub(crate) fn verify_request() -> Value {
    json!({"id": METHOD_ID, "auth_session": AUTH_SESSION, "credential": credential()})
}

fn verify_upstream_body() -> Value {
    json!({"auth_session": AUTH_SESSION, "authn_response": credential()})
}

/// Auth0's `201`, with the fields the gateway does not answer.
fn enrolled() -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "id": METHOD_ID,
        "type": "passkey",
        "created_at": "2026-01-05T10:28:12.580Z",
        "credential_device_type": "multi_device",
        "credential_backed_up": true,
        "identity_user_id": "64d2b0c1e9f3a1b2c3d4e5f6",
        "key_id": "pYB5b1vQhKc3aU0FZ7k0Vw",
        "public_key": "pQECAyYgASFYINyK",
        "user_handle": "L6vXNUDCvwpYqpjX",
        "user_agent": "Chrome 137.0.0 / Mac OS X 10.15.7",
        "usage": ["primary"],
    }))
}

fn expected_enrolled() -> Value {
    json!({
        "id": METHOD_ID,
        "type": "passkey",
        "created_at": "2026-01-05T10:28:12.580Z",
        "credential_device_type": "multi_device",
        "credential_backed_up": true,
    })
}

/// Any call at all to the fake Auth0: must not happen.
async fn expect_no_upstream_call(app: &TestApp) {
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named("no upstream call")
        .mount(&app.auth0)
        .await;
}

async fn post(
    app: &TestApp,
    route: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app.client.post(app.url(route));
    if let Some(body) = body {
        request = request.json(body);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the gateway answers")
}

async fn read(response: reqwest::Response, status: u16) -> (reqwest::header::HeaderMap, Value) {
    let actual = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "unexpected answer: {text}");
    assert_common_headers(&headers);
    (headers, serde_json::from_str(&text).expect("JSON body"))
}

#[tokio::test]
async fn token_mode_enroll_passes_the_bearer_and_answers_the_decoded_id() {
    let app = passkey_app().await;
    my_account(ENROLL_PATH, start_body(), ME_TOKEN)
        .respond_with(started(&app))
        .expect(2)
        .mount(&app.auth0)
        .await;
    let auth = bearer(ME_TOKEN);
    // `{}` and no body at all are the same request.
    for body in [Some(&json!({})), None] {
        let answer = post(&app, "/passkey/enroll", body, &[("authorization", &auth)]).await;
        let (headers, body) = read(answer, 200).await;
        assert_no_store(&headers);
        assert_eq!(body, expected_start());
    }
    let received = app.upstream_requests().await;
    let body = String::from_utf8_lossy(&received[0].body);
    assert!(
        !body.contains(CLIENT_SECRET) && !body.contains(CLIENT_ID),
        "{body}"
    );
}

#[tokio::test]
async fn token_mode_verify_sends_the_credential_unchanged_to_the_encoded_id() {
    let app = passkey_app().await;
    my_account(&verify_path(), verify_upstream_body(), ME_TOKEN)
        .respond_with(enrolled())
        .expect(1)
        .mount(&app.auth0)
        .await;
    let auth = bearer(ME_TOKEN);
    let answer = post(
        &app,
        "/passkey/enroll/verify",
        Some(&verify_request()),
        &[("authorization", &auth)],
    )
    .await;
    let (headers, body) = read(answer, 201).await;
    assert_no_store(&headers);
    assert_eq!(body, expected_enrolled());
    // The credential reached Auth0 byte for byte as the client sent it.
    let received = app.upstream_requests().await;
    let sent: Value = serde_json::from_slice(&received[0].body).expect("JSON");
    assert_eq!(sent["authn_response"], credential());
    assert_eq!(received[0].url.path(), verify_path());
}

#[tokio::test]
async fn a_202_without_a_usable_location_or_body_is_an_upstream_error() {
    let app = passkey_app().await;
    let base = format!("{}{ENROLL_PATH}", app.auth0.uri());
    let body = json!({"auth_session": AUTH_SESSION, "authn_params_public_key": creation_options()});
    let with_location = |location: &str| {
        ResponseTemplate::new(202)
            .insert_header("location", location)
            .set_body_json(body.clone())
    };
    let cases: Vec<(&str, ResponseTemplate)> = vec![
        (
            "no Location",
            ResponseTemplate::new(202).set_body_json(body.clone()),
        ),
        ("empty last segment", with_location(&format!("{base}/"))),
        (
            "a query",
            with_location(&format!("{base}/{METHOD_ID_ENCODED}?x=1")),
        ),
        (
            "a broken escape",
            with_location(&format!("{base}/passkey%7")),
        ),
        ("a space", with_location(&format!("{base}/a%20b"))),
        ("a dot segment", with_location(&format!("{base}/%2e%2e"))),
        (
            "too long",
            with_location(&format!("{base}/{}", "a".repeat(2049))),
        ),
        (
            "no auth_session",
            ResponseTemplate::new(202)
                .insert_header("location", format!("{base}/{METHOD_ID_ENCODED}").as_str())
                .set_body_json(json!({"authn_params_public_key": creation_options()})),
        ),
        (
            "auth_session not visible ASCII",
            ResponseTemplate::new(202)
                .insert_header("location", format!("{base}/{METHOD_ID_ENCODED}").as_str())
                .set_body_json(
                    json!({"auth_session": "a b", "authn_params_public_key": creation_options()}),
                ),
        ),
        (
            "options not an object",
            ResponseTemplate::new(202)
                .insert_header("location", format!("{base}/{METHOD_ID_ENCODED}").as_str())
                .set_body_json(
                    json!({"auth_session": AUTH_SESSION, "authn_params_public_key": "x"}),
                ),
        ),
        (
            "HTML",
            ResponseTemplate::new(202)
                .insert_header("location", format!("{base}/{METHOD_ID_ENCODED}").as_str())
                .set_body_raw("<html>ok</html>", "text/html"),
        ),
    ];
    let auth = bearer(ME_TOKEN);
    for (case, answer) in cases {
        app.auth0.reset().await;
        my_account(ENROLL_PATH, start_body(), ME_TOKEN)
            .respond_with(answer)
            .expect(1)
            .named(case)
            .mount(&app.auth0)
            .await;
        let response = post(
            &app,
            "/passkey/enroll",
            Some(&json!({})),
            &[("authorization", &auth)],
        )
        .await;
        let (_, body) = assert_error(&app, response, 502, "upstream_error").await;
        assert!(
            !body.to_string().contains(AUTH_SESSION),
            "{case}: nothing of Auth0's body reaches the client"
        );
        app.auth0.verify().await;
    }
}

/// The My Account API's error shape.
fn problem(status: u16, detail: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "type": "https://auth0.com/api-errors/A0E-400-0003",
        "status": status,
        "title": "Title",
        "detail": detail,
    }))
}

#[tokio::test]
async fn my_account_errors_map_to_the_gateway_shape_on_both_routes() {
    let app = passkey_app().await;
    let upstream_fault = "the identity provider could not be reached or gave an invalid answer";
    let rate_limited = "too many requests; retry after the time in Retry-After";
    let html = || ResponseTemplate::new(401).set_body_raw("<html>no</html>", "text/html");
    let cases: Vec<(&str, ResponseTemplate, u16, &str, &str)> = vec![
        (
            "400",
            problem(400, "Invalid auth_session"),
            400,
            "invalid_request",
            "Invalid auth_session",
        ),
        (
            "409",
            problem(409, "Passkey already enrolled"),
            400,
            "invalid_request",
            "Passkey already enrolled",
        ),
        (
            "422",
            problem(422, "Attestation refused"),
            400,
            "invalid_request",
            "Attestation refused",
        ),
        (
            "401",
            problem(401, "Invalid token"),
            401,
            "invalid_token",
            "Invalid token",
        ),
        (
            "403",
            problem(403, "Insufficient scope"),
            403,
            "insufficient_scope",
            "Insufficient scope",
        ),
        (
            "429",
            problem(429, "Too many").insert_header("retry-after", "7"),
            429,
            "too_many_requests",
            rate_limited,
        ),
        (
            "404",
            problem(404, "Not Found"),
            502,
            "upstream_error",
            upstream_fault,
        ),
        (
            "500",
            problem(500, "internal detail"),
            502,
            "upstream_error",
            upstream_fault,
        ),
        ("401 HTML", html(), 502, "upstream_error", upstream_fault),
    ];
    let auth = bearer(ME_TOKEN);
    let routes = [
        (
            "/passkey/enroll",
            ENROLL_PATH.to_string(),
            start_body(),
            json!({}),
        ),
        (
            "/passkey/enroll/verify",
            verify_path(),
            verify_upstream_body(),
            verify_request(),
        ),
    ];
    for (route, endpoint, upstream_body, request) in &routes {
        for (case, answer, status, code, description) in &cases {
            app.auth0.reset().await;
            my_account(endpoint, upstream_body.clone(), ME_TOKEN)
                .respond_with(answer.clone())
                .expect(1)
                .named(format!("{route} {case}"))
                .mount(&app.auth0)
                .await;
            let response = post(&app, route, Some(request), &[("authorization", &auth)]).await;
            let (headers, body) = assert_error(&app, response, *status, code).await;
            assert_eq!(body["error_description"], *description, "{route} {case}");
            match *status {
                429 => assert_eq!(header_str(&headers, "retry-after"), Some("7"), "{route}"),
                401 => assert_eq!(header_str(&headers, "www-authenticate"), Some("Bearer")),
                _ => {}
            }
            app.auth0.verify().await;
        }
    }
}

#[tokio::test]
async fn malformed_ids_sessions_credentials_and_bodies_are_400_and_reach_no_one() {
    let app = passkey_app().await;
    expect_no_upstream_call(&app).await;
    let with = |field: &str, value: Value| {
        let mut request = verify_request();
        request[field] = value;
        request
    };
    let without = |field: &str| {
        let mut request = verify_request();
        request.as_object_mut().map(|m| m.remove(field));
        request
    };
    let broken = |pointer: &str, value: Option<Value>| {
        let mut credential = credential();
        let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        let parent = credential
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap();
        match value {
            Some(value) => parent.insert(key.to_string(), value),
            None => parent.remove(key),
        };
        credential
    };
    let sign_in_client_data = URL_SAFE_NO_PAD
        .encode(r#"{"type":"webauthn.get","challenge":"x","origin":"https://app.example.com"}"#);
    let sign_in = json!({
        "id": "pYB5b1vQhKc3aU0FZ7k0Vw",
        "rawId": "pYB5b1vQhKc3aU0FZ7k0Vw",
        "type": "public-key",
        "response": {
            "clientDataJSON": sign_in_client_data.clone(),
            "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2M",
            "signature": "MEUCIQDv",
        },
    });
    let cases: Vec<(&str, Value)> = vec![
        ("no id", without("id")),
        ("empty id", with("id", json!(""))),
        ("id with a space", with("id", json!("passkey|a b"))),
        (
            "id with a control byte",
            with("id", json!("passkey|a\u{7}")),
        ),
        ("id not ASCII", with("id", json!("passkey|é"))),
        ("id too long", with("id", json!("a".repeat(2049)))),
        ("id a dot segment", with("id", json!(".."))),
        ("id not a string", with("id", json!(7))),
        ("no auth_session", without("auth_session")),
        ("empty auth_session", with("auth_session", json!(""))),
        (
            "auth_session with a space",
            with("auth_session", json!("a b")),
        ),
        (
            "auth_session too long",
            with("auth_session", json!("s".repeat(2049))),
        ),
        ("no credential", without("credential")),
        ("credential not an object", with("credential", json!("x"))),
        (
            "credential of another type",
            with("credential", broken("/type", Some(json!("password")))),
        ),
        (
            "credential without attestationObject",
            with("credential", broken("/response/attestationObject", None)),
        ),
        (
            "attestationObject not base64url",
            with(
                "credential",
                broken("/response/attestationObject", Some(json!("o2Nm+mt/"))),
            ),
        ),
        (
            "attestationObject padded",
            with(
                "credential",
                broken("/response/attestationObject", Some(json!("o2Nm=="))),
            ),
        ),
        (
            "id is not rawId",
            with(
                "credential",
                broken("/id", Some(json!("AQIDBAUGBwgJCgsMDQ4PEA"))),
            ),
        ),
        (
            "clientData of a sign-in",
            with(
                "credential",
                broken("/response/clientDataJSON", Some(json!(sign_in_client_data))),
            ),
        ),
        (
            "an unknown credential field",
            with("credential", broken("/extra", Some(json!(1)))),
        ),
        ("a sign-in credential", with("credential", sign_in)),
        ("an unknown field", with("extra", json!(1))),
    ];
    let auth = bearer(ME_TOKEN);
    for (case, request) in cases {
        let response = post(
            &app,
            "/passkey/enroll/verify",
            Some(&request),
            &[("authorization", &auth)],
        )
        .await;
        let (_, body) = assert_error(&app, response, 400, "invalid_request").await;
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(
            !description.contains("passkey|"),
            "{case}: the value is not echoed: {description}"
        );
    }
    for request in [json!({"connection": "other"}), json!([1]), json!("x")] {
        let response = post(
            &app,
            "/passkey/enroll",
            Some(&request),
            &[("authorization", &auth)],
        )
        .await;
        assert_error(&app, response, 400, "invalid_request").await;
    }
}

#[tokio::test]
async fn a_missing_or_malformed_bearer_is_401_and_reaches_no_one() {
    let app = passkey_app().await;
    expect_no_upstream_call(&app).await;
    let routes = [
        ("/passkey/enroll", json!({})),
        ("/passkey/enroll/verify", verify_request()),
    ];
    let bad = [
        None,
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer"),
        Some("Bearer "),
        Some("Bearer a b"),
        Some("Bearer tok\u{00e9}n"),
    ];
    for (route, request) in &routes {
        for authorization in bad {
            let headers: Vec<(&str, &str)> = authorization
                .map(|a| ("authorization", a))
                .into_iter()
                .collect();
            let mut call = app.client.post(app.url(route)).json(request);
            for (name, value) in &headers {
                call = call.header(
                    *name,
                    reqwest::header::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
                );
            }
            let response = call.send().await.expect("answers");
            let (headers, _) = assert_error(&app, response, 401, "unauthorized").await;
            assert_eq!(
                header_str(&headers, "www-authenticate"),
                Some("Bearer"),
                "{authorization:?}"
            );
        }
    }
}

#[tokio::test]
async fn with_passkeys_off_the_enroll_routes_are_404() {
    let app = spawn_app().await;
    expect_no_upstream_call(&app).await;
    let auth = bearer(ME_TOKEN);
    for route in ["/passkey/enroll", "/passkey/enroll/verify"] {
        let response = post(&app, route, Some(&json!({})), &[("authorization", &auth)]).await;
        assert_error(&app, response, 404, "not_found").await;
    }
}

#[tokio::test]
async fn the_my_account_calls_keep_the_timeout_and_the_answer_cap() {
    let auth = bearer(ME_TOKEN);
    let timeout = spawn_app_with(&[
        ("GATEWAY__PASSKEY__ENABLED", "true"),
        ("GATEWAY__AUTH0__TIMEOUT_MS", "300"),
    ])
    .await;
    my_account(ENROLL_PATH, start_body(), ME_TOKEN)
        .respond_with(started(&timeout).set_delay(Duration::from_millis(1500)))
        .expect(1)
        .mount(&timeout.auth0)
        .await;
    let response = post(
        &timeout,
        "/passkey/enroll",
        Some(&json!({})),
        &[("authorization", &auth)],
    )
    .await;
    assert_error(&timeout, response, 504, "upstream_timeout").await;

    let capped = spawn_app_with(&[
        ("GATEWAY__PASSKEY__ENABLED", "true"),
        ("GATEWAY__AUTH0__MAX_RESPONSE_BYTES", "1024"),
    ])
    .await;
    my_account(&verify_path(), verify_upstream_body(), ME_TOKEN)
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": METHOD_ID, "type": "passkey", "created_at": "2026-01-05T10:28:12.580Z",
            "public_key": "k".repeat(4096),
        })))
        .expect(1)
        .mount(&capped.auth0)
        .await;
    let response = post(
        &capped,
        "/passkey/enroll/verify",
        Some(&verify_request()),
        &[("authorization", &auth)],
    )
    .await;
    assert_error(&capped, response, 502, "upstream_error").await;
}

/// The session's refresh for the My Account audience, field by field.
fn my_account_refresh(app: &TestApp) -> MockBuilder {
    upstream(
        "POST",
        "/oauth/token",
        json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "grant_type": "refresh_token",
            "refresh_token": REFRESH_TOKEN,
            "audience": format!("{}/me/", app.auth0.uri()),
            "scope": CREATE_SCOPE,
        }),
        "127.0.0.1",
    )
}

fn my_account_tokens() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": SESSION_ME_TOKEN,
        "expires_in": 600,
        "scope": CREATE_SCOPE,
        "token_type": "Bearer",
    }))
}

fn cookie_headers(cookie: &str) -> Vec<(&str, &str)> {
    vec![("cookie", cookie), ("x-lgw-session", "1")]
}

#[tokio::test]
async fn cookie_mode_refreshes_for_the_my_account_audience_once_and_keeps_the_token_in_the_cookie()
{
    let app = cookie_app().await;
    let cookie = logged_in(&app).await;
    my_account_refresh(&app)
        .respond_with(my_account_tokens())
        .expect(1)
        .named("one refresh for the My Account token")
        .mount(&app.auth0)
        .await;
    my_account(ENROLL_PATH, start_body(), SESSION_ME_TOKEN)
        .respond_with(started(&app))
        .expect(2)
        .mount(&app.auth0)
        .await;
    my_account(&verify_path(), verify_upstream_body(), SESSION_ME_TOKEN)
        .respond_with(enrolled())
        .expect(1)
        .mount(&app.auth0)
        .await;

    let first = post(
        &app,
        "/passkey/enroll",
        Some(&json!({})),
        &cookie_headers(&cookie),
    )
    .await;
    let resealed = cookie_header(first.headers());
    assert!(
        !resealed.is_empty(),
        "the My Account token is sealed into the cookie"
    );
    let (headers, body) = read(first, 200).await;
    assert_no_store(&headers);
    assert_eq!(body, expected_start());
    assert!(
        set_cookies(&headers)
            .iter()
            .all(|(_, value, _)| !value.contains(SESSION_ME_TOKEN)),
        "the token is sealed, never in clear"
    );

    // The kept token serves the next calls: no second refresh (reuse is
    // off, so only the cookie can explain it).
    let second = post(&app, "/passkey/enroll", None, &cookie_headers(&resealed)).await;
    read(second, 200).await;
    let verified = post(
        &app,
        "/passkey/enroll/verify",
        Some(&verify_request()),
        &cookie_headers(&resealed),
    )
    .await;
    let (_, body) = read(verified, 201).await;
    assert_eq!(body, expected_enrolled());
}

#[tokio::test]
async fn a_cookie_call_without_the_csrf_proof_is_403_and_reaches_no_one() {
    let app = cookie_app().await;
    let cookie = logged_in(&app).await;
    expect_no_upstream_call(&app).await;
    let refusals: [&[(&str, &str)]; 3] = [
        &[("cookie", &cookie)],
        &[("cookie", &cookie), ("x-lgw-session", "true")],
        &[
            ("cookie", &cookie),
            ("x-lgw-session", "1"),
            ("origin", "https://evil.example"),
        ],
    ];
    for headers in refusals {
        for (route, body) in [
            ("/passkey/enroll", json!({})),
            ("/passkey/enroll/verify", verify_request()),
        ] {
            let response = post(&app, route, Some(&body), headers).await;
            assert_error(&app, response, 403, "csrf_failed").await;
        }
    }
    // A bearer does not exempt a call that carries the cookie.
    let auth = bearer(ME_TOKEN);
    let response = post(
        &app,
        "/passkey/enroll",
        Some(&json!({})),
        &[("cookie", &cookie), ("authorization", &auth)],
    )
    .await;
    assert_error(&app, response, 403, "csrf_failed").await;
}

#[tokio::test]
async fn a_bearer_wins_over_the_session_cookie() {
    let app = cookie_app().await;
    let cookie = logged_in(&app).await;
    my_account(ENROLL_PATH, start_body(), ME_TOKEN)
        .respond_with(started(&app))
        .expect(1)
        .mount(&app.auth0)
        .await;
    // No refresh for the session: the bearer is used as it is.
    my_account_refresh(&app)
        .respond_with(my_account_tokens())
        .expect(0)
        .mount(&app.auth0)
        .await;
    let auth = bearer(ME_TOKEN);
    let mut headers = cookie_headers(&cookie);
    headers.push(("authorization", &auth));
    let response = post(&app, "/passkey/enroll", Some(&json!({})), &headers).await;
    let (headers, body) = read(response, 200).await;
    assert_eq!(body, expected_start());
    assert!(
        set_cookies(&headers).is_empty(),
        "the session is not touched"
    );
}

#[tokio::test]
async fn cookie_mode_without_a_session_is_session_expired_and_reaches_no_one() {
    let app = cookie_app().await;
    expect_no_upstream_call(&app).await;
    let response = post(&app, "/passkey/enroll", Some(&json!({})), OPTED_IN).await;
    assert_error(&app, response, 401, "session_expired").await;
    let tampered = [
        ("cookie", "__Host-lgw=bm90LWEtc2VhbGVkLWNvb2tpZQ"),
        ("x-lgw-session", "1"),
    ];
    let response = post(
        &app,
        "/passkey/enroll/verify",
        Some(&verify_request()),
        &tampered,
    )
    .await;
    let (headers, _) = assert_error(&app, response, 401, "session_expired").await;
    crate::session::assert_cleared(&headers, "__Host-lgw");
    // With sessions on, a call with neither a bearer nor the cookie nor the
    // opt-in is a token-mode call without its bearer.
    let response = post(&app, "/passkey/enroll", Some(&json!({})), &[]).await;
    assert_error(&app, response, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_kept_token_auth0_refuses_is_dropped_so_the_next_call_refreshes_again() {
    let app = cookie_app().await;
    let cookie = logged_in(&app).await;
    my_account_refresh(&app)
        .respond_with(my_account_tokens())
        .expect(2)
        .mount(&app.auth0)
        .await;
    my_account(ENROLL_PATH, start_body(), SESSION_ME_TOKEN)
        .respond_with(problem(403, "Insufficient scope"))
        .expect(2)
        .mount(&app.auth0)
        .await;
    let first = post(
        &app,
        "/passkey/enroll",
        Some(&json!({})),
        &cookie_headers(&cookie),
    )
    .await;
    let resealed = cookie_header(first.headers());
    assert!(
        !resealed.is_empty(),
        "the session is resealed without the refused token"
    );
    assert_error(&app, first, 403, "insufficient_scope").await;
    let second = post(
        &app,
        "/passkey/enroll",
        Some(&json!({})),
        &cookie_headers(&resealed),
    )
    .await;
    assert_error(&app, second, 403, "insufficient_scope").await;
}

#[tokio::test]
async fn token_refresh_hands_out_a_my_account_token_only_while_passkeys_are_on() {
    let app = passkey_app().await;
    let me = format!("{}/me/", app.auth0.uri());
    upstream(
        "POST",
        "/oauth/token",
        json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "grant_type": "refresh_token",
            "refresh_token": REFRESH_TOKEN,
            "audience": me,
            "scope": CREATE_SCOPE,
        }),
        "127.0.0.1",
    )
    .respond_with(my_account_tokens())
    .expect(1)
    .mount(&app.auth0)
    .await;
    let request = json!({"refresh_token": REFRESH_TOKEN, "audience": me, "scope": CREATE_SCOPE});
    let (headers, body) = assert_ok_json(app.post_json("/token/refresh", &request).await).await;
    assert_no_store(&headers);
    assert_eq!(body["access_token"], SESSION_ME_TOKEN);

    // The scope is the My Account audience's only; other audiences and
    // empty values are refused before Auth0.
    for refused in [
        json!({"refresh_token": REFRESH_TOKEN, "scope": CREATE_SCOPE}),
        json!({"refresh_token": REFRESH_TOKEN, "audience": "https://api.example.com/", "scope": CREATE_SCOPE}),
        json!({"refresh_token": REFRESH_TOKEN, "audience": me, "scope": "delete:me:authentication_methods"}),
        json!({"refresh_token": REFRESH_TOKEN, "audience": ""}),
    ] {
        let response = app.post_json("/token/refresh", &refused).await;
        assert_error(&app, response, 400, "invalid_request").await;
    }

    let off = spawn_app().await;
    expect_no_upstream_call(&off).await;
    let me = format!("{}/me/", off.auth0.uri());
    let request = json!({"refresh_token": REFRESH_TOKEN, "audience": me, "scope": CREATE_SCOPE});
    let response = off.post_json("/token/refresh", &request).await;
    assert_error(&off, response, 400, "invalid_request").await;
}
