//! Passkeys (SPEC §11) over the wire: `/passkey/register`,
//! `/passkey/challenge` and `/passkey/verify` against a wiremock Auth0,
//! every upstream request matched field by field (secret, `realm`, JSON
//! content type, `auth0-forwarded-for`, the credential unchanged as
//! `authn_response`); malformed input never reaches Auth0; refused sign-ups
//! are one answer; Auth0's outcomes pass through; cookie mode. The limits
//! and the SMS side are in `passkey_limits`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use wiremock::{MockBuilder, ResponseTemplate};

use crate::helpers::*;
use crate::session::{cookie_header, set_cookies, tokens, KEY_1, OPTED_IN};

pub(crate) const CONNECTION: &str = "Username-Password-Authentication";
pub(crate) const GRANT_WEBAUTHN: &str = "urn:okta:params:oauth:grant-type:webauthn";
pub(crate) const AUTH_SESSION: &str = "fake-auth-session-eeee";
const CREDENTIAL_ID: &str = "AQIDBAUGBwgJCgsMDQ4PEA";

pub(crate) async fn passkey_app(extra: &[(&str, &str)]) -> TestApp {
    let mut env = vec![("GATEWAY__PASSKEY__ENABLED", "true")];
    env.extend_from_slice(extra);
    spawn_app_with(&env).await
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn client_data(ceremony: &str) -> String {
    b64(format!(
        r#"{{"type":"{ceremony}","challenge":"Y2hhbGxlbmdl","origin":"https://app.example.com"}}"#
    )
    .as_bytes())
}

/// A new passkey as a browser's `toJSON()` gives it, Level 3 extras and
/// all (`authenticatorAttachment` null, as some platforms send it).
pub(crate) fn new_passkey() -> Value {
    json!({
        "type": "public-key",
        "id": CREDENTIAL_ID,
        "rawId": CREDENTIAL_ID,
        "authenticatorAttachment": null,
        "response": {
            "clientDataJSON": client_data("webauthn.create"),
            "attestationObject": b64(b"\xa3cfmtdnonegattStmt\xa0hauthData"),
            "transports": ["hybrid", "internal"],
            "publicKeyAlgorithm": -7,
            "publicKey": b64(&[4; 91]),
            "authenticatorData": b64(&[9; 164]),
        },
        "clientExtensionResults": {"credProps": {"rk": true}},
    })
}

/// A sign-in as Android's Credential Manager gives it.
pub(crate) fn sign_in() -> Value {
    json!({
        "rawId": CREDENTIAL_ID,
        "id": CREDENTIAL_ID,
        "type": "public-key",
        "authenticatorAttachment": "platform",
        "clientExtensionResults": {},
        "response": {
            "authenticatorData": b64(&[5; 37]),
            "clientDataJSON": client_data("webauthn.get"),
            "signature": b64(&[48; 71]),
            "userHandle": b64(b"user-6c3f1a"),
        },
    })
}

/// Auth0's creation options, with a field the gateway does not know.
pub(crate) fn creation_options() -> Value {
    json!({
        "challenge": "y2bN0e9Hq0mIYtWGo4a2nA",
        "timeout": 300000,
        "rp": {"id": "login.example.com", "name": "Example"},
        "user": {"id": "dXNlci02YzNmMWE", "name": "jane@example.com", "displayName": "Jane"},
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
        "authenticatorSelection": {"residentKey": "required", "userVerification": "preferred"},
        "hints": ["client-device"],
    })
}

fn request_options() -> Value {
    json!({
        "challenge": "V3G9nqWm2Kx0yZ8aTQp4hA",
        "timeout": 300000,
        "rpId": "login.example.com",
        "userVerification": "preferred",
    })
}

/// Auth0's `POST /passkey/register` 200, with fields it must not reflect.
pub(crate) fn ceremony(public_key: Value, verification_required: Option<Value>) -> Value {
    let mut answer = json!({
        "auth_session": AUTH_SESSION,
        "authn_params_public_key": public_key,
        "user_id": "auth0|undocumented-do-not-reflect",
    });
    if let Some(required) = verification_required {
        answer["verification_required"] = required;
    }
    answer
}

/// The exact `POST /passkey/register` the gateway must send.
pub(crate) fn register_call(user_profile: Value) -> MockBuilder {
    upstream(
        "POST",
        "/passkey/register",
        json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "realm": CONNECTION,
            "user_profile": user_profile,
        }),
        "127.0.0.1",
    )
}

