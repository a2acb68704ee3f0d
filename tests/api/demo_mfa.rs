//! The MFA flows end to end against the built-in demo tenant (`--demo`):
//! passwordless login → `403 mfa_required` → enroll / challenge → verify,
//! with real TOTP codes computed here from the enrolled secret.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use login_gateway::demo::{adjust_settings, DemoOptions, DemoTenant, DEMO_CLIENT_SECRET};
use login_gateway::settings::{Settings, Sources};
use login_gateway::startup::Application;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::helpers::{assert_common_headers, assert_no_store, header_str};

/// Fields `GET /mfa/authenticators` may carry (SPEC §1).
const AUTHENTICATOR_FIELDS: &[&str] =
    &["id", "authenticator_type", "active", "name", "oob_channel"];
/// Fields a successful `/mfa/verify` may carry.
const TOKEN_FIELDS: &[&str] = &[
    "access_token",
    "token_type",
    "expires_in",
    "id_token",
    "refresh_token",
    "scope",
    "recovery_code",
];

/// The demo device approves a push this long after it is sent (4 s in
/// `--demo`): long enough that the first poll, sent at once, still finds it
/// pending, short enough that the push test takes well under a second.
const PUSH_APPROVAL_DELAY: Duration = Duration::from_millis(300);
/// Polls closer together than this answer `slow_down` (900 ms in `--demo`).
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(150);
/// How long the push test waits between polls: more than
/// [`MIN_POLL_INTERVAL`], so only the deliberate double poll is slowed down.
const POLL_EVERY: Duration = Duration::from_millis(200);

struct DemoGateway {
    address: String,
    client: reqwest::Client,
    tenant: DemoTenant,
}

