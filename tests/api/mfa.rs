//! /mfa/* → Auth0's MFA API (SPEC §1 "/mfa/*", §2, §4, §6, §7), over the wire
//! against a wiremock Auth0: the exact upstream request of every route, the
//! exact answer, the bearer rules, input validation, Auth0's MFA errors, the
//! DELETE path's safety and the per-mfa_token rate limit.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockBuilder, ResponseTemplate};

use crate::helpers::*;

const BEARER: &str = "Bearer fake-mfa-token-dddd";
const GRANT_MFA_OTP: &str = "http://auth0.com/oauth/grant-type/mfa-otp";
const GRANT_MFA_OOB: &str = "http://auth0.com/oauth/grant-type/mfa-oob";
const GRANT_MFA_RECOVERY_CODE: &str = "http://auth0.com/oauth/grant-type/mfa-recovery-code";
const FAKE_TOTP_SECRET: &str = "FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE";
const FAKE_BARCODE_URI: &str = "otpauth://totp/Example:jane%40example.com?secret=FAKEFAKEFAKEFAKEFAKEFAKEFAKEFAKE&issuer=Example";
const FAKE_RECOVERY_CODE: &str = "FAKERECOVERYCODE1234567890";
const FAKE_OOB_CODE: &str = "fake-oob-code-eeee";

// ---------------------------------------------------------------------------
// Helpers of this file
// ---------------------------------------------------------------------------

/// A request to the gateway with an optional `Authorization` and JSON body.
async fn call(
    app: &TestApp,
    http_method: Method,
    route: &str,
    authorization: Option<&str>,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut request = app.client.request(http_method, app.url(route));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("the gateway answers")
}

/// A POST with the default mfa_token as bearer.
async fn post_mfa(app: &TestApp, route: &str, body: &Value) -> reqwest::Response {
    call(app, Method::POST, route, Some(BEARER), Some(body)).await
}

/// An upstream MFA API call with a JSON body that must carry the same bearer.
fn upstream_with_bearer(http_method: &str, endpoint: &str, body: Value) -> MockBuilder {
    upstream(http_method, endpoint, body, "127.0.0.1").and(header("authorization", BEARER))
}

/// An upstream MFA API call without a body (GET / DELETE), same bearer.
fn upstream_without_body(http_method: &str, endpoint: &str) -> MockBuilder {
    Mock::given(method(http_method))
        .and(path(endpoint))
        .and(header("authorization", BEARER))
        .and(header("auth0-forwarded-for", "127.0.0.1"))
        .and(|request: &wiremock::Request| request.body.is_empty())
}

/// Nothing may reach Auth0 at all.
async fn forbid_any_upstream_call(app: &TestApp) {
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .named("no upstream call")
        .mount(&app.auth0)
        .await;
}

/// The upstream `/oauth/token` body of an MFA grant.
fn mfa_grant(grant_type: &str, proof: Value) -> Value {
    let mut body = json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": grant_type,
        "mfa_token": MFA_TOKEN,
    });
    if let (Some(map), Value::Object(extra)) = (body.as_object_mut(), proof) {
        map.extend(extra);
    }
    body
}

/// The upstream `/mfa/associate` body.
fn associate_body(extra: Value) -> Value {
    let mut body = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET});
    if let (Some(map), Value::Object(extra)) = (body.as_object_mut(), extra) {
        map.extend(extra);
    }
    body
}

/// An error answer whose body is a 401 with `WWW-Authenticate: Bearer`.
async fn assert_unauthorized(app: &TestApp, response: reqwest::Response, case: &str) {
    let (headers, _) = assert_error(app, response, 401, "unauthorized").await;
    assert_eq!(
        header_str(&headers, "www-authenticate"),
        Some("Bearer"),
        "{case}: 401 carries WWW-Authenticate: Bearer"
    );
}

/// Authorization values that must be refused before Auth0 is called.
const BAD_AUTHORIZATIONS: &[Option<&str>] = &[
    None,
    Some("Basic dGVzdDp0ZXN0"),
    Some("Bearer"),
    Some("Bearer   "),
    Some("Bearer two tokens"),
    Some("Bearer fake\"quoted"),
    Some("Token fake-mfa-token-dddd"),
    Some("fake-mfa-token-dddd"),
];

/// Sends `body` to `route` with every bad `Authorization` value and checks
/// the 401s; Auth0 is never called.
async fn check_bearer_is_required(http_method: Method, route: &str, body: Option<&Value>) {
    let app = spawn_app().await;
    forbid_any_upstream_call(&app).await;
    for authorization in BAD_AUTHORIZATIONS {
        let response = call(&app, http_method.clone(), route, *authorization, body).await;
        assert_unauthorized(&app, response, &format!("{authorization:?}")).await;
    }
    app.auth0.verify().await;
}

/// Sends each body and expects `400 invalid_request`; Auth0 is never called.
async fn check_rejected_bodies(route: &str, bodies: &[Value]) {
    let app = spawn_app().await;
    forbid_any_upstream_call(&app).await;
    for body in bodies {
        let response = post_mfa(&app, route, body).await;
        let status = response.status();
        assert_eq!(status.as_u16(), 400, "{route} {body} must be refused");
        assert_error(&app, response, 400, "invalid_request").await;
    }
    app.auth0.verify().await;
}

/// Mounts `answer` for one exact verify call and checks that the gateway
/// passes Auth0's status and code through (SPEC §2, §7).
async fn check_verify_passes_through(
    answer: ResponseTemplate,
    status: u16,
    code: &str,
    description: &str,
) -> HeaderMap {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/oauth/token",
        mfa_grant(GRANT_MFA_OTP, json!({"otp": "123456"})),
        "127.0.0.1",
    )
    .respond_with(answer)
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = post_mfa(&app, "/mfa/verify", &json!({"otp": "123456"})).await;

    let (headers, body) = assert_error(&app, response, status, code).await;
    assert_eq!(body["error_description"], description);
    headers
}

