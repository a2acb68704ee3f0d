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

/// A challenge names no number: `sms_per_phone` keys on its authenticator
/// (SPEC §13). Only out-of-band challenges of `sms|`/`voice|`
/// authenticators are texts; each authenticator is its own bucket.
#[tokio::test]
async fn challenges_of_phone_authenticators_spend_that_authenticators_budget() {
    let app = spawn_app_with(&[("GATEWAY__RATE_LIMIT__SMS_PER_PHONE", "1/hour")]).await;
    Mock::given(method("POST"))
        .and(path("/mfa/challenge"))
        .respond_with(challenge_ok())
        .expect(5)
        .mount(&app.auth0)
        .await;
    let voice = json!({"challenge_type": "oob", "authenticator_id": "voice|dev_fake1"});
    let first = mfa_post(&app, "/mfa/challenge", BEARER, voice.clone()).await;
    assert_eq!(first.status(), 200);
    let again = mfa_post(&app, "/mfa/challenge", BEARER, voice).await;
    assert_policy(&app, again, "sms_per_phone").await;
    // Another phone authenticator has its own budget.
    let sms = json!({"challenge_type": "oob", "authenticator_id": "sms|dev_fake1"});
    let other = mfa_post(&app, "/mfa/challenge", BEARER, sms.clone()).await;
    assert_eq!(other.status(), 200);
    let again = mfa_post(&app, "/mfa/challenge", BEARER, sms).await;
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
    assert_eq!(app.upstream_requests().await.len(), 5);
}

/// SMS pumping through `/mfa/challenge` (issue 26, finding 2): every login
/// brings a new mfa_token, so a budget keyed on the token never runs out.
/// The authenticator id stays the same across logins: its challenges on
/// three tokens share one `sms_per_phone` bucket (default 5/hour).
#[tokio::test]
async fn one_sms_authenticators_challenges_share_one_budget_across_mfa_tokens() {
    let app = spawn_app().await;
    for n in 1..=3 {
        Mock::given(method("POST"))
            .and(path("/mfa/challenge"))
            .and(header("auth0-forwarded-for", "127.0.0.1"))
            .and(body_partial_json(json!({
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "mfa_token": format!("fake-login-{n}-mfa-token"),
                "challenge_type": "oob",
                "authenticator_id": "sms|dev_victim",
            })))
            .respond_with(challenge_ok())
            .expect(if n == 3 { 1 } else { 2 })
            .named(format!("login {n}"))
            .mount(&app.auth0)
            .await;
    }
    let challenge = json!({"challenge_type": "oob", "authenticator_id": "sms|dev_victim"});
    // Logins 1, 2, 3, 1, 2: five texts, the default budget.
    for n in [1, 2, 3, 1, 2] {
        let bearer = format!("Bearer fake-login-{n}-mfa-token");
        let response = mfa_post(&app, "/mfa/challenge", &bearer, challenge.clone()).await;
        assert_eq!(response.status(), 200, "login {n}");
    }
    let sixth = mfa_post(
        &app,
        "/mfa/challenge",
        "Bearer fake-login-3-mfa-token",
        challenge,
    )
    .await;
    let retry_after = assert_policy(&app, sixth, "sms_per_phone").await;
    assert!((1..=720).contains(&retry_after), "{retry_after}");
    assert_eq!(app.upstream_requests().await.len(), 5, "Auth0 saw 5");
}