fn challenge_call() -> MockBuilder {
    upstream(
        "POST",
        "/passkey/challenge",
        json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "realm": CONNECTION}),
        "127.0.0.1",
    )
}

/// The exact webauthn grant (JSON) the gateway must send; `extra` adds
/// `audience`, `verification` or another `scope`.
pub(crate) fn grant_call(credential: &Value, extra: Value) -> MockBuilder {
    grant_call_for(credential, AUTH_SESSION, extra)
}

/// [`grant_call`] for another `auth_session`.
pub(crate) fn grant_call_for(credential: &Value, auth_session: &str, extra: Value) -> MockBuilder {
    let mut body = json!({
        "grant_type": GRANT_WEBAUTHN,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "realm": CONNECTION,
        "auth_session": auth_session,
        "authn_response": credential,
        "scope": DEFAULT_SCOPE,
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    upstream("POST", "/oauth/token", body, "127.0.0.1")
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

#[tokio::test]
async fn register_sends_the_profile_with_the_secret_and_answers_the_ceremony() {
    let app = passkey_app(&[]).await;
    register_call(json!({
        "email": "jane.doe@example.com",
        "username": "jane_doe",
        "name": "Jane Doe",
        "given_name": "Jane",
        "family_name": "Doe",
        "nickname": "jd",
    }))
    .respond_with(ok(ceremony(creation_options(), Some(json!(["email"])))))
    .expect(1)
    .mount(&app.auth0)
    .await;
    let response = app
        .post_json(
            "/passkey/register",
            &json!({
                "email": " Jane.Doe@Example.com ",
                "username": "jane_doe",
                "name": "Jane Doe",
                "given_name": "Jane",
                "family_name": "Doe",
                "nickname": "jd",
            }),
        )
        .await;
    let (headers, body) = assert_ok_json(response).await;
    assert_no_store(&headers);
    assert_eq!(
        body,
        json!({
            "auth_session": AUTH_SESSION,
            "public_key": creation_options(),
            "verification_required": ["email"],
        })
    );
}

#[tokio::test]
async fn a_phone_sign_up_passes_the_number_and_drops_unknown_identifiers_to_verify() {
    let app = passkey_app(&[]).await;
    register_call(json!({"phone_number": "+14155550100"}))
        .respond_with(ok(ceremony(
            creation_options(),
            Some(json!(["phone", "carrier-pigeon"])),
        )))
        .expect(1)
        .mount(&app.auth0)
        .await;
    let response = app
        .post_json(
            "/passkey/register",
            &json!({"phone_number": "+14155550100"}),
        )
        .await;
    let (_, body) = assert_ok_json(response).await;
    assert_eq!(body["verification_required"], json!(["phone"]));
    // No verification asked: the field is absent.
    let app = passkey_app(&[]).await;
    register_call(json!({"username": "jd"}))
        .respond_with(ok(ceremony(creation_options(), None)))
        .expect(1)
        .mount(&app.auth0)
        .await;
    let response = app
        .post_json("/passkey/register", &json!({"username": "jd"}))
        .await;
    let (_, body) = assert_ok_json(response).await;
    assert_eq!(
        body,
        json!({"auth_session": AUTH_SESSION, "public_key": creation_options()})
    );
}

#[tokio::test]
async fn challenge_takes_an_empty_object_or_no_body_and_sends_the_connection() {
    let app = passkey_app(&[]).await;
    challenge_call()
        .respond_with(ok(ceremony(request_options(), None)))
        .expect(2)
        .mount(&app.auth0)
        .await;
    let with_object = app.post_json("/passkey/challenge", &json!({})).await;
    let without_body = app
        .client
        .post(app.url("/passkey/challenge"))
        .send()
        .await
        .expect("the gateway answers");
    for response in [with_object, without_body] {
        let (headers, body) = assert_ok_json(response).await;
        assert_no_store(&headers);
        assert_eq!(
            body,
            json!({"auth_session": AUTH_SESSION, "public_key": request_options()})
        );
    }
    // The connection is the gateway's; anything else in the body is refused.
    for (body, description) in [
        (
            json!({"realm": "other"}),
            "realm is set by the gateway and may not be sent",
        ),
        (
            json!({"connection": "other"}),
            "connection is set by the gateway and may not be sent",
        ),
        (json!({"username": "jd"}), "unknown field username"),
        // serde would read `{}`'s empty struct from `[]` as well.
        (json!([]), "the request body must be a JSON object"),
    ] {
        let response = app.post_json("/passkey/challenge", &body).await;
        assert_error_described(&app, response, 400, "invalid_request", description).await;
    }
    let text = app.post_raw("/passkey/challenge", "text/plain", "{}").await;
    assert_error(&app, text, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn verify_sends_a_sign_in_unchanged_as_json_and_answers_the_tokens() {
    let app = passkey_app(&[]).await;
    let credential = sign_in();
    grant_call(&credential, json!({}))
        .respond_with(ok(token_answer()))
        .expect(1)
        .mount(&app.auth0)
        .await;
    let response = app
        .post_json(
            "/passkey/verify",
            &json!({"auth_session": AUTH_SESSION, "credential": credential}),
        )
        .await;
    let (headers, body) = assert_ok_json(response).await;
    assert_no_store(&headers);
    assert_eq!(body, expected_tokens());
}

#[tokio::test]
async fn verify_finishes_a_sign_up_with_its_codes_audience_and_scope() {
    let app = passkey_app(&[(
        "GATEWAY__AUTH0__ALLOWED_AUDIENCES",
        "https://api.example.com",
    )])
    .await;
    let credential = new_passkey();
    grant_call(
        &credential,
        json!({
            "audience": "https://api.example.com",
            "scope": "openid email",
            "verification": {"email": "4321", "phone": "123456"},
        }),
    )
    .respond_with(ok(token_answer()))
    .expect(1)
    .mount(&app.auth0)
    .await;
    let response = app
        .post_json(
            "/passkey/verify",
            &json!({
                "auth_session": AUTH_SESSION,
                "credential": credential,
                "verification": {"email": "4321", "phone": "123456"},
                "audience": "https://api.example.com",
                "scope": "openid  email",
            }),
        )
        .await;
    let (_, body) = assert_ok_json(response).await;
    assert_eq!(body, expected_tokens());
}

/// `value` with the JSON pointer `at` set to `to` (`None`: removed).
fn with(mut value: Value, at: &str, to: Option<Value>) -> Value {
    let (parent, key) = at.rsplit_once('/').unwrap_or(("", at));
    if let Some(Value::Object(map)) = value.pointer_mut(parent) {
        match to {
            Some(to) => map.insert(key.to_string(), to),
            None => map.remove(key),
        };
    }
    value
}

/// `object`'s values as an array, in the order of `fields`: what serde
/// would read as the struct with those fields.
fn in_field_order(object: &Value, fields: &[&str]) -> Value {
    Value::Array(fields.iter().map(|f| object[*f].clone()).collect())
}

#[tokio::test]
async fn malformed_credentials_sessions_and_codes_never_reach_auth0() {
    let app = passkey_app(&[]).await;
    any_call("/oauth/token")
        .respond_with(ok(token_answer()))
        .expect(0)
        .mount(&app.auth0)
        .await;
    let verify =
        |credential: Value| json!({"auth_session": AUTH_SESSION, "credential": credential});
    let big = |bytes: usize| json!(b64(&vec![7; bytes]));
    #[rustfmt::skip]
    let cases: Vec<(Value, &str)> = vec![
        (verify(with(sign_in(), "/type", Some(json!("password")))), "credential.type must be one of `public-key`"),
        (verify(with(sign_in(), "/rawId", None)), "credential: missing field `rawId`"),
        (verify(with(sign_in(), "/id", Some(json!("AQIDBAUGBwgJCgsMDQ4PEQ")))), "credential.id must equal rawId"),
        (verify(with(sign_in(), "/rawId", Some(json!("AQID+/A=")))), "credential.rawId must be base64url without padding"),
        (verify(with(sign_in(), "/response/signature", None)), "credential.response: missing field `signature`"),
        (verify(with(sign_in(), "/response/signature", Some(json!("c2ln=")))), "credential.response.signature must be base64url without padding"),
        (verify(with(sign_in(), "/response/signature", Some(big(4097)))), "credential.response.signature must decode to at most 4096 bytes"),
        (verify(with(sign_in(), "/response/userHandle", Some(big(65)))), "credential.response.userHandle must decode to at most 64 bytes"),
        (verify(with(sign_in(), "/response/clientDataJSON", Some(json!(client_data("webauthn.create"))))), "credential.response.clientDataJSON must have type \"webauthn.get\""),
        (verify(with(sign_in(), "/response/extra", Some(json!("x")))), "credential.response: unknown field extra"),
        (verify(with(sign_in(), "/clientExtensionResults", Some(json!("none")))), "credential.clientExtensionResults: expected a map"),
        (verify(with(new_passkey(), "/response/attestationObject", Some(big(8193)))), "credential.response.attestationObject must decode to at most 8192 bytes"),
        (verify(with(new_passkey(), "/response/clientDataJSON", Some(big(4097)))), "credential.response.clientDataJSON must decode to at most 4096 bytes"),
        (verify(with(new_passkey(), "/response/clientDataJSON", Some(json!(b64(b"not json"))))), "credential.response.clientDataJSON must be base64url of a JSON object"),
        (verify(with(new_passkey(), "/response/transports", Some(json!(["USB"])))), "credential.response.transports entries must be 1 to 32 lowercase letters, digits or -"),
        (verify(with(new_passkey(), "/authenticatorAttachment", Some(json!("usb")))), "credential.authenticatorAttachment must be one of `platform` or `cross-platform`"),
        (verify(json!("AQID")), "credential: expected struct SignInCredential"),
        // serde reads a struct from an array of its fields in order; the
        // credential goes upstream as it came, so only an object is one.
        (verify(in_field_order(&sign_in(), &["id", "rawId", "type", "authenticatorAttachment", "clientExtensionResults", "response"])), "credential must be a JSON object"),
        (verify(with(sign_in(), "/response", Some(in_field_order(&sign_in()["response"], &["clientDataJSON", "authenticatorData", "signature", "userHandle"])))), "credential.response must be a JSON object"),
        (json!({"credential": sign_in()}), "missing field `auth_session`"),
        (json!({"auth_session": "", "credential": sign_in()}), "auth_session must be 1 to 2048 visible ASCII characters"),
        (json!({"auth_session": "has space", "credential": sign_in()}), "auth_session must be 1 to 2048 visible ASCII characters"),
        (json!({"auth_session": "x".repeat(2049), "credential": sign_in()}), "auth_session must be 1 to 2048 visible ASCII characters"),
        (json!({"auth_session": AUTH_SESSION, "credential": new_passkey(), "verification": {"phone": "12a456"}}), "verification.phone must be 4 to 12 digits"),
        (json!({"auth_session": AUTH_SESSION, "credential": new_passkey(), "verification": {"email": "123"}}), "verification.email must be 4 to 12 digits"),
        (json!({"auth_session": AUTH_SESSION, "credential": new_passkey(), "verification": {}}), "verification must hold an email or a phone code"),
        (json!({"auth_session": AUTH_SESSION, "credential": new_passkey(), "verification": {"sms": "123456"}}), "unknown field sms"),
        (json!({"auth_session": AUTH_SESSION, "credential": sign_in(), "scope": "openid admin"}), "scope \"admin\" is not allowed"),
        (json!({"auth_session": AUTH_SESSION, "credential": sign_in(), "audience": "https://evil.example"}), "audience is not in the gateway's allowed audiences"),
        (json!({"auth_session": AUTH_SESSION, "credential": sign_in(), "realm": "other"}), "realm is set by the gateway and may not be sent"),
        (json!({"auth_session": AUTH_SESSION, "credential": sign_in(), "grant_type": "password"}), "grant_type is set by the gateway and may not be sent"),
    ];
    for (body, description) in cases {
        let response = app.post_json("/passkey/verify", &body).await;
        assert_error_described(&app, response, 400, "invalid_request", description).await;
    }
}

#[tokio::test]
async fn malformed_profiles_never_reach_auth0() {
    let app = passkey_app(&[]).await;
    any_call("/passkey/register")
        .respond_with(ok(ceremony(creation_options(), None)))
        .expect(0)
        .mount(&app.auth0)
        .await;
    #[rustfmt::skip]
    let cases: Vec<(Value, &str)> = vec![
        (json!({}), "at least one of email, phone_number or username is required"),
        (json!({"name": "Jane"}), "at least one of email, phone_number or username is required"),
        (json!({"email": "jane@"}), "email must be a valid address, e.g. jane@example.com"),
        (json!({"email": format!("{}@example.com", "a".repeat(250))}), "email must be at most 254 characters"),
        (json!({"phone_number": "0612345678"}), "phone_number must be E.164, e.g. +14155550100"),
        (json!({"username": "jane doe"}), "username must be 1 to 128 visible ASCII characters"),
        (json!({"username": "j".repeat(129)}), "username must be 1 to 128 visible ASCII characters"),
        (json!({"username": ""}), "username must be 1 to 128 visible ASCII characters"),
        (json!({"email": "jane@example.com", "name": "n".repeat(301)}), "name must be 1 to 300 characters, without control characters"),
        (json!({"email": "jane@example.com", "given_name": "g".repeat(151)}), "given_name must be 1 to 150 characters, without control characters"),
        (json!({"email": "jane@example.com", "family_name": "Doe\u{0}"}), "family_name must be 1 to 150 characters, without control characters"),
        (json!({"email": "jane@example.com", "nickname": ""}), "nickname must be 1 to 300 characters, without control characters"),
        (json!({"email": "jane@example.com", "picture": "https://x"}), "unknown field picture"),
        (json!({"user_profile": {"email": "jane@example.com"}}), "unknown field user_profile"),
        (json!({"email": "jane@example.com", "client_secret": "x"}), "client_secret is set by the gateway and may not be sent"),
        (json!({"email": "jane@example.com", "realm": "x"}), "realm is set by the gateway and may not be sent"),
        (json!({"email": 42}), "email: expected a string"),
    ];
    for (body, description) in cases {
        let response = app.post_json("/passkey/register", &body).await;
        assert_error_described(&app, response, 400, "invalid_request", description).await;
    }
}

/// Auth0 refuses a sign-up for an existing user, and for other reasons,
/// in either of its shapes: the client always gets the same bytes but
/// for the request id, so a sign-up never tells who has an account.
#[tokio::test]
async fn two_different_refused_sign_ups_answer_the_same_bytes_but_the_request_id() {
    let app = passkey_app(&[]).await;
    register_call(json!({"email": "exists@example.com"}))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_request",
            "error_description": "The user already exists.",
        })))
        .expect(1)
        .mount(&app.auth0)
        .await;
    register_call(json!({"email": "new@example.com"}))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "statusCode": 400,
            "error": "Bad Request",
            "message": "Payload validation error: 'user_profile.username' is required",
            "errorCode": "invalid_body",
        })))
        .expect(1)
        .mount(&app.auth0)
        .await;
    let mut answers = Vec::new();
    for email in ["exists@example.com", "new@example.com"] {
        let response = app
            .post_json("/passkey/register", &json!({"email": email}))
            .await;
        let id = header_str(response.headers(), "x-request-id")
            .unwrap()
            .to_string();
        let headers: Vec<String> = response
            .headers()
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "x-request-id" | "date"))
            .map(|(name, value)| format!("{name}: {value:?}"))
            .collect();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 400, "{text}");
        answers.push((headers, text.replace(&id, "<request id>")));
    }
    assert_eq!(answers[0], answers[1]);
    let body: Value = serde_json::from_str(&answers[0].1).unwrap();
    assert_eq!(
        body,
        json!({
            "error": "invalid_request",
            "error_description": "the sign-up was refused: check the details, or sign in if you already have an account",
            "request_id": "<request id>",
        })
    );
}

