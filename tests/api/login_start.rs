//! POST /login/start → POST {auth0}/passwordless/start

use serde_json::{json, Value};
use wiremock::matchers::{header, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::*;

fn email_start(email: &str) -> Value {
    json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "connection": "email",
        "email": email,
        "send": "code",
    })
}

fn sms_start(phone: &str) -> Value {
    json!({
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "connection": "sms",
        "phone_number": phone,
        "send": "code",
    })
}

/// Auth0's recorded email answer (SPEC §7): nothing of it is reflected.
fn auth0_email_ok(email: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"_id": "5f1e0c1e2b3a4d5e6f708192", "email": email, "email_verified": false}),
    )
}

fn auth0_sms_ok(phone: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "_id": "5f1e0c1e2b3a4d5e6f708193",
        "phone_number": phone,
        "phone_verified": false,
        "request_language": null,
    }))
}

#[tokio::test]
async fn an_email_code_start_sends_exactly_the_documented_upstream_request() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/passwordless/start",
        email_start("jane@example.com"),
        "127.0.0.1",
    )
    .respond_with(auth0_email_ok("jane@example.com"))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = app
        .post_json("/login/start", &json!({"email": "jane@example.com"}))
        .await;

    let (headers, body) = assert_ok_json(response).await;
    assert_eq!(body, json!({"channel": "email", "send": "code"}));
    assert!(header_str(&headers, "x-request-id").is_some());
}

#[tokio::test]
async fn an_email_is_trimmed_and_lowercased_before_it_goes_upstream() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/passwordless/start",
        email_start("jane.doe@example.com"),
        "127.0.0.1",
    )
    .respond_with(auth0_email_ok("jane.doe@example.com"))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = app
        .post_json(
            "/login/start",
            &json!({"email": "  Jane.Doe@Example.COM ", "send": "code"}),
        )
        .await;

    let (_, body) = assert_ok_json(response).await;
    assert_eq!(body, json!({"channel": "email", "send": "code"}));
}

#[tokio::test]
async fn an_sms_code_start_uses_the_sms_connection_and_reflects_nothing_from_auth0() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/passwordless/start",
        sms_start("+14155550100"),
        "127.0.0.1",
    )
    .respond_with(auth0_sms_ok("+14155550100"))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = app
        .post_json("/login/start", &json!({"phone_number": "+14155550100"}))
        .await;

    let (_, body) = assert_ok_json(response).await;
    assert_eq!(body, json!({"channel": "sms", "send": "code"}));
}

#[tokio::test]
async fn configured_connection_names_are_used_upstream() {
    let app = spawn_app_with(&[
        ("GATEWAY__AUTH0__EMAIL_CONNECTION", "email-custom"),
        ("GATEWAY__AUTH0__SMS_CONNECTION", "sms-custom"),
    ])
    .await;
    let mut email = email_start("jane@example.com");
    email["connection"] = json!("email-custom");
    let mut sms = sms_start("+14155550100");
    sms["connection"] = json!("sms-custom");
    upstream("POST", "/passwordless/start", email, "127.0.0.1")
        .respond_with(auth0_email_ok("jane@example.com"))
        .expect(1)
        .mount(&app.auth0)
        .await;
    upstream("POST", "/passwordless/start", sms, "127.0.0.1")
        .respond_with(auth0_sms_ok("+14155550100"))
        .expect(1)
        .mount(&app.auth0)
        .await;

    let response = app
        .post_json("/login/start", &json!({"email": "jane@example.com"}))
        .await;
    assert_ok_json(response).await;
    let response = app
        .post_json("/login/start", &json!({"phone_number": "+14155550100"}))
        .await;
    assert_ok_json(response).await;
}

#[tokio::test]
async fn an_email_magic_link_start_sends_auth_params_with_the_configured_redirect() {
    let app = spawn_app_with(&[("GATEWAY__AUTH0__MAGIC_LINK_REDIRECT_URI", REDIRECT_URI)]).await;
    upstream(
        "POST",
        "/passwordless/start",
        json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "connection": "email",
            "email": "jane@example.com",
            "send": "link",
            "authParams": {
                "scope": DEFAULT_SCOPE,
                "response_type": "code",
                "redirect_uri": REDIRECT_URI,
                "state": "app-state-123",
            },
        }),
        "127.0.0.1",
    )
    .respond_with(auth0_email_ok("jane@example.com"))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = app
        .post_json(
            "/login/start",
            &json!({"email": "jane@example.com", "send": "link", "state": "app-state-123"}),
        )
        .await;

    let (_, body) = assert_ok_json(response).await;
    assert_eq!(body, json!({"channel": "email", "send": "link"}));
}

