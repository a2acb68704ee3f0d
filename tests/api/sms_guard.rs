//! SPEC §4 "text or phone someone" and §8 (SMS fraud guard), over the wire
//! against a wiremock Auth0: every call that makes Auth0 text or phone
//! someone spends `sms_per_phone` and `sms_global`; `sms.allowed_countries`
//! refuses other countries with 400 before Auth0 is called; a country whose
//! texts are not verified is paused, others and email are not, and it
//! recovers when the pause ends. Each test counts the upstream calls.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;
use crate::real_binary::RealGateway;

const BEARER: &str = "Bearer fake-sms-mfa-token-1111";
const TOKEN: &str = "fake-sms-mfa-token-1111";

fn start_ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"_id": "fake-id", "phone_number": "x"}))
}

fn associate_ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "authenticator_type": "oob",
        "oob_channel": "sms",
        "oob_code": "fake-oob-code-2222",
        "binding_method": "prompt",
    }))
}

fn challenge_ok() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "challenge_type": "oob",
        "oob_code": "fake-oob-code-3333",
        "binding_method": "prompt",
    }))
}

async fn mfa_post(app: &TestApp, route: &str, bearer: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(route))
        .header("authorization", bearer)
        .json(&body)
        .send()
        .await
        .expect("the gateway answers")
}

/// A 429 from the named local policy.
async fn assert_policy(app: &TestApp, response: reqwest::Response, policy: &str) -> u64 {
    let (headers, _) = assert_error(app, response, 429, "too_many_requests").await;
    let ratelimit = header_str(&headers, "ratelimit").unwrap_or("");
    assert!(
        ratelimit.starts_with(&format!("\"{policy}\";")),
        "{policy}: {ratelimit}"
    );
    header_str(&headers, "retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After")
}

#[tokio::test]
async fn associating_sms_or_voice_spends_the_numbers_budget() {
    let app = spawn_app_with(&[("GATEWAY__RATE_LIMIT__SMS_PER_PHONE", "2/hour")]).await;
    for (factor, channel) in [("sms", "sms"), ("voice", "voice")] {
        Mock::given(method("POST"))
            .and(path("/mfa/associate"))
            .and(header("authorization", BEARER))
            .and(header("auth0-forwarded-for", "127.0.0.1"))
            .and(body_partial_json(json!({
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "authenticator_types": ["oob"],
                "oob_channels": [channel],
                "phone_number": "+33612345678",
            })))
            .respond_with(associate_ok())
            .expect(1)
            .named(factor)
            .mount(&app.auth0)
            .await;
    }
    for factor in ["sms", "voice"] {
        let body = json!({"factor": factor, "phone_number": "+33612345678"});
        let response = mfa_post(&app, "/mfa/associate", BEARER, body).await;
        assert_eq!(response.status(), 200, "{factor}");
    }
    let third = mfa_post(
        &app,
        "/mfa/associate",
        BEARER,
        json!({"factor": "sms", "phone_number": "+33612345678"}),
    )
    .await;
    assert_policy(&app, third, "sms_per_phone").await;
    // Email and authenticator apps are not texts.
    Mock::given(method("POST"))
        .and(path("/mfa/associate"))
        .and(body_partial_json(json!({"authenticator_types": ["otp"]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "authenticator_type": "otp", "secret": "FAKEFAKEFAKEFAKE", "barcode_uri": "otpauth://totp/x?secret=FAKE"
        })))
        .expect(1)
        .mount(&app.auth0)
        .await;
    let otp = mfa_post(&app, "/mfa/associate", BEARER, json!({"factor": "otp"})).await;
    assert_eq!(otp.status(), 200);
    assert_eq!(app.upstream_requests().await.len(), 3);
}

#[tokio::test]
async fn logins_enrollments_and_challenges_share_the_global_sms_budget() {
    let app = spawn_app_with(&[("GATEWAY__RATE_LIMIT__SMS_GLOBAL", "3/hour")]).await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(start_ok())
        .expect(1)
        .mount(&app.auth0)
        .await;
    Mock::given(method("POST"))
        .and(path("/mfa/associate"))
        .respond_with(associate_ok())
        .expect(1)
        .mount(&app.auth0)
        .await;
    Mock::given(method("POST"))
        .and(path("/mfa/challenge"))
        .and(body_partial_json(json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "mfa_token": TOKEN,
            "challenge_type": "oob",
            "authenticator_id": "sms|dev_fake1",
        })))
        .respond_with(challenge_ok())
        .expect(1)
        .mount(&app.auth0)
        .await;
    let login = app
        .post_json("/login/start", &json!({"phone_number": "+14155550100"}))
        .await;
    assert_eq!(login.status(), 200);
    let enroll = mfa_post(
        &app,
        "/mfa/associate",
        BEARER,
        json!({"factor": "sms", "phone_number": "+14155550101"}),
    )
    .await;
    assert_eq!(enroll.status(), 200);
    let challenge = json!({"challenge_type": "oob", "authenticator_id": "sms|dev_fake1"});
    let third = mfa_post(&app, "/mfa/challenge", BEARER, challenge.clone()).await;
    assert_eq!(third.status(), 200);
    let fourth = mfa_post(&app, "/mfa/challenge", BEARER, challenge).await;
    assert_policy(&app, fourth, "sms_global").await;
    let voice = mfa_post(
        &app,
        "/mfa/associate",
        BEARER,
        json!({"factor": "voice", "phone_number": "+14155550102"}),
    )
    .await;
    assert_policy(&app, voice, "sms_global").await;
    assert_eq!(app.upstream_requests().await.len(), 3);
}

