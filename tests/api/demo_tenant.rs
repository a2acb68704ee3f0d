//! The demo tenant on its own, over HTTP, as Auth0's SDKs call it: form
//! bodies (RFC 6749), Auth0's error shapes for bad input, `no-store` token
//! answers, and RS256 ID tokens that verify against its published JWKS.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use login_gateway::demo::{DemoTenant, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::{BigUint, RsaPublicKey};
use serde_json::{json, Value};
use sha2::Sha256;

const GRANT_OTP: &str = "http://auth0.com/oauth/grant-type/passwordless/otp";

struct Demo {
    tenant: DemoTenant,
    client: reqwest::Client,
}

impl Demo {
    async fn start() -> Self {
        let tenant = DemoTenant::start().await.expect("demo tenant starts");
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        Self { tenant, client }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.tenant.base_url, path)
    }

    async fn json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("the tenant answers")
    }

    /// `application/x-www-form-urlencoded`, as node-auth0 sends every grant.
    async fn form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.client
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("the tenant answers")
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("the tenant answers");
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.expect("JSON")
    }

    /// Sends a code to `email` and returns it.
    async fn code_for(&self, email: &str) -> String {
        let response = self
            .json(
                "/passwordless/start",
                &json!({
                    "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
                    "connection": "email", "email": email, "send": "code",
                }),
            )
            .await;
        assert_eq!(response.status(), 200);
        self.tenant
            .tenant
            .pending_code(email)
            .expect("a code was sent")
    }

    /// A form-encoded passwordless login with `scope`.
    async fn login(&self, email: &str, scope: &str) -> Value {
        let code = self.code_for(email).await;
        let response = self
            .form(
                "/oauth/token",
                &[
                    ("grant_type", GRANT_OTP),
                    ("client_id", DEMO_CLIENT_ID),
                    ("client_secret", DEMO_CLIENT_SECRET),
                    ("username", email),
                    ("otp", &code),
                    ("realm", "email"),
                    ("scope", scope),
                ],
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("tokens")
    }
}

/// Status, content type and JSON body of an answer.
async fn read(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, content_type, body)
}

fn assert_no_store(response: &reqwest::Response) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    assert_eq!(header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(header("pragma").as_deref(), Some("no-cache"));
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// Verifies a compact RS256 JWS with the JWKS key of its `kid`; returns
/// the claims.
fn verify_rs256(token: &str, jwks: &Value) -> Result<Value, String> {
    let (signing_input, signature) = token.rsplit_once('.').ok_or("not a JWS")?;
    let (header, payload) = signing_input.split_once('.').ok_or("not a JWS")?;
    let header = decode_part(header);
    if header["alg"] != "RS256" {
        return Err(format!("alg {}", header["alg"]));
    }
    let jwk = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == header["kid"]))
        .ok_or("no JWKS key for the token's kid")?;
    let number = |name: &str| {
        BigUint::from_bytes_be(
            &URL_SAFE_NO_PAD
                .decode(jwk[name].as_str().unwrap_or_default())
                .unwrap_or_default(),
        )
    };
    let key = RsaPublicKey::new(number("n"), number("e")).map_err(|e| e.to_string())?;
    let signature = Signature::try_from(
        URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|e| e.to_string())?
            .as_slice(),
    )
    .map_err(|e| e.to_string())?;
    VerifyingKey::<Sha256>::new(key)
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|e| e.to_string())?;
    Ok(decode_part(payload))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