#[tokio::test]
async fn a_magic_link_without_state_omits_state_from_auth_params() {
    let app = spawn_app_with(&[("GATEWAY__AUTH0__MAGIC_LINK_REDIRECT_URI", REDIRECT_URI)]).await;
    upstream(
        "POST",
        "/passwordless/start",
        json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "connection": "email",
            "email": "jane@example.com",
            "send": "link",
            "authParams": {
                "scope": DEFAULT_SCOPE,
                "response_type": "code",
                "redirect_uri": REDIRECT_URI,
            },
        }),
        "127.0.0.1",
    )
    .respond_with(auth0_email_ok("jane@example.com"))
    .expect(2)
    .mount(&app.auth0)
    .await;

    // `"state": null` is the same as no state (the link variant allows it).
    for body in [
        json!({"email": "jane@example.com", "send": "link"}),
        json!({"email": "jane@example.com", "send": "link", "state": null}),
    ] {
        let response = app.post_json("/login/start", &body).await;
        assert_ok_json(response).await;
    }
}

#[tokio::test]
async fn a_magic_link_is_refused_clearly_while_no_redirect_uri_is_configured() {
    let app = spawn_app().await;
    any_call("/passwordless/start")
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&app.auth0)
        .await;

    let response = app
        .post_json(
            "/login/start",
            &json!({"email": "jane@example.com", "send": "link"}),
        )
        .await;

    let (_, body) = assert_error(&app, response, 400, "invalid_request").await;
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains("magic link") && description.contains("magic_link_redirect_uri"),
        "the answer says why: {description}"
    );
}

#[tokio::test]
async fn the_locale_field_is_sent_as_x_request_language() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/passwordless/start",
        email_start("jane@example.com"),
        "127.0.0.1",
    )
    .and(header("x-request-language", "fr-CA"))
    .respond_with(auth0_email_ok("jane@example.com"))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = app
        .post_json_with(
            "/login/start",
            &json!({"email": "jane@example.com", "locale": "fr-CA"}),
            // The explicit locale wins over the header.
            &[("accept-language", "de-DE,de;q=0.9")],
        )
        .await;
    assert_ok_json(response).await;
}

#[tokio::test]
async fn without_a_locale_the_first_accept_language_tag_is_sent() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/passwordless/start",
        email_start("jane@example.com"),
        "127.0.0.1",
    )
    .and(header("x-request-language", "de-DE"))
    .respond_with(auth0_email_ok("jane@example.com"))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = app
        .post_json_with(
            "/login/start",
            &json!({"email": "jane@example.com"}),
            &[("accept-language", "de-DE;q=1.0, en;q=0.8")],
        )
        .await;
    assert_ok_json(response).await;
}

#[tokio::test]
async fn without_a_locale_or_accept_language_no_language_header_is_sent() {
    let app = spawn_app().await;
    upstream(
        "POST",
        "/passwordless/start",
        email_start("jane@example.com"),
        "127.0.0.1",
    )
    .respond_with(auth0_email_ok("jane@example.com"))
    .expect(1)
    .mount(&app.auth0)
    .await;

    let response = app
        .post_json("/login/start", &json!({"email": "jane@example.com"}))
        .await;
    assert_ok_json(response).await;
    let requests = app.upstream_requests().await;
    assert_eq!(requests.len(), 1);
    assert!(requests[0].headers.get("x-request-language").is_none());
}

