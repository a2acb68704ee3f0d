//! The real demo tenant (`--demo`) behind a real gateway, over HTTP:
//! start → verify → refresh → revoke → refresh again fails.

use std::collections::HashMap;
use std::time::Duration;

use login_gateway::demo::DemoTenant;
use login_gateway::settings::{Settings, Sources};
use login_gateway::startup::Application;
use serde_json::{json, Value};

use crate::helpers::*;

struct DemoApp {
    address: String,
    client: reqwest::Client,
    tenant: DemoTenant,
}

impl DemoApp {
    async fn start() -> Self {
        let tenant = DemoTenant::start().await.expect("demo tenant starts");
        let env: HashMap<String, String> = [
            ("GATEWAY__SERVER__BIND", "127.0.0.1:0"),
            ("GATEWAY__SERVER__WORKERS", "1"),
            ("GATEWAY__SERVER__METRICS_BIND", "127.0.0.1:0"),
            // Overridden by the tenant: proves overrides win.
            ("GATEWAY__AUTH0__DOMAIN", "tenant.example.invalid"),
            ("GATEWAY__AUTH0__CLIENT_ID", "ignored-client"),
            ("GATEWAY__AUTH0__CLIENT_SECRET", "ignored-secret-not-real"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let settings = Settings::load(&Sources {
            defaults: Vec::new(),
            file: None,
            env: Some(env),
            overrides: tenant.settings_overrides(),
        })
        .expect("demo settings");
        assert_eq!(settings.auth0.base_url, tenant.base_url);
        let app = Application::build(settings).expect("gateway builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        Self {
            address,
            client,
            tenant,
        }
    }

    async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}{}", self.address, path))
            .json(body)
            .send()
            .await
            .expect("the gateway answers")
    }
}

/// Reads an error answer: status, code, description, request id header.
async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let id = header_str(response.headers(), "x-request-id").map(str::to_string);
    let body: Value = response.json().await.expect("JSON error");
    assert_eq!(body["request_id"].as_str(), id.as_deref());
    (status, body)
}

#[tokio::test]
async fn a_full_login_against_the_demo_tenant_logs_in_refreshes_and_revokes() {
    let demo = DemoApp::start().await;

    // Start: the tenant now holds a code for the normalised address.
    let response = demo
        .post("/login/start", &json!({"email": "Jane@Example.com"}))
        .await;
    let (_, body) = assert_ok_json(response).await;
    assert_eq!(body, json!({"channel": "email", "send": "code"}));
    let code = demo
        .tenant
        .tenant
        .pending_code("jane@example.com")
        .expect("the tenant sent a code");

    // Verify: tokens, never cached.
    let response = demo
        .post(
            "/login/verify",
            &json!({"email": "jane@example.com", "code": code}),
        )
        .await;
    let (headers, tokens) = assert_ok_json(response).await;
    assert_no_store(&headers);
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_u64().is_some_and(|s| s > 0));
    assert!(tokens["access_token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    assert!(tokens["id_token"].as_str().is_some_and(|t| !t.is_empty()));
    let refresh_token = tokens["refresh_token"]
        .as_str()
        .expect("offline_access gives a refresh token")
        .to_string();

    // The code is single-use.
    let response = demo
        .post(
            "/login/verify",
            &json!({"email": "jane@example.com", "code": code}),
        )
        .await;
    let (status, body) = error_of(response).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        body["error_description"],
        "Wrong email or verification code."
    );

    // Refresh.
    let response = demo
        .post("/token/refresh", &json!({"refresh_token": refresh_token}))
        .await;
    let (headers, refreshed) = assert_ok_json(response).await;
    assert_no_store(&headers);
    assert!(refreshed["access_token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    assert_eq!(refreshed["token_type"], "Bearer");

    // Revoke.
    let response = demo
        .post("/token/revoke", &json!({"refresh_token": refresh_token}))
        .await;
    let (_, body) = assert_ok_json(response).await;
    assert_eq!(body, json!({}));

    // Refresh again: the token is gone.
    let response = demo
        .post("/token/refresh", &json!({"refresh_token": refresh_token}))
        .await;
    let (status, body) = error_of(response).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        body["error_description"],
        "Unknown or invalid refresh token."
    );

    demo.tenant.stop().await;
}

#[tokio::test]
async fn an_sms_login_against_the_demo_tenant_works_and_wrong_codes_are_invalid_grant() {
    let demo = DemoApp::start().await;

    let response = demo
        .post("/login/start", &json!({"phone_number": "+14155550100"}))
        .await;
    let (_, body) = assert_ok_json(response).await;
    assert_eq!(body, json!({"channel": "sms", "send": "code"}));
    let code = demo
        .tenant
        .tenant
        .pending_code("+14155550100")
        .expect("the tenant sent a code");
    let wrong = if code == "000000" { "111111" } else { "000000" };

    let response = demo
        .post(
            "/login/verify",
            &json!({"phone_number": "+14155550100", "code": wrong}),
        )
        .await;
    let (status, body) = error_of(response).await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        body["error_description"],
        "Wrong phone number or verification code."
    );

    let response = demo
        .post(
            "/login/verify",
            &json!({"phone_number": "+14155550100", "code": code}),
        )
        .await;
    let (headers, tokens) = assert_ok_json(response).await;
    assert_no_store(&headers);
    assert!(tokens["access_token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));

    demo.tenant.stop().await;
}

#[test]
fn an_invalid_push_delay_stops_the_demo_with_a_line_naming_the_variable_not_the_value() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_login-gateway"))
        .arg("--demo")
        .env_clear()
        .env(login_gateway::demo::PUSH_DELAY_ENV, "4s-secret-ish")
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot start the demo tenant: LGW_DEMO_PUSH_DELAY_MS must be"),
        "{stderr}"
    );
    assert!(!stderr.contains("4s-secret-ish"), "{stderr}");
}