fn answer_json(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn auth0_error(status: u16, error: &str, description: &str) -> ResponseTemplate {
    answer_json(
        status,
        json!({"error": error, "error_description": description}),
    )
}

/// A raw HTTP/1.1 request, for paths an HTTP client library would normalise
/// (`..`). Returns the status and the body.
async fn raw_request(app: &TestApp, request_line: &str, authorization: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect to the gateway");
    let request = format!(
        "{request_line}\r\nHost: 127.0.0.1:{}\r\nAuthorization: {authorization}\r\nConnection: close\r\n\r\n",
        app.port
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the gateway answers in time")
        .expect("read the answer");
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

// ---------------------------------------------------------------------------
// The bearer (SPEC §1: missing or malformed → 401 unauthorized + WWW-Authenticate)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn listing_authenticators_without_a_valid_bearer_is_401_and_never_reaches_auth0() {
    check_bearer_is_required(Method::GET, "/mfa/authenticators", None).await;
}

#[tokio::test]
async fn associating_without_a_valid_bearer_is_401_and_never_reaches_auth0() {
    check_bearer_is_required(
        Method::POST,
        "/mfa/associate",
        Some(&json!({"factor": "otp"})),
    )
    .await;
}

#[tokio::test]
async fn challenging_without_a_valid_bearer_is_401_and_never_reaches_auth0() {
    check_bearer_is_required(
        Method::POST,
        "/mfa/challenge",
        Some(&json!({"challenge_type": "otp"})),
    )
    .await;
}

#[tokio::test]
async fn verifying_without_a_valid_bearer_is_401_and_never_reaches_auth0() {
    check_bearer_is_required(Method::POST, "/mfa/verify", Some(&json!({"otp": "123456"}))).await;
}

#[tokio::test]
async fn deleting_an_authenticator_without_a_valid_bearer_is_401_and_never_reaches_auth0() {
    check_bearer_is_required(Method::DELETE, "/mfa/authenticators/totp%7Cdev_abc", None).await;
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_app().await;
    upstream_without_body("GET", "/mfa/authenticators")
        .respond_with(answer_json(200, json!([])))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = call(
        &app,
        Method::GET,
        "/mfa/authenticators",
        Some("bearer fake-mfa-token-dddd"),
        None,
    )
    .await;

    let (_, body) = assert_ok_json(response).await;
    assert_eq!(body, json!([]));
}

// ---------------------------------------------------------------------------
// GET /mfa/authenticators
// ---------------------------------------------------------------------------

#[tokio::test]
async fn listing_authenticators_forwards_the_same_bearer_and_answers_documented_fields_only() {
    let app = spawn_app().await;
    upstream_without_body("GET", "/mfa/authenticators")
        .respond_with(answer_json(
            200,
            json!([
                {
                    "id": "totp|dev_abc",
                    "authenticator_type": "otp",
                    "active": true,
                    "created_at": "2026-01-01T00:00:00.000Z",
                },
                {
                    "id": "sms|dev_def",
                    "authenticator_type": "oob",
                    "oob_channel": "sms",
                    "name": "+1*******0100",
                    "active": false,
                    "created_at": "2026-01-02T00:00:00.000Z",
                    "internal_note": "x",
                },
                {"id": "recovery-code|dev_ghi", "authenticator_type": "recovery-code", "active": true},
            ]),
        ))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = call(&app, Method::GET, "/mfa/authenticators", Some(BEARER), None).await;

    let (_, body) = assert_ok_json(response).await;
    assert_eq!(
        body,
        json!([
            {"id": "totp|dev_abc", "authenticator_type": "otp", "active": true},
            {
                "id": "sms|dev_def",
                "authenticator_type": "oob",
                "oob_channel": "sms",
                "name": "+1*******0100",
                "active": false,
            },
            {"id": "recovery-code|dev_ghi", "authenticator_type": "recovery-code", "active": true},
        ])
    );
}

/// The published enums stay true: an authenticator of a kind the gateway
/// does not know (a new type or channel Auth0 adds) is left out of the
/// list instead of reaching a generated client that cannot parse it.
#[tokio::test]
async fn authenticators_of_unknown_kinds_are_left_out_of_the_list() {
    let app = spawn_app().await;
    upstream_without_body("GET", "/mfa/authenticators")
        .respond_with(answer_json(
            200,
            json!([
                {"id": "webauthn|dev_x", "authenticator_type": "webauthn-roaming", "active": true},
                {"id": "totp|dev_abc", "authenticator_type": "otp", "active": true},
                {"id": "oob|dev_y", "authenticator_type": "oob", "oob_channel": "carrier-pigeon", "active": true},
                {"id": "email|dev_z", "authenticator_type": "oob", "oob_channel": "email", "name": "j***@example.com", "active": true},
            ]),
        ))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = call(&app, Method::GET, "/mfa/authenticators", Some(BEARER), None).await;

    let (_, body) = assert_ok_json(response).await;
    assert_eq!(
        body,
        json!([
            {"id": "totp|dev_abc", "authenticator_type": "otp", "active": true},
            {"id": "email|dev_z", "authenticator_type": "oob", "oob_channel": "email", "name": "j***@example.com", "active": true},
        ])
    );
}

/// An enrollment answer with a value outside the documented sets is not
/// Auth0's documented answer: 502, nothing reflected.
#[tokio::test]
async fn an_associate_answer_with_an_unknown_channel_is_502() {
    let app = spawn_app().await;
    upstream_with_bearer(
        "POST",
        "/mfa/associate",
        associate_body(json!({"authenticator_types": ["oob"], "oob_channels": ["sms"], "phone_number": "+14155550100"})),
    )
    .respond_with(answer_json(
        200,
        json!({"authenticator_type": "oob", "oob_channel": "fax", "oob_code": FAKE_OOB_CODE}),
    ))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = post_mfa(
        &app,
        "/mfa/associate",
        &json!({"factor": "sms", "phone_number": "+14155550100"}),
    )
    .await;

    let (_, body) = assert_error(&app, response, 502, "upstream_error").await;
    assert!(!body.to_string().contains("fax"), "{body}");
}

#[tokio::test]
async fn a_client_sent_auth0_forwarded_for_header_is_not_passed_on_to_the_mfa_api() {
    let app = spawn_app().await;
    upstream_without_body("GET", "/mfa/authenticators")
        .respond_with(answer_json(200, json!([])))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = app
        .client
        .get(app.url("/mfa/authenticators"))
        .header("authorization", BEARER)
        .header("auth0-forwarded-for", "203.0.113.66")
        .send()
        .await
        .expect("the gateway answers");

    assert_ok_json(response).await;
    let requests = app.upstream_requests().await;
    let forwarded: Vec<&str> = requests[0]
        .headers
        .get_all("auth0-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(forwarded, vec!["127.0.0.1"]);
}

#[tokio::test]
async fn an_authenticator_list_that_is_not_a_list_is_502() {
    let app = spawn_app().await;
    upstream_without_body("GET", "/mfa/authenticators")
        .respond_with(answer_json(200, json!({"authenticators": "maybe"})))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = call(&app, Method::GET, "/mfa/authenticators", Some(BEARER), None).await;

    assert_error(&app, response, 502, "upstream_error").await;
}

#[tokio::test]
async fn an_expired_mfa_token_on_the_authenticator_list_keeps_auth0s_403_expired_token() {
    let app = spawn_app().await;
    upstream_without_body("GET", "/mfa/authenticators")
        .respond_with(auth0_error(403, "expired_token", "mfa_token is expired"))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = call(&app, Method::GET, "/mfa/authenticators", Some(BEARER), None).await;

    assert_error_described(&app, response, 403, "expired_token", "mfa_token is expired").await;
}

// ---------------------------------------------------------------------------
// POST /mfa/associate: one test per factor
// ---------------------------------------------------------------------------

#[tokio::test]
async fn associating_an_authenticator_app_sends_otp_and_answers_the_secret_without_caching() {
    let app = spawn_app().await;
    upstream_with_bearer(
        "POST",
        "/mfa/associate",
        associate_body(json!({"authenticator_types": ["otp"]})),
    )
    .respond_with(answer_json(
        200,
        json!({
            "authenticator_type": "otp",
            "secret": FAKE_TOTP_SECRET,
            "barcode_uri": FAKE_BARCODE_URI,
            "recovery_codes": [FAKE_RECOVERY_CODE],
            "internal_note": "x",
        }),
    ))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = post_mfa(&app, "/mfa/associate", &json!({"factor": "otp"})).await;

    let (headers, body) = assert_ok_json(response).await;
    assert_no_store(&headers);
    assert_eq!(
        body,
        json!({
            "authenticator_type": "otp",
            "secret": FAKE_TOTP_SECRET,
            "barcode_uri": FAKE_BARCODE_URI,
            "recovery_codes": [FAKE_RECOVERY_CODE],
        })
    );
}

/// Associates an OOB factor and checks request and answer.
async fn check_oob_association(request: Value, upstream_extra: Value, channel: &str) {
    let app = spawn_app().await;
    upstream_with_bearer("POST", "/mfa/associate", associate_body(upstream_extra))
        .respond_with(answer_json(
            200,
            json!({
                "authenticator_type": "oob",
                "oob_channel": channel,
                "oob_code": FAKE_OOB_CODE,
                "binding_method": "prompt",
                "recovery_codes": [FAKE_RECOVERY_CODE],
                "internal_note": "x",
            }),
        ))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = post_mfa(&app, "/mfa/associate", &request).await;

    let (headers, body) = assert_ok_json(response).await;
    assert_no_store(&headers);
    assert_eq!(
        body,
        json!({
            "authenticator_type": "oob",
            "oob_channel": channel,
            "oob_code": FAKE_OOB_CODE,
            "binding_method": "prompt",
            "recovery_codes": [FAKE_RECOVERY_CODE],
        })
    );
}

#[tokio::test]
async fn associating_sms_sends_the_oob_sms_channel_and_the_phone_number() {
    check_oob_association(
        json!({"factor": "sms", "phone_number": "+14155550100"}),
        json!({
            "authenticator_types": ["oob"],
            "oob_channels": ["sms"],
            "phone_number": "+14155550100",
        }),
        "sms",
    )
    .await;
}

#[tokio::test]
async fn associating_voice_sends_the_oob_voice_channel_and_the_phone_number() {
    check_oob_association(
        json!({"factor": "voice", "phone_number": "+442079460000"}),
        json!({
            "authenticator_types": ["oob"],
            "oob_channels": ["voice"],
            "phone_number": "+442079460000",
        }),
        "voice",
    )
    .await;
}

#[tokio::test]
async fn associating_email_sends_the_oob_email_channel_and_the_address() {
    check_oob_association(
        json!({"factor": "email", "email": "jane@example.com"}),
        json!({
            "authenticator_types": ["oob"],
            "oob_channels": ["email"],
            "email": "jane@example.com",
        }),
        "email",
    )
    .await;
}

#[tokio::test]
async fn associating_push_sends_auth0s_guardian_channel_and_answers_the_oob_code() {
    let app = spawn_app().await;
    upstream_with_bearer(
        "POST",
        "/mfa/associate",
        associate_body(json!({"authenticator_types": ["oob"], "oob_channels": ["auth0"]})),
    )
    .respond_with(answer_json(
        200,
        json!({
            "authenticator_type": "oob",
            "oob_channel": "auth0",
            "oob_code": FAKE_OOB_CODE,
            "barcode_uri": FAKE_BARCODE_URI,
            "recovery_codes": [FAKE_RECOVERY_CODE],
            "internal_note": "x",
        }),
    ))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = post_mfa(&app, "/mfa/associate", &json!({"factor": "push"})).await;

    let (headers, body) = assert_ok_json(response).await;
    assert_no_store(&headers);
    assert_eq!(
        body,
        json!({
            "authenticator_type": "oob",
            "oob_channel": "auth0",
            "oob_code": FAKE_OOB_CODE,
            "barcode_uri": FAKE_BARCODE_URI,
            "recovery_codes": [FAKE_RECOVERY_CODE],
        })
    );
}

#[tokio::test]
async fn associate_bodies_that_break_the_rules_are_400_before_auth0_is_called() {
    check_rejected_bodies(
        "/mfa/associate",
        &[
            json!({}),
            json!({"factor": "sms"}),
            json!({"factor": "voice"}),
            json!({"factor": "sms", "phone_number": "4155550100"}),
            json!({"factor": "sms", "phone_number": "+1415"}),
            json!({"factor": "sms", "phone_number": "+1 415 555 0100"}),
            json!({"factor": "voice", "phone_number": "+1415555010012345"}),
            json!({"factor": "voice", "phone_number": "+1415555abcd"}),
            json!({"factor": "email"}),
            json!({"factor": "email", "email": "not-an-email"}),
            json!({"factor": "email", "email": "jane@"}),
            json!({"factor": "totp"}),
            json!({"factor": "webauthn-roaming"}),
            json!({"factor": "OTP"}),
            json!({"factor": 1}),
            json!({"factor": "otp", "nickname": "my phone"}),
            json!({"factor": "otp", "client_secret": "attacker-chosen"}),
            json!({"factor": "otp", "client_id": "attacker-chosen"}),
            json!({"factor": "otp", "mfa_token": "fake-other-token"}),
            json!({"factor": "otp", "authenticator_types": ["oob"]}),
            json!({"factor": "sms", "phone_number": "+14155550100", "oob_channels": ["auth0"]}),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_client_secret_in_an_associate_body_is_named_in_the_error() {
    let app = spawn_app().await;
    forbid_any_upstream_call(&app).await;

    let response = post_mfa(
        &app,
        "/mfa/associate",
        &json!({"factor": "otp", "client_secret": "attacker-chosen"}),
    )
    .await;

    let (_, body) = assert_error(&app, response, 400, "invalid_request").await;
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(description.contains("client_secret"), "{description}");
    assert!(!description.contains("attacker-chosen"), "{description}");
}

#[tokio::test]
async fn enrolling_a_second_factor_with_an_mfa_token_keeps_auth0s_access_denied() {
    let app = spawn_app().await;
    upstream_with_bearer(
        "POST",
        "/mfa/associate",
        associate_body(json!({"authenticator_types": ["otp"]})),
    )
    .respond_with(auth0_error(
        403,
        "access_denied",
        "User is already enrolled.",
    ))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = post_mfa(&app, "/mfa/associate", &json!({"factor": "otp"})).await;

    assert_error_described(
        &app,
        response,
        403,
        "access_denied",
        "User is already enrolled.",
    )
    .await;
}

#[tokio::test]
async fn an_html_answer_to_associate_is_502_and_not_reflected() {
    let app = spawn_app().await;
    upstream_with_bearer(
        "POST",
        "/mfa/associate",
        associate_body(json!({"authenticator_types": ["otp"]})),
    )
    .respond_with(ResponseTemplate::new(200).set_body_raw(
        "<html><body>secret=FAKEFAKE maintenance</body></html>",
        "text/html",
    ))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = post_mfa(&app, "/mfa/associate", &json!({"factor": "otp"})).await;

    let (_, body) = assert_error(&app, response, 502, "upstream_error").await;
    let text = body.to_string();
    assert!(!text.contains("maintenance") && !text.contains("FAKEFAKE"));
}

// ---------------------------------------------------------------------------
// POST /mfa/challenge
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_otp_challenge_sends_the_mfa_token_and_authenticator_id_in_the_body() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/mfa/challenge",
        json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "mfa_token": MFA_TOKEN,
            "challenge_type": "otp",
            "authenticator_id": "totp|dev_abc",
        }),
        "127.0.0.1",
    )
    .respond_with(answer_json(
        200,
        json!({"challenge_type": "otp", "internal_note": "x"}),
    ))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = post_mfa(
        &app,
        "/mfa/challenge",
        &json!({"challenge_type": "otp", "authenticator_id": "totp|dev_abc"}),
    )
    .await;

    let (headers, body) = assert_ok_json(response).await;
    assert_no_store(&headers);
    assert_eq!(body, json!({"challenge_type": "otp"}));
}

#[tokio::test]
async fn an_oob_challenge_answers_the_oob_code_and_binding_method() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/mfa/challenge",
        json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "mfa_token": MFA_TOKEN,
            "challenge_type": "oob",
            "authenticator_id": "sms|dev_abc",
        }),
        "127.0.0.1",
    )
    .respond_with(answer_json(
        200,
        json!({
            "challenge_type": "oob",
            "oob_code": FAKE_OOB_CODE,
            "binding_method": "prompt",
            "internal_note": "x",
        }),
    ))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = post_mfa(
        &app,
        "/mfa/challenge",
        &json!({"challenge_type": "oob", "authenticator_id": "sms|dev_abc"}),
    )
    .await;

    let (headers, body) = assert_ok_json(response).await;
    assert_no_store(&headers);
    assert_eq!(
        body,
        json!({"challenge_type": "oob", "oob_code": FAKE_OOB_CODE, "binding_method": "prompt"})
    );
}