/// A challenge names no number: `sms_per_phone` keys on its mfa_token.
/// Only out-of-band challenges that may text count: `sms|`/`voice|`
/// authenticators and challenges without an authenticator_id.
#[tokio::test]
async fn challenges_that_may_text_spend_the_mfa_tokens_budget() {
    let app = spawn_app_with(&[("GATEWAY__RATE_LIMIT__SMS_PER_PHONE", "1/hour")]).await;
    Mock::given(method("POST"))
        .and(path("/mfa/challenge"))
        .respond_with(challenge_ok())
        .expect(5)
        .mount(&app.auth0)
        .await;
    let first = mfa_post(
        &app,
        "/mfa/challenge",
        BEARER,
        json!({"challenge_type": "oob", "authenticator_id": "voice|dev_fake1"}),
    )
    .await;
    assert_eq!(first.status(), 200);
    let again = mfa_post(
        &app,
        "/mfa/challenge",
        "Bearer fake-sms-mfa-token-1111==",
        json!({"challenge_type": "oob", "authenticator_id": "sms|dev_fake1"}),
    )
    .await;
    assert_policy(&app, again, "sms_per_phone").await;
    // Not texts: an otp challenge, an email or push authenticator.
    for body in [
        json!({"challenge_type": "otp"}),
        json!({"challenge_type": "oob", "authenticator_id": "email|dev_fake2"}),
        json!({"challenge_type": "oob", "authenticator_id": "push|dev_fake3"}),
    ] {
        let response = mfa_post(&app, "/mfa/challenge", BEARER, body.clone()).await;
        assert_eq!(response.status(), 200, "{body}");
    }
    // No authenticator_id: Auth0 may pick a phone, so it counts.
    let other = "Bearer fake-sms-mfa-token-other";
    let pick = json!({"challenge_type": "oob"});
    assert_eq!(
        mfa_post(&app, "/mfa/challenge", other, pick.clone())
            .await
            .status(),
        200
    );
    let again = mfa_post(&app, "/mfa/challenge", other, pick).await;
    assert_policy(&app, again, "sms_per_phone").await;
    assert_eq!(app.upstream_requests().await.len(), 5);
}

#[tokio::test]
async fn numbers_outside_the_allowed_countries_get_400_and_never_reach_auth0() {
    let app = spawn_app_with(&[("GATEWAY__SMS__ALLOWED_COUNTRIES", "US,CA")]).await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .and(body_partial_json(json!({"phone_number": "+16135550123"})))
        .respond_with(start_ok())
        .expect(1)
        .named("a Canadian number")
        .mount(&app.auth0)
        .await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .and(body_partial_json(json!({"email": "jane@example.com"})))
        .respond_with(start_ok())
        .expect(1)
        .named("email")
        .mount(&app.auth0)
        .await;
    // +1 876 is Jamaica: same calling code as the US, another country.
    for phone in ["+33612345678", "+447400123456", "+18765550123"] {
        let response = app
            .post_json("/login/start", &json!({"phone_number": phone}))
            .await;
        let (_, body) = assert_error(&app, response, 400, "phone_country_not_allowed").await;
        assert!(!body.to_string().contains(&phone[4..]), "{body}");
        let response = mfa_post(
            &app,
            "/mfa/associate",
            BEARER,
            json!({"factor": "voice", "phone_number": phone}),
        )
        .await;
        assert_error(&app, response, 400, "phone_country_not_allowed").await;
    }
    let canada = app
        .post_json("/login/start", &json!({"phone_number": "+16135550123"}))
        .await;
    assert_eq!(canada.status(), 200);
    let email = app
        .post_json("/login/start", &json!({"email": "jane@example.com"}))
        .await;
    assert_eq!(email.status(), 200);
    assert_eq!(app.upstream_requests().await.len(), 2);
}

