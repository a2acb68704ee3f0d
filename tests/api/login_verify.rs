//! POST /login/verify → POST {auth0}/oauth/token (passwordless OTP grant)

use serde_json::{json, Value};
use wiremock::matchers::header;
use wiremock::ResponseTemplate;

use crate::helpers::*;

#[tokio::test]
async fn an_email_code_is_exchanged_for_tokens_with_the_exact_otp_grant() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/oauth/token",
        otp_grant("jane@example.com", "123456", "email"),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = app
        .post_json(
            "/login/verify",
            &json!({"email": "Jane@Example.com", "code": "123456"}),
        )
        .await;

    let (headers, body) = assert_ok_json(response).await;
    assert_no_store(&headers);
    // The undocumented `internal_user_id` is dropped.
    assert_eq!(body, expected_tokens());
}

#[tokio::test]
async fn a_phone_code_is_verified_against_the_sms_realm() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/oauth/token",
        otp_grant("+14155550100", "0042", "sms"),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": 600,
    })))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = app
        .post_json(
            "/login/verify",
            &json!({"phone_number": "+14155550100", "code": "0042"}),
        )
        .await;

    let (headers, body) = assert_ok_json(response).await;
    assert_no_store(&headers);
    // Optional token fields Auth0 did not return are not invented.
    assert_eq!(
        body,
        json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 600})
    );
}

#[tokio::test]
async fn the_configured_default_audience_is_sent_when_the_client_names_none() {
    let app = spawn_app_with(&[("GATEWAY__AUTH0__AUDIENCE", "https://api.example.com")]).await;
    let mut grant = otp_grant("jane@example.com", "123456", "email");
    grant["audience"] = json!("https://api.example.com");
    upstream("POST", "/oauth/token", grant, "127.0.0.1")
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = app
        .post_json(
            "/login/verify",
            &json!({"email": "jane@example.com", "code": "123456"}),
        )
        .await;
    assert_ok_json(response).await;
}

#[tokio::test]
async fn an_allowed_audience_and_scope_are_sent_as_requested() {
    let app = spawn_app_with(&[(
        "GATEWAY__AUTH0__ALLOWED_AUDIENCES",
        "https://api.example.com,https://billing.example.com",
    )])
    .await;
    let mut grant = otp_grant("jane@example.com", "123456", "email");
    grant["audience"] = json!("https://billing.example.com");
    grant["scope"] = json!("openid email");
    upstream("POST", "/oauth/token", grant, "127.0.0.1")
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = app
        .post_json(
            "/login/verify",
            &json!({
                "email": "jane@example.com",
                "code": "123456",
                "audience": "https://billing.example.com",
                "scope": "openid  email",
            }),
        )
        .await;
    assert_ok_json(response).await;
}

#[tokio::test]
async fn an_audience_or_scope_outside_the_allow_lists_is_rejected_before_auth0() {
    let app = spawn_app_with(&[(
        "GATEWAY__AUTH0__ALLOWED_AUDIENCES",
        "https://api.example.com",
    )])
    .await;
    any_call("/oauth/token")
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
        .expect(0)
        .mount(&app.auth0)
        .await;

    let cases = [
        (
            json!({"email": "jane@example.com", "code": "123456", "audience": "https://evil.example.com"}),
            "audience is not in the gateway's allowed audiences",
        ),
        (
            json!({"email": "jane@example.com", "code": "123456", "scope": "openid admin:all"}),
            "scope \"admin:all\" is not allowed",
        ),
        (
            json!({"email": "jane@example.com", "code": "123456", "scope": "  "}),
            "scope must not be empty",
        ),
    ];
    for (body, description) in cases {
        let response = app.post_json("/login/verify", &body).await;
        assert_error_described(&app, response, 400, "invalid_request", description).await;
    }
}

#[tokio::test]
async fn accept_language_is_sent_as_x_request_language() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/oauth/token",
        otp_grant("jane@example.com", "123456", "email"),
        "127.0.0.1",
    )
    .and(header("x-request-language", "pt-BR"))
    .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = app
        .post_json_with(
            "/login/verify",
            &json!({"email": "jane@example.com", "code": "123456"}),
            &[("accept-language", "pt-BR, pt;q=0.9")],
        )
        .await;
    assert_ok_json(response).await;
}