/// SPEC §13: an out-of-band challenge names its authenticator, so that a
/// text's budget can key on it; without one Auth0 would pick (maybe a
/// phone), and the gateway could not tell whose budget it spends.
#[tokio::test]
async fn an_oob_challenge_without_an_authenticator_id_is_400_naming_the_field() {
    let app = spawn_app().await;
    forbid_any_upstream_call(&app).await;

    let response = post_mfa(&app, "/mfa/challenge", &json!({"challenge_type": "oob"})).await;

    let (_, body) = assert_error(&app, response, 400, "invalid_request").await;
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains("authenticator_id"),
        "names the field: {description}"
    );
    app.auth0.verify().await;
}

#[tokio::test]
async fn challenge_bodies_that_break_the_rules_are_400_before_auth0_is_called() {
    let long_id = "a".repeat(513);
    check_rejected_bodies(
        "/mfa/challenge",
        &[
            json!({}),
            json!({"challenge_type": "sms"}),
            json!({"challenge_type": "recovery-code"}),
            json!({"challenge_type": "otp", "authenticator_id": ""}),
            json!({"challenge_type": "otp", "authenticator_id": "totp dev_abc"}),
            json!({"challenge_type": "otp", "authenticator_id": "totp\ndev_abc"}),
            json!({"challenge_type": "otp", "authenticator_id": long_id}),
            json!({"challenge_type": "otp", "mfa_token": "fake-other-token"}),
            json!({"challenge_type": "otp", "client_secret": "attacker-chosen"}),
            json!({"challenge_type": "otp", "client_id": "attacker-chosen"}),
            json!({"challenge_type": "otp", "oob_channel": "sms"}),
        ],
    )
    .await;
}