#[tokio::test]
async fn mfa_required_passes_through_and_invalid_grant_keeps_what_to_ask_again() {
    let app = passkey_app(&[]).await;
    grant_call(&sign_in(), json!({}))
        .respond_with(ResponseTemplate::new(403).set_body_json(mfa_required_answer()))
        .expect(1)
        .mount(&app.auth0)
        .await;
    let response = app
        .post_json(
            "/passkey/verify",
            &json!({"auth_session": AUTH_SESSION, "credential": sign_in()}),
        )
        .await;
    let (headers, body) = assert_error(&app, response, 403, "mfa_required").await;
    assert_no_store(&headers);
    assert_eq!(body["mfa_token"], MFA_TOKEN);
    assert_eq!(
        body["mfa_requirements"],
        json!({"challenge": [{"type": "otp"}]})
    );

    let verification = json!({"verification": {"phone": "000000"}});
    grant_call(&new_passkey(), verification.clone())
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "Invalid verification code.",
            "verification_required": ["phone"],
            "auth_session": "fake-auth-session-ffff",
            "attempts_left": 2,
        })))
        .expect(1)
        .mount(&app.auth0)
        .await;
    let response = app
        .post_json(
            "/passkey/verify",
            &json!({
                "auth_session": AUTH_SESSION,
                "credential": new_passkey(),
                "verification": {"phone": "000000"},
            }),
        )
        .await;
    let status = response.status();
    let headers = response.headers().clone();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 403);
    assert_no_store(&headers);
    let request_id = header_str(&headers, "x-request-id").unwrap();
    assert_eq!(
        body,
        json!({
            "error": "invalid_grant",
            "error_description": "Invalid verification code.",
            "request_id": request_id,
            "verification_required": ["phone"],
            "auth_session": "fake-auth-session-ffff",
        })
    );
}