#[tokio::test]
async fn form_encoded_grants_and_revocations_are_accepted_as_rfc_6749_requires() {
    let demo = Demo::start().await;
    let tokens = demo
        .login("jane@example.com", "openid profile email offline_access")
        .await;
    assert!(tokens["access_token"].is_string());
    assert!(tokens["id_token"].is_string());
    let refresh_token = tokens["refresh_token"].as_str().expect("a refresh token");

    // A refresh, the client authenticated with HTTP Basic (client_secret_basic).
    let response = demo
        .client
        .post(demo.url("/oauth/token"))
        .basic_auth(DEMO_CLIENT_ID, Some(DEMO_CLIENT_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=refresh_token&refresh_token={refresh_token}"
        ))
        .send()
        .await
        .expect("the tenant answers");
    assert_eq!(response.status(), 200);

    let revoked = demo
        .form(
            "/oauth/revoke",
            &[
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                ("token", refresh_token),
            ],
        )
        .await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(revoked.text().await.expect("a body"), "");

    let (status, _, body) = read(
        demo.form(
            "/oauth/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                ("refresh_token", refresh_token),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("invalid_grant"))
    );

    // A wrong secret in a form body is still refused.
    let (status, _, body) = read(
        demo.form(
            "/oauth/revoke",
            &[
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", "not-the-secret"),
                ("token", "x"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test]
async fn missing_or_malformed_fields_get_auth0s_json_400s() {
    let demo = Demo::start().await;
    let client = json!({"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET});
    let with_client = |extra: Value| {
        let mut body = client.clone();
        if let (Some(map), Value::Object(extra)) = (body.as_object_mut(), extra) {
            map.extend(extra);
        }
        body
    };

    let token = demo.json("/oauth/token", &with_client(json!({}))).await;
    assert_no_store(&token);
    let (status, content_type, body) = read(token).await;
    assert_eq!(status, 400);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(
        body,
        json!({"error": "invalid_request", "error_description": "Missing required parameter: grant_type"})
    );

    let cases = [
        (
            "/oauth/token",
            with_client(json!({"grant_type": "refresh_token"})),
            "invalid_request",
            "Missing required parameter: refresh_token",
        ),
        (
            "/oauth/token",
            with_client(
                json!({"grant_type": GRANT_OTP, "username": "jane@example.com", "realm": "email"}),
            ),
            "invalid_request",
            "Missing required parameter: otp",
        ),
        (
            "/oauth/revoke",
            client.clone(),
            "invalid_request",
            "Missing required parameter: token",
        ),
        (
            "/passwordless/start",
            with_client(json!({"email": "jane@example.com"})),
            "bad.connection",
            "Missing required property: connection",
        ),
        (
            "/passwordless/start",
            with_client(json!({"connection": "email"})),
            "bad.email",
            "Missing required property: email",
        ),
        (
            "/passwordless/start",
            with_client(
                json!({"connection": "email", "email": "jane@example.com", "scope": "openid"}),
            ),
            "bad.request",
            "the following properties are not allowed: scope",
        ),
        (
            "/mfa/challenge",
            with_client(json!({"challenge_type": "otp"})),
            "invalid_request",
            "Missing required parameter: mfa_token",
        ),
    ];
    for (path, body, error, description) in cases {
        let (status, content_type, answer) = read(demo.json(path, &body).await).await;
        assert_eq!(status, 400, "{path} {body}");
        assert!(content_type.starts_with("application/json"), "{path}");
        assert_eq!(
            answer,
            json!({"error": error, "error_description": description}),
            "{path} {body}"
        );
    }

    // Not JSON at all, and a field of the wrong type.
    let broken = demo
        .client
        .post(demo.url("/oauth/token"))
        .header("content-type", "application/json")
        .body("{\"grant_type\":")
        .send()
        .await
        .expect("the tenant answers");
    let (status, _, body) = read(broken).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, _, body) = read(
        demo.json("/oauth/token", &with_client(json!({"grant_type": 7})))
            .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, _, body) = read(
        demo.json(
            "/passwordless/start",
            &with_client(
                json!({"connection": "email", "email": "jane@example.com", "authParams": "x"}),
            ),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("bad.authParams"))
    );
}

#[tokio::test]
async fn unknown_routes_are_a_json_404_and_wrong_methods_a_json_405_with_allow() {
    let demo = Demo::start().await;
    let response = demo
        .client
        .get(demo.url("/no/such/route"))
        .send()
        .await
        .expect("the tenant answers");
    let (status, content_type, body) = read(response).await;
    assert_eq!(status, 404);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(
        body,
        json!({"statusCode": 404, "error": "Not Found", "message": "Not Found"})
    );

    for (method, path, allow) in [
        (reqwest::Method::GET, "/oauth/token", "POST"),
        (reqwest::Method::PUT, "/passwordless/start", "POST"),
        (reqwest::Method::POST, "/mfa/authenticators", "GET"),
        (
            reqwest::Method::GET,
            "/mfa/authenticators/totp|dev_1",
            "DELETE",
        ),
        (reqwest::Method::POST, "/.well-known/jwks.json", "GET"),
    ] {
        let response = demo
            .client
            .request(method.clone(), demo.url(path))
            .send()
            .await
            .expect("the tenant answers");
        let allowed = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (status, content_type, body) = read(response).await;
        assert_eq!(status, 405, "{method} {path}");
        assert_eq!(allowed.as_deref(), Some(allow), "{method} {path}");
        assert!(content_type.starts_with("application/json"), "{path}");
        assert_eq!(
            body,
            json!({"statusCode": 405, "error": "Method Not Allowed", "message": "Method Not Allowed"})
        );
    }
}

#[tokio::test]
async fn passwordless_start_refuses_a_bad_email_or_phone_number_and_sends_nothing() {
    let demo = Demo::start().await;
    let start = |connection: &str, field: &str, value: &str| {
        json!({
            "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET,
            "connection": connection, field: value, "send": "code",
        })
    };
    let (status, _, body) = read(
        demo.json(
            "/passwordless/start",
            &start("email", "email", "not-an-email"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "bad.email", "error_description": "error in email - email format validation failed: not-an-email"})
    );
    let (status, _, body) = read(
        demo.json(
            "/passwordless/start",
            &start("sms", "phone_number", "not-a-phone"),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "bad.phone_number", "error_description": "String does not match pattern: ^\\+[0-9]{1,15}$"})
    );
    assert_eq!(demo.tenant.tenant.pending_code("not-an-email"), None);
    assert_eq!(demo.tenant.tenant.pending_code("not-a-phone"), None);

    // Valid ones, JSON or form-encoded, still get a code.
    let response = demo
        .form(
            "/passwordless/start",
            &[
                ("client_id", DEMO_CLIENT_ID),
                ("client_secret", DEMO_CLIENT_SECRET),
                ("connection", "sms"),
                ("phone_number", "+14155550100"),
            ],
        )
        .await;
    let (status, _, body) = read(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["phone_number"], "+14155550100");
    assert!(demo.tenant.tenant.pending_code("+14155550100").is_some());
}

#[tokio::test]
async fn token_answers_are_no_store_and_an_empty_refresh_scope_keeps_the_id_token() {
    let demo = Demo::start().await;
    let code = demo.code_for("jane@example.com").await;
    let login = demo
        .json(
            "/oauth/token",
            &json!({
                "grant_type": GRANT_OTP, "client_id": DEMO_CLIENT_ID,
                "client_secret": DEMO_CLIENT_SECRET, "username": "jane@example.com",
                "otp": code, "realm": "email", "scope": "openid email offline_access",
            }),
        )
        .await;
    assert_eq!(login.status(), 200);
    assert_no_store(&login);
    let tokens: Value = login.json().await.expect("tokens");
    let refresh_token = tokens["refresh_token"].as_str().expect("a refresh token");

    // auth0-python sends `scope: ""` on every refresh by default.
    let refreshed = demo
        .json(
            "/oauth/token",
            &json!({
                "grant_type": "refresh_token", "client_id": DEMO_CLIENT_ID,
                "client_secret": DEMO_CLIENT_SECRET, "refresh_token": refresh_token,
                "scope": "",
            }),
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    assert_no_store(&refreshed);
    let refreshed: Value = refreshed.json().await.expect("tokens");
    assert!(refreshed["id_token"].is_string(), "{refreshed}");
    assert_eq!(refreshed["scope"], "openid email offline_access");

    let wrong = demo
        .json(
            "/oauth/token",
            &json!({
                "grant_type": "refresh_token", "client_id": DEMO_CLIENT_ID,
                "client_secret": DEMO_CLIENT_SECRET, "refresh_token": "unknown",
            }),
        )
        .await;
    assert_eq!(wrong.status(), 403);
    assert_no_store(&wrong);
}

#[tokio::test]
async fn the_id_token_verifies_rs256_against_the_published_jwks_with_the_right_iss_aud_and_exp() {
    let demo = Demo::start().await;
    let base = &demo.tenant.base_url;
    let discovery = demo.get("/.well-known/openid-configuration").await;
    assert_eq!(discovery["issuer"], format!("{base}/"));
    assert_eq!(
        discovery["jwks_uri"],
        format!("{base}/.well-known/jwks.json")
    );
    assert_eq!(discovery["token_endpoint"], format!("{base}/oauth/token"));
    assert_eq!(
        discovery["revocation_endpoint"],
        format!("{base}/oauth/revoke")
    );
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(discovery["subject_types_supported"], json!(["public"]));

    let jwks = demo.get("/.well-known/jwks.json").await;
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    let jwk = &keys[0];
    assert_eq!(
        (&jwk["kty"], &jwk["alg"], &jwk["use"], &jwk["e"]),
        (
            &json!("RSA"),
            &json!("RS256"),
            &json!("sig"),
            &json!("AQAB")
        )
    );
    assert!(jwk.get("d").is_none(), "the private exponent is published");

    let tokens = demo.login("jane@example.com", "openid email").await;
    let id_token = tokens["id_token"].as_str().expect("an id_token");
    let header = decode_part(id_token.split('.').next().expect("a header"));
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], jwk["kid"]);
    let claims = verify_rs256(id_token, &jwks).expect("the id_token verifies");
    assert_eq!(claims["iss"], discovery["issuer"]);
    assert_eq!(claims["aud"], DEMO_CLIENT_ID);
    assert_eq!(claims["sub"], "email|jane@example.com");
    assert_eq!(claims["email"], "jane@example.com");
    let now = unix_now();
    let (iat, exp) = (
        claims["iat"].as_u64().expect("iat"),
        claims["exp"].as_u64().expect("exp"),
    );
    assert!(iat <= now + 5 && iat + 60 > now, "iat {iat} now {now}");
    assert!(exp > now && exp <= now + 86_400, "exp {exp} now {now}");

    // The access token is signed the same way; a changed claim breaks both.
    let access = tokens["access_token"].as_str().expect("an access token");
    assert!(verify_rs256(access, &jwks).is_ok());
    let (input, signature) = id_token.rsplit_once('.').expect("a JWS");
    let (header_part, _) = input.split_once('.').expect("a JWS");
    let forged = URL_SAFE_NO_PAD.encode(
        json!({"iss": claims["iss"], "aud": DEMO_CLIENT_ID, "sub": "email|mallory@example.com"})
            .to_string(),
    );
    assert!(verify_rs256(&format!("{header_part}.{forged}.{signature}"), &jwks).is_err());

    // Another tenant (another start) has another key.
    let other = Demo::start().await;
    let other_jwks = other.get("/.well-known/jwks.json").await;
    assert_ne!(other_jwks["keys"][0]["kid"], jwk["kid"]);
    assert!(verify_rs256(id_token, &other_jwks).is_err());
}

#[tokio::test]
async fn behind_a_tls_proxy_the_issuer_is_the_https_origin_the_sdks_expect() {
    let demo = Demo::start().await;
    let https = demo.tenant.base_url.replacen("http://", "https://", 1);
    let discovery: Value = demo
        .client
        .get(demo.url("/.well-known/openid-configuration"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("the tenant answers")
        .json()
        .await
        .expect("JSON");
    assert_eq!(discovery["issuer"], format!("{https}/"));
    assert_eq!(
        discovery["jwks_uri"],
        format!("{https}/.well-known/jwks.json")
    );

    let code = demo.code_for("jane@example.com").await;
    let tokens: Value = demo
        .client
        .post(demo.url("/oauth/token"))
        .header("x-forwarded-proto", "https")
        .json(&json!({
            "grant_type": GRANT_OTP, "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET, "username": "jane@example.com",
            "otp": code, "realm": "email", "scope": "openid",
        }))
        .send()
        .await
        .expect("the tenant answers")
        .json()
        .await
        .expect("tokens");
    let jwks = demo.get("/.well-known/jwks.json").await;
    let claims =
        verify_rs256(tokens["id_token"].as_str().expect("an id_token"), &jwks).expect("verifies");
    assert_eq!(claims["iss"], format!("{https}/"));
}
