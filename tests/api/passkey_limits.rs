//! Passkeys' limits (SPEC §4, §8, §11) over the wire: `per_ip` on every
//! `/passkey` route, `passkey_register_per_ip` on sign-ups; a phone sign-up
//! is a text (`sms.allowed_countries`, `sms_per_phone`, `sms_global`, the
//! fraud guard's sends and conversions); nothing refused reaches Auth0; and
//! while `passkey.enabled` is off the routes do not exist.

use serde_json::{json, Value};
use wiremock::ResponseTemplate;

use crate::helpers::*;
use crate::passkey::{
    ceremony, creation_options, grant_call_for, new_passkey, passkey_app, register_call, sign_in,
    AUTH_SESSION,
};

/// A 429 from the named local policy; its `Retry-After`.
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

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// Auth0's answer to a phone sign-up it texted, with its own session.
fn texted(session: &str) -> ResponseTemplate {
    ok(json!({
        "auth_session": session,
        "authn_params_public_key": creation_options(),
        "verification_required": ["phone"],
    }))
}

async fn register(app: &TestApp, body: Value) -> reqwest::Response {
    app.post_json("/passkey/register", &body).await
}

#[tokio::test]
async fn passkey_register_per_ip_refusals_never_reach_auth0() {
    let app = passkey_app(&[("GATEWAY__RATE_LIMIT__PASSKEY_REGISTER_PER_IP", "2/hour")]).await;
    any_call("/passkey/register")
        .respond_with(ok(ceremony(creation_options(), None)))
        .expect(2)
        .mount(&app.auth0)
        .await;
    for email in ["a@example.com", "b@example.com"] {
        assert_eq!(register(&app, json!({"email": email})).await.status(), 200);
    }
    let third = register(&app, json!({"email": "c@example.com"})).await;
    let retry_after = assert_policy(&app, third, "passkey_register_per_ip").await;
    assert!((1799..=1800).contains(&retry_after), "{retry_after}");
    // Sign-ins are not sign-ups.
    any_call("/passkey/challenge")
        .respond_with(ok(ceremony(json!({"challenge": "Y2g"}), None)))
        .expect(1)
        .mount(&app.auth0)
        .await;
    let challenge = app.post_json("/passkey/challenge", &json!({})).await;
    assert_eq!(challenge.status(), 200);
}

#[tokio::test]
async fn a_phone_sign_up_spends_the_numbers_budget_and_refusals_never_reach_auth0() {
    let app = passkey_app(&[("GATEWAY__RATE_LIMIT__SMS_PER_PHONE", "1/hour")]).await;
    register_call(json!({"phone_number": "+33612345678"}))
        .respond_with(texted(AUTH_SESSION))
        .expect(1)
        .mount(&app.auth0)
        .await;
    register_call(json!({"phone_number": "+33612345679"}))
        .respond_with(texted(AUTH_SESSION))
        .expect(1)
        .mount(&app.auth0)
        .await;
    register_call(json!({"email": "jane@example.com"}))
        .respond_with(ok(ceremony(creation_options(), None)))
        .expect(1)
        .mount(&app.auth0)
        .await;
    let first = register(&app, json!({"phone_number": "+33612345678"})).await;
    assert_eq!(first.status(), 200);
    let again = register(&app, json!({"phone_number": "+33612345678"})).await;
    assert_policy(&app, again, "sms_per_phone").await;
    // Another number, and an email sign-up, have budgets of their own.
    let other = register(&app, json!({"phone_number": "+33612345679"})).await;
    assert_eq!(other.status(), 200);
    let email = register(&app, json!({"email": "jane@example.com"})).await;
    assert_eq!(email.status(), 200);
}

