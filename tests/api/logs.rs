//! Runs the real binary with debug logging, drives a full login through it,
//! stops it with SIGTERM and checks that nothing secret reached its output
//! (SPEC §6).

use std::time::Duration;

use serde_json::json;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::http_client;
use crate::real_binary::RealGateway;

/// Obviously fake values, long and distinctive so that a match in the log
/// cannot be a coincidence.
const CLIENT_SECRET: &str = "logs-test-client-secret-not-real-5f3a";
const GOOD_CODE: &str = "739184625031";
const MFA_CODE: &str = "482916305774";
const WRONG_CODE: &str = "118822334455";
const ACCESS_TOKEN: &str = "logs-test-access-token-9c1e";
const ID_TOKEN: &str = "logs-test-id-token-77ab";
const REFRESH_TOKEN: &str = "logs-test-refresh-token-41d0";
const REFRESHED_ACCESS_TOKEN: &str = "logs-test-refreshed-access-token-2b8f";
const MFA_TOKEN: &str = "logs-test-mfa-token-e6a2";
const EMAIL: &str = "jane@example.com";
const MFA_EMAIL: &str = "mfa.user@example.com";
const PHONE: &str = "+14155550100";

async fn mount_auth0(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/passwordless/start"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"_id": "5f1e0c1e", "email_verified": false})),
        )
        .expect(2)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_partial_json(
            json!({"otp": GOOD_CODE, "username": EMAIL}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": ACCESS_TOKEN,
            "id_token": ID_TOKEN,
            "refresh_token": REFRESH_TOKEN,
            "scope": "openid profile email offline_access",
            "expires_in": 86400,
            "token_type": "Bearer",
        })))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_partial_json(
            json!({"otp": MFA_CODE, "username": MFA_EMAIL}),
        ))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": "mfa_required",
            "error_description": "Multifactor authentication required",
            "mfa_token": MFA_TOKEN,
            "mfa_requirements": {"challenge": [{"type": "otp"}]},
        })))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_partial_json(json!({"otp": WRONG_CODE})))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "error": "invalid_grant",
            "error_description": "Wrong phone number or verification code.",
        })))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_partial_json(json!({"grant_type": "refresh_token"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": REFRESHED_ACCESS_TOKEN,
            "expires_in": 86400,
            "token_type": "Bearer",
        })))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/revoke"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logs_of_a_full_login_contain_no_secret_code_token_or_raw_identifier() {
    let auth0 = MockServer::start().await;
    mount_auth0(&auth0).await;
    let mut gateway = RealGateway::spawn(
        &auth0.uri(),
        &[
            ("RUST_LOG", "debug"),
            ("GATEWAY__SERVER__SHUTDOWN_TIMEOUT_SECS", "2"),
            ("GATEWAY__AUTH0__CLIENT_ID", "logs-test-client-id"),
            ("GATEWAY__AUTH0__CLIENT_SECRET", CLIENT_SECRET),
        ],
    )
    .await;
    let client = http_client();

    let post = |path: &'static str, body: serde_json::Value| {
        let client = client.clone();
        let url = gateway.url(path);
        async move {
            let response = client.post(url).json(&body).send().await.expect("answer");
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.expect("JSON");
            (status, body)
        }
    };

    let (status, _) = post("/login/start", json!({"email": EMAIL})).await;
    assert_eq!(status, 200);
    let (status, body) = post("/login/verify", json!({"email": EMAIL, "code": GOOD_CODE})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["access_token"], ACCESS_TOKEN);
    assert_eq!(body["refresh_token"], REFRESH_TOKEN);

    let (status, body) = post(
        "/login/verify",
        json!({"email": MFA_EMAIL, "code": MFA_CODE}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["mfa_token"], MFA_TOKEN);

    let (status, _) = post("/login/start", json!({"phone_number": PHONE})).await;
    assert_eq!(status, 200);
    let (status, body) = post(
        "/login/verify",
        json!({"phone_number": PHONE, "code": WRONG_CODE}),
    )
    .await;
    assert_eq!(status, 403, "{body}");

    let (status, body) = post("/token/refresh", json!({"refresh_token": REFRESH_TOKEN})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["access_token"], REFRESHED_ACCESS_TOKEN);
    let (status, _) = post("/token/revoke", json!({"refresh_token": REFRESH_TOKEN})).await;
    assert_eq!(status, 200);

    // A client trying to smuggle a secret gets a 400 that is logged too.
    let (status, _) = post(
        "/login/verify",
        json!({"email": EMAIL, "code": GOOD_CODE, "client_secret": CLIENT_SECRET}),
    )
    .await;
    assert_eq!(status, 400);

    gateway.sigterm();
    let status = gateway
        .wait_exit(Duration::from_secs(15))
        .await
        .expect("the gateway exits within 15 s of SIGTERM");
    let output = gateway.output();
    assert!(
        status.success(),
        "clean exit after SIGTERM: {status}\n{output}"
    );

    if std::env::var_os("LOGS_TEST_DUMP").is_some() {
        eprintln!("{output}");
    }
    // The capture worked: the logs are there, as JSON, at debug level.
    assert!(
        output.contains("request completed"),
        "request logs are captured:\n{output}"
    );
    assert!(
        output
            .lines()
            .any(|l| l.starts_with('{') && l.contains("\"level\":\"DEBUG\"")),
        "debug-level JSON lines are captured:\n{output}"
    );
    // Identifiers appear only masked.
    assert!(
        output.contains("j***@example.com"),
        "masked email:\n{output}"
    );
    assert!(output.contains("+1*******0100"), "masked phone:\n{output}");

    for (what, secret) in [
        ("client secret", CLIENT_SECRET),
        ("OTP code", GOOD_CODE),
        ("OTP code", MFA_CODE),
        ("OTP code", WRONG_CODE),
        ("access token", ACCESS_TOKEN),
        ("id token", ID_TOKEN),
        ("refresh token", REFRESH_TOKEN),
        ("refreshed access token", REFRESHED_ACCESS_TOKEN),
        ("mfa_token", MFA_TOKEN),
        ("raw email", EMAIL),
        ("raw email", MFA_EMAIL),
        ("raw phone number", PHONE),
        ("raw phone number", "4155550100"),
    ] {
        let hits: Vec<&str> = output.lines().filter(|l| l.contains(secret)).collect();
        assert!(
            hits.is_empty(),
            "the {what} {secret:?} is in the logs:\n{}",
            hits.join("\n")
        );
    }
    auth0.verify().await;
}