#[tokio::test]
async fn an_unsupported_challenge_type_keeps_auth0s_status_and_code() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/mfa/challenge",
        json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "mfa_token": MFA_TOKEN,
            "challenge_type": "oob",
            "authenticator_id": "push|dev_abc",
        }),
        "127.0.0.1",
    )
    .respond_with(auth0_error(
        400,
        "unsupported_challenge_type",
        "User is not enrolled with an authenticator of this type.",
    ))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = post_mfa(
        &app,
        "/mfa/challenge",
        &json!({"challenge_type": "oob", "authenticator_id": "push|dev_abc"}),
    )
    .await;

    assert_error_described(
        &app,
        response,
        400,
        "unsupported_challenge_type",
        "User is not enrolled with an authenticator of this type.",
    )
    .await;
}

// ---------------------------------------------------------------------------
// POST /mfa/verify
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_otp_is_exchanged_for_tokens_with_the_exact_mfa_otp_grant() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/oauth/token",
        mfa_grant(GRANT_MFA_OTP, json!({"otp": "123456"})),
        "127.0.0.1",
    )
    .respond_with(answer_json(200, token_answer()))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = post_mfa(&app, "/mfa/verify", &json!({"otp": "123456"})).await;

    let (headers, body) = assert_ok_json(response).await;
    assert_no_store(&headers);
    assert_eq!(body, expected_tokens());
}