#[tokio::test]
async fn a_wrong_code_is_passed_through_as_invalid_grant() {
    let cases = [
        (
            "email",
            json!({"email": "jane@example.com", "code": "000000"}),
            otp_grant("jane@example.com", "000000", "email"),
            json!({"error": "invalid_grant", "error_description": "Wrong email or verification code."}),
            "Wrong email or verification code.",
        ),
        (
            "sms, second shape",
            json!({"phone_number": "+14155550100", "code": "000000"}),
            otp_grant("+14155550100", "000000", "sms"),
            json!({"statusCode": 403, "error": "invalid_grant", "message": "Wrong phone number or verification code."}),
            "Wrong phone number or verification code.",
        ),
        (
            "too many attempts",
            json!({"email": "jane@example.com", "code": "000000"}),
            otp_grant("jane@example.com", "000000", "email"),
            json!({"error": "invalid_grant", "error_description": "You've reached the maximum number of attempts. Please try to login again.", "extra": "x"}),
            "You've reached the maximum number of attempts. Please try to login again.",
        ),
    ];
    for (name, request, grant, answer, description) in cases {
        let app = spawn_app().await;
        upstream("POST", "/oauth/token", grant, "127.0.0.1")
            .respond_with(ResponseTemplate::new(403).set_body_json(answer))
            .expect(1)
            .named(name)
            .mount(&app.auth0)
            .await;

        let response = app.post_json("/login/verify", &request).await;
        assert_error_described(&app, response, 403, "invalid_grant", description).await;
    }
}

#[tokio::test]
async fn mfa_required_is_returned_as_403_with_the_mfa_token_and_requirements() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/oauth/token",
        otp_grant("jane@example.com", "123456", "email"),
        "127.0.0.1",
    )
    .respond_with(ResponseTemplate::new(403).set_body_json(mfa_required_answer()))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = app
        .post_json(
            "/login/verify",
            &json!({"email": "jane@example.com", "code": "123456"}),
        )
        .await;

    let (headers, body) = assert_error(&app, response, 403, "mfa_required").await;
    assert_no_store(&headers);
    assert_eq!(
        body["error_description"],
        "Multifactor authentication required"
    );
    assert_eq!(body["mfa_token"], MFA_TOKEN);
    assert_eq!(
        body["mfa_requirements"],
        json!({"challenge": [{"type": "otp"}]})
    );
    assert!(body.get("internal").is_none());
}

#[tokio::test]
async fn mfa_required_with_enroll_requirements_is_passed_through() {
    let app = spawn_app().await;
    any_call("/oauth/token")
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": "mfa_required",
            "error_description": "Multifactor authentication required",
            "mfa_token": MFA_TOKEN,
            "mfa_requirements": {"enroll": [{"type": "otp"}, {"type": "phone"}]},
        })))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = app
        .post_json(
            "/login/verify",
            &json!({"email": "jane@example.com", "code": "123456"}),
        )
        .await;
    let (_, body) = assert_error(&app, response, 403, "mfa_required").await;
    assert_eq!(
        body["mfa_requirements"],
        json!({"enroll": [{"type": "otp"}, {"type": "phone"}]})
    );
}

/// Factor kinds the gateway cannot drive (Auth0 may add new ones) are left
/// out of `mfa_requirements`, so the published `MfaFactorType` enum holds.
#[tokio::test]
async fn mfa_requirements_of_unknown_kinds_are_left_out() {
    let app = spawn_app().await;
    any_call("/oauth/token")
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": "mfa_required",
            "error_description": "Multifactor authentication required",
            "mfa_token": MFA_TOKEN,
            "mfa_requirements": {
                "challenge": [{"type": "webauthn-roaming"}, {"type": "otp"}, {"kind": "x"}],
                "enroll": [{"type": "push-notification"}, {"type": "duo"}],
            },
        })))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = app
        .post_json(
            "/login/verify",
            &json!({"email": "jane@example.com", "code": "123456"}),
        )
        .await;
    let (_, body) = assert_error(&app, response, 403, "mfa_required").await;
    assert_eq!(body["mfa_token"], MFA_TOKEN);
    assert_eq!(
        body["mfa_requirements"],
        json!({"challenge": [{"type": "otp"}], "enroll": [{"type": "push-notification"}]})
    );
}

