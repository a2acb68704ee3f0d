//! `--demo`: a fake Auth0 tenant on a loopback port inside the same
//! process. The gateway talks to it over real HTTP with the same client and
//! code path as to Auth0; only the settings point elsewhere.
//!
//! It cannot be switched on by accident: only the `--demo` flag starts it
//! (no setting or environment variable does), it listens on 127.0.0.1 only,
//! it forces the gateway onto loopback too, and it prints a banner.
//! `LGW_DEMO_PUSH_DELAY_MS` ([`PUSH_DELAY_ENV`]) only tunes a demo that
//! `--demo` started (see [`DemoOptions`]).
//!
//! Beside the tenant, the demo serves the example single-page app
//! (`examples/spa`, see [`spa`]) from a second loopback port, and lets it
//! call the gateway across origins. A browser reaches both at `localhost`
//! ([`browser_origin`]), never at `127.0.0.1`: WebAuthn refuses IP-address
//! origins, and the app's cookie-mode calls must be same-site with the
//! gateway that sets the `SameSite=Strict` session cookie.

pub mod api;
pub mod defaults;
pub mod end_session;
pub mod jwt;
pub mod mfa;
pub mod my_account;
mod options;
pub mod passkey;
mod passwordless;
mod routes;
mod sessions;
pub mod spa;
pub mod tenant;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};

use crate::settings::{SessionSettings, Settings};
pub use options::{DemoOptions, PUSH_DELAY_ENV};
pub use tenant::{Tenant, TenantError, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET};

/// A running fake tenant.
pub struct DemoTenant {
    pub base_url: String,
    pub tenant: Arc<Tenant>,
    handle: ServerHandle,
}