#[tokio::test]
async fn a_refused_passkey_is_auth0s_invalid_grant() {
    let app = passkey_app(&[]).await;
    grant_call(&sign_in(), json!({}))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "The auth_session is invalid or has expired.",
        })))
        .expect(1)
        .mount(&app.auth0)
        .await;
    let response = app
        .post_json(
            "/passkey/verify",
            &json!({"auth_session": AUTH_SESSION, "credential": sign_in()}),
        )
        .await;
    assert_error_described(
        &app,
        response,
        403,
        "invalid_grant",
        "The auth_session is invalid or has expired.",
    )
    .await;
}

/// Auth0's 404 (passkeys not enabled, or not the custom domain) and its
/// refusal of the gateway's own credentials are the operator's: 502.
#[tokio::test]
async fn passkeys_off_at_auth0_or_a_refused_client_is_502() {
    for (route, endpoint, status, body) in [
        (
            "/passkey/register",
            "/passkey/register",
            404,
            json!({"error": "not_found", "error_description": "Not Found"}),
        ),
        (
            "/passkey/challenge",
            "/passkey/challenge",
            404,
            json!({"statusCode": 404, "error": "Not Found", "message": "Not Found"}),
        ),
        (
            "/passkey/verify",
            "/oauth/token",
            404,
            json!({"error": "invalid_request"}),
        ),
        (
            "/passkey/register",
            "/passkey/register",
            401,
            json!({"error": "unauthorized", "error_description": "Unauthorized"}),
        ),
        (
            "/passkey/challenge",
            "/passkey/challenge",
            403,
            json!({"error": "access_denied", "error_description": "Not a first-party application"}),
        ),
        (
            "/passkey/register",
            "/passkey/register",
            400,
            json!({"error": "invalid_client", "error_description": "Client authentication failed."}),
        ),
    ] {
        let app = passkey_app(&[]).await;
        any_call(endpoint)
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .expect(1)
            .mount(&app.auth0)
            .await;
        let request = match route {
            "/passkey/register" => json!({"email": "jane@example.com"}),
            "/passkey/challenge" => json!({}),
            _ => json!({"auth_session": AUTH_SESSION, "credential": sign_in()}),
        };
        let response = app.post_json(route, &request).await;
        assert_error(&app, response, 502, "upstream_error").await;
    }
}