/// The banner names what a developer needs to try every route, the MFA API
/// audience (for `DELETE /mfa/authenticators/{id}`) included.
#[tokio::test]
async fn the_demo_banner_prints_the_mfa_api_audience() {
    let mut demo = crate::real_binary::RealGateway::spawn_demo(&[]).await;
    let ready = reqwest::get(demo.url("/readyz"))
        .await
        .expect("the demo answers");
    assert_eq!(ready.status(), 200);
    demo.sigterm();
    assert!(demo
        .wait_exit(std::time::Duration::from_secs(10))
        .await
        .is_some());
    let output = demo.output();
    let audience =
        regex::Regex::new(r"MFA API audience: http://127\.0\.0\.1:\d+/mfa/ ").expect("regex");
    assert!(audience.is_match(&output), "{output}");
}

/// The demo's one browser origin is `localhost` (SPEC §11: WebAuthn refuses
/// IP-address origins), wired as `--demo` wires it: the app at
/// `http://localhost:<app port>` (the loopback address of that port
/// redirects there), calling the gateway at `http://localhost:<gateway
/// port>` (same-site, so the session cookie goes along), which admits that
/// origin through CORS and passes its cookie calls through the CSRF rule.
/// The listeners bind `127.0.0.1`; requests name the host in `Host`, as a
/// browser that resolved `localhost` does.
#[tokio::test]
async fn the_demo_app_and_gateway_meet_at_localhost_and_the_loopback_address_redirects_there() {
    use login_gateway::demo::{adjust_settings, admit_app, browser_origin, serve_app, spa};

    let tenant = DemoTenant::start().await.expect("demo tenant starts");
    let mut overrides = tenant.settings_overrides();
    overrides.push(("server.bind".into(), "127.0.0.1:0".into()));
    overrides.push(("server.workers".into(), "1".into()));
    overrides.push(("server.metrics_bind".into(), String::new()));
    let mut settings = Settings::load(&Sources {
        defaults: Vec::new(),
        file: None,
        env: Some(HashMap::new()),
        overrides,
    })
    .expect("demo settings");
    adjust_settings(&mut settings, &tenant);
    let listener = spa::SpaListener::bind_beside(0).expect("a loopback port");
    admit_app(&mut settings, &listener);
    let app_port = listener.port();
    let app_origin = browser_origin(app_port);
    assert_eq!(app_origin, format!("http://localhost:{app_port}"));
    assert_eq!(
        settings.auth0.magic_link_redirect_uri.as_deref(),
        Some(format!("{app_origin}/").as_str())
    );
    let gateway = Application::build(settings).expect("the gateway builds");
    let gateway_port = gateway.port();
    let session = gateway.state().settings.session.clone();
    tokio::spawn(gateway.run_until_stopped());
    let bound = std::net::SocketAddr::from(([127, 0, 0, 1], gateway_port));
    let served = serve_app(&tenant, listener, bound, &session).expect("the app serves");
    assert_eq!(served.url(), format!("{app_origin}/"));

    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let app_at = |host: String, path: &str| {
        client
            .get(format!("http://127.0.0.1:{app_port}{path}"))
            .header("host", host)
            .send()
    };

    // Opened at the loopback address, the app moves to localhost, the
    // magic link's code and state along.
    let moved = app_at(format!("127.0.0.1:{app_port}"), "/?code=abc&state=xyz")
        .await
        .expect("the app answers");
    assert_eq!(moved.status(), 308);
    assert_eq!(
        header_str(moved.headers(), "location"),
        Some(format!("{app_origin}/?code=abc&state=xyz").as_str())
    );
    // At localhost it is served, and told (and allowed) to call the gateway
    // at localhost too.
    let gateway_origin = format!("http://localhost:{gateway_port}");
    let page = app_at(format!("localhost:{app_port}"), "/")
        .await
        .expect("the app answers");
    assert_eq!(page.status(), 200);
    let csp = header_str(page.headers(), "content-security-policy")
        .unwrap_or_default()
        .to_string();
    assert!(
        csp.contains(&format!(
            "connect-src {gateway_origin} {};",
            tenant.base_url
        )),
        "{csp}"
    );
    let config = app_at(format!("localhost:{app_port}"), "/config.js")
        .await
        .expect("the app answers")
        .text()
        .await
        .expect("config.js");
    assert!(
        config.contains(&format!(r#""gateway":"{gateway_origin}""#)),
        "{config}"
    );
    // The demo has cookie sessions: the app is told their idle time.
    assert!(session.enabled);
    assert!(
        config.contains(&format!(r#""sessionIdleSecs":{}"#, session.idle.as_secs())),
        "{config}"
    );

    // CORS: the app's localhost origin is admitted with credentials, its
    // loopback twin is not.
    let preflight = |origin: String| {
        client
            .request(
                reqwest::Method::OPTIONS,
                format!("http://127.0.0.1:{gateway_port}/session/refresh"),
            )
            .header("host", format!("localhost:{gateway_port}"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "x-lgw-session")
            .send()
    };
    let admitted = preflight(app_origin.clone())
        .await
        .expect("the gateway answers");
    assert_eq!(
        header_str(admitted.headers(), "access-control-allow-origin"),
        Some(app_origin.as_str())
    );
    assert_eq!(
        header_str(admitted.headers(), "access-control-allow-credentials"),
        Some("true")
    );
    let twin = preflight(format!("http://127.0.0.1:{app_port}"))
        .await
        .expect("the gateway answers");
    assert_eq!(
        header_str(twin.headers(), "access-control-allow-origin"),
        None
    );

    // CSRF (SPEC §10) with Host localhost: the app's origin and the
    // gateway's own (its Swagger UI) pass, so a cookie that does not open is
    // `401 session_expired`; the loopback twin of the app is refused before.
    let cookie_call = |origin: String| {
        client
            .post(format!("http://127.0.0.1:{gateway_port}/session/refresh"))
            .header("host", format!("localhost:{gateway_port}"))
            .header("origin", origin)
            .header("x-lgw-session", "1")
            .header("cookie", "__Host-lgw=not-a-sealed-session")
            .send()
    };
    for (origin, status, code) in [
        (app_origin.clone(), 401, "session_expired"),
        (gateway_origin.clone(), 401, "session_expired"),
        (format!("http://127.0.0.1:{app_port}"), 403, "csrf_failed"),
    ] {
        let (answered, body) = error_of(cookie_call(origin.clone()).await.expect("answers")).await;
        assert_eq!(
            (answered, body["error"].as_str()),
            (status, Some(code)),
            "{origin}"
        );
    }

    served.stop().await;
    tenant.stop().await;
}

/// `--demo` turns passkeys on (SPEC §11): the gateway serves
/// `/passkey/challenge` against the tenant, for the `localhost` relying
/// party the app's origin belongs to; a file or the environment can still
/// turn them off (then the route is the 404 of an unknown path).
#[tokio::test]
async fn the_demo_turns_passkeys_on_for_the_localhost_relying_party() {
    let demo = crate::real_binary::RealGateway::spawn_demo(&[]).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let response = client
        .post(demo.url("/passkey/challenge"))
        .json(&json!({}))
        .send()
        .await
        .expect("the demo answers");
    let (_, body) = assert_ok_json(response).await;
    assert_eq!(body["public_key"]["rpId"], "localhost", "{body}");
    assert!(body["auth_session"].as_str().is_some_and(|s| !s.is_empty()));
    drop(demo);

    let off =
        crate::real_binary::RealGateway::spawn_demo(&[("GATEWAY__PASSKEY__ENABLED", "false")])
            .await;
    let response = client
        .post(off.url("/passkey/challenge"))
        .json(&json!({}))
        .send()
        .await
        .expect("the demo answers");
    assert_eq!(response.status(), 404);
}
