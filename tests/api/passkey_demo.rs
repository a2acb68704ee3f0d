//! The gateway's `/passkey/*` routes against the demo tenant's real
//! WebAuthn checks, with the software authenticator: what `--demo` and a
//! native app do, without a browser. The wire shapes are pinned field by
//! field in `passkey.rs` / `passkey_enroll.rs` (wiremock) and in
//! `demo_passkeys.rs` (the tenant alone); this proves the two sides meet.

use std::collections::HashMap;

use login_gateway::demo::defaults::settings_defaults;
use login_gateway::demo::{adjust_settings, DemoOptions, DemoTenant};
use login_gateway::settings::{Settings, Sources};
use login_gateway::startup::Application;
use serde_json::{json, Value};

use crate::helpers::http_client;
use crate::webauthn_authenticator::{with_bad_signature, Algorithm, Authenticator};

/// The app's origin the tenant accepts (no app is served here).
const ORIGIN: &str = "http://localhost:5173";

struct Gateway {
    address: String,
    client: reqwest::Client,
    tenant: DemoTenant,
}

impl Gateway {
    /// The gateway as `--demo` configures it (its defaults layer: passkeys
    /// on), against a tenant that accepts [`ORIGIN`].
    async fn start() -> Self {
        let tenant = DemoTenant::start_with(DemoOptions {
            passkey_origin: Some(ORIGIN.to_string()),
            ..DemoOptions::default()
        })
        .await
        .expect("the demo tenant starts");
        let mut overrides = tenant.settings_overrides();
        overrides.push(("server.bind".into(), "127.0.0.1:0".into()));
        overrides.push(("server.workers".into(), "1".into()));
        overrides.push(("server.metrics_bind".into(), String::new()));
        let mut settings = Settings::load(&Sources {
            defaults: settings_defaults(),
            file: None,
            env: Some(HashMap::new()),
            overrides,
        })
        .expect("demo settings are valid");
        adjust_settings(&mut settings, &tenant);
        let app = Application::build(settings).expect("the gateway builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        Self {
            address,
            client: http_client(),
            tenant,
        }
    }