#[tokio::test]
async fn the_generic_upstream_failures_map_as_everywhere() {
    let enabled = [("GATEWAY__PASSKEY__ENABLED", "true")];
    for failure in ALL_FAILURES {
        check_upstream_failure(
            *failure,
            &enabled,
            "/passkey/challenge",
            "/passkey/challenge",
            &json!({}),
        )
        .await;
        check_upstream_failure(
            *failure,
            &enabled,
            "/oauth/token",
            "/passkey/verify",
            &json!({"auth_session": AUTH_SESSION, "credential": sign_in()}),
        )
        .await;
    }
}

#[tokio::test]
async fn in_cookie_mode_verify_starts_a_session_and_needs_the_csrf_proof() {
    let app = passkey_app(&[
        ("GATEWAY__SESSION__ENABLED", "true"),
        ("GATEWAY__SESSION__KEYS", KEY_1),
    ])
    .await;
    grant_call(&sign_in(), json!({}))
        .respond_with(ok(tokens(&app, json!({}), 86400)))
        .expect(1)
        .mount(&app.auth0)
        .await;
    let body = json!({"auth_session": AUTH_SESSION, "credential": sign_in()});
    let response = app.post_json_with("/passkey/verify", &body, OPTED_IN).await;
    let (headers, answer) = assert_ok_json(response).await;
    assert_no_store(&headers);
    assert_eq!(
        answer["user"],
        json!({"sub": "email|jane", "email": "jane@example.com", "email_verified": true})
    );
    assert!(answer.get("access_token").is_none());
    let cookies = set_cookies(&headers);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert_eq!(cookies[0].0, "__Host-lgw");
    let cookie = cookie_header(&headers);
    // The session works.
    let session = app
        .client
        .get(app.url("/session"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), 200);
    // The session cookie on /passkey/verify without the CSRF proof: 403,
    // and Auth0 is not called again (the grant mock expects one call).
    for extra in [
        vec![],
        vec![("x-lgw-session", "1"), ("origin", "https://evil.example")],
    ] {
        let mut request = app
            .client
            .post(app.url("/passkey/verify"))
            .header("cookie", &cookie)
            .json(&body);
        for (name, value) in extra {
            request = request.header(name, value);
        }
        let refused = request.send().await.unwrap();
        assert_error(&app, refused, 403, "csrf_failed").await;
    }
    // The ceremonies ignore cookies (SPEC §10): a stray cookie is no reason
    // to refuse a sign-in's start.
    challenge_call()
        .respond_with(ok(ceremony(request_options(), None)))
        .expect(1)
        .mount(&app.auth0)
        .await;
    let start = app
        .client
        .post(app.url("/passkey/challenge"))
        .header("cookie", &cookie)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 200);
}