impl DemoTenant {
    /// Starts the tenant on `127.0.0.1` with an ephemeral port and the
    /// default [`DemoOptions`] (a push approves itself after 4 s).
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(DemoOptions::default()).await
    }

    /// What `--demo` starts: [`DemoOptions::from_env`], so
    /// `LGW_DEMO_PUSH_DELAY_MS` can shorten or lengthen the push approval
    /// delay. An invalid value fails the start (`InvalidInput`).
    pub async fn start_from_env() -> std::io::Result<Self> {
        let options = DemoOptions::from_env()
            .map_err(|message| std::io::Error::new(std::io::ErrorKind::InvalidInput, message))?;
        Self::start_with(options).await
    }

    /// Starts the tenant on `127.0.0.1` with an ephemeral port.
    pub async fn start_with(options: DemoOptions) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let tenant = Arc::new(Tenant::with_options(base_url.clone(), options));
        let data = web::Data::from(tenant.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .configure(routes::configure)
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            base_url,
            tenant,
            handle,
        })
    }

    /// Settings that point the gateway at this tenant. They replace the
    /// Auth0 domain and credentials from any file or environment.
    pub fn settings_overrides(&self) -> Vec<(String, String)> {
        vec![
            ("auth0.domain".into(), self.base_url.clone()),
            ("auth0.client_id".into(), DEMO_CLIENT_ID.into()),
            ("auth0.client_secret".into(), DEMO_CLIENT_SECRET.into()),
            ("auth0.client_secret_file".into(), String::new()),
        ]
    }

    /// `gateway`: the gateway's origin; `app`: the example app's page.
    /// `limits`: [`defaults::limits_summary`] of the settings in force.
    pub fn print_banner(
        &self,
        gateway: &str,
        app: &str,
        metrics: Option<u16>,
        limits: &defaults::LimitsSummary,
    ) {
        let line = "=".repeat(78);
        let metrics = metrics
            .map(|port| format!("http://127.0.0.1:{port}/metrics"))
            .unwrap_or_else(|| "off".to_string());
        eprintln!(
            "{line}\n  DEMO MODE: a fake Auth0 tenant, not for production.\n  \
             App:          {app}  (the example SPA: open it in a browser, at localhost:\n                \
             passkeys refuse IP-address origins; 127.0.0.1 redirects here)\n  \
             Swagger UI:   {gateway}/docs\n  \
             Gateway:      {gateway}\n  \
             Metrics:      {metrics}\n  \
             Fake tenant:  {}  (one-time codes and links are printed here)\n  \
             MFA API audience: {}  (for DELETE /mfa/authenticators/{{id}})\n  \
             End a session: POST {}{}  {{\"sub\": \"<user id>\"}}  (Auth0's back-channel logout)\n  \
             Limits:       {}\n                {}\n  \
             Try: curl -s -X POST {gateway}/login/start \\\n         \
             -H 'content-type: application/json' -d '{{\"email\":\"jane@example.com\"}}'\n{line}",
            self.base_url,
            self.mfa_audience(),
            self.base_url,
            end_session::END_SESSION_PATH,
            limits.limits,
            limits.note,
        );
    }

    /// The audience of access tokens for the tenant's MFA API.
    pub fn mfa_audience(&self) -> String {
        format!("{}/mfa/", self.base_url)
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// The port `server.metrics_bind` names by default.
const DEFAULT_METRICS_PORT: u16 = 9464;

/// Auth0's scopes for its MFA API (enroll, list, delete authenticators).
const MFA_API_SCOPES: [&str; 3] = ["enroll", "read:authenticators", "remove:authenticators"];

/// Keeps the demo gateway on loopback whatever `server.bind` says, and
/// lets clients ask for the tenant's MFA API audience and scopes (needed to
/// delete an authenticator or enroll a second one).
pub fn adjust_settings(settings: &mut Settings, tenant: &DemoTenant) {
    let bind = settings.server.bind;
    if !bind.ip().is_loopback() {
        settings.server.bind = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), bind.port());
    }
    // The default metrics port may be taken (a second demo, a real
    // exporter); the demo must still start, so it takes a free loopback
    // port and prints it. An explicitly chosen other port is kept.
    if let Some(metrics) = settings.server.metrics_bind {
        if metrics.port() == DEFAULT_METRICS_PORT || !metrics.ip().is_loopback() {
            settings.server.metrics_bind =
                Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
        }
    }
    let mfa_audience = tenant.mfa_audience();
    if !settings.auth0.allowed_audiences.contains(&mfa_audience) {
        settings.auth0.allowed_audiences.push(mfa_audience);
    }
    // The scopes Auth0's MFA API asks for, so a client written against a
    // real tenant works against the demo unchanged.
    for scope in MFA_API_SCOPES {
        if !settings.auth0.allowed_scopes.iter().any(|s| s == scope) {
            settings.auth0.allowed_scopes.push(scope.to_string());
        }
    }
    enable_sessions(settings, tenant);
}

/// Cookie sessions (SPEC §10) in the demo: on, under a key made at start
/// (so sessions end with the process; a listed `session.keys` is kept
/// after it), with the tenant's small protected API as `demo`, so the
/// example app can try cookie mode and call `/api/demo/profile`, and with
/// the back-channel logout route on, which the tenant's
/// `/demo/end-session` posts to.
fn enable_sessions(settings: &mut Settings, tenant: &DemoTenant) {
    use rand::RngCore;
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let session = &mut settings.session;
    session.enabled = true;
    session.keys.insert(0, crate::settings::SessionKey(key));
    // The tenant can end a user's session as Auth0 does (SPEC §12,
    // `POST /demo/end-session`), so the gateway listens for it.
    session.backchannel_logout = true;
    if let Ok(url) = url::Url::parse(&format!("{}/demo-api", tenant.base_url)) {
        session
            .apis
            .entry("demo".to_string())
            .or_insert(crate::settings::SessionApi {
                url,
                audience: None,
            });
    }
}

/// The host a browser uses for the demo's gateway and app. Not an IP
/// address: WebAuthn refuses those as origins (a passkey's relying party ID
/// is a domain), and browsers treat `localhost` as a secure context over
/// plain http, as they do `127.0.0.1`. The listeners still bind `127.0.0.1`;
/// browsers resolve `localhost` to loopback themselves.
pub const BROWSER_HOST: &str = "localhost";