#[tokio::test]
async fn an_oob_code_with_a_binding_code_uses_the_mfa_oob_grant() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/oauth/token",
        mfa_grant(
            GRANT_MFA_OOB,
            json!({"oob_code": FAKE_OOB_CODE, "binding_code": "654321"}),
        ),
        "127.0.0.1",
    )
    .respond_with(answer_json(200, token_answer()))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = post_mfa(
        &app,
        "/mfa/verify",
        &json!({"oob_code": FAKE_OOB_CODE, "binding_code": "654321"}),
    )
    .await;

    let (headers, body) = assert_ok_json(response).await;
    assert_no_store(&headers);
    assert_eq!(body, expected_tokens());
}

#[tokio::test]
async fn a_push_poll_sends_the_oob_code_without_a_binding_code() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/oauth/token",
        mfa_grant(GRANT_MFA_OOB, json!({"oob_code": FAKE_OOB_CODE})),
        "127.0.0.1",
    )
    .respond_with(answer_json(200, token_answer()))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = post_mfa(&app, "/mfa/verify", &json!({"oob_code": FAKE_OOB_CODE})).await;

    let (headers, body) = assert_ok_json(response).await;
    assert_no_store(&headers);
    assert_eq!(body, expected_tokens());
}

#[tokio::test]
async fn a_recovery_code_uses_its_grant_and_the_rotated_recovery_code_is_passed_through() {
    let app = spawn_app().await;
    let mut answer = token_answer();
    answer["recovery_code"] = json!("FAKENEWRECOVERYCODE0987654");
    upstream(
        "POST",
        "/oauth/token",
        mfa_grant(
            GRANT_MFA_RECOVERY_CODE,
            json!({"recovery_code": FAKE_RECOVERY_CODE}),
        ),
        "127.0.0.1",
    )
    .respond_with(answer_json(200, answer))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = post_mfa(
        &app,
        "/mfa/verify",
        &json!({"recovery_code": FAKE_RECOVERY_CODE}),
    )
    .await;

    let (headers, body) = assert_ok_json(response).await;
    assert_no_store(&headers);
    let mut expected = expected_tokens();
    expected["recovery_code"] = json!("FAKENEWRECOVERYCODE0987654");
    assert_eq!(body, expected);
}

