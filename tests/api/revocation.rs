//! Sessions that end when they should (SPEC §12), in one process with the
//! memory store: a copy of the cookie taken before sign-out, "sign out
//! everywhere", the markers the back-channel route will set (through
//! `AppState::revocations`), cookies sealed before revocation existed, and
//! the optional logout body. Every Auth0 and API call is asserted; "no
//! call" is a count that does not move and `.expect(0)` mocks.

use std::time::Duration;

use actix_web::web;
use serde_json::{json, Value};
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use login_gateway::session::revocation::{Marker, Reason};
use login_gateway::startup::Application;
use login_gateway::state::AppState;

use crate::helpers::*;
use crate::session::{
    app_with_apis, assert_cleared, call, cookie_header, refresh_grant_call, session_app,
    set_cookies, tokens, APP_ORIGIN, COOKIE, KEY_1, MFA_COOKIE, OPTED_IN,
};

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Logs `email` in (cookie mode) with an id_token for `sub` plus `extra`
/// claims; the OTP grant is asserted field by field and answered once.
pub(crate) async fn login_as(
    app: &TestApp,
    email: &str,
    sub: &str,
    extra: Value,
    expires_in: u64,
) -> String {
    let mut claims = json!({"sub": sub, "email": email});
    if let (Some(map), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        map.extend(extra);
    }
    upstream(
        "POST",
        "/oauth/token",
        otp_grant(email, "123456", "email"),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(tokens(app, claims, expires_in)))
    .up_to_n_times(1)
    .expect(1)
    .mount(&app.auth0)
    .await;
    let answer = app
        .post_json_with(
            "/login/verify",
            &json!({"email": email, "code": "123456"}),
            &[("x-lgw-session", "1")],
        )
        .await;
    assert_eq!(answer.status(), 200);
    cookie_header(answer.headers())
}

async fn jane(app: &TestApp) -> String {
    login_as(app, "jane@example.com", "email|jane", json!({}), 86400).await
}

/// Auth0's `/oauth/revoke` for the session's refresh token, `times` times.
pub(crate) async fn expect_revokes(auth0: &MockServer, times: u64) {
    upstream(
        "POST",
        "/oauth/revoke",
        json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "token": REFRESH_TOKEN,
        }),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(200))
    .up_to_n_times(times)
    .expect(times)
    .mount(auth0)
    .await;
}

async fn logout(app: &TestApp, cookie: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/session/logout"))
        .header("cookie", cookie)
        .header("x-lgw-session", "1");
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("the gateway answers")
}

pub(crate) async fn get_session(app: &TestApp, cookie: &str) -> reqwest::Response {
    call(app, reqwest::Method::GET, "/session", cookie, &[]).await
}

/// `401 session_expired` with the session cookies cleared.
pub(crate) async fn assert_ended(app: &TestApp, answer: reqwest::Response) {
    let (headers, _) = assert_error(app, answer, 401, "session_expired").await;
    assert_cleared(&headers, COOKIE);
    assert_cleared(&headers, MFA_COOKIE);
}