#[tokio::test]
async fn phone_sign_ups_and_logins_share_the_global_sms_budget() {
    let app = passkey_app(&[("GATEWAY__RATE_LIMIT__SMS_GLOBAL", "1/hour")]).await;
    register_call(json!({"phone_number": "+14155550100"}))
        .respond_with(texted(AUTH_SESSION))
        .expect(1)
        .mount(&app.auth0)
        .await;
    any_call("/passwordless/start")
        .respond_with(ok(json!({"_id": "x"})))
        .expect(0)
        .mount(&app.auth0)
        .await;
    let sign_up = register(&app, json!({"phone_number": "+14155550100"})).await;
    assert_eq!(sign_up.status(), 200);
    let login = app
        .post_json("/login/start", &json!({"phone_number": "+14155550101"}))
        .await;
    assert_policy(&app, login, "sms_global").await;
    let sign_up = register(&app, json!({"phone_number": "+14155550102"})).await;
    assert_policy(&app, sign_up, "sms_global").await;
}

/// The country is checked first: a refused number spends no one's
/// budget, not even the network's sign-ups.
#[tokio::test]
async fn numbers_outside_the_allowed_countries_get_400_and_never_reach_auth0() {
    let app = passkey_app(&[
        ("GATEWAY__SMS__ALLOWED_COUNTRIES", "US,CA"),
        ("GATEWAY__RATE_LIMIT__PASSKEY_REGISTER_PER_IP", "1/hour"),
    ])
    .await;
    register_call(json!({"phone_number": "+14155550100"}))
        .respond_with(texted(AUTH_SESSION))
        .expect(1)
        .mount(&app.auth0)
        .await;
    for number in ["+33612345678", "+2348031234501"] {
        let refused = register(&app, json!({"phone_number": number})).await;
        assert_error_described(
            &app,
            refused,
            400,
            "phone_country_not_allowed",
            "phone_number is in a country this service does not send texts or calls to",
        )
        .await;
    }
    let allowed = register(&app, json!({"phone_number": "+14155550100"})).await;
    assert_eq!(allowed.status(), 200);
}

/// A sign-up's text is a send, and the `200` of its `verification.phone`
/// its verification, for the country the `auth_session` remembers: with
/// it, France stays open one send longer (without, the second unverified
/// send would pause it already).
#[tokio::test]
async fn a_verified_phone_sign_up_counts_as_its_texts_conversion() {
    let app = passkey_app(&[
        ("GATEWAY__SMS__FRAUD_GUARD__MIN_SENDS", "2"),
        ("GATEWAY__SMS__FRAUD_GUARD__MIN_CONVERSION", "0.5"),
    ])
    .await;
    for n in 1..=3 {
        register_call(json!({"phone_number": format!("+3361234567{n}")}))
            .respond_with(texted(&format!("fake-auth-session-fr-{n}")))
            .expect(1)
            .mount(&app.auth0)
            .await;
    }
    let credential = new_passkey();
    grant_call_for(
        &credential,
        "fake-auth-session-fr-1",
        json!({"verification": {"phone": "123456"}}),
    )
    .respond_with(ok(token_answer()))
    .expect(1)
    .mount(&app.auth0)
    .await;
    let sign_up = |n: u32| {
        let app = &app;
        async move { register(app, json!({"phone_number": format!("+3361234567{n}")})).await }
    };
    assert_eq!(sign_up(1).await.status(), 200);
    let verified = app
        .post_json(
            "/passkey/verify",
            &json!({
                "auth_session": "fake-auth-session-fr-1",
                "credential": credential,
                "verification": {"phone": "123456"},
            }),
        )
        .await;
    assert_eq!(verified.status(), 200);
    // 2 sends, 1 verified: 50 %, still open.
    assert_eq!(sign_up(2).await.status(), 200);
    // 3 sends, 1 verified: under 50 %; Auth0 took this one, then France
    // is paused, for sign-ups and logins alike.
    assert_eq!(sign_up(3).await.status(), 200);
    let paused = sign_up(4).await;
    assert_policy(&app, paused, "sms_fraud_guard").await;
    let login = app
        .post_json("/login/start", &json!({"phone_number": "+33612345670"}))
        .await;
    assert_policy(&app, login, "sms_fraud_guard").await;
    assert_eq!(app.upstream_requests().await.len(), 4);
}

