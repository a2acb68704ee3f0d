//! Cookie sessions (SPEC §10) over the wire: the sealed `__Host-` cookies,
//! their attributes, tampering, key rotation, chunking, CSRF, the session
//! routes and MFA in cookie mode, against wiremock playing Auth0 (every
//! upstream request matched field by field).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

/// Obviously fake keys: the bytes 0, 1, …, 31 and 32, 33, …, 63 (one
/// byte repeated is refused, SPEC §13).
pub(crate) const KEY_1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub(crate) const KEY_2: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
pub(crate) const COOKIE: &str = "__Host-lgw";
pub(crate) const MFA_COOKIE: &str = "__Host-lgw-mfa";
pub(crate) const APP_ORIGIN: &str = "https://app.example.com";

pub(crate) async fn session_app(keys: &str) -> TestApp {
    session_app_and(keys, &[]).await
}

/// [`session_app`] with `extra` settings on top.
pub(crate) async fn session_app_and(keys: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![
        ("GATEWAY__SESSION__ENABLED", "true"),
        ("GATEWAY__SESSION__KEYS", keys),
        ("GATEWAY__SERVER__CORS_ALLOWED_ORIGINS", APP_ORIGIN),
    ];
    env.extend_from_slice(extra);
    spawn_app_with(&env).await
}

/// No reuse window for refresh results (`session.refresh_reuse_secs = 0`):
/// a second call that should be answered from the cookie cannot be
/// answered by the single-flight's last result instead, so counting Auth0
/// calls proves what the cookie holds.
pub(crate) const NO_REFRESH_REUSE: (&str, &str) = ("GATEWAY__SESSION__REFRESH_REUSE_SECS", "0");

/// An id_token as Auth0 issues it for this client (signature not checked
/// by the gateway, SPEC §10), with `extra` claims.
pub(crate) fn id_token(app: &TestApp, extra: Value) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        + 3600;
    let mut claims = json!({
        "iss": format!("{}/", app.auth0.uri()),
        "aud": CLIENT_ID,
        "exp": exp,
        "sub": "email|jane",
        "email": "jane@example.com",
        "email_verified": true,
        "nonce": "not-for-the-app",
    });
    if let (Some(map), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        map.extend(extra);
    }
    format!(
        "eyJhbGciOiJSUzI1NiJ9.{}.fake-signature",
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

pub(crate) fn tokens(app: &TestApp, extra_claims: Value, expires_in: u64) -> Value {
    json!({
        "access_token": ACCESS_TOKEN,
        "id_token": id_token(app, extra_claims),
        "refresh_token": REFRESH_TOKEN,
        "scope": DEFAULT_SCOPE,
        "expires_in": expires_in,
        "token_type": "Bearer",
    })
}

pub(crate) async fn mount_login(app: &TestApp, answer: Value) {
    upstream(
        "POST",
        "/oauth/token",
        otp_grant("jane@example.com", "123456", "email"),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(answer))
    .mount(&app.auth0)
    .await;
}

pub(crate) async fn cookie_login(app: &TestApp) -> reqwest::Response {
    app.post_json_with(
        "/login/verify",
        &json!({"email": "jane@example.com", "code": "123456"}),
        &[("x-lgw-session", "1")],
    )
    .await
}

/// `name=value` pairs of the answer's `Set-Cookie` headers, and the whole
/// header lines.
pub(crate) fn set_cookies(headers: &HeaderMap) -> Vec<(String, String, String)> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|line| {
            let (pair, _) = line.split_once(';').unwrap_or((line, ""));
            let (name, value) = pair.split_once('=')?;
            Some((name.to_string(), value.to_string(), line.to_string()))
        })
        .collect()
}

/// The answer clears cookie `name`: an empty value with `Max-Age=0`.
pub(crate) fn assert_cleared(headers: &HeaderMap, name: &str) {
    let cookies = set_cookies(headers);
    assert!(
        cookies
            .iter()
            .any(|(n, v, line)| n == name && v.is_empty() && line.contains("Max-Age=0")),
        "{name} not cleared: {cookies:?}"
    );
}

/// Auth0 asked to refresh the session's refresh token (for `audience`),
/// the request matched field by field.
pub(crate) fn refresh_grant_call(audience: Option<&str>) -> wiremock::MockBuilder {
    let mut body = json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": REFRESH_TOKEN,
    });
    if let Some(audience) = audience {
        body["audience"] = json!(audience);
    }
    upstream("POST", "/oauth/token", body, "127.0.0.1")
}