/// `http://localhost:<port>`: a demo listener as a browser names it. The
/// gateway and the app share the host, so they are one site and the
/// gateway's `SameSite=Strict` session cookie goes along with the app's
/// cookie-mode calls (`localhost` and `127.0.0.1` are two sites).
pub fn browser_origin(port: u16) -> String {
    format!("http://{BROWSER_HOST}:{port}")
}

/// Lets the example app call the gateway from its own origin: that origin
/// joins `server.cors_allowed_origins`, and magic links lead back to the
/// app, which posts their `code` to `/login/callback`. One origin only: the
/// app server sends `127.0.0.1:<port>` to `localhost:<port>`, so the page
/// that starts a magic link and the page the link opens share storage, and
/// a passkey made there has a domain to belong to.
pub fn admit_app(settings: &mut Settings, app: &spa::SpaListener) {
    let origin = app.origin();
    if !settings.server.cors_allowed_origins.contains(&origin) {
        settings.server.cors_allowed_origins.push(origin);
    }
    settings.auth0.magic_link_redirect_uri = Some(app.url());
}

/// Serves the example app beside the gateway bound at `gateway`. The
/// tenant posts logout tokens to that address (a call between servers, no
/// browser involved) and lets the app's origin ask it to end a session;
/// the app calls the gateway at its [`browser_origin`], same-site with
/// itself, and is told the tenant's My Account API audience (token mode
/// refreshes for it to add a passkey) and, with cookie sessions on, their
/// `session.idle_secs` (to show when an unused session ends).
pub fn serve_app(
    tenant: &DemoTenant,
    listener: spa::SpaListener,
    gateway: SocketAddr,
    session: &SessionSettings,
) -> std::io::Result<spa::SpaServer> {
    tenant
        .tenant
        .link(&format!("http://{gateway}"), Some(&listener.origin()));
    let links = spa::DemoTenantLinks {
        origin: tenant.base_url.clone(),
        my_account_audience: tenant.tenant.my_account_audience(false),
    };
    let idle = session.enabled.then_some(session.idle);
    listener.serve(&browser_origin(gateway.port()), Some(&links), idle)
}

/// What the fake tenant "sends": printed for the person trying the demo,
/// set apart from the JSON log lines around it (a blank line on each side,
/// bold on a terminal) and in one write, so it stays whole.
pub fn announce(message: &str) {
    use std::io::{IsTerminal, Write};
    let (bold, plain) = if std::io::stderr().is_terminal() {
        ("\x1b[1;33m", "\x1b[0m")
    } else {
        ("", "")
    };
    let text = format!("\n{bold}>>> [demo tenant] {message}{plain}\n\n");
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Sources;

    #[test]
    fn the_app_origin_is_allowed_and_magic_links_lead_to_the_app() {
        let env = [
            ("GATEWAY__AUTH0__DOMAIN", "http://127.0.0.1:9"),
            ("GATEWAY__AUTH0__CLIENT_ID", "client"),
            ("GATEWAY__AUTH0__CLIENT_SECRET", "secret"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut settings = Settings::load(&Sources {
            defaults: Vec::new(),
            file: None,
            env: Some(env),
            overrides: Vec::new(),
        })
        .expect("valid settings");
        settings.server.cors_allowed_origins = vec!["https://app.example.com".to_string()];
        let app = spa::SpaListener::bind_beside(0).expect("a loopback port");
        admit_app(&mut settings, &app);
        admit_app(&mut settings, &app);
        assert_eq!(
            settings.server.cors_allowed_origins,
            vec![
                "https://app.example.com".to_string(),
                format!("http://localhost:{}", app.port()),
            ]
        );
        assert_eq!(
            settings.auth0.magic_link_redirect_uri,
            Some(format!("http://localhost:{}/", app.port()))
        );
    }
}