/// A send is a text Auth0 says it sent (`verification_required` names
/// the phone): a sign-up it texted nothing could never be verified, and
/// counting it would pause the country for everyone.
#[tokio::test]
async fn a_phone_sign_up_auth0_texts_nothing_is_not_a_send() {
    let app = passkey_app(&[
        ("GATEWAY__SMS__FRAUD_GUARD__MIN_SENDS", "1"),
        ("GATEWAY__SMS__FRAUD_GUARD__MIN_CONVERSION", "0.5"),
    ])
    .await;
    for n in 1..=3 {
        register_call(json!({"phone_number": format!("+3361234560{n}")}))
            .respond_with(ok(ceremony(creation_options(), Some(json!(["email"])))))
            .expect(1)
            .mount(&app.auth0)
            .await;
    }
    register_call(json!({"phone_number": "+33612345604"}))
        .respond_with(texted(AUTH_SESSION))
        .expect(1)
        .mount(&app.auth0)
        .await;
    for n in 1..=3 {
        let response = register(&app, json!({"phone_number": format!("+3361234560{n}")})).await;
        assert_eq!(response.status(), 200, "{n}");
    }
    // The first text is a send: one unverified send pauses France.
    let texted = register(&app, json!({"phone_number": "+33612345604"})).await;
    assert_eq!(texted.status(), 200);
    let paused = register(&app, json!({"phone_number": "+33612345605"})).await;
    assert_policy(&app, paused, "sms_fraud_guard").await;
}

#[tokio::test]
async fn per_ip_applies_to_every_passkey_route_even_to_refused_input() {
    let app = passkey_app(&[("GATEWAY__RATE_LIMIT__PER_IP", "2/minute")]).await;
    any_call("/passkey/challenge")
        .respond_with(ok(ceremony(json!({"challenge": "Y2g"}), None)))
        .expect(1)
        .mount(&app.auth0)
        .await;
    any_call("/oauth/token")
        .respond_with(ok(token_answer()))
        .expect(0)
        .mount(&app.auth0)
        .await;
    assert_eq!(
        app.post_json("/passkey/challenge", &json!({}))
            .await
            .status(),
        200
    );
    let malformed = json!({"auth_session": AUTH_SESSION, "credential": {"type": "x"}});
    let refused = app.post_json("/passkey/verify", &malformed).await;
    assert_error(&app, refused, 400, "invalid_request").await;
    let limited = app
        .post_json(
            "/passkey/verify",
            &json!({"auth_session": AUTH_SESSION, "credential": sign_in()}),
        )
        .await;
    assert_policy(&app, limited, "per_ip").await;
}

/// While `passkey.enabled` is off the routes are unknown paths: `404`,
/// no Auth0 call, and no `per_ip` spent (the next limited call is the
/// network's first).
#[tokio::test]
async fn passkeys_are_404_while_disabled_and_spend_no_per_ip() {
    let app = spawn_app_with(&[("GATEWAY__RATE_LIMIT__PER_IP", "1/minute")]).await;
    for route in ["/passkey/register", "/passkey/challenge", "/passkey/verify"] {
        for _ in 0..2 {
            let response = app
                .post_json(route, &json!({"email": "jane@example.com"}))
                .await;
            assert_error(&app, response, 404, "not_found").await;
        }
    }
    // per_ip's one call of the minute is still there, then it is spent.
    let first = app.get("/mfa/authenticators").await;
    assert_error(&app, first, 401, "unauthorized").await;
    let second = app.get("/mfa/authenticators").await;
    assert_policy(&app, second, "per_ip").await;
    assert!(app.upstream_requests().await.is_empty());
}