/// The `Cookie` header a browser would send back (cookies with a value).
pub(crate) fn cookie_header(headers: &HeaderMap) -> String {
    set_cookies(headers)
        .into_iter()
        .filter(|(_, value, _)| !value.is_empty())
        .map(|(name, value, _)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ")
}

pub(crate) async fn logged_in(app: &TestApp) -> String {
    mount_login(app, tokens(app, json!({}), 86400)).await;
    let answer = cookie_login(app).await;
    assert_eq!(answer.status(), 200);
    cookie_header(answer.headers())
}

pub(crate) async fn call(
    app: &TestApp,
    http_method: reqwest::Method,
    route: &str,
    cookie: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = app
        .client
        .request(http_method, app.url(route))
        .header("cookie", cookie);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the gateway answers")
}

pub(crate) const OPTED_IN: &[(&str, &str)] = &[("x-lgw-session", "1")];

#[tokio::test]
async fn a_cookie_login_answers_the_user_and_sets_a_sealed_host_cookie() {
    let app = session_app(KEY_1).await;
    mount_login(&app, tokens(&app, json!({}), 86400)).await;
    let answer = cookie_login(&app).await;
    let headers = answer.headers().clone();
    assert_no_store(&headers);
    let body: Value = answer.json().await.expect("json");
    assert_eq!(
        body["user"],
        json!({"sub": "email|jane", "email": "jane@example.com", "email_verified": true})
    );
    let expires_at = body["expires_at"].as_u64().expect("expires_at");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    assert!((now + 86_300..=now + 86_500).contains(&expires_at));
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    let cookies = set_cookies(&headers);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let (name, value, line) = &cookies[0];
    assert_eq!(name, COOKIE);
    assert!(
        line.ends_with("; Path=/; Secure; HttpOnly; SameSite=Strict"),
        "{line}"
    );
    assert!(line.contains("; Max-Age=86"), "{line}");
    assert!(!line.to_lowercase().contains("domain="), "{line}");
    for secret in [ACCESS_TOKEN, REFRESH_TOKEN, "jane"] {
        assert!(!value.contains(secret), "the cookie shows {secret}");
    }
    // Without the header the same call answers the tokens, as before.
    let tokens_answer = app
        .post_json(
            "/login/verify",
            &json!({"email": "jane@example.com", "code": "123456"}),
        )
        .await;
    assert!(set_cookies(tokens_answer.headers()).is_empty());
    let body: Value = tokens_answer.json().await.expect("json");
    assert_eq!(body["access_token"], ACCESS_TOKEN);
}

#[tokio::test]
async fn get_session_reads_the_cookie_and_a_tampered_one_is_401_and_cleared() {
    let app = session_app(KEY_1).await;
    let cookie = logged_in(&app).await;
    let session = call(&app, reqwest::Method::GET, "/session", &cookie, &[]).await;
    assert_eq!(session.status(), 200);
    let body: Value = session.json().await.expect("json");
    assert_eq!(body["user"]["email"], "jane@example.com");

    let none = app.get("/session").await;
    let (headers, _) = assert_error(&app, none, 401, "session_expired").await;
    assert!(set_cookies(&headers).is_empty(), "nothing to clear");

    let (name, value) = cookie.split_once('=').expect("name=value");
    let mut bytes = URL_SAFE_NO_PAD.decode(value).expect("base64url");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let tampered = format!("{name}={}", URL_SAFE_NO_PAD.encode(bytes));
    let refused = call(&app, reqwest::Method::GET, "/session", &tampered, &[]).await;
    let (headers, _) = assert_error(&app, refused, 401, "session_expired").await;
    assert_cleared(&headers, COOKIE);
}

#[tokio::test]
async fn a_cookie_sealed_under_a_listed_old_key_opens_and_one_rotated_out_does_not() {
    let old = session_app(KEY_1).await;
    let cookie = logged_in(&old).await;
    // Rotation step 1: the new key first, the old one still listed.
    let rotating = session_app(&format!("{KEY_2},{KEY_1}")).await;
    let session = call(&rotating, reqwest::Method::GET, "/session", &cookie, &[]).await;
    assert_eq!(session.status(), 200);
    // Step 2, after max_age: the old key dropped.
    let rotated = session_app(KEY_2).await;
    let refused = call(&rotated, reqwest::Method::GET, "/session", &cookie, &[]).await;
    let (headers, _) = assert_error(&rotated, refused, 401, "session_expired").await;
    assert_cleared(&headers, COOKIE);
}

#[tokio::test]
async fn a_session_too_large_for_one_cookie_is_chunked_and_joined_back() {
    let app = session_app(KEY_1).await;
    let long_name = "J".repeat(6000);
    mount_login(&app, tokens(&app, json!({"name": long_name}), 86400)).await;
    let answer = cookie_login(&app).await;
    assert_eq!(answer.status(), 200);
    let cookies = set_cookies(answer.headers());
    let names: Vec<&str> = cookies.iter().map(|(n, _, _)| n.as_str()).collect();
    let expected: Vec<String> = (0..names.len()).map(|i| format!("{COOKIE}.{i}")).collect();
    assert!(names.len() >= 2 && names == expected, "{names:?}");
    assert!(cookies.iter().all(|(_, v, _)| v.len() <= 4000));
    let cookie = cookie_header(answer.headers());
    let session = call(&app, reqwest::Method::GET, "/session", &cookie, &[]).await;
    assert_eq!(session.status(), 200);
    let body: Value = session.json().await.expect("json");
    assert_eq!(body["user"]["name"].as_str().map(str::len), Some(6000));
}

#[tokio::test]
async fn csrf_refusals_never_reach_auth0() {
    let app = session_app(KEY_1).await;
    let cookie = logged_in(&app).await;
    let calls_before = app.upstream_requests().await.len();
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named("no refresh after a CSRF refusal")
        .mount(&app.auth0)
        .await;
    for (route, headers) in [
        ("/session/refresh", vec![]),
        ("/session/refresh", vec![("x-lgw-session", "true")]),
        (
            "/session/refresh",
            vec![("x-lgw-session", "1"), ("origin", "https://evil.example")],
        ),
        ("/session/logout", vec![]),
        ("/mfa/verify", vec![]),
        ("/login/verify", vec![]),
    ] {
        let refused = call(&app, reqwest::Method::POST, route, &cookie, &headers).await;
        assert_error(&app, refused, 403, "csrf_failed").await;
    }
    let token = call(&app, reqwest::Method::GET, "/session/token", &cookie, &[]).await;
    assert_error(&app, token, 403, "csrf_failed").await;
    assert_eq!(app.upstream_requests().await.len(), calls_before);
    // The allowed origin, and no Origin at all, pass (GET /session/token
    // answers from the cookie, no Auth0 call while the token is fresh).
    for headers in [
        vec![("x-lgw-session", "1"), ("origin", APP_ORIGIN)],
        vec![("x-lgw-session", "1")],
    ] {
        let ok = call(
            &app,
            reqwest::Method::GET,
            "/session/token",
            &cookie,
            &headers,
        )
        .await;
        assert_eq!(ok.status(), 200);
        let body: Value = ok.json().await.expect("json");
        assert_eq!(body["access_token"], ACCESS_TOKEN);
    }
}

#[tokio::test]
async fn cors_allows_credentials_for_allowed_origins_only() {
    let app = session_app(KEY_1).await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/session/refresh"))
        .header("origin", APP_ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-lgw-session")
        .send()
        .await
        .expect("answers");
    let headers = preflight.headers();
    assert_eq!(
        header_str(headers, "access-control-allow-origin"),
        Some(APP_ORIGIN)
    );
    assert_eq!(
        header_str(headers, "access-control-allow-credentials"),
        Some("true")
    );
    assert!(header_str(headers, "access-control-allow-headers")
        .is_some_and(|h| h.contains("X-Lgw-Session")));
    let foreign = app
        .client
        .get(app.url("/session"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("answers");
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());
    assert!(foreign
        .headers()
        .get("access-control-allow-credentials")
        .is_none());
}

#[tokio::test]
async fn refresh_and_token_use_the_sealed_refresh_token_and_reseal() {
    let app = session_app_and(KEY_1, &[NO_REFRESH_REUSE]).await;
    // The access token expires within the 60 s margin: /session/token
    // refreshes first.
    mount_login(&app, tokens(&app, json!({}), 30)).await;
    let login = cookie_login(&app).await;
    let cookie = cookie_header(login.headers());
    refresh_grant_call(None)
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "fake-access-token-refreshed",
            "expires_in": 86400,
            "token_type": "Bearer",
        })))
        // Two calls: the first /session/token and POST /session/refresh;
        // the second /session/token is answered from the resealed cookie.
        .expect(2)
        .mount(&app.auth0)
        .await;
    let token = call(
        &app,
        reqwest::Method::GET,
        "/session/token",
        &cookie,
        OPTED_IN,
    )
    .await;
    assert_eq!(token.status(), 200);
    let resealed = cookie_header(token.headers());
    assert!(!resealed.is_empty(), "the refreshed session is resealed");
    let body: Value = token.json().await.expect("json");
    assert_eq!(body["access_token"], "fake-access-token-refreshed");
    assert!(body["expires_in"].as_u64().is_some_and(|s| s > 86_000));
    // Fresh now: the resealed cookie answers without Auth0.
    let again = call(
        &app,
        reqwest::Method::GET,
        "/session/token",
        &resealed,
        OPTED_IN,
    )
    .await;
    let body: Value = again.json().await.expect("json");
    assert_eq!(body["access_token"], "fake-access-token-refreshed");
    assert_eq!(
        app.upstream_requests().await.len(),
        2,
        "the login and one refresh: the resealed cookie answered the second call"
    );
    // POST /session/refresh always refreshes.
    let refreshed = call(
        &app,
        reqwest::Method::POST,
        "/session/refresh",
        &resealed,
        OPTED_IN,
    )
    .await;
    assert_eq!(refreshed.status(), 200);
    let body: Value = refreshed.json().await.expect("json");
    assert_eq!(body["user"]["email"], "jane@example.com");
    assert_eq!(app.upstream_requests().await.len(), 3);
}