/// The real binary's log: Auth0's 404 is one event naming the reason; a
/// refused sign-up is logged with Auth0's code only (never its text, which
/// may quote the address); no auth_session, credential or address in the
/// clear anywhere.
#[tokio::test]
async fn the_log_names_a_404s_reason_once_and_never_the_sign_ups_details() {
    let auth0 = wiremock::MockServer::start().await;
    register_call(json!({"email": "not-enabled@example.com"}))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "not_found"})))
        .expect(1)
        .mount(&auth0)
        .await;
    register_call(json!({"email": "exists@example.com"}))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_request",
            "error_description": "The user exists@example.com already exists.",
        })))
        .expect(1)
        .mount(&auth0)
        .await;
    let mut gateway = crate::real_binary::RealGateway::spawn(
        &auth0.uri(),
        &[
            ("GATEWAY__PASSKEY__ENABLED", "true"),
            ("GATEWAY__AUTH0__CLIENT_SECRET", CLIENT_SECRET),
            ("RUST_LOG", "debug"),
        ],
    )
    .await;
    let client = http_client();
    for (email, status) in [
        ("not-enabled@example.com", 502),
        ("exists@example.com", 400),
    ] {
        let response = client
            .post(gateway.url("/passkey/register"))
            .json(&json!({"email": email}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status);
    }
    gateway.sigterm();
    assert!(gateway
        .wait_exit(std::time::Duration::from_secs(10))
        .await
        .is_some());
    let output = gateway.output();
    let reasons: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("passkeys are not enabled"))
        .collect();
    assert_eq!(reasons.len(), 1, "{output}");
    assert!(
        reasons[0].contains("\"endpoint\":\"passkey_register\""),
        "{}",
        reasons[0]
    );
    let refused: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("refused a passkey sign-up"))
        .collect();
    assert_eq!(refused.len(), 1, "{output}");
    assert!(
        refused[0].contains("\"code\":\"invalid_request\""),
        "{}",
        refused[0]
    );
    for secret in [
        "exists@example.com",
        "not-enabled@example.com",
        "already exists",
        CLIENT_SECRET,
    ] {
        assert!(!output.contains(secret), "{secret} in the log:\n{output}");
    }
}
