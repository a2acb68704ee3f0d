//! The demo tenant's passkeys over HTTP (SPEC §11), driven by the software
//! authenticator: Auth0's `/passkey/register`, `/passkey/challenge`, the
//! webauthn grant and My Account enrolment, each credential really checked
//! (attestation `none` and `packed`; ES256, EdDSA, RS256; challenge,
//! origin, rpIdHash, UP / UV flags, signature counter).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use login_gateway::demo::{DemoOptions, DemoTenant, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
use serde_json::{json, Value};

use crate::webauthn_authenticator::{with_bad_signature, Algorithm, Attestation, Authenticator};

const ORIGIN: &str = "http://localhost:5173";
const GRANT: &str = "urn:okta:params:oauth:grant-type:webauthn";
const CONNECTION: &str = "Username-Password-Authentication";
const GRANT_OTP: &str = "http://auth0.com/oauth/grant-type/passwordless/otp";

struct Demo {
    tenant: DemoTenant,
    client: reqwest::Client,
}

impl Demo {
    async fn start() -> Self {
        Self::with(DemoOptions {
            passkey_origin: Some(ORIGIN.into()),
            ..DemoOptions::default()
        })
        .await
    }

    async fn with(options: DemoOptions) -> Self {
        let tenant = DemoTenant::start_with(options)
            .await
            .expect("demo tenant starts");
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        Self { tenant, client }
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.tenant.base_url))
            .json(body)
            .send()
            .await
            .expect("the tenant answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `/passkey/register` for `profile`: its 200 answer.
    async fn register(&self, profile: Value) -> Value {
        let (status, body) = self
            .post(
                "/passkey/register",
                &json!({
                    "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
                    "realm": CONNECTION, "user_profile": profile,
                }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn challenge(&self) -> Value {
        let (status, body) = self
            .post(
                "/passkey/challenge",
                &json!({"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET, "realm": CONNECTION}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The webauthn grant (JSON), with `extra` fields.
    async fn grant(&self, auth_session: &Value, credential: &Value, extra: Value) -> (u16, Value) {
        let mut body = json!({
            "grant_type": GRANT,
            "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
            "realm": CONNECTION, "scope": "openid profile email offline_access",
            "auth_session": auth_session, "authn_response": credential,
        });
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        self.post("/oauth/token", &body).await
    }

    /// Signs `profile` up with a new `algorithm` passkey: the tokens.
    async fn sign_up(
        &self,
        authenticator: &mut Authenticator,
        profile: Value,
        algorithm: Algorithm,
    ) -> Value {
        let started = self.register(profile).await;
        let credential = authenticator.create(&started["authn_params_public_key"], algorithm);
        let (status, tokens) = self
            .grant(&started["auth_session"], &credential, json!({}))
            .await;
        assert_eq!(status, 200, "{tokens}");
        tokens
    }

    /// A sign-in with the authenticator's newest passkey: status and body.
    async fn sign_in(&self, authenticator: &mut Authenticator) -> (u16, Value) {
        let started = self.challenge().await;
        let credential = authenticator.get(&started["authn_params_public_key"]);
        self.grant(&started["auth_session"], &credential, json!({}))
            .await
    }

    /// An email code sign-in with `scope`: its tokens.
    async fn code_sign_in(&self, email: &str, scope: &str) -> Value {
        let (status, _) = self
            .post(
                "/passwordless/start",
                &json!({
                    "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
                    "connection": "email", "email": email, "send": "code",
                }),
            )
            .await;
        assert_eq!(status, 200);
        let code = self.tenant.tenant.pending_code(email).expect("a code");
        let (status, tokens) = self
            .post(
                "/oauth/token",
                &json!({
                    "grant_type": GRANT_OTP, "client_id": DEMO_CLIENT_ID,
                    "client_secret": DEMO_CLIENT_SECRET, "username": email, "otp": code,
                    "realm": "email", "scope": scope,
                }),
            )
            .await;
        assert_eq!(status, 200, "{tokens}");
        tokens
    }

    fn me_audience(&self) -> String {
        format!("{}/me/", self.tenant.base_url)
    }

    /// A refresh for the My Account API (Auth0's multi-resource refresh).
    async fn my_account_token(&self, refresh_token: &Value, scope: &str) -> (u16, Value) {
        self.post(
            "/oauth/token",
            &json!({
                "grant_type": "refresh_token", "client_id": DEMO_CLIENT_ID,
                "client_secret": DEMO_CLIENT_SECRET, "refresh_token": refresh_token,
                "audience": self.me_audience(), "scope": scope,
            }),
        )
        .await
    }

    async fn me(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: &Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .client
            .post(format!("{}{path}", self.tenant.base_url))
            .json(body);
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        let response = request.send().await.expect("the tenant answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (
            status,
            headers,
            response.json().await.unwrap_or(Value::Null),
        )
    }
}

/// The claims of a JWT (the signature is checked in `demo_tenant`).
fn claims(token: &Value) -> Value {
    let payload = token
        .as_str()
        .expect("a JWT")
        .split('.')
        .nth(1)
        .expect("a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

fn refused(status: u16, body: &Value, needle: &str) {
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("invalid_grant")),
        "{body}"
    );
    let description = body["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains(needle),
        "expected {needle:?} in {description:?}"
    );
}

#[tokio::test]
async fn each_algorithm_and_attestation_signs_up_and_signs_in() {
    let demo = Demo::start().await;
    for (n, algorithm) in Algorithm::ALL.into_iter().enumerate() {
        for attestation in [Attestation::None, Attestation::Packed] {
            let email = format!("user{n}-{attestation:?}@example.com").to_lowercase();
            let mut authenticator = Authenticator::new(ORIGIN);
            authenticator.attestation = attestation;
            let tokens = demo
                .sign_up(
                    &mut authenticator,
                    json!({"email": email, "name": "Jane Doe"}),
                    algorithm,
                )
                .await;
            let signed_up = claims(&tokens["id_token"]);
            let subject = signed_up["sub"].as_str().expect("a subject").to_string();
            assert!(
                subject.starts_with("auth0|") && subject.len() == 30,
                "{subject}"
            );
            assert_eq!(signed_up["email"], json!(email));
            assert_eq!(signed_up["name"], "Jane Doe");
            assert!(tokens["refresh_token"].is_string());
            assert_eq!(tokens["token_type"], "Bearer");

            for _ in 0..2 {
                let (status, tokens) = demo.sign_in(&mut authenticator).await;
                assert_eq!(status, 200, "{algorithm:?} {attestation:?}: {tokens}");
                assert_eq!(claims(&tokens["id_token"])["sub"], json!(subject));
            }
        }
    }
}

#[tokio::test]
async fn register_and_challenge_answer_auth0s_options() {
    let demo = Demo::start().await;
    let started = demo
        .register(json!({"email": "shape@example.com", "name": "Shape"}))
        .await;
    let keys: Vec<&String> = started.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["auth_session", "authn_params_public_key"]);
    assert!(started["auth_session"]
        .as_str()
        .is_some_and(|s| s.len() >= 32));
    let options = &started["authn_params_public_key"];
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(options["challenge"].as_str().expect("challenge"))
            .map(|c| c.len())
            .ok(),
        Some(16)
    );
    assert_eq!(options["timeout"], 300_000);
    assert_eq!(
        options["rp"],
        json!({"id": "localhost", "name": "localhost"})
    );
    assert_eq!(
        options["pubKeyCredParams"],
        json!([{"type": "public-key", "alg": -8}, {"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}])
    );
    assert_eq!(
        options["authenticatorSelection"],
        json!({"residentKey": "required", "userVerification": "preferred"})
    );
    assert_eq!(options["user"]["name"], "shape@example.com");
    assert_eq!(options["user"]["displayName"], "Shape");
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(options["user"]["id"].as_str().expect("id"))
            .map(|i| i.len())
            .ok(),
        Some(32)
    );

    let challenge = demo.challenge().await;
    let options = &challenge["authn_params_public_key"];
    assert_eq!(options.as_object().map(|o| o.len()), Some(4), "{options}");
    assert_eq!(options["rpId"], "localhost");
    assert_eq!(options["userVerification"], "preferred");
    assert_eq!(options["timeout"], 300_000);
    assert_ne!(challenge["auth_session"], started["auth_session"]);
}

#[tokio::test]
async fn a_wrong_signature_is_refused() {
    let demo = Demo::start().await;
    let mut authenticator = Authenticator::new(ORIGIN);
    demo.sign_up(
        &mut authenticator,
        json!({"email": "sig@example.com"}),
        Algorithm::Es256,
    )
    .await;
    let started = demo.challenge().await;
    let credential = with_bad_signature(authenticator.get(&started["authn_params_public_key"]));
    let (status, body) = demo
        .grant(&started["auth_session"], &credential, json!({}))
        .await;
    refused(status, &body, "signature");
}

#[tokio::test]
async fn another_origin_is_refused_at_sign_up_and_sign_in() {
    let demo = Demo::start().await;
    let mut authenticator = Authenticator::new("http://localhost:9999");
    let started = demo.register(json!({"email": "origin@example.com"})).await;
    let credential = authenticator.create(&started["authn_params_public_key"], Algorithm::EdDsa);
    let (status, body) = demo
        .grant(&started["auth_session"], &credential, json!({}))
        .await;
    refused(status, &body, "origin");

    let mut authenticator = Authenticator::new(ORIGIN);
    demo.sign_up(
        &mut authenticator,
        json!({"email": "origin@example.com"}),
        Algorithm::EdDsa,
    )
    .await;
    authenticator.origin = "https://evil.example".into();
    let (status, body) = demo.sign_in(&mut authenticator).await;
    refused(status, &body, "origin");
}

#[tokio::test]
async fn an_auth_session_and_its_challenge_work_once() {
    let demo = Demo::start().await;
    let mut authenticator = Authenticator::new(ORIGIN);
    demo.sign_up(
        &mut authenticator,
        json!({"username": "replay"}),
        Algorithm::Es256,
    )
    .await;
    let started = demo.challenge().await;
    let credential = authenticator.get(&started["authn_params_public_key"]);
    let (status, _) = demo
        .grant(&started["auth_session"], &credential, json!({}))
        .await;
    assert_eq!(status, 200);
    // The same answer again: the auth_session is spent.
    let (status, body) = demo
        .grant(&started["auth_session"], &credential, json!({}))
        .await;
    refused(status, &body, "auth_session is invalid");
    // A fresh session, signed over the old challenge.
    let fresh = demo.challenge().await;
    let replayed = authenticator.get(&started["authn_params_public_key"]);
    let (status, body) = demo
        .grant(&fresh["auth_session"], &replayed, json!({}))
        .await;
    refused(status, &body, "challenge");
    // An unknown session.
    let (status, body) = demo
        .grant(&json!("not-a-session"), &replayed, json!({}))
        .await;
    refused(status, &body, "auth_session is invalid");
}

#[tokio::test]
async fn a_foreign_rp_id_is_refused() {
    let demo = Demo::start().await;
    let mut authenticator = Authenticator::new(ORIGIN);
    authenticator.rp_id = Some("evil.example".into());
    let started = demo.register(json!({"email": "rp@example.com"})).await;
    let credential = authenticator.create(&started["authn_params_public_key"], Algorithm::Rs256);
    let (status, body) = demo
        .grant(&started["auth_session"], &credential, json!({}))
        .await;
    refused(status, &body, "RP ID");

    authenticator.rp_id = None;
    demo.sign_up(
        &mut authenticator,
        json!({"email": "rp@example.com"}),
        Algorithm::Es256,
    )
    .await;
    authenticator.rp_id = Some("localhost.evil.example".into());
    let (status, body) = demo.sign_in(&mut authenticator).await;
    refused(status, &body, "RP ID");
}

#[tokio::test]
async fn a_signature_counter_that_went_backwards_is_refused_and_zero_stays_allowed() {
    let demo = Demo::start().await;
    let mut authenticator = Authenticator::new(ORIGIN);
    demo.sign_up(
        &mut authenticator,
        json!({"email": "count@example.com"}),
        Algorithm::Es256,
    )
    .await;
    let (status, _) = demo.sign_in(&mut authenticator).await;
    assert_eq!(status, 200);
    let (status, _) = demo.sign_in(&mut authenticator).await;
    assert_eq!(status, 200);
    // A clone replays the counter it had one signature ago.
    authenticator.credentials[0].sign_count -= 2;
    let (status, body) = demo.sign_in(&mut authenticator).await;
    refused(status, &body, "counter");

    // An authenticator without a counter (always 0) keeps working.
    let mut counterless = Authenticator::new(ORIGIN);
    counterless.counter = false;
    demo.sign_up(
        &mut counterless,
        json!({"email": "zero@example.com"}),
        Algorithm::EdDsa,
    )
    .await;
    for _ in 0..2 {
        let (status, body) = demo.sign_in(&mut counterless).await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn a_ceremony_without_user_presence_is_refused() {
    let demo = Demo::start().await;
    let mut authenticator = Authenticator::new(ORIGIN);
    authenticator.user_present = false;
    let started = demo.register(json!({"email": "up@example.com"})).await;
    let credential = authenticator.create(&started["authn_params_public_key"], Algorithm::Es256);
    let (status, body) = demo
        .grant(&started["auth_session"], &credential, json!({}))
        .await;
    refused(status, &body, "present");

    authenticator.user_present = true;
    demo.sign_up(
        &mut authenticator,
        json!({"email": "up@example.com"}),
        Algorithm::Es256,
    )
    .await;
    authenticator.user_present = false;
    let (status, body) = demo.sign_in(&mut authenticator).await;
    refused(status, &body, "present");
}

#[tokio::test]
async fn user_verification_is_enforced_only_where_the_tenant_requires_it() {
    // Auth0's `preferred`: a passkey without UV still signs in.
    let demo = Demo::start().await;
    let mut lax = Authenticator::new(ORIGIN);
    lax.user_verified = false;
    demo.sign_up(
        &mut lax,
        json!({"email": "nouv@example.com"}),
        Algorithm::Es256,
    )
    .await;
    let (status, body) = demo.sign_in(&mut lax).await;
    assert_eq!(status, 200, "{body}");

    let strict = Demo::with(DemoOptions {
        passkey_origin: Some(ORIGIN.into()),
        passkey_user_verification_required: true,
        ..DemoOptions::default()
    })
    .await;
    let mut authenticator = Authenticator::new(ORIGIN);
    authenticator.user_verified = false;
    let started = strict.register(json!({"email": "uv@example.com"})).await;
    let options = &started["authn_params_public_key"];
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    let credential = authenticator.create(options, Algorithm::EdDsa);
    let (status, body) = strict
        .grant(&started["auth_session"], &credential, json!({}))
        .await;
    refused(status, &body, "verif");

    authenticator.user_verified = true;
    strict
        .sign_up(
            &mut authenticator,
            json!({"email": "uv@example.com"}),
            Algorithm::EdDsa,
        )
        .await;
    authenticator.user_verified = false;
    let challenge = strict.challenge().await;
    assert_eq!(
        challenge["authn_params_public_key"]["userVerification"],
        "required"
    );
    let credential = authenticator.get(&challenge["authn_params_public_key"]);
    let (status, body) = strict
        .grant(&challenge["auth_session"], &credential, json!({}))
        .await;
    refused(status, &body, "verif");
}

#[tokio::test]
async fn an_existing_user_cannot_sign_up_again_and_bad_requests_get_400s() {
    let demo = Demo::start().await;
    let mut authenticator = Authenticator::new(ORIGIN);
    demo.sign_up(
        &mut authenticator,
        json!({"email": "taken@example.com", "username": "taken"}),
        Algorithm::Es256,
    )
    .await;
    let client = json!({"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET});
    let with = |extra: Value| {
        let mut body = client.clone();
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        body
    };
    let cases = [
        (
            json!({"user_profile": {"email": "TAKEN@example.com"}}),
            400,
            "invalid_request",
            "The user already exists.",
        ),
        (
            json!({"user_profile": {"username": "taken"}}),
            400,
            "invalid_request",
            "The user already exists.",
        ),
        (
            json!({}),
            400,
            "invalid_request",
            "\"user_profile\" is required",
        ),
        (
            json!({"user_profile": {"email": "a@example.com"}, "realm": "email"}),
            400,
            "invalid_request",
            "Connection does not exist or does not have passkeys enabled: email",
        ),
        (
            json!({"user_profile": {"email": "a@example.com"}, "extra": 1}),
            400,
            "invalid_request",
            "\"extra\" is not allowed",
        ),
        (
            json!({"user_profile": {"email": "a@example.com"}, "client_secret": "wrong"}),
            401,
            "invalid_client",
            "Client authentication failed.",
        ),
    ];
    for (extra, status, error, description) in cases {
        let (got, body) = demo.post("/passkey/register", &with(extra.clone())).await;
        assert_eq!(
            (
                got,
                body["error"].as_str(),
                body["error_description"].as_str()
            ),
            (status, Some(error), Some(description)),
            "{extra}"
        );
    }
    // A public client (client_id alone), as Auth0's SDKs call these.
    let (status, _) = demo
        .post("/passkey/challenge", &json!({"client_id": DEMO_CLIENT_ID}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = demo
        .post("/passkey/challenge", &json!({"client_id": "someone-else"}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test]
async fn the_webauthn_grant_is_json_only_and_needs_the_client_secret() {
    let demo = Demo::start().await;
    let started = demo.challenge().await;
    let form = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", GRANT),
            ("client_id", DEMO_CLIENT_ID),
            ("client_secret", DEMO_CLIENT_SECRET),
            (
                "auth_session",
                started["auth_session"].as_str().unwrap_or_default(),
            ),
            ("authn_response", r#"{"id":"x","type":"public-key"}"#),
        ])
        .finish();
    let response = demo
        .client
        .post(format!("{}/oauth/token", demo.tenant.base_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("the tenant answers");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(
        body,
        json!({"error": "invalid_request", "error_description": "\"authn_response\" must be of type object"})
    );

    let (status, body) = demo
        .post(
            "/oauth/token",
            &json!({"grant_type": GRANT, "client_id": DEMO_CLIENT_ID, "auth_session": started["auth_session"], "authn_response": {}}),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test]
async fn a_phone_sign_up_needs_the_texted_code() {
    let demo = Demo::start().await;
    let phone = "+14155550123";
    let started = demo.register(json!({"phone_number": phone})).await;
    assert_eq!(started["verification_required"], json!(["phone"]));
    let code = demo
        .tenant
        .tenant
        .pending_signup_code(phone)
        .expect("a texted code");
    let mut authenticator = Authenticator::new(ORIGIN);
    let credential = authenticator.create(&started["authn_params_public_key"], Algorithm::Es256);
    let session = &started["auth_session"];
    let still_missing = |status: u16, body: &Value, description: &str| {
        assert_eq!(
            (status, body.clone()),
            (
                403,
                json!({
                    "error": "invalid_grant", "error_description": description,
                    "verification_required": ["phone"], "auth_session": session,
                })
            )
        );
    };
    let (status, body) = demo.grant(session, &credential, json!({})).await;
    still_missing(status, &body, "Missing verification code for: phone");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, body) = demo
        .grant(
            session,
            &credential,
            json!({"verification": {"phone": wrong}}),
        )
        .await;
    still_missing(status, &body, "Invalid verification code for: phone");
    let (status, tokens) = demo
        .grant(
            session,
            &credential,
            json!({"verification": {"phone": code}}),
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let claims = claims(&tokens["id_token"]);
    assert_eq!(
        (
            claims["phone_number"].as_str(),
            claims["phone_number_verified"].as_bool()
        ),
        (Some(phone), Some(true))
    );

    // Three wrong codes end the sign-up.
    let started = demo.register(json!({"phone_number": "+14155550124"})).await;
    let credential = authenticator.create(&started["authn_params_public_key"], Algorithm::Es256);
    for attempt in 0..3 {
        let (status, body) = demo
            .grant(
                &started["auth_session"],
                &credential,
                json!({"verification": {"phone": "1"}}),
            )
            .await;
        assert_eq!(status, 403);
        assert_eq!(body.get("auth_session").is_some(), attempt < 2, "{body}");
    }
    assert_eq!(demo.tenant.tenant.pending_signup_code("+14155550124"), None);
}

#[tokio::test]
async fn a_demo_mfa_user_continues_at_mfa_after_the_passkey() {
    let demo = Demo::start().await;
    let started = demo
        .register(json!({"email": "mfa+passkey@example.com"}))
        .await;
    let mut authenticator = Authenticator::new(ORIGIN);
    let credential = authenticator.create(&started["authn_params_public_key"], Algorithm::Es256);
    let (status, body) = demo
        .grant(&started["auth_session"], &credential, json!({}))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("mfa_required")),
        "{body}"
    );
    assert!(body["mfa_token"].is_string());
    let (status, body) = demo.sign_in(&mut authenticator).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("mfa_required")),
        "{body}"
    );
}

#[tokio::test]
async fn a_code_user_adds_a_passkey_through_my_account_then_signs_in_with_it() {
    let demo = Demo::start().await;
    let tokens = demo
        .code_sign_in("jane@example.com", "openid offline_access")
        .await;
    let (status, me) = demo
        .my_account_token(&tokens["refresh_token"], "create:me:authentication_methods")
        .await;
    assert_eq!(status, 200, "{me}");
    assert!(me.get("id_token").is_none());
    let access = claims(&me["access_token"]);
    assert_eq!(access["aud"], json!(demo.me_audience()));
    assert_eq!(access["scope"], "create:me:authentication_methods");
    assert_eq!(access["sub"], "email|jane@example.com");
    let bearer = me["access_token"].as_str().expect("a token");

    let (status, headers, started) = demo
        .me(
            "/me/v1/authentication-methods",
            Some(bearer),
            &json!({"type": "passkey", "connection": CONNECTION}),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(
        headers.get("location").and_then(|v| v.to_str().ok()),
        Some(
            format!(
                "{}/me/v1/authentication-methods/passkey%7Cnew",
                demo.tenant.base_url
            )
            .as_str()
        )
    );
    assert_eq!(started.as_object().map(|o| o.len()), Some(2), "{started}");
    assert_eq!(
        started["authn_params_public_key"]["user"]["name"],
        "jane@example.com"
    );

    let mut authenticator = Authenticator::new(ORIGIN);
    authenticator.backed_up = true;
    let credential = authenticator.create(&started["authn_params_public_key"], Algorithm::EdDsa);
    let (status, headers, method) = demo
        .me(
            "/me/v1/authentication-methods/passkey%7Cnew/verify",
            Some(bearer),
            &json!({"auth_session": started["auth_session"], "authn_response": credential}),
        )
        .await;
    assert_eq!(status, 201, "{method}");
    assert!(
        method["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("passkey|dev_")),
        "{method}"
    );
    assert_eq!(method["type"], "passkey");
    let id = method["id"]
        .as_str()
        .unwrap_or_default()
        .replace('|', "%7C");
    assert_eq!(
        headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("{}/me/v1/authentication-methods/{id}", demo.tenant.base_url).as_str())
    );
    assert_eq!(method["credential_device_type"], "multi_device");
    assert_eq!(method["credential_backed_up"], true);
    assert_eq!(method["identity_user_id"], "email|jane@example.com");
    assert_eq!(method["key_id"], credential["id"]);
    assert!(method["created_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));

    // The same enrolment cannot be verified twice.
    let (status, _, problem) = demo
        .me(
            "/me/v1/authentication-methods/passkey%7Cnew/verify",
            Some(bearer),
            &json!({"auth_session": started["auth_session"], "authn_response": credential}),
        )
        .await;
    assert_eq!(
        (status, problem["status"].as_u64()),
        (400, Some(400)),
        "{problem}"
    );

    let (status, tokens) = demo.sign_in(&mut authenticator).await;
    assert_eq!(status, 200, "{tokens}");
    let signed_in = claims(&tokens["id_token"]);
    assert_eq!(signed_in["sub"], "email|jane@example.com");
    assert_eq!(signed_in["email"], "jane@example.com");
}

#[tokio::test]
async fn my_account_refuses_tokens_for_other_apis_or_without_the_scope() {
    let demo = Demo::start().await;
    let tokens = demo
        .code_sign_in("bob@example.com", "openid offline_access")
        .await;
    let body = json!({"type": "passkey"});
    let path = "/me/v1/authentication-methods";
    let problem = |status: u16, detail: &str| {
        let title = if status == 401 {
            "Unauthorized"
        } else {
            "Forbidden"
        };
        json!({
            "type": format!("https://auth0.com/api-errors/A0E-{status}-0001"),
            "status": status, "title": title, "detail": detail,
        })
    };

    let (status, headers, answer) = demo.me(path, None, &body).await;
    assert_eq!(
        (status, answer),
        (401, problem(401, "Missing authorization header"))
    );
    assert!(headers.get("www-authenticate").is_some());
    // The sign-in's own token: audience `/userinfo`.
    let own = tokens["access_token"].as_str().expect("a token");
    let (status, _, answer) = demo.me(path, Some(own), &body).await;
    assert_eq!(
        (status, answer),
        (401, problem(401, "Invalid token audience"))
    );
    let (status, _, answer) = demo.me(path, Some("not.a.jwt"), &body).await;
    assert_eq!((status, answer), (401, problem(401, "Invalid token")));
    let (_, me) = demo
        .my_account_token(&tokens["refresh_token"], "read:me:authentication_methods")
        .await;
    let unscoped = me["access_token"].as_str().expect("a token");
    let (status, _, answer) = demo.me(path, Some(unscoped), &body).await;
    assert_eq!(
        (status, answer),
        (
            403,
            problem(
                403,
                "Insufficient scope; expected: create:me:authentication_methods"
            )
        )
    );

    let (_, me) = demo
        .my_account_token(&tokens["refresh_token"], "create:me:authentication_methods")
        .await;
    let bearer = me["access_token"].as_str().expect("a token");
    let (status, _, answer) = demo.me(path, Some(bearer), &json!({"type": "phone"})).await;
    assert_eq!(
        (status, answer["detail"].as_str()),
        (400, Some("Authentication method type not supported: phone"))
    );
    let (status, _, answer) = demo
        .me(
            "/me/v1/authentication-methods/phone%7Cdev_1/verify",
            Some(bearer),
            &json!({}),
        )
        .await;
    assert_eq!((status, answer["status"].as_u64()), (404, Some(404)));

    // A refresh may not ask for an API the tenant does not know.
    let (status, answer) = demo
        .post(
            "/oauth/token",
            &json!({
                "grant_type": "refresh_token", "client_id": DEMO_CLIENT_ID,
                "client_secret": DEMO_CLIENT_SECRET, "refresh_token": tokens["refresh_token"],
                "audience": "https://elsewhere.example/",
            }),
        )
        .await;
    assert_eq!(
        (status, answer),
        (
            403,
            json!({"error": "access_denied", "error_description": "Service not found: https://elsewhere.example/"})
        )
    );
}