#[tokio::test]
async fn invalid_start_bodies_are_rejected_before_auth0_is_called() {
    let app = spawn_app_with(&[("GATEWAY__AUTH0__MAGIC_LINK_REDIRECT_URI", REDIRECT_URI)]).await;
    Mock::given(path("/passwordless/start"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&app.auth0)
        .await;

    let cases: &[(&str, Value, &str)] = &[
        (
            "neither identifier",
            json!({"send": "code"}),
            "email or phone_number is required",
        ),
        (
            "both identifiers",
            json!({"email": "jane@example.com", "phone_number": "+14155550100"}),
            "send either email or phone_number, not both",
        ),
        (
            "bad email",
            json!({"email": "jane@example"}),
            "email must be a valid address, e.g. jane@example.com",
        ),
        (
            "email over 254 chars",
            json!({"email": format!("{}@example.com", "a".repeat(250))}),
            "email must be at most 254 characters",
        ),
        (
            "phone without plus",
            json!({"phone_number": "14155550100"}),
            "phone_number must be E.164, e.g. +14155550100",
        ),
        (
            "phone too short",
            json!({"phone_number": "+1415555"}),
            "phone_number must be E.164, e.g. +14155550100",
        ),
        (
            "phone with spaces",
            json!({"phone_number": "+1 415 555 0100"}),
            "phone_number must be E.164, e.g. +14155550100",
        ),
        (
            "unknown send",
            json!({"email": "jane@example.com", "send": "carrier-pigeon"}),
            "",
        ),
        (
            "link with a phone number",
            json!({"phone_number": "+14155550100", "send": "link"}),
            "send: \"link\" is only possible with email",
        ),
        (
            "state without link",
            json!({"email": "jane@example.com", "state": "abc"}),
            "state is only allowed with send: \"link\"",
        ),
        (
            // Found by schemathesis: the code variants have no `state`.
            "null state without link",
            json!({"email": "jane@example.com", "state": null, "locale": "U"}),
            "state is only allowed with send: \"link\"",
        ),
        (
            "state with a space",
            json!({"email": "jane@example.com", "send": "link", "state": "a b"}),
            "state must be 1 to 512 visible ASCII characters",
        ),
        (
            "bad locale",
            json!({"email": "jane@example.com", "locale": "en_US"}),
            "locale must be a BCP 47 language tag, e.g. en-US",
        ),
        (
            "unknown field",
            json!({"email": "jane@example.com", "nickname": "jj"}),
            "unknown field nickname",
        ),
        (
            "client_secret in the body",
            json!({"email": "jane@example.com", "client_secret": "attacker-chosen"}),
            "client_secret is set by the gateway and may not be sent",
        ),
        (
            "client_id in the body",
            json!({"email": "jane@example.com", "client_id": "attacker-chosen"}),
            "client_id is set by the gateway and may not be sent",
        ),
        (
            "connection in the body",
            json!({"email": "jane@example.com", "connection": "Username-Password-Authentication"}),
            "connection is set by the gateway and may not be sent",
        ),
        ("email is not a string", json!({"email": 42}), ""),
    ];
    for (name, body, description) in cases {
        let response = app.post_json("/login/start", body).await;
        let (_, answer) = assert_error(&app, response, 400, "invalid_request").await;
        if !description.is_empty() {
            assert_eq!(answer["error_description"], *description, "case: {name}");
        }
        let text = answer.to_string();
        assert!(
            !text.contains("attacker-chosen"),
            "case {name}: value echoed"
        );
    }
}

#[tokio::test]
async fn bad_json_is_invalid_request() {
    let app = spawn_app().await;
    Mock::given(path("/passwordless/start"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&app.auth0)
        .await;

    for body in ["{", "{\"email\": }", "[1,2", "null", ""] {
        let response = app.post_raw("/login/start", "application/json", body).await;
        assert_error(&app, response, 400, "invalid_request").await;
    }
    let response = app
        .post_raw("/login/start", "application/json", "{\"email\":")
        .await;
    assert_error_described(
        &app,
        response,
        400,
        "invalid_request",
        "request body is not valid JSON",
    )
    .await;
}

#[tokio::test]
async fn auth0_input_errors_keep_their_status_code_and_description_in_both_shapes() {
    let cases = [
        (
            json!({"error": "bad.phone_number", "error_description": "Phone number is not valid for region"}),
            "bad.phone_number",
            "Phone number is not valid for region",
        ),
        (
            json!({"statusCode": 400, "error": "Bad Request", "message": "Invalid email address", "errorCode": "bad.email"}),
            "bad.email",
            "Invalid email address",
        ),
        (
            json!({"error": "sms_provider_error", "error_description": "Twilio refused the number", "internal": "x"}),
            "sms_provider_error",
            "Twilio refused the number",
        ),
    ];
    for (answer, code, description) in cases {
        let app = spawn_app().await;
        upstream(
            "POST",
            "/passwordless/start",
            sms_start("+14155550100"),
            "127.0.0.1",
        )
        .respond_with(ResponseTemplate::new(400).set_body_json(answer))
        .expect(1)
        .mount(&app.auth0)
        .await;

        let response = app
            .post_json("/login/start", &json!({"phone_number": "+14155550100"}))
            .await;
        assert_error_described(&app, response, 400, code, description).await;
    }
}

#[tokio::test]
async fn upstream_failures_on_start_map_to_the_spec_errors() {
    for failure in ALL_FAILURES {
        check_upstream_failure(
            *failure,
            &[],
            "/passwordless/start",
            "/login/start",
            &json!({"email": "jane@example.com"}),
        )
        .await;
    }
}