    async fn post(&self, path: &str, bearer: Option<&str>, body: &Value) -> (u16, Value) {
        let mut request = self
            .client
            .post(format!("{}{path}", self.address))
            .json(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the gateway answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `POST /passkey/verify` with a credential; returns status and body.
    async fn verify(&self, started: &Value, credential: &Value, extra: Value) -> (u16, Value) {
        let mut body = json!({"auth_session": started["auth_session"], "credential": credential});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        self.post("/passkey/verify", None, &body).await
    }

    /// Signs in with the authenticator's passkey number `index`; returns
    /// the id_token's subject.
    async fn sign_in(&self, authenticator: &mut Authenticator, index: usize) -> String {
        let (status, started) = self.post("/passkey/challenge", None, &json!({})).await;
        assert_eq!(status, 200, "{started}");
        let credential = authenticator.get_with(index, &started["public_key"]);
        let (status, tokens) = self.verify(&started, &credential, json!({})).await;
        assert_eq!(status, 200, "{tokens}");
        subject(&tokens)
    }
}

/// The `sub` of an answer's id_token (the demo tenant signed it; the
/// signature is checked in `demo_tenant.rs`).
fn subject(tokens: &Value) -> String {
    use base64::Engine;
    let id_token = tokens["id_token"].as_str().expect("an id_token");
    let payload = id_token.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("JSON claims");
    claims["sub"].as_str().expect("sub").to_string()
}

#[tokio::test]
async fn passkeys_of_every_algorithm_sign_up_and_sign_in_through_the_gateway() {
    let gateway = Gateway::start().await;
    let mut authenticator = Authenticator::new(ORIGIN);
    for (index, algorithm) in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256]
        .into_iter()
        .enumerate()
    {
        let email = format!("passkey{index}@example.com");
        let (status, started) = gateway
            .post(
                "/passkey/register",
                None,
                &json!({"email": email, "name": "Pat"}),
            )
            .await;
        assert_eq!(status, 200, "{started}");
        assert_eq!(started["public_key"]["rp"]["id"], "localhost");
        let credential = authenticator.create(&started["public_key"], algorithm);
        let (status, tokens) = gateway.verify(&started, &credential, json!({})).await;
        assert_eq!(status, 200, "{tokens}");
        let signed_up = subject(&tokens);
        assert_eq!(gateway.sign_in(&mut authenticator, index).await, signed_up);
    }
    // A tampered assertion is Auth0's invalid_grant, passed through.
    let (_, started) = gateway.post("/passkey/challenge", None, &json!({})).await;
    let forged = with_bad_signature(authenticator.get_with(0, &started["public_key"]));
    let (status, body) = gateway.verify(&started, &forged, json!({})).await;
    assert_eq!(
        (status, &body["error"]),
        (403, &json!("invalid_grant")),
        "{body}"
    );
}

#[tokio::test]
async fn a_taken_account_answers_like_any_refused_sign_up() {
    let gateway = Gateway::start().await;
    let mut authenticator = Authenticator::new(ORIGIN);
    let (_, started) = gateway
        .post(
            "/passkey/register",
            None,
            &json!({"email": "taken@example.com"}),
        )
        .await;
    let credential = authenticator.create(&started["public_key"], Algorithm::Es256);
    assert_eq!(
        gateway.verify(&started, &credential, json!({})).await.0,
        200
    );
    // The tenant says "The user already exists."; the caller learns only
    // that the sign-up was refused, in the one answer every refused
    // sign-up gets (the same bytes whatever Auth0 said: `passkey.rs`).
    let (status, body) = gateway
        .post(
            "/passkey/register",
            None,
            &json!({"email": "taken@example.com"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(
        body["error_description"],
        "the sign-up was refused: check the details, or sign in if you already have an account"
    );
}

#[tokio::test]
async fn a_phone_sign_up_asks_for_the_texted_code_and_may_try_again() {
    let gateway = Gateway::start().await;
    let mut authenticator = Authenticator::new(ORIGIN);
    let phone = "+14155550123";
    let (status, started) = gateway
        .post("/passkey/register", None, &json!({"phone_number": phone}))
        .await;
    assert_eq!(status, 200, "{started}");
    assert_eq!(started["verification_required"], json!(["phone"]));
    let credential = authenticator.create(&started["public_key"], Algorithm::Es256);
    let (status, wrong) = gateway
        .verify(
            &started,
            &credential,
            json!({"verification": {"phone": "000000"}}),
        )
        .await;
    assert_eq!(
        (status, &wrong["error"]),
        (403, &json!("invalid_grant")),
        "{wrong}"
    );
    assert_eq!(wrong["verification_required"], json!(["phone"]));
    let code = gateway
        .tenant
        .tenant
        .pending_signup_code(phone)
        .expect("the tenant texted a code");
    let (status, tokens) = gateway
        .verify(
            &wrong,
            &credential,
            json!({"verification": {"phone": code}}),
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
}

#[tokio::test]
async fn a_code_user_adds_a_passkey_in_token_mode_and_signs_in_with_it() {
    let gateway = Gateway::start().await;
    let email = "adds-a-passkey@example.com";
    let (status, _) = gateway
        .post("/login/start", None, &json!({"email": email}))
        .await;
    assert_eq!(status, 200);
    let code = gateway.tenant.tenant.pending_code(email).expect("a code");
    let (status, tokens) = gateway
        .post(
            "/login/verify",
            None,
            &json!({"email": email, "code": code}),
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let signed_in = subject(&tokens);
    // The My Account token, from the refresh token the app holds.
    let (status, my_account) = gateway
        .post(
            "/token/refresh",
            None,
            &json!({
                "refresh_token": tokens["refresh_token"],
                "audience": gateway.tenant.tenant.my_account_audience(false),
                "scope": "create:me:authentication_methods",
            }),
        )
        .await;
    assert_eq!(status, 200, "{my_account}");
    let bearer = my_account["access_token"].as_str().expect("a token");
    let (status, started) = gateway
        .post("/passkey/enroll", Some(bearer), &json!({}))
        .await;
    assert_eq!(status, 200, "{started}");
    let mut authenticator = Authenticator::new(ORIGIN);
    let credential = authenticator.create(&started["public_key"], Algorithm::EdDsa);
    let (status, method) = gateway
        .post(
            "/passkey/enroll/verify",
            Some(bearer),
            &json!({"id": started["id"], "auth_session": started["auth_session"], "credential": credential}),
        )
        .await;
    assert_eq!(status, 201, "{method}");
    assert_eq!(method["type"], "passkey");
    assert_eq!(gateway.sign_in(&mut authenticator, 0).await, signed_in);
}