/// SPEC §13: a challenge whose country the gateway never saw (the number
/// was enrolled elsewhere) counts under `unknown`, and the §8 guard pauses
/// `unknown` like any country once its texts go unverified. Countries the
/// gateway knows are not touched.
#[tokio::test]
async fn unverified_challenges_of_unknown_country_pause_unknown() {
    let app = spawn_app_with(&[
        ("GATEWAY__SMS__FRAUD_GUARD__MIN_SENDS", "3"),
        ("GATEWAY__SMS__FRAUD_GUARD__MIN_CONVERSION", "0.5"),
    ])
    .await;
    Mock::given(method("POST"))
        .and(path("/mfa/challenge"))
        .respond_with(challenge_ok())
        .expect(4)
        .mount(&app.auth0)
        .await;
    Mock::given(method("POST"))
        .and(path("/mfa/associate"))
        .respond_with(associate_ok())
        .expect(1)
        .mount(&app.auth0)
        .await;
    // Three logins, three authenticators (each within its own budget),
    // numbers the gateway never saw: three unverified sends to `unknown`.
    let challenge = |n: u32| {
        let app = &app;
        async move {
            mfa_post(
                app,
                "/mfa/challenge",
                &format!("Bearer fake-unseen-token-{n}"),
                json!({"challenge_type": "oob", "authenticator_id": format!("sms|dev_unseen{n}")}),
            )
            .await
        }
    };
    for n in 1..=3 {
        assert_eq!(challenge(n).await.status(), 200, "challenge {n}");
    }
    let paused = challenge(4).await;
    let retry_after = assert_policy(&app, paused, "sms_fraud_guard").await;
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(app.upstream_requests().await.len(), 3, "Auth0 not called");
    // A token whose number the gateway enrolled (France) is France's.
    let known = "Bearer fake-known-token-1";
    let enroll = json!({"factor": "sms", "phone_number": "+33612345678"});
    assert_eq!(
        mfa_post(&app, "/mfa/associate", known, enroll)
            .await
            .status(),
        200
    );
    let challenge = json!({"challenge_type": "oob", "authenticator_id": "sms|dev_known"});
    assert_eq!(
        mfa_post(&app, "/mfa/challenge", known, challenge)
            .await
            .status(),
        200
    );
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

/// SPEC §13 "Every number has a country": a number libphonenumber cannot
/// place in a region (`+44 7612…` and `+1 200…` are unassigned ranges)
/// counts under its calling code's main region, never `unknown`:
/// `sms.allowed_countries` admits it as GB (or US), and its unverified
/// texts pause GB like any British number's.
#[tokio::test]
async fn a_number_libphonenumber_cannot_place_counts_under_its_calling_codes_main_region() {
    let app = spawn_app_with(&[
        ("GATEWAY__SMS__ALLOWED_COUNTRIES", "GB,US"),
        ("GATEWAY__SMS__FRAUD_GUARD__MIN_SENDS", "2"),
        ("GATEWAY__SMS__FRAUD_GUARD__MIN_CONVERSION", "0.5"),
    ])
    .await;
    for phone in ["+447612345678", "+447612345679", "+12002345678"] {
        Mock::given(method("POST"))
            .and(path("/passwordless/start"))
            .and(body_partial_json(json!({"phone_number": phone})))
            .respond_with(start_ok())
            .expect(1)
            .named(phone)
            .mount(&app.auth0)
            .await;
    }
    for phone in ["+447612345678", "+447612345679", "+12002345678"] {
        let response = app
            .post_json("/login/start", &json!({"phone_number": phone}))
            .await;
        assert_eq!(response.status(), 200, "{phone}");
    }
    // Two unverified texts under GB: a placed British number is paused.
    let placed = app
        .post_json("/login/start", &json!({"phone_number": "+447400123456"}))
        .await;
    assert_policy(&app, placed, "sms_fraud_guard").await;
    assert_eq!(app.upstream_requests().await.len(), 3);

    // With only US allowed, the unplaceable British number is refused.
    let app = spawn_app_with(&[("GATEWAY__SMS__ALLOWED_COUNTRIES", "US")]).await;
    let response = app
        .post_json("/login/start", &json!({"phone_number": "+447612345678"}))
        .await;
    assert_error(&app, response, 400, "phone_country_not_allowed").await;
    assert_eq!(app.upstream_requests().await.len(), 0);
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