#[tokio::test]
async fn verify_bodies_that_break_the_rules_are_400_before_auth0_is_called() {
    let long_code = "A".repeat(513);
    check_rejected_bodies(
        "/mfa/verify",
        &[
            json!({}),
            json!({"otp": "12345"}),
            json!({"otp": "1234567"}),
            json!({"otp": "12a456"}),
            json!({"otp": " 123456"}),
            json!({"otp": 123456}),
            json!({"otp": "123456", "recovery_code": FAKE_RECOVERY_CODE}),
            json!({"otp": "123456", "oob_code": FAKE_OOB_CODE}),
            json!({"oob_code": FAKE_OOB_CODE, "recovery_code": FAKE_RECOVERY_CODE}),
            json!({"otp": "123456", "binding_code": "654321"}),
            json!({"binding_code": "654321"}),
            json!({"oob_code": FAKE_OOB_CODE, "binding_code": "123"}),
            json!({"oob_code": FAKE_OOB_CODE, "binding_code": "1234567890123"}),
            json!({"oob_code": FAKE_OOB_CODE, "binding_code": "12 34"}),
            json!({"oob_code": ""}),
            json!({"oob_code": "fake oob"}),
            json!({"recovery_code": ""}),
            json!({"recovery_code": long_code}),
            json!({"otp": "123456", "remember_browser": true}),
            json!({"otp": "123456", "client_secret": "attacker-chosen"}),
            json!({"otp": "123456", "client_id": "attacker-chosen"}),
            json!({"otp": "123456", "grant_type": "password"}),
            json!({"otp": "123456", "mfa_token": "fake-other-token"}),
            json!({"otp": "123456", "audience": "https://api.example.com"}),
        ],
    )
    .await;
}

#[tokio::test]
async fn gateway_owned_fields_in_a_verify_body_are_named_in_the_error() {
    let app = spawn_app().await;
    forbid_any_upstream_call(&app).await;
    for field in ["grant_type", "mfa_token", "client_secret"] {
        let mut body = json!({"otp": "123456"});
        body[field] = json!("attacker-chosen");

        let response = post_mfa(&app, "/mfa/verify", &body).await;

        let (_, body) = assert_error(&app, response, 400, "invalid_request").await;
        let description = body["error_description"].as_str().unwrap_or_default();
        assert!(description.contains(field), "{field}: {description}");
        assert!(!description.contains("attacker-chosen"), "{description}");
    }
}

#[tokio::test]
async fn a_wrong_otp_keeps_auth0s_403_invalid_grant() {
    let headers = check_verify_passes_through(
        auth0_error(403, "invalid_grant", "Invalid otp_code."),
        403,
        "invalid_grant",
        "Invalid otp_code.",
    )
    .await;
    assert!(header_str(&headers, "www-authenticate").is_none());
}

#[tokio::test]
async fn an_expired_mfa_token_keeps_auth0s_403_expired_token() {
    check_verify_passes_through(
        auth0_error(403, "expired_token", "mfa_token is expired"),
        403,
        "expired_token",
        "mfa_token is expired",
    )
    .await;
}

#[tokio::test]
async fn a_malformed_mfa_token_keeps_auth0s_403_invalid_grant() {
    check_verify_passes_through(
        auth0_error(403, "invalid_grant", "Malformed mfa_token"),
        403,
        "invalid_grant",
        "Malformed mfa_token",
    )
    .await;
}

#[tokio::test]
async fn a_pending_push_keeps_auth0s_400_authorization_pending_so_the_client_can_poll() {
    check_verify_passes_through(
        auth0_error(
            400,
            "authorization_pending",
            "Authorization pending: please repeat the request in a few seconds.",
        ),
        400,
        "authorization_pending",
        "Authorization pending: please repeat the request in a few seconds.",
    )
    .await;
}

#[tokio::test]
async fn a_rejected_push_keeps_auth0s_400_access_denied() {
    check_verify_passes_through(
        auth0_error(400, "access_denied", "MFA Authorization rejected."),
        400,
        "access_denied",
        "MFA Authorization rejected.",
    )
    .await;
}

#[tokio::test]
async fn polling_too_fast_keeps_auth0s_429_slow_down_with_retry_after() {
    let headers = check_verify_passes_through(
        auth0_error(
            429,
            "slow_down",
            "You are polling faster than allowed. Try again in 5 seconds.",
        )
        .insert_header("retry-after", "5"),
        429,
        "slow_down",
        "You are polling faster than allowed. Try again in 5 seconds.",
    )
    .await;
    assert_eq!(header_str(&headers, "retry-after"), Some("5"));
}

#[tokio::test]
async fn too_many_wrong_otps_keep_auth0s_429_too_many_attempts_with_retry_after() {
    let headers = check_verify_passes_through(
        auth0_error(
            429,
            "too_many_attempts",
            "Too many failed attempts, please try again later.",
        ),
        429,
        "too_many_attempts",
        "Too many failed attempts, please try again later.",
    )
    .await;
    let retry_after: u64 = header_str(&headers, "retry-after")
        .expect("a 429 carries Retry-After")
        .parse()
        .expect("Retry-After is seconds");
    assert!(retry_after >= 1);
}

#[tokio::test]
async fn auth0s_error_in_the_second_shape_is_passed_through_in_the_one_error_shape() {
    check_verify_passes_through(
        answer_json(
            403,
            json!({
                "statusCode": 403,
                "error": "Forbidden",
                "message": "Invalid otp_code.",
                "errorCode": "invalid_grant",
            }),
        ),
        403,
        "invalid_grant",
        "Invalid otp_code.",
    )
    .await;
}

#[tokio::test]
async fn a_garbage_answer_to_verify_is_502() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/oauth/token",
        mfa_grant(GRANT_MFA_OTP, json!({"otp": "123456"})),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(200).set_body_raw("{\"access_tok", "application/json"))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = post_mfa(&app, "/mfa/verify", &json!({"otp": "123456"})).await;

    assert_error(&app, response, 502, "upstream_error").await;
}

#[tokio::test]
async fn a_token_answer_without_an_access_token_is_502() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/oauth/token",
        mfa_grant(GRANT_MFA_OTP, json!({"otp": "123456"})),
        "127.0.0.1",
    )
    .respond_with(answer_json(
        200,
        json!({"token_type": "Bearer", "expires_in": 60}),
    ))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = post_mfa(&app, "/mfa/verify", &json!({"otp": "123456"})).await;

    assert_error(&app, response, 502, "upstream_error").await;
}