#[tokio::test]
async fn mfa_required_without_an_mfa_token_is_an_upstream_error() {
    let app = spawn_app().await;
    any_call("/oauth/token")
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({"error": "mfa_required", "error_description": "Multifactor authentication required"}),
        ))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = app
        .post_json(
            "/login/verify",
            &json!({"email": "jane@example.com", "code": "123456"}),
        )
        .await;
    assert_error(&app, response, 502, "upstream_error").await;
}

#[tokio::test]
async fn a_token_answer_without_a_documented_required_field_is_an_upstream_error() {
    for answer in [
        json!({"token_type": "Bearer", "expires_in": 60}),
        json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": "soon"}),
        json!([]),
    ] {
        let app = spawn_app().await;
        any_call("/oauth/token")
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .expect(1)
            .mount(&app.auth0)
            .await;
        let response = app
            .post_json(
                "/login/verify",
                &json!({"email": "jane@example.com", "code": "123456"}),
            )
            .await;
        assert_error(&app, response, 502, "upstream_error").await;
    }
}

#[tokio::test]
async fn invalid_verify_bodies_are_rejected_before_auth0_is_called() {
    let app = spawn_app().await;
    any_call("/oauth/token")
        .respond_with(ResponseTemplate::new(200).set_body_json(token_answer()))
        .expect(0)
        .mount(&app.auth0)
        .await;

    let cases: &[(&str, Value, &str)] = &[
        (
            "neither identifier",
            json!({"code": "123456"}),
            "email or phone_number is required",
        ),
        (
            "both identifiers",
            json!({"email": "jane@example.com", "phone_number": "+14155550100", "code": "123456"}),
            "send either email or phone_number, not both",
        ),
        (
            "bad email",
            json!({"email": "not-an-email", "code": "123456"}),
            "email must be a valid address, e.g. jane@example.com",
        ),
        (
            "bad E.164",
            json!({"phone_number": "+0123456789", "code": "123456"}),
            "phone_number must be E.164, e.g. +14155550100",
        ),
        (
            "non-digit code",
            json!({"email": "jane@example.com", "code": "12a456"}),
            "code must be 4 to 12 digits",
        ),
        (
            "short code",
            json!({"email": "jane@example.com", "code": "123"}),
            "code must be 4 to 12 digits",
        ),
        (
            "long code",
            json!({"email": "jane@example.com", "code": "1234567890123"}),
            "code must be 4 to 12 digits",
        ),
        (
            "code with whitespace",
            json!({"email": "jane@example.com", "code": " 123456"}),
            "code must be 4 to 12 digits",
        ),
        ("missing code", json!({"email": "jane@example.com"}), ""),
        (
            "code is a number",
            json!({"email": "jane@example.com", "code": 123456}),
            "",
        ),
        (
            "unknown field",
            json!({"email": "jane@example.com", "code": "123456", "remember_me": true}),
            "unknown field remember_me",
        ),
        (
            "client_secret in the body",
            json!({"email": "jane@example.com", "code": "123456", "client_secret": "attacker-chosen"}),
            "client_secret is set by the gateway and may not be sent",
        ),
        (
            "grant_type in the body",
            json!({"email": "jane@example.com", "code": "123456", "grant_type": "password"}),
            "grant_type is set by the gateway and may not be sent",
        ),
        (
            "realm in the body",
            json!({"email": "jane@example.com", "code": "123456", "realm": "Username-Password-Authentication"}),
            "realm is set by the gateway and may not be sent",
        ),
        (
            "connection in the body",
            json!({"email": "jane@example.com", "code": "123456", "connection": "sms"}),
            "connection is set by the gateway and may not be sent",
        ),
        (
            "client_id in the body",
            json!({"email": "jane@example.com", "code": "123456", "client_id": "attacker-chosen"}),
            "client_id is set by the gateway and may not be sent",
        ),
    ];
    for (name, body, description) in cases {
        let response = app.post_json("/login/verify", body).await;
        let (_, answer) = assert_error(&app, response, 400, "invalid_request").await;
        if !description.is_empty() {
            assert_eq!(answer["error_description"], *description, "case: {name}");
        }
        assert!(
            !answer.to_string().contains("attacker-chosen"),
            "case {name}: value echoed"
        );
    }
}

#[tokio::test]
async fn upstream_failures_on_verify_map_to_the_spec_errors() {
    for failure in ALL_FAILURES {
        check_upstream_failure(
            *failure,
            &[],
            "/oauth/token",
            "/login/verify",
            &json!({"email": "jane@example.com", "code": "123456"}),
        )
        .await;
    }
}