/// A verified enrollment counts for its country: the guard remembers the
/// mfa_token's country from `/mfa/associate`, and an `/mfa/verify` with an
/// `oob_code` on that token is a verification. Without it, the second
/// unverified send would already pause France.
#[tokio::test]
async fn a_verified_sms_enrollment_keeps_its_country_open() {
    let app = spawn_app_with(&[
        ("GATEWAY__SMS__FRAUD_GUARD__MIN_SENDS", "2"),
        ("GATEWAY__SMS__FRAUD_GUARD__MIN_CONVERSION", "0.5"),
    ])
    .await;
    Mock::given(method("POST"))
        .and(path("/mfa/associate"))
        .respond_with(associate_ok())
        .expect(3)
        .mount(&app.auth0)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_partial_json(json!({
            "grant_type": "http://auth0.com/oauth/grant-type/mfa-oob",
            "mfa_token": "fake-fr-token-1",
            "oob_code": "fake-oob-code-2222",
            "binding_code": "123456",
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
        .expect(1)
        .mount(&app.auth0)
        .await;
    let enroll = |n: u32| {
        let app = &app;
        async move {
            mfa_post(
                app,
                "/mfa/associate",
                &format!("Bearer fake-fr-token-{n}"),
                json!({"factor": "sms", "phone_number": format!("+3361234567{n}")}),
            )
            .await
        }
    };
    assert_eq!(enroll(1).await.status(), 200);
    let verified = mfa_post(
        &app,
        "/mfa/verify",
        "Bearer fake-fr-token-1",
        json!({"oob_code": "fake-oob-code-2222", "binding_code": "123456"}),
    )
    .await;
    assert_eq!(verified.status(), 200);
    // 2 sends, 1 verified: 50 %, still open.
    assert_eq!(enroll(2).await.status(), 200);
    // 3 sends, 1 verified: under 50 %; Auth0 took this one, then France
    // is paused.
    assert_eq!(enroll(3).await.status(), 200);
    let paused = enroll(4).await;
    assert_policy(&app, paused, "sms_fraud_guard").await;
    assert_eq!(app.upstream_requests().await.len(), 4);
}

/// Unverified sends to one country trip the guard: that country gets 429
/// `sms_fraud_guard` with the pause left as `Retry-After`; other countries
/// and email pass; one warn event; the metrics say why; the country
/// recovers when the pause ends. The real binary, so the log and the
/// metrics are this test's alone.
#[tokio::test]
async fn unverified_texts_pause_their_country_until_the_pause_ends() {
    let auth0 = wiremock::MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(start_ok())
        .mount(&auth0)
        .await;
    let mut gateway = RealGateway::spawn(
        &auth0.uri(),
        &[
            ("GATEWAY__SERVER__METRICS_BIND", "127.0.0.1:0"),
            ("GATEWAY__SMS__FRAUD_GUARD__MIN_SENDS", "3"),
            ("GATEWAY__SMS__FRAUD_GUARD__MIN_CONVERSION", "0.5"),
            ("GATEWAY__SMS__FRAUD_GUARD__PAUSE_SECS", "2"),
        ],
    )
    .await;
    let client = http_client();
    let start = |body: Value| {
        let client = &client;
        let url = gateway.url("/login/start");
        async move { client.post(url).json(&body).send().await.expect("answers") }
    };
    // Nigeria: three texts, none verified.
    for n in 1..=3 {
        let phone = format!("+23480312345{n:02}");
        assert_eq!(start(json!({"phone_number": phone})).await.status(), 200);
    }
    let paused = start(json!({"phone_number": "+2348031234599"})).await;
    assert_eq!(paused.status(), 429);
    let retry_after: u64 = paused.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert!(paused.headers()["ratelimit"]
        .to_str()
        .unwrap_or("")
        .starts_with("\"sms_fraud_guard\";"));
    let body: Value = paused.json().await.expect("JSON");
    assert_eq!(body["error"], "too_many_requests");
    // Other countries and email are untouched.
    assert_eq!(
        start(json!({"phone_number": "+14155550100"}))
            .await
            .status(),
        200
    );
    assert_eq!(
        start(json!({"email": "jane@example.com"})).await.status(),
        200
    );
    assert_eq!(auth0.received_requests().await.unwrap_or_default().len(), 5);

    let metrics_port = gateway.metrics_port.expect("a metrics listener");
    let metrics = client
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("metrics text");
    for expected in [
        "sms_sends_total{country=\"NG\"} 3",
        "sms_sends_total{country=\"US\"} 1",
        "sms_countries_paused 1",
        "gateway_rate_limit_rejections_total{policy=\"sms_fraud_guard\"} 1",
    ] {
        assert!(metrics.contains(expected), "{expected} in\n{metrics}");
    }
    assert!(!metrics.contains("2348031234"), "no number in the metrics");

    // The pause ends: Nigeria starts over.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        start(json!({"phone_number": "+2348031234599"}))
            .await
            .status(),
        200
    );
    assert_eq!(auth0.received_requests().await.unwrap_or_default().len(), 6);

    gateway.sigterm();
    assert!(gateway.wait_exit(Duration::from_secs(10)).await.is_some());
    let output = gateway.output();
    let events: Vec<Value> = output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["event"] == "sms_fraud_guard_paused")
        .collect();
    assert_eq!(events.len(), 1, "{output}");
    assert_eq!(events[0]["level"], "WARN");
    assert_eq!(events[0]["country"], "NG");
    assert_eq!(events[0]["sends"], 3);
    assert_eq!(events[0]["verifications"], 0);
    assert_eq!(events[0]["pause_secs"], 2);
    assert!(!output.contains("2348031234"), "no number in the log");
}