#[tokio::test]
async fn an_html_error_page_from_auth0_on_verify_is_502() {
    let app = spawn_app().await;
    any_call("/oauth/token")
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_raw("<html><body>Forbidden</body></html>", "text/html"),
        )
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = post_mfa(&app, "/mfa/verify", &json!({"otp": "123456"})).await;

    let (_, body) = assert_error(&app, response, 502, "upstream_error").await;
    assert!(!body.to_string().to_lowercase().contains("html"));
}

// ---------------------------------------------------------------------------
// Rate limit (SPEC §4: mfa_verify_per_token)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn the_third_verify_with_one_mfa_token_is_429_locally_and_other_tokens_still_pass() {
    let app = spawn_app_with(&[("GATEWAY__RATE_LIMIT__MFA_VERIFY_PER_TOKEN", "2/minute")]).await;
    upstream(
        "POST",
        "/oauth/token",
        mfa_grant(GRANT_MFA_OTP, json!({"otp": "123456"})),
        "127.0.0.1",
    )
    .respond_with(auth0_error(403, "invalid_grant", "Invalid otp_code."))
    .expect(2)
    .named("verify with the limited mfa_token")
    .mount(&app.auth0)
    .await;
    let mut other = mfa_grant(GRANT_MFA_OTP, json!({"otp": "123456"}));
    other["mfa_token"] = json!("fake-other-mfa-token-ffff");
    upstream("POST", "/oauth/token", other, "127.0.0.1")
        .respond_with(answer_json(200, token_answer()))
        .expect(1)
        .named("verify with another mfa_token")
        .mount(&app.auth0)
        .await;

    for _ in 0..2 {
        let response = post_mfa(&app, "/mfa/verify", &json!({"otp": "123456"})).await;
        assert_error(&app, response, 403, "invalid_grant").await;
    }
    let response = post_mfa(&app, "/mfa/verify", &json!({"otp": "123456"})).await;

    let (headers, _) = assert_error(&app, response, 429, "too_many_requests").await;
    let retry_after: u64 = header_str(&headers, "retry-after")
        .expect("Retry-After")
        .parse()
        .expect("Retry-After is seconds");
    // One cell of 2/minute comes back every 30 s.
    assert!((1..=30).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(
        header_str(&headers, "ratelimit-policy"),
        Some("\"mfa_verify_per_token\";q=2;w=60")
    );
    let state = header_str(&headers, "ratelimit").expect("RateLimit header");
    assert!(
        state.starts_with("\"mfa_verify_per_token\";r=0;t="),
        "RateLimit {state}"
    );

    let response = call(
        &app,
        Method::POST,
        "/mfa/verify",
        Some("Bearer fake-other-mfa-token-ffff"),
        Some(&json!({"otp": "123456"})),
    )
    .await;
    let (_, body) = assert_ok_json(response).await;
    assert_eq!(body, expected_tokens());
    app.auth0.verify().await;
}

// ---------------------------------------------------------------------------
// DELETE /mfa/authenticators/{id}
// ---------------------------------------------------------------------------

#[tokio::test]
async fn deleting_an_authenticator_percent_encodes_its_id_into_one_segment_and_answers_204() {
    let app = spawn_app().await;
    upstream_without_body("DELETE", "/mfa/authenticators/totp%7Cdev_abc")
        .respond_with(ResponseTemplate::new(204))
        .expect(2)
        .mount(&app.auth0)
        .await;

    // Encoded by the client, and raw `|` as most clients send it.
    for route in [
        "/mfa/authenticators/totp%7Cdev_abc",
        "/mfa/authenticators/totp|dev_abc",
    ] {
        let response = call(&app, Method::DELETE, route, Some(BEARER), None).await;

        assert_eq!(response.status().as_u16(), 204, "{route}");
        assert_common_headers(response.headers());
        let body = response.bytes().await.expect("body");
        assert!(body.is_empty(), "204 has an empty body");
    }
    app.auth0.verify().await;
}

#[tokio::test]
async fn an_encoded_slash_in_the_id_stays_inside_one_upstream_segment() {
    let app = spawn_app().await;
    upstream_without_body("DELETE", "/mfa/authenticators/a%2Fb")
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .named("one segment")
        .mount(&app.auth0)
        .await;
    Mock::given(path("/mfa/authenticators/a/b"))
        .respond_with(ResponseTemplate::new(204))
        .expect(0)
        .named("split into two segments")
        .mount(&app.auth0)
        .await;

    let response = call(
        &app,
        Method::DELETE,
        "/mfa/authenticators/a%2Fb",
        Some(BEARER),
        None,
    )
    .await;

    assert_eq!(response.status().as_u16(), 204);
    app.auth0.verify().await;
}

#[tokio::test]
async fn an_encoded_traversal_in_the_id_cannot_reach_another_auth0_endpoint() {
    let app = spawn_app().await;
    upstream_without_body(
        "DELETE",
        "/mfa/authenticators/x%2F..%2F..%2Foauth%2Ftoken%3Fa%3D1%23",
    )
    .respond_with(ResponseTemplate::new(204))
    .expect(1)
    .mount(&app.auth0)
    .await;
    Mock::given(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&app.auth0)
        .await;

    let response = call(
        &app,
        Method::DELETE,
        "/mfa/authenticators/x%2F..%2F..%2Foauth%2Ftoken%3Fa%3D1%23",
        Some(BEARER),
        None,
    )
    .await;

    assert_eq!(response.status().as_u16(), 204);
    app.auth0.verify().await;
}