#[tokio::test]
async fn an_invalid_grant_on_refresh_ends_the_session() {
    let app = session_app(KEY_1).await;
    let cookie = logged_in(&app).await;
    refresh_grant_call(None)
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "Unknown or invalid refresh token."
        })))
        .mount(&app.auth0)
        .await;
    let ended = call(
        &app,
        reqwest::Method::POST,
        "/session/refresh",
        &cookie,
        OPTED_IN,
    )
    .await;
    let (headers, _) = assert_error(&app, ended, 401, "session_expired").await;
    assert_cleared(&headers, COOKIE);
}

#[tokio::test]
async fn logout_revokes_at_auth0_and_clears_every_cookie() {
    let app = session_app(KEY_1).await;
    let cookie = logged_in(&app).await;
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
    .expect(1)
    .mount(&app.auth0)
    .await;
    let cookie = format!("{cookie}; {MFA_COOKIE}=stale");
    let out = call(
        &app,
        reqwest::Method::POST,
        "/session/logout",
        &cookie,
        OPTED_IN,
    )
    .await;
    assert_eq!(out.status(), 204);
    for name in [COOKIE, MFA_COOKIE] {
        assert_cleared(out.headers(), name);
    }
}

#[tokio::test]
async fn in_cookie_mode_the_mfa_token_is_sealed_and_mfa_verify_reads_it() {
    let app = session_app(KEY_1).await;
    upstream(
        "POST",
        "/oauth/token",
        otp_grant("jane@example.com", "123456", "email"),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(403).set_body_json(mfa_required_answer()))
    .mount(&app.auth0)
    .await;
    let challenged = cookie_login(&app).await;
    let headers = challenged.headers().clone();
    let body: Value = challenged.json().await.expect("json");
    assert_eq!(body["error"], "mfa_required");
    assert!(
        body.get("mfa_token").is_none(),
        "the browser never holds it: {body}"
    );
    assert_eq!(
        body["mfa_requirements"],
        json!({"challenge": [{"type": "otp"}]})
    );
    let cookies = set_cookies(&headers);
    let (_, value, line) = cookies
        .iter()
        .find(|(n, _, _)| n == MFA_COOKIE)
        .expect("the mfa cookie");
    assert!(
        line.contains("Max-Age=600") && line.contains("HttpOnly"),
        "{line}"
    );
    assert!(!value.contains(MFA_TOKEN));
    let mfa_cookie = cookie_header(&headers);

    // /mfa/verify without Authorization: the sealed mfa_token goes to Auth0.
    upstream(
        "POST",
        "/oauth/token",
        json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "grant_type": "http://auth0.com/oauth/grant-type/mfa-otp",
            "mfa_token": MFA_TOKEN,
            "otp": "654321",
        }),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(tokens(&app, json!({}), 86400)))
    .expect(1)
    .mount(&app.auth0)
    .await;
    let verified = app
        .client
        .post(app.url("/mfa/verify"))
        .header("cookie", &mfa_cookie)
        .header("x-lgw-session", "1")
        .json(&json!({"otp": "654321"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(verified.status(), 200);
    let cookies = set_cookies(verified.headers());
    assert!(cookies.iter().any(|(n, v, _)| n == COOKIE && !v.is_empty()));
    assert_cleared(verified.headers(), MFA_COOKIE);
    let body: Value = verified.json().await.expect("json");
    assert_eq!(body["user"]["sub"], "email|jane");

    // A forged mfa cookie: 401, cleared, Auth0 not asked.
    let asked_before = app.upstream_requests().await.len();
    let forged = app
        .client
        .post(app.url("/mfa/verify"))
        .header("cookie", format!("{MFA_COOKIE}=AAAA"))
        .header("x-lgw-session", "1")
        .json(&json!({"otp": "654321"}))
        .send()
        .await
        .expect("answers");
    let (headers, _) = assert_error(&app, forged, 401, "session_expired").await;
    assert_cleared(&headers, MFA_COOKIE);
    assert_eq!(
        app.upstream_requests().await.len(),
        asked_before,
        "a forged mfa cookie never reaches Auth0"
    );
}

#[tokio::test]
async fn an_id_token_from_another_tenant_or_client_is_an_upstream_error() {
    let app = session_app(KEY_1).await;
    mount_login(&app, tokens(&app, json!({"aud": "another-client"}), 86400)).await;
    let answer = cookie_login(&app).await;
    let (headers, _) = assert_error(&app, answer, 502, "upstream_error").await;
    assert!(set_cookies(&headers).is_empty());
}

#[tokio::test]
async fn with_sessions_off_the_header_is_ignored_and_the_routes_do_not_exist() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/oauth/token",
        otp_grant("jane@example.com", "123456", "email"),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
    .mount(&app.auth0)
    .await;
    let answer = cookie_login(&app).await;
    assert_eq!(answer.status(), 200);
    assert!(set_cookies(answer.headers()).is_empty());
    let body: Value = answer.json().await.expect("json");
    assert_eq!(body["access_token"], ACCESS_TOKEN);
    let missing = app.get("/session").await;
    assert_error(&app, missing, 404, "not_found").await;
}

/// A session gateway whose `session.apis` has `orders` (the session's own
/// token) and `billing` (its own audience) on `api`.
pub(crate) async fn app_with_apis(api: &wiremock::MockServer) -> TestApp {
    app_with_apis_and(api, &[]).await
}

/// [`app_with_apis`] with `extra` settings on top.
async fn app_with_apis_and(api: &wiremock::MockServer, extra: &[(&str, &str)]) -> TestApp {
    let orders = format!("{}/orders-api", api.uri());
    let billing = format!("{}/billing-api", api.uri());
    let mut env = vec![
        ("GATEWAY__SESSION__APIS__ORDERS__URL", orders.as_str()),
        ("GATEWAY__SESSION__APIS__BILLING__URL", billing.as_str()),
        (
            "GATEWAY__SESSION__APIS__BILLING__AUDIENCE",
            "https://billing.example.com/",
        ),
    ];
    env.extend_from_slice(extra);
    session_app_and(KEY_1, &env).await
}

#[tokio::test]
async fn the_api_proxy_attaches_the_bearer_strips_cookies_and_passes_the_answer_back() {
    let api = wiremock::MockServer::start().await;
    let app = app_with_apis(&api).await;
    let cookie = logged_in(&app).await;
    Mock::given(method("POST"))
        .and(path("/orders-api/v1/orders"))
        .and(wiremock::matchers::query_param("page", "2"))
        .and(wiremock::matchers::header(
            "authorization",
            format!("Bearer {ACCESS_TOKEN}").as_str(),
        ))
        .and(wiremock::matchers::header(
            "content-type",
            "application/json",
        ))
        .and(body_json(json!({"item": "book"})))
        .and(|request: &wiremock::Request| {
            !request.headers.contains_key("cookie")
                && !request.headers.contains_key("x-lgw-session")
        })
        .respond_with(
            ResponseTemplate::new(201)
                .insert_header("set-cookie", "api-session=leak; Path=/")
                .insert_header("x-order-id", "42")
                .set_body_json(json!({"order": 42})),
        )
        .expect(1)
        .mount(&api)
        .await;
    let answer = app
        .client
        .post(app.url("/api/orders/v1/orders?page=2"))
        .header("cookie", &cookie)
        .header("x-lgw-session", "1")
        .json(&json!({"item": "book"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(answer.status(), 201);
    assert_eq!(header_str(answer.headers(), "x-order-id"), Some("42"));
    assert!(
        set_cookies(answer.headers())
            .iter()
            .all(|(n, _, _)| n != "api-session"),
        "the API's cookie must not reach the browser"
    );
    let body: Value = answer.json().await.expect("json");
    assert_eq!(body, json!({"order": 42}));

    // An API's error passes through as it is.
    Mock::given(method("GET"))
        .and(path("/orders-api/missing"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no such order"))
        .mount(&api)
        .await;
    let missing = call(
        &app,
        reqwest::Method::GET,
        "/api/orders/missing",
        &cookie,
        OPTED_IN,
    )
    .await;
    assert_eq!(missing.status(), 404);
    assert_eq!(missing.text().await.expect("text"), "no such order");

    // No CSRF proof, or no session: the API is not called.
    let refused = call(
        &app,
        reqwest::Method::GET,
        "/api/orders/v1/orders",
        &cookie,
        &[],
    )
    .await;
    assert_error(&app, refused, 403, "csrf_failed").await;
    let anonymous = app.get("/api/orders/v1/orders").await;
    assert_error(&app, anonymous, 401, "session_expired").await;
    let unknown = call(&app, reqwest::Method::GET, "/api/nope/x", &cookie, OPTED_IN).await;
    assert_error(&app, unknown, 404, "not_found").await;
}

#[tokio::test]
async fn an_api_with_its_own_audience_gets_a_token_for_it_kept_in_the_cookie() {
    let api = wiremock::MockServer::start().await;
    let app = app_with_apis_and(&api, &[NO_REFRESH_REUSE]).await;
    let cookie = logged_in(&app).await;
    refresh_grant_call(Some("https://billing.example.com/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "fake-billing-token",
            "expires_in": 3600,
            "token_type": "Bearer",
        })))
        .expect(1)
        .mount(&app.auth0)
        .await;
    Mock::given(method("GET"))
        .and(path("/billing-api/invoices"))
        .and(wiremock::matchers::header(
            "authorization",
            "Bearer fake-billing-token",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(2)
        .mount(&api)
        .await;
    let first = call(
        &app,
        reqwest::Method::GET,
        "/api/billing/invoices",
        &cookie,
        OPTED_IN,
    )
    .await;
    assert_eq!(first.status(), 200);
    let resealed = cookie_header(first.headers());
    assert!(
        !resealed.is_empty(),
        "the audience's token is kept in the cookie"
    );
    // The kept token serves the next call without Auth0 (expect(1) above;
    // with no reuse window only the cookie can answer it).
    let second = call(
        &app,
        reqwest::Method::GET,
        "/api/billing/invoices",
        &resealed,
        OPTED_IN,
    )
    .await;
    assert_eq!(second.status(), 200);
}

#[tokio::test]
async fn twenty_concurrent_session_refreshes_make_one_auth0_call() {
    let app = session_app(KEY_1).await;
    let cookie = logged_in(&app).await;
    refresh_grant_call(None)
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(std::time::Duration::from_millis(300))
                .set_body_json(json!({
                    "access_token": "fake-access-token-once",
                    "refresh_token": "fake-refresh-token-rotated",
                    "expires_in": 86400,
                    "token_type": "Bearer",
                })),
        )
        .expect(1)
        .mount(&app.auth0)
        .await;
    let calls = (0..20).map(|_| async {
        let answer = call(
            &app,
            reqwest::Method::POST,
            "/session/refresh",
            &cookie,
            OPTED_IN,
        )
        .await;
        assert_eq!(answer.status(), 200);
        answer.json::<Value>().await.expect("json")
    });
    let answers = futures_util::future::join_all(calls).await;
    assert!(
        answers.windows(2).all(|pair| pair[0] == pair[1]),
        "{answers:?}"
    );
}

#[tokio::test]
async fn an_idle_session_expires() {
    let app = spawn_app_with(&[
        ("GATEWAY__SESSION__ENABLED", "true"),
        ("GATEWAY__SESSION__KEYS", KEY_1),
        ("GATEWAY__SESSION__IDLE_SECS", "1"),
    ])
    .await;
    let cookie = logged_in(&app).await;
    let fresh = call(&app, reqwest::Method::GET, "/session", &cookie, &[]).await;
    assert_eq!(fresh.status(), 200);
    // Whole seconds on both sides: two of them leave it idle for at least one.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let idle = call(&app, reqwest::Method::GET, "/session", &cookie, &[]).await;
    let (headers, _) = assert_error(&app, idle, 401, "session_expired").await;
    assert_cleared(&headers, COOKIE);
}

#[tokio::test]
async fn per_ip_applies_to_session_and_api_calls_even_without_a_session() {
    // SPEC §10: `per_ip` covers `/session/*` and `/api/*`, so probing them
    // (with no cookie, or a forged one) is not free either.
    let api = wiremock::MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named("no API call without a session")
        .mount(&api)
        .await;
    let orders = format!("{}/orders-api", api.uri());
    let app = spawn_app_with(&[
        ("GATEWAY__SESSION__ENABLED", "true"),
        ("GATEWAY__SESSION__KEYS", KEY_1),
        ("GATEWAY__SESSION__APIS__ORDERS__URL", &orders),
        ("GATEWAY__RATE_LIMIT__PER_IP", "3/minute"),
    ])
    .await;
    let anonymous = app.get("/session").await;
    assert_error(&app, anonymous, 401, "session_expired").await;
    let forged = call(
        &app,
        reqwest::Method::GET,
        "/api/orders/v1",
        &format!("{COOKIE}=AAAA"),
        OPTED_IN,
    )
    .await;
    assert_error(&app, forged, 401, "session_expired").await;
    let logout = call(&app, reqwest::Method::POST, "/session/logout", "", OPTED_IN).await;
    assert_eq!(logout.status(), 204);
    for route in ["/session", "/session/token", "/api/orders/v1"] {
        let refused = app.get(route).await;
        let (headers, _) = assert_error(&app, refused, 429, "too_many_requests").await;
        assert_eq!(
            header_str(&headers, "ratelimit-policy"),
            Some("\"per_ip\";q=3;w=60"),
            "{route}"
        );
    }
    assert!(
        app.upstream_requests().await.is_empty(),
        "Auth0 never called"
    );
}

/// SPEC §13 "One path for every rule": a fixed segment spelled with
/// percent-escapes is `400` at the front door. Before this rule the CSRF
/// check read the raw path while actix routed on the decoded one, so
/// `GET /%73ession/token` handed the access token to any same-site page.
#[tokio::test]
async fn an_encoded_fixed_segment_is_400_and_reaches_neither_auth0_nor_the_api() {
    let api = wiremock::MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .expect(0)
        .named("the API is never called for an encoded path")
        .mount(&api)
        .await;
    let app = app_with_apis(&api).await;
    let cookie = logged_in(&app).await;
    let calls_before = app.upstream_requests().await.len();
    let foreign = [("origin", "https://evil.example")];
    for (verb, route) in [
        (reqwest::Method::GET, "/%73ession/token"),
        (reqwest::Method::GET, "/session/%74oken"),
        (reqwest::Method::POST, "/%73ession/refresh"),
        (reqwest::Method::POST, "/session/logout%2F"),
        (reqwest::Method::POST, "/%73ession/logout"),
        (reqwest::Method::POST, "/%61pi/orders/items"),
        (reqwest::Method::DELETE, "/%61pi/orders/items/7"),
        (reqwest::Method::GET, "/api/%6frders/items"),
        (reqwest::Method::POST, "/login/%76erify"),
        (reqwest::Method::POST, "/%6dfa/verify"),
        (reqwest::Method::POST, "/session/%62ackchannel-logout"),
    ] {
        let refused = call(&app, verb.clone(), route, &cookie, &foreign).await;
        assert_error_described(
            &app,
            refused,
            400,
            "invalid_request",
            "the path must not percent-encode a character of a fixed segment",
        )
        .await;
    }
    assert_eq!(
        app.upstream_requests().await.len(),
        calls_before,
        "nothing reached Auth0"
    );
    // `{rest}` may carry escapes; the CSRF rule still holds there.
    let refused = call(
        &app,
        reqwest::Method::POST,
        "/api/orders/it%65ms",
        &cookie,
        &[],
    )
    .await;
    assert_error(&app, refused, 403, "csrf_failed").await;
    api.verify().await;
}

/// SPEC §13: the gateway's own origin is read from forwarding headers only
/// when the TCP peer is a trusted proxy. Before, `X-Forwarded-Host:
/// evil.example` from anyone made `Origin: https://evil.example` "own".
#[tokio::test]
async fn the_own_origin_trusts_forwarding_headers_from_trusted_proxies_only() {
    let untrusted = session_app(KEY_1).await;
    let cookie = logged_in(&untrusted).await;
    let own = format!("http://127.0.0.1:{}", untrusted.port);
    let evil = [("x-lgw-session", "1"), ("origin", "https://evil.example")];
    for spoof in [
        vec![
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
        ],
        vec![("forwarded", "host=evil.example;proto=https")],
        vec![("x-forwarded-host", "evil.example")],
    ] {
        let headers: Vec<_> = evil.iter().copied().chain(spoof).collect();
        let refused = call(
            &untrusted,
            reqwest::Method::GET,
            "/session/token",
            &cookie,
            &headers,
        )
        .await;
        assert_error(&untrusted, refused, 403, "csrf_failed").await;
    }
    // The app served from the gateway itself: `Host` names the own origin.
    let same = [("x-lgw-session", "1"), ("origin", own.as_str())];
    let ok = call(
        &untrusted,
        reqwest::Method::GET,
        "/session/token",
        &cookie,
        &same,
    )
    .await;
    assert_eq!(ok.status(), 200);

    // Behind a trusted proxy, its rightmost X-Forwarded-Host / -Proto count.
    let proxied = spawn_app_with(&[
        ("GATEWAY__SESSION__ENABLED", "true"),
        ("GATEWAY__SESSION__KEYS", KEY_1),
        ("GATEWAY__SERVER__TRUSTED_PROXIES", "127.0.0.1/32"),
    ])
    .await;
    let cookie = logged_in(&proxied).await;
    let forwarded = |origin: &'static str, host: &'static str| {
        vec![
            ("x-lgw-session", "1"),
            ("origin", origin),
            ("x-forwarded-host", host),
            ("x-forwarded-proto", "https"),
        ]
    };
    let ok = call(
        &proxied,
        reqwest::Method::GET,
        "/session/token",
        &cookie,
        &forwarded("https://gw.example", "evil.example, gw.example"),
    )
    .await;
    assert_eq!(ok.status(), 200, "the proxy's own (rightmost) value");
    let refused = call(
        &proxied,
        reqwest::Method::GET,
        "/session/token",
        &cookie,
        &forwarded("https://evil.example", "evil.example, gw.example"),
    )
    .await;
    assert_error(&proxied, refused, 403, "csrf_failed").await;

    // `session.public_origin` set: it alone is the own origin.
    let pinned = spawn_app_with(&[
        ("GATEWAY__SESSION__ENABLED", "true"),
        ("GATEWAY__SESSION__KEYS", KEY_1),
        ("GATEWAY__SESSION__PUBLIC_ORIGIN", "https://gw.example"),
    ])
    .await;
    let cookie = logged_in(&pinned).await;
    let own = format!("http://127.0.0.1:{}", pinned.port);
    let by_host = [("x-lgw-session", "1"), ("origin", own.as_str())];
    let refused = call(
        &pinned,
        reqwest::Method::GET,
        "/session/token",
        &cookie,
        &by_host,
    )
    .await;
    assert_error(&pinned, refused, 403, "csrf_failed").await;
    let public = [("x-lgw-session", "1"), ("origin", "https://gw.example")];
    let ok = call(
        &pinned,
        reqwest::Method::GET,
        "/session/token",
        &cookie,
        &public,
    )
    .await;
    assert_eq!(ok.status(), 200);
}

/// SPEC §13 "Clearing is bounded": a broken cookie plus thousands of
/// invented chunk names gets at most the base name and its 8 chunk names
/// cleared (per cookie), not one `Set-Cookie` per name sent.
#[tokio::test]
async fn a_broken_cookie_with_thousands_of_chunk_names_clears_at_most_nine_names() {
    let app = session_app(KEY_1).await;
    let mut cookie = format!("{COOKIE}=not-a-sealed-value");
    for i in 0..5000 {
        cookie.push_str(&format!("; {COOKIE}.{i}=x"));
    }
    cookie.push_str(&format!("; {COOKIE}.0=x; {COOKIE}.07=x"));
    let answer = call(&app, reqwest::Method::GET, "/session", &cookie, &[]).await;
    let headers = answer.headers().clone();
    assert_error(&app, answer, 401, "session_expired").await;
    let cleared = set_cookies(&headers);
    let mut allowed: Vec<String> = vec![COOKIE.to_string()];
    allowed.extend((0..8).map(|i| format!("{COOKIE}.{i}")));
    for (name, value, _) in &cleared {
        assert!(allowed.contains(name), "{name} is not one of ours");
        assert!(value.is_empty(), "{name} is cleared");
    }
    assert_eq!(cleared.len(), 9, "the base name and its 8 chunk names");
    for name in &allowed {
        assert_cleared(&headers, name);
    }
}