/// Waits until the clock is past second `at`: a login after a `sub`
/// marker made in second `at` must begin in a later second (whole
/// seconds, "at or before", SPEC §12).
pub(crate) async fn after_second(at: u64) {
    while unix_now() <= at {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) async fn metrics(app: &TestApp) -> String {
    app.client
        .get(format!("{}/metrics", app.metrics_address))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text")
}

#[tokio::test]
async fn a_copy_of_the_cookie_taken_before_sign_out_is_401_on_every_route_and_calls_no_one() {
    let api = MockServer::start().await;
    let app = app_with_apis(&api).await;
    // The access token is within the refresh margin: without the marker,
    // /session/token and /api would refresh at Auth0 first.
    let cookie = login_as(&app, "jane@example.com", "email|jane", json!({}), 30).await;
    let copy = cookie.clone();
    let other = jane(&app).await;
    expect_revokes(&app.auth0, 1).await;
    let out = logout(&app, &cookie, None).await;
    assert_eq!(out.status(), 204);
    assert_cleared(out.headers(), COOKIE);

    refresh_grant_call(None)
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named("no refresh with a revoked session")
        .mount(&app.auth0)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .named("no API call with a revoked session")
        .mount(&api)
        .await;
    let auth0_calls = app.upstream_requests().await.len();
    for (verb, route) in [
        (reqwest::Method::GET, "/session"),
        (reqwest::Method::POST, "/session/refresh"),
        (reqwest::Method::GET, "/session/token"),
        (reqwest::Method::GET, "/api/orders/v1/orders"),
        (reqwest::Method::POST, "/api/billing/invoices"),
    ] {
        let refused = call(&app, verb, route, &copy, OPTED_IN).await;
        assert_ended(&app, refused).await;
    }
    // Signing out again with the copy ends nothing more and calls no one.
    assert_eq!(logout(&app, &copy, None).await.status(), 204);
    assert_eq!(app.upstream_requests().await.len(), auth0_calls);
    assert!(api.received_requests().await.unwrap_or_default().is_empty());
    // The user's other session (another login) is not this one.
    assert_eq!(get_session(&app, &other).await.status(), 200);
    assert!(metrics(&app)
        .await
        .contains("gateway_session_revocations_total{reason=\"logout\"}"));
}

#[tokio::test]
async fn signing_out_everywhere_ends_the_users_other_sessions_and_no_one_elses() {
    let app = session_app(KEY_1).await;
    let laptop = jane(&app).await;
    let phone = jane(&app).await;
    let john = login_as(&app, "john@example.com", "email|john", json!({}), 86400).await;
    assert_ne!(laptop, phone, "two logins, two sessions");
    expect_revokes(&app.auth0, 1).await;

    let out = logout(&app, &laptop, Some(json!({"everywhere": true}))).await;
    assert_eq!(out.status(), 204);
    let marked_at = unix_now();
    assert_ended(&app, get_session(&app, &phone).await).await;
    assert_ended(&app, get_session(&app, &laptop).await).await;
    assert_eq!(get_session(&app, &john).await.status(), 200, "another user");

    // Jane signs in again (in a later second than the marker's): works.
    after_second(marked_at).await;
    let again = jane(&app).await;
    assert_eq!(get_session(&app, &again).await.status(), 200);
    // A revoked copy cannot sign her out everywhere again, nor reach Auth0
    // (the one revoke above is all `expect_revokes` allows).
    let auth0_calls = app.upstream_requests().await.len();
    let replay = logout(&app, &phone, Some(json!({"everywhere": true}))).await;
    assert_eq!(replay.status(), 204);
    assert_eq!(app.upstream_requests().await.len(), auth0_calls);
    assert_eq!(get_session(&app, &again).await.status(), 200);
    assert!(metrics(&app)
        .await
        .contains("gateway_session_revocations_total{reason=\"everywhere\"}"));
}

#[tokio::test]
async fn logout_takes_no_body_an_empty_one_or_everywhere_and_refuses_anything_else() {
    let app = session_app(KEY_1).await;
    let cookie = jane(&app).await;
    for (body, content_type, status, code) in [
        (
            r#"{"everyone": true}"#,
            "application/json",
            400,
            "invalid_request",
        ),
        (
            r#"{"everywhere": "yes"}"#,
            "application/json",
            400,
            "invalid_request",
        ),
        (
            "everywhere=true",
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
        ),
    ] {
        let refused = app
            .client
            .post(app.url("/session/logout"))
            .header("cookie", &cookie)
            .header("x-lgw-session", "1")
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("answers");
        let (headers, _) = assert_error(&app, refused, status, code).await;
        assert!(set_cookies(&headers).is_empty(), "{body}: nothing cleared");
    }
    assert_eq!(
        get_session(&app, &cookie).await.status(),
        200,
        "nothing ended"
    );

    // No body, an empty JSON body, `{}` and `{"everywhere": false}`: this
    // session only (each with its own login; one revoke each).
    expect_revokes(&app.auth0, 4).await;
    let bystander = jane(&app).await;
    for body in [None, Some(""), Some("{}"), Some(r#"{"everywhere": false}"#)] {
        let session = jane(&app).await;
        let mut request = app
            .client
            .post(app.url("/session/logout"))
            .header("cookie", &session)
            .header("x-lgw-session", "1");
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let out = request.send().await.expect("answers");
        assert_eq!(out.status(), 204, "{body:?}");
        assert_ended(&app, get_session(&app, &session).await).await;
    }
    assert_eq!(get_session(&app, &bystander).await.status(), 200);
    // The CSRF rule is unchanged.
    let forged = call(
        &app,
        reqwest::Method::POST,
        "/session/logout",
        &cookie,
        &[("x-lgw-session", "1"), ("origin", "https://evil.example")],
    )
    .await;
    assert_error(&app, forged, 403, "csrf_failed").await;
    let allowed = call(
        &app,
        reqwest::Method::POST,
        "/session/logout",
        &cookie,
        &[("x-lgw-session", "1"), ("origin", APP_ORIGIN)],
    )
    .await;
    assert_eq!(allowed.status(), 204);
}

/// A session gateway and its shared state, to set markers as the
/// back-channel route does.
async fn app_with_state() -> (TestApp, web::Data<AppState>) {
    let auth0 = MockServer::start().await;
    let mut env = base_env(&auth0.uri());
    for (key, value) in [
        ("GATEWAY__SESSION__ENABLED", "true"),
        ("GATEWAY__SESSION__KEYS", KEY_1),
        ("GATEWAY__SERVER__CORS_ALLOWED_ORIGINS", APP_ORIGIN),
    ] {
        env.push((key.to_string(), value.to_string()));
    }
    let settings = settings_from_env(&env).expect("test settings are valid");
    let app = Application::build(settings).expect("the application builds");
    let state = app.state();
    let port = app.port();
    let metrics_port = app.metrics_port().unwrap_or(0);
    tokio::spawn(app.run_until_stopped());
    let app = TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        metrics_address: format!("http://127.0.0.1:{metrics_port}"),
        auth0,
        client: http_client(),
    };
    (app, state)
}

#[tokio::test]
async fn a_sid_marker_ends_the_sessions_of_that_auth0_session_and_a_sub_marker_the_earlier_ones() {
    let (app, state) = app_with_state().await;
    let a = login_as(
        &app,
        "jane@example.com",
        "email|jane",
        json!({"sid": "auth0-session-a"}),
        86400,
    )
    .await;
    let b = login_as(
        &app,
        "jane@example.com",
        "email|jane",
        json!({"sid": "auth0-session-b"}),
        86400,
    )
    .await;
    let auth0_calls = app.upstream_requests().await.len();
    state
        .revocations
        .mark(Marker::Sid("auth0-session-a"), Reason::Backchannel)
        .await
        .expect("the memory store always takes a marker");
    assert_ended(&app, get_session(&app, &a).await).await;
    assert_eq!(get_session(&app, &b).await.status(), 200);

    // `sub` + time: sessions that began at or before it end, later ones
    // live.
    let at = unix_now();
    state
        .revocations
        .mark(
            Marker::Sub {
                sub: "email|jane",
                at,
            },
            Reason::Backchannel,
        )
        .await
        .expect("marked");
    assert_ended(&app, get_session(&app, &b).await).await;
    assert_eq!(app.upstream_requests().await.len(), auth0_calls);
    after_second(at).await;
    let later = login_as(
        &app,
        "jane@example.com",
        "email|jane",
        json!({"sid": "auth0-session-c"}),
        86400,
    )
    .await;
    assert_eq!(get_session(&app, &later).await.status(), 200);
    assert!(metrics(&app)
        .await
        .contains("gateway_session_revocations_total{reason=\"backchannel\"}"));
}

/// A session cookie as the gateway sealed it before revocation existed:
/// no id, no `sid`, no login time.
fn legacy_cookie() -> String {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use login_gateway::session::seal::Sealer;
    use login_gateway::settings::SessionKey;
    let key: [u8; 32] = STANDARD
        .decode(KEY_1)
        .expect("base64")
        .try_into()
        .expect("32 bytes");
    let sealer = Sealer::new(&[SessionKey(key)]).expect("a sealer");
    let now = unix_now();
    let data = json!({
        "refresh_token": REFRESH_TOKEN,
        "access_token": ACCESS_TOKEN,
        "access_expires_at": now + 86_400,
        "user": {"sub": "email|jane", "email": "jane@example.com"},
        "expires_at": now + 3_600,
        "used_at": now,
    });
    let value = sealer.seal(COOKIE, &data, now + 3_600).expect("sealed");
    format!("{COOKIE}={value}")
}

#[tokio::test]
async fn a_cookie_sealed_before_revocation_existed_opens_and_ends_with_its_users_everywhere_sign_out(
) {
    let app = session_app(KEY_1).await;
    let legacy = legacy_cookie();
    assert_eq!(get_session(&app, &legacy).await.status(), 200);
    // No id to mark: a plain sign-out revokes its refresh token at Auth0
    // and clears it, but a copy is not ended by it (the decision for
    // cookies sealed before SPEC §12; new logins all carry an id).
    expect_revokes(&app.auth0, 2).await;
    assert_eq!(logout(&app, &legacy, None).await.status(), 204);
    assert_eq!(get_session(&app, &legacy).await.status(), 200);
    // Its login time is "before any marker": the user's sign-out
    // everywhere from a current session ends it.
    let current = jane(&app).await;
    let out = logout(&app, &current, Some(json!({"everywhere": true}))).await;
    assert_eq!(out.status(), 204);
    assert_ended(&app, get_session(&app, &legacy).await).await;
}

#[tokio::test]
async fn without_a_session_nothing_is_marked_and_no_one_is_called() {
    let app = session_app(KEY_1).await;
    let none = app.get("/session").await;
    let (headers, _) = assert_error(&app, none, 401, "session_expired").await;
    assert!(set_cookies(&headers).is_empty());
    Mock::given(method("POST"))
        .and(path("/oauth/revoke"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&app.auth0)
        .await;
    // Signing out without a session marks nothing and calls no one.
    let out = app
        .client
        .post(app.url("/session/logout"))
        .json(&json!({"everywhere": true}))
        .send()
        .await
        .expect("answers");
    assert_eq!(out.status(), 204);
    assert!(app.upstream_requests().await.is_empty());
}