impl DemoGateway {
    async fn start() -> Self {
        let tenant = DemoTenant::start_with(DemoOptions {
            push_approval_delay: PUSH_APPROVAL_DELAY,
            min_poll_interval: MIN_POLL_INTERVAL,
            ..DemoOptions::default()
        })
        .await
        .expect("the demo tenant starts");
        let mut overrides = tenant.settings_overrides();
        overrides.push(("server.bind".into(), "127.0.0.1:0".into()));
        overrides.push(("server.workers".into(), "1".into()));
        let mut settings = Settings::load(&Sources {
            defaults: Vec::new(),
            file: None,
            env: Some(HashMap::new()),
            overrides,
        })
        .expect("demo settings are valid");
        adjust_settings(&mut settings, &tenant);
        let app = Application::build(settings).expect("the gateway builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("test client");
        Self {
            address,
            client,
            tenant,
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, format!("{}{}", self.address, path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("the gateway answers")
    }

    async fn mfa_post(&self, path: &str, mfa_token: &str, body: &Value) -> reqwest::Response {
        self.send(reqwest::Method::POST, path, Some(mfa_token), Some(body))
            .await
    }

    /// Passwordless login with the code the tenant "sent"; for an MFA user
    /// it ends in `403 mfa_required`. Returns the mfa_token and requirements.
    async fn login_until_mfa_required(&self, email: &str) -> (String, Value) {
        self.login_for_audience_until_mfa_required(email, None)
            .await
    }

    /// Like [`Self::login_until_mfa_required`], asking for `audience`.
    async fn login_for_audience_until_mfa_required(
        &self,
        email: &str,
        audience: Option<&str>,
    ) -> (String, Value) {
        let response = self
            .send(
                reqwest::Method::POST,
                "/login/start",
                None,
                Some(&json!({"email": email})),
            )
            .await;
        assert_eq!(response.status().as_u16(), 200, "login/start for {email}");
        let code = self
            .tenant
            .tenant
            .pending_code(email)
            .expect("the demo tenant holds a code");
        let response = self
            .send(
                reqwest::Method::POST,
                "/login/verify",
                None,
                Some(&match audience {
                    Some(audience) => json!({
                        "email": email,
                        "code": code,
                        "audience": audience,
                        // The MFA API scopes a real tenant asks for: the demo allows them.
                        "scope": "openid offline_access enroll read:authenticators remove:authenticators",
                    }),
                    None => json!({"email": email, "code": code}),
                }),
            )
            .await;
        let (headers, body) = self.error(response, 403, "mfa_required").await;
        assert_no_store(&headers);
        assert_eq!(
            body["error_description"],
            "Multifactor authentication required"
        );
        let mfa_token = body["mfa_token"]
            .as_str()
            .expect("mfa_required carries an mfa_token")
            .to_string();
        (mfa_token, body["mfa_requirements"].clone())
    }

    /// Checks a SPEC §2 error answer and returns its headers and body.
    async fn error(
        &self,
        response: reqwest::Response,
        status: u16,
        code: &str,
    ) -> (HeaderMap, Value) {
        let actual = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        assert_eq!(actual, status, "unexpected answer: {text}");
        assert_common_headers(&headers);
        assert!(
            !text.contains(DEMO_CLIENT_SECRET) && !text.contains(&self.tenant.base_url),
            "no secret or upstream URL in {text}"
        );
        let body: Value = serde_json::from_str(&text).expect("JSON error body");
        assert_eq!(body["error"], code, "{text}");
        assert_eq!(
            body["request_id"].as_str(),
            header_str(&headers, "x-request-id"),
            "request_id equals X-Request-Id"
        );
        (headers, body)
    }

    /// Checks a 200 that carries tokens and returns its body.
    async fn tokens(&self, response: reqwest::Response) -> Value {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        assert_eq!(status, 200, "unexpected answer: {text}");
        assert_common_headers(&headers);
        assert_no_store(&headers);
        let body: Value = serde_json::from_str(&text).expect("JSON tokens");
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        for field in ["access_token", "id_token", "refresh_token"] {
            assert!(
                body[field].as_str().is_some_and(|t| !t.is_empty()),
                "{field} in {text}"
            );
        }
        for key in body.as_object().expect("object").keys() {
            assert!(TOKEN_FIELDS.contains(&key.as_str()), "undocumented {key}");
        }
        body
    }

    /// Checks a 200 with `Cache-Control: no-store` and returns its body.
    async fn ok_no_store(&self, response: reqwest::Response) -> Value {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        assert_eq!(status, 200, "unexpected answer: {text}");
        assert_common_headers(&headers);
        assert_no_store(&headers);
        serde_json::from_str(&text).expect("JSON body")
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The authenticator app the test plays: RFC 6238, SHA-1, 6 digits, 30 s.
fn authenticator_app(secret_base32: &str) -> TOTP {
    let secret = Secret::Encoded(secret_base32.to_string())
        .to_bytes()
        .expect("the secret is base32");
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        secret,
        None,
        "test-account".to_string(),
    )
    .expect("a valid TOTP secret")
}

/// The code the app shows right now (the demo accepts one step of skew,
/// so a window boundary between here and the check does not matter).
fn current_code(app: &TOTP) -> String {
    app.generate(unix_now())
}

/// The code of the next 30 s step: the demo accepts one step of skew, and
/// refuses the code of a step it has already accepted (RFC 6238 §5.2).
fn next_code(app: &TOTP) -> String {
    app.generate(unix_now() + 30)
}

/// Six digits that are valid in no window near now.
fn wrong_code(app: &TOTP) -> String {
    let now = unix_now();
    let valid: Vec<String> = (0..5)
        .map(|step| app.generate((now + step * 30).saturating_sub(60)))
        .collect();
    (0..10u32)
        .map(|d| d.to_string().repeat(6))
        .find(|candidate| !valid.contains(candidate))
        .expect("some repdigit is not a current code")
}

fn requirement_types(requirements: &Value, kind: &str) -> Vec<String> {
    requirements[kind]
        .as_array()
        .unwrap_or_else(|| panic!("{kind} requirements in {requirements}"))
        .iter()
        .filter_map(|r| r["type"].as_str().map(str::to_string))
        .collect()
}

fn assert_documented_authenticators(list: &Value) {
    for entry in list.as_array().expect("a list") {
        for key in entry.as_object().expect("an object").keys() {
            assert!(
                AUTHENTICATOR_FIELDS.contains(&key.as_str()),
                "undocumented field {key} in {entry}"
            );
        }
    }
}

#[tokio::test]
async fn an_authenticator_app_is_enrolled_challenged_and_backed_by_a_single_use_recovery_code() {
    let gateway = DemoGateway::start().await;
    let email = "mfa+alice@example.com";

    // (a) First login: no factor yet, so Auth0 asks to enroll one.
    let (mfa_token, requirements) = gateway.login_until_mfa_required(email).await;
    assert!(
        requirement_types(&requirements, "enroll").contains(&"otp".to_string()),
        "{requirements}"
    );
    let enrollment = gateway
        .ok_no_store(
            gateway
                .mfa_post("/mfa/associate", &mfa_token, &json!({"factor": "otp"}))
                .await,
        )
        .await;
    assert_eq!(enrollment["authenticator_type"], "otp");
    let secret = enrollment["secret"].as_str().expect("a TOTP secret");
    let barcode_uri = enrollment["barcode_uri"].as_str().expect("a barcode_uri");
    assert!(barcode_uri.starts_with("otpauth://totp/"), "{barcode_uri}");
    assert!(
        barcode_uri.contains(&format!("secret={secret}")),
        "{barcode_uri}"
    );
    let recovery_codes = enrollment["recovery_codes"]
        .as_array()
        .expect("recovery_codes");
    assert_eq!(recovery_codes.len(), 1);
    let recovery_code = recovery_codes[0].as_str().expect("a recovery code");
    let app = authenticator_app(secret);

    let response = gateway
        .mfa_post("/mfa/verify", &mfa_token, &json!({"otp": wrong_code(&app)}))
        .await;
    let (_, body) = gateway.error(response, 403, "invalid_grant").await;
    assert_eq!(body["error_description"], "Invalid otp_code.");

    let enrolled_with = current_code(&app);
    let tokens = gateway
        .tokens(
            gateway
                .mfa_post("/mfa/verify", &mfa_token, &json!({"otp": enrolled_with}))
                .await,
        )
        .await;
    assert!(tokens.get("recovery_code").is_none());
    let used_code = enrolled_with;

    // A used mfa_token is spent.
    let response = gateway
        .mfa_post("/mfa/verify", &mfa_token, &json!({"otp": used_code}))
        .await;
    let (_, body) = gateway.error(response, 403, "invalid_grant").await;
    assert_eq!(body["error_description"], "Malformed mfa_token");

    // (b) Second login: now Auth0 asks for a challenge.
    let (mfa_token, requirements) = gateway.login_until_mfa_required(email).await;
    assert!(requirements.get("enroll").is_none(), "{requirements}");
    assert!(
        requirement_types(&requirements, "challenge").contains(&"otp".to_string()),
        "{requirements}"
    );
    let response = gateway
        .send(
            reqwest::Method::GET,
            "/mfa/authenticators",
            Some(&mfa_token),
            None,
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_common_headers(response.headers());
    let list: Value = response.json().await.expect("JSON list");
    assert_documented_authenticators(&list);
    let otp = list
        .as_array()
        .expect("a list")
        .iter()
        .find(|a| a["authenticator_type"] == "otp")
        .unwrap_or_else(|| panic!("an otp authenticator in {list}"));
    assert_eq!(otp["active"], true);
    let otp_id = otp["id"].as_str().expect("an id");

    let challenge = gateway
        .ok_no_store(
            gateway
                .mfa_post(
                    "/mfa/challenge",
                    &mfa_token,
                    &json!({"challenge_type": "otp", "authenticator_id": otp_id}),
                )
                .await,
        )
        .await;
    assert_eq!(challenge, json!({"challenge_type": "otp"}));
    // The code that confirmed the enrollment is spent, even inside its
    // 30 s window: Auth0 answers it like a wrong one.
    let response = gateway
        .mfa_post("/mfa/verify", &mfa_token, &json!({"otp": used_code}))
        .await;
    let (_, body) = gateway.error(response, 403, "invalid_grant").await;
    assert_eq!(body["error_description"], "Invalid otp_code.");
    gateway
        .tokens(
            gateway
                .mfa_post("/mfa/verify", &mfa_token, &json!({"otp": next_code(&app)}))
                .await,
        )
        .await;

    // (c) Third login: the recovery code works and is replaced.
    let (mfa_token, _) = gateway.login_until_mfa_required(email).await;
    let tokens = gateway
        .tokens(
            gateway
                .mfa_post(
                    "/mfa/verify",
                    &mfa_token,
                    &json!({"recovery_code": recovery_code}),
                )
                .await,
        )
        .await;
    let new_recovery_code = tokens["recovery_code"]
        .as_str()
        .expect("a rotated recovery_code");
    assert_ne!(new_recovery_code, recovery_code);

    // Fourth login: the old recovery code is spent, the new one works.
    let (mfa_token, _) = gateway.login_until_mfa_required(email).await;
    let response = gateway
        .mfa_post(
            "/mfa/verify",
            &mfa_token,
            &json!({"recovery_code": recovery_code}),
        )
        .await;
    gateway.error(response, 403, "invalid_grant").await;
    let tokens = gateway
        .tokens(
            gateway
                .mfa_post(
                    "/mfa/verify",
                    &mfa_token,
                    &json!({"recovery_code": new_recovery_code}),
                )
                .await,
        )
        .await;
    assert!(tokens["recovery_code"].is_string());
}

#[tokio::test]
async fn a_push_enrollment_is_pending_until_the_device_approves_and_polling_too_fast_is_slowed_down(
) {
    let gateway = DemoGateway::start().await;
    let (mfa_token, requirements) = gateway
        .login_until_mfa_required("mfa+push@example.com")
        .await;
    assert!(
        requirement_types(&requirements, "enroll").contains(&"push-notification".to_string()),
        "{requirements}"
    );
    let pushed = Instant::now();
    let enrollment = gateway
        .ok_no_store(
            gateway
                .mfa_post("/mfa/associate", &mfa_token, &json!({"factor": "push"}))
                .await,
        )
        .await;
    assert_eq!(enrollment["authenticator_type"], "oob");
    assert_eq!(enrollment["oob_channel"], "auth0");
    assert!(enrollment.get("binding_method").is_none(), "{enrollment}");
    assert!(enrollment["recovery_codes"].is_array(), "{enrollment}");
    let oob_code = enrollment["oob_code"].as_str().expect("an oob_code");
    let poll = json!({"oob_code": oob_code});

    let response = gateway.mfa_post("/mfa/verify", &mfa_token, &poll).await;
    let (_, body) = gateway.error(response, 400, "authorization_pending").await;
    assert_eq!(
        body["error_description"],
        "Authorization pending: please repeat the request in a few seconds."
    );
    // At once again: faster than the tenant allows.
    let response = gateway.mfa_post("/mfa/verify", &mfa_token, &poll).await;
    let (headers, _) = gateway.error(response, 429, "slow_down").await;
    assert!(header_str(&headers, "retry-after").is_some());

    // Two polls so far; at most ten in all (the default mfa_verify_per_token),
    // so the device has 8 × POLL_EVERY (1.6 s) to approve a 300 ms push.
    let mut tokens = None;
    for _ in 0..8 {
        tokio::time::sleep(POLL_EVERY).await;
        let response = gateway.mfa_post("/mfa/verify", &mfa_token, &poll).await;
        if response.status().as_u16() == 200 {
            assert!(
                pushed.elapsed() >= PUSH_APPROVAL_DELAY,
                "approved only after the configured delay"
            );
            tokens = Some(gateway.tokens(response).await);
            break;
        }
        gateway.error(response, 400, "authorization_pending").await;
    }
    assert!(
        tokens.is_some(),
        "the demo device approved within the polls"
    );
}

#[tokio::test]
async fn an_sms_factor_is_enrolled_and_challenged_with_its_binding_code() {
    let gateway = DemoGateway::start().await;
    let email = "mfa+sms@example.com";
    let (mfa_token, _) = gateway.login_until_mfa_required(email).await;
    let enrollment = gateway
        .ok_no_store(
            gateway
                .mfa_post(
                    "/mfa/associate",
                    &mfa_token,
                    &json!({"factor": "sms", "phone_number": "+14155550123"}),
                )
                .await,
        )
        .await;
    assert_eq!(enrollment["authenticator_type"], "oob");
    assert_eq!(enrollment["oob_channel"], "sms");
    assert_eq!(enrollment["binding_method"], "prompt");
    let oob_code = enrollment["oob_code"].as_str().expect("an oob_code");
    let binding_code = gateway
        .tenant
        .tenant
        .pending_binding_code(oob_code)
        .expect("the tenant sent a code");
    let wrong = if binding_code == "000000" {
        "111111"
    } else {
        "000000"
    };

    let response = gateway
        .mfa_post(
            "/mfa/verify",
            &mfa_token,
            &json!({"oob_code": oob_code, "binding_code": wrong}),
        )
        .await;
    let (_, body) = gateway.error(response, 403, "invalid_grant").await;
    assert_eq!(body["error_description"], "Invalid binding_code.");
    gateway
        .tokens(
            gateway
                .mfa_post(
                    "/mfa/verify",
                    &mfa_token,
                    &json!({"oob_code": oob_code, "binding_code": binding_code}),
                )
                .await,
        )
        .await;

    // Next login: the SMS factor is listed (masked, undocumented fields
    // dropped) and challenged.
    let (mfa_token, requirements) = gateway.login_until_mfa_required(email).await;
    assert!(
        requirement_types(&requirements, "challenge").contains(&"phone".to_string()),
        "{requirements}"
    );
    let response = gateway
        .send(
            reqwest::Method::GET,
            "/mfa/authenticators",
            Some(&mfa_token),
            None,
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    let list: Value = response.json().await.expect("JSON list");
    assert_documented_authenticators(&list);
    let sms = list
        .as_array()
        .expect("a list")
        .iter()
        .find(|a| a["oob_channel"] == "sms")
        .unwrap_or_else(|| panic!("an sms authenticator in {list}"))
        .clone();
    let sms_id = sms["id"].as_str().expect("an id");
    assert_eq!(
        sms,
        json!({
            "id": sms_id,
            "authenticator_type": "oob",
            "oob_channel": "sms",
            "name": "+1*******0123",
            "active": true,
        })
    );

    let challenge = gateway
        .ok_no_store(
            gateway
                .mfa_post(
                    "/mfa/challenge",
                    &mfa_token,
                    &json!({"challenge_type": "oob", "authenticator_id": sms_id}),
                )
                .await,
        )
        .await;
    assert_eq!(challenge["challenge_type"], "oob");
    assert_eq!(challenge["binding_method"], "prompt");
    let oob_code = challenge["oob_code"].as_str().expect("an oob_code");
    let binding_code = gateway
        .tenant
        .tenant
        .pending_binding_code(oob_code)
        .expect("the tenant sent a code");
    gateway
        .tokens(
            gateway
                .mfa_post(
                    "/mfa/verify",
                    &mfa_token,
                    &json!({"oob_code": oob_code, "binding_code": binding_code}),
                )
                .await,
        )
        .await;
}

#[tokio::test]
async fn an_mfa_api_access_token_lists_and_deletes_an_enrolled_authenticator() {
    let gateway = DemoGateway::start().await;
    let email = "mfa+delete@example.com";
    let mfa_audience = gateway.tenant.mfa_audience();
    let (mfa_token, _) = gateway
        .login_for_audience_until_mfa_required(email, Some(&mfa_audience))
        .await;
    let enrollment = gateway
        .ok_no_store(
            gateway
                .mfa_post("/mfa/associate", &mfa_token, &json!({"factor": "otp"}))
                .await,
        )
        .await;
    let app = authenticator_app(enrollment["secret"].as_str().expect("a secret"));
    let tokens = gateway
        .tokens(
            gateway
                .mfa_post(
                    "/mfa/verify",
                    &mfa_token,
                    &json!({"otp": current_code(&app)}),
                )
                .await,
        )
        .await;
    let access_token = tokens["access_token"].as_str().expect("an access token");

    let list_with = |token: String| {
        let gateway = &gateway;
        async move {
            let response = gateway
                .send(
                    reqwest::Method::GET,
                    "/mfa/authenticators",
                    Some(&token),
                    None,
                )
                .await;
            assert_eq!(response.status().as_u16(), 200);
            let list: Value = response.json().await.expect("JSON list");
            assert_documented_authenticators(&list);
            list
        }
    };
    let list = list_with(access_token.to_string()).await;
    let otp_id = list
        .as_array()
        .expect("a list")
        .iter()
        .find(|a| a["authenticator_type"] == "otp")
        .and_then(|a| a["id"].as_str())
        .unwrap_or_else(|| panic!("an otp authenticator in {list}"))
        .to_string();
    assert!(otp_id.contains('|'), "Auth0-style id {otp_id}");
    let route = format!("/mfa/authenticators/{}", otp_id.replace('|', "%7C"));

    // An mfa_token is not enough to delete (Auth0's 401 passes through).
    let (another_mfa_token, _) = gateway.login_until_mfa_required(email).await;
    let response = gateway
        .send(
            reqwest::Method::DELETE,
            &route,
            Some(&another_mfa_token),
            None,
        )
        .await;
    let (headers, _) = gateway.error(response, 401, "invalid_token").await;
    assert_eq!(header_str(&headers, "www-authenticate"), Some("Bearer"));

    let response = gateway
        .send(reqwest::Method::DELETE, &route, Some(access_token), None)
        .await;
    assert_eq!(response.status().as_u16(), 204);
    assert_common_headers(response.headers());
    assert!(response.bytes().await.expect("body").is_empty());

    let list = list_with(access_token.to_string()).await;
    assert!(
        !list
            .as_array()
            .expect("a list")
            .iter()
            .any(|a| a["id"] == otp_id.as_str()),
        "{otp_id} is gone from {list}"
    );
    // Deleting it again: Auth0's documented 404 passes through.
    let response = gateway
        .send(reqwest::Method::DELETE, &route, Some(access_token), None)
        .await;
    gateway.error(response, 404, "not_found").await;
}