#[tokio::test]
async fn dot_segments_as_authenticator_ids_are_400_and_never_reach_auth0() {
    let app = spawn_app().await;
    forbid_any_upstream_call(&app).await;

    for target in [
        "/mfa/authenticators/..",
        "/mfa/authenticators/%2E%2E",
        "/mfa/authenticators/%2e.",
        "/mfa/authenticators/.",
        "/mfa/authenticators/%2E",
    ] {
        let (status, body) = raw_request(&app, &format!("DELETE {target} HTTP/1.1"), BEARER).await;

        assert_eq!(status, 400, "{target}: {body}");
        let body: Value = serde_json::from_str(&body).expect("JSON error body");
        assert_eq!(body["error"], "invalid_request", "{target}");
    }
    app.auth0.verify().await;
}

#[tokio::test]
async fn authenticator_ids_that_are_not_visible_ascii_or_too_long_are_400() {
    let app = spawn_app().await;
    forbid_any_upstream_call(&app).await;
    let long = format!("/mfa/authenticators/{}", "a".repeat(513));

    for route in [
        "/mfa/authenticators/a%20b",
        "/mfa/authenticators/a%0Ab",
        "/mfa/authenticators/%C3%A9",
        "/mfa/authenticators/a%00b",
        long.as_str(),
    ] {
        let response = call(&app, Method::DELETE, route, Some(BEARER), None).await;

        assert_error(&app, response, 400, "invalid_request").await;
    }
    app.auth0.verify().await;
}

#[tokio::test]
async fn an_id_of_exactly_512_characters_is_accepted() {
    let app = spawn_app().await;
    let id = "a".repeat(512);
    upstream_without_body("DELETE", &format!("/mfa/authenticators/{id}"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = call(
        &app,
        Method::DELETE,
        &format!("/mfa/authenticators/{id}"),
        Some(BEARER),
        None,
    )
    .await;

    assert_eq!(response.status().as_u16(), 204);
}

#[tokio::test]
async fn deleting_with_an_mfa_token_instead_of_an_mfa_api_access_token_keeps_auth0s_401() {
    let app = spawn_app().await;
    upstream_without_body("DELETE", "/mfa/authenticators/totp%7Cdev_abc")
        .respond_with(auth0_error(
            401,
            "invalid_token",
            "An access token for the MFA API is required",
        ))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = call(
        &app,
        Method::DELETE,
        "/mfa/authenticators/totp%7Cdev_abc",
        Some(BEARER),
        None,
    )
    .await;

    assert_error_described(
        &app,
        response,
        401,
        "invalid_token",
        "An access token for the MFA API is required",
    )
    .await;
}

#[tokio::test]
async fn deleting_an_unknown_authenticator_is_auth0s_documented_404() {
    let app = spawn_app().await;
    upstream_without_body("DELETE", "/mfa/authenticators/totp%7Cdev_gone")
        .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
            "statusCode": 404,
            "error": "Not Found",
            "message": "Authenticator not found"
        })))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = call(
        &app,
        Method::DELETE,
        "/mfa/authenticators/totp%7Cdev_gone",
        Some(BEARER),
        None,
    )
    .await;

    assert_error_described(&app, response, 404, "not_found", "Authenticator not found").await;
}

#[tokio::test]
async fn a_404_from_the_token_endpoint_is_an_upstream_fault_not_a_missing_route() {
    let app = spawn_app().await;
    Mock::given(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
            "statusCode": 404,
            "error": "Not Found",
            "message": "Not Found"
        })))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = call(
        &app,
        Method::POST,
        "/mfa/verify",
        Some(BEARER),
        Some(&json!({"otp": "123456"})),
    )
    .await;

    assert_error(&app, response, 502, "upstream_error").await;
}

#[tokio::test]
async fn other_methods_on_mfa_routes_are_405_with_allow() {
    let app = spawn_app().await;
    forbid_any_upstream_call(&app).await;
    for (http_method, route, allow) in [
        (Method::POST, "/mfa/authenticators", "GET"),
        (Method::GET, "/mfa/associate", "POST"),
        (Method::GET, "/mfa/challenge", "POST"),
        (Method::GET, "/mfa/verify", "POST"),
        (Method::GET, "/mfa/authenticators/totp%7Cdev_abc", "DELETE"),
    ] {
        let response = call(&app, http_method.clone(), route, Some(BEARER), None).await;

        let (headers, _) = assert_error(&app, response, 405, "method_not_allowed").await;
        assert_eq!(
            header_str(&headers, "allow"),
            Some(allow),
            "{http_method} {route}"
        );
    }
}

/// `T`, `T=` and `T==` are one mfa_token to the limits: padding does not
/// buy a fresh bucket.
#[tokio::test]
async fn padded_mfa_tokens_share_one_bucket() {
    let app = spawn_app_with(&[("GATEWAY__RATE_LIMIT__MFA_VERIFY_PER_TOKEN", "2/minute")]).await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(auth0_error(403, "invalid_grant", "Invalid otp_code."))
        .expect(2)
        .mount(&app.auth0)
        .await;
    for bearer in ["Bearer fakepaddedtoken", "Bearer fakepaddedtoken="] {
        let response = call(
            &app,
            Method::POST,
            "/mfa/verify",
            Some(bearer),
            Some(&json!({"otp": "123456"})),
        )
        .await;
        assert_error(&app, response, 403, "invalid_grant").await;
    }
    let response = call(
        &app,
        Method::POST,
        "/mfa/verify",
        Some("Bearer fakepaddedtoken=="),
        Some(&json!({"otp": "123456"})),
    )
    .await;
    let (headers, _) = assert_error(&app, response, 429, "too_many_requests").await;
    assert_eq!(
        header_str(&headers, "ratelimit-policy"),
        Some("\"mfa_verify_per_token\";q=2;w=60")
    );
    let sent: Vec<String> = app
        .upstream_requests()
        .await
        .iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).expect("JSON");
            body["mfa_token"].as_str().unwrap_or("").to_string()
        })
        .collect();
    // Auth0 gets each token exactly as the client sent it.
    assert_eq!(sent, ["fakepaddedtoken", "fakepaddedtoken="]);
}
