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
//! call the gateway across origins.

pub mod jwt;
pub mod mfa;
mod options;
pub mod spa;
pub mod tenant;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde::Deserialize;

use crate::settings::Settings;
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
                .app_data(web::JsonConfig::default().limit(64 * 1024))
                .route("/passwordless/start", web::post().to(passwordless_start))
                .route("/oauth/token", web::post().to(token))
                .route("/oauth/revoke", web::post().to(revoke))
                .route("/mfa/authenticators", web::get().to(list_authenticators))
                .route(
                    "/mfa/authenticators/{id}",
                    web::delete().to(delete_authenticator),
                )
                .route("/mfa/associate", web::post().to(associate))
                .route("/mfa/challenge", web::post().to(challenge))
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
    pub fn print_banner(&self, gateway: &str, app: &str, metrics: Option<u16>) {
        let line = "=".repeat(78);
        let metrics = metrics
            .map(|port| format!("http://127.0.0.1:{port}/metrics"))
            .unwrap_or_else(|| "off".to_string());
        eprintln!(
            "{line}\n  DEMO MODE: a fake Auth0 tenant, not for production.\n  \
             App:          {app}  (the example SPA: open it in a browser)\n  \
             Swagger UI:   {gateway}/docs\n  \
             Gateway:      {gateway}\n  \
             Metrics:      {metrics}\n  \
             Fake tenant:  {}  (one-time codes and links are printed here)\n  \
             MFA API audience: {}  (for DELETE /mfa/authenticators/{{id}})\n  \
             Try: curl -s -X POST {gateway}/login/start \\\n         \
             -H 'content-type: application/json' -d '{{\"email\":\"jane@example.com\"}}'\n{line}",
            self.base_url,
            self.mfa_audience()
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
}

/// Lets the example app call the gateway from its own origin: that origin
/// (and its `localhost` spelling) joins `server.cors_allowed_origins`, and
/// magic links lead back to the app, which posts their `code` to
/// `/login/callback`.
pub fn admit_app(settings: &mut Settings, app: &spa::SpaListener) {
    for origin in [app.origin(), format!("http://localhost:{}", app.port())] {
        if !settings.server.cors_allowed_origins.contains(&origin) {
            settings.server.cors_allowed_origins.push(origin);
        }
    }
    settings.auth0.magic_link_redirect_uri = Some(app.url());
}

/// What the fake tenant "sends": printed for the person trying the demo.
pub fn announce(message: &str) {
    eprintln!("[demo tenant] {message}");
}

fn answer(result: tenant::TenantResult) -> HttpResponse {
    match result {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(error) => HttpResponse::build(error.status).json(error.body()),
    }
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

#[derive(Deserialize)]
struct AuthParamsBody {
    redirect_uri: Option<String>,
    state: Option<String>,
}

#[derive(Deserialize)]
struct StartBody {
    client_id: Option<String>,
    client_secret: Option<String>,
    connection: String,
    email: Option<String>,
    phone_number: Option<String>,
    send: Option<String>,
    #[serde(rename = "authParams")]
    auth_params: Option<AuthParamsBody>,
}

async fn passwordless_start(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
    body: web::Json<StartBody>,
) -> HttpResponse {
    if let Err(error) =
        Tenant::check_client(body.client_id.as_deref(), body.client_secret.as_deref())
    {
        return answer(Err(error));
    }
    let auth_params = body.auth_params.as_ref();
    answer(tenant.passwordless_start(tenant::StartRequest {
        connection: &body.connection,
        email: body.email.as_deref(),
        phone_number: body.phone_number.as_deref(),
        send: body.send.as_deref().unwrap_or("code"),
        redirect_uri: auth_params.and_then(|p| p.redirect_uri.as_deref()),
        state: auth_params.and_then(|p| p.state.as_deref()),
        language: header(&req, "x-request-language"),
        end_user_ip: header(&req, crate::auth0::FORWARDED_FOR_HEADER),
    }))
}

#[derive(Deserialize)]
struct TokenBody {
    grant_type: String,
    client_id: Option<String>,
    client_secret: Option<String>,
    username: Option<String>,
    otp: Option<String>,
    realm: Option<String>,
    audience: Option<String>,
    scope: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    refresh_token: Option<String>,
    mfa_token: Option<String>,
    oob_code: Option<String>,
    binding_code: Option<String>,
    recovery_code: Option<String>,
}

async fn token(tenant: web::Data<Tenant>, body: web::Json<TokenBody>) -> HttpResponse {
    if let Err(error) =
        Tenant::check_client(body.client_id.as_deref(), body.client_secret.as_deref())
    {
        return answer(Err(error));
    }
    let missing = |field: &str| {
        answer(Err(TenantError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("Missing required parameter: {field}"),
        )))
    };
    let result = match body.grant_type.as_str() {
        crate::auth0::GRANT_PASSWORDLESS_OTP => {
            let (Some(username), Some(otp), Some(realm)) = (&body.username, &body.otp, &body.realm)
            else {
                return missing("username, otp and realm");
            };
            tenant.passwordless_otp(
                username,
                otp,
                realm,
                body.audience.as_deref(),
                body.scope.as_deref().unwrap_or("openid"),
            )
        }
        "authorization_code" => {
            let (Some(code), Some(redirect_uri)) = (&body.code, &body.redirect_uri) else {
                return missing("code and redirect_uri");
            };
            tenant.authorization_code(code, redirect_uri)
        }
        "refresh_token" => {
            let Some(refresh_token) = &body.refresh_token else {
                return missing("refresh_token");
            };
            tenant.refresh(refresh_token, body.scope.as_deref())
        }
        crate::auth0::GRANT_MFA_OTP => {
            let (Some(mfa_token), Some(otp)) = (&body.mfa_token, &body.otp) else {
                return missing("mfa_token and otp");
            };
            tenant.grant_mfa_otp(mfa_token, otp)
        }
        crate::auth0::GRANT_MFA_OOB => {
            let (Some(mfa_token), Some(oob_code)) = (&body.mfa_token, &body.oob_code) else {
                return missing("mfa_token and oob_code");
            };
            tenant.grant_mfa_oob(mfa_token, oob_code, body.binding_code.as_deref())
        }
        crate::auth0::GRANT_MFA_RECOVERY_CODE => {
            let (Some(mfa_token), Some(code)) = (&body.mfa_token, &body.recovery_code) else {
                return missing("mfa_token and recovery_code");
            };
            tenant.grant_recovery_code(mfa_token, code)
        }
        _ => Err(TenantError::new(
            actix_web::http::StatusCode::FORBIDDEN,
            "unsupported_grant_type",
            "Unsupported grant type",
        )),
    };
    answer(result)
}

#[derive(Deserialize)]
struct RevokeBody {
    client_id: Option<String>,
    client_secret: Option<String>,
    token: String,
}

async fn revoke(tenant: web::Data<Tenant>, body: web::Json<RevokeBody>) -> HttpResponse {
    if let Err(error) =
        Tenant::check_client(body.client_id.as_deref(), body.client_secret.as_deref())
    {
        return answer(Err(error));
    }
    tenant.revoke(&body.token);
    // Auth0 answers an empty 200.
    HttpResponse::Ok().finish()
}

/// The bearer of an MFA API call, or Auth0's 401.
fn bearer(req: &HttpRequest) -> Result<&str, TenantError> {
    header(req, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            TenantError::new(
                actix_web::http::StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authorization header is required",
            )
        })
}

async fn list_authenticators(tenant: web::Data<Tenant>, req: HttpRequest) -> HttpResponse {
    answer(bearer(&req).and_then(|token| tenant.list_authenticators(token)))
}

#[derive(Deserialize)]
struct AssociateBody {
    client_id: Option<String>,
    client_secret: Option<String>,
    authenticator_types: Vec<String>,
    oob_channels: Option<Vec<String>>,
    phone_number: Option<String>,
    email: Option<String>,
}

async fn associate(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
    body: web::Json<AssociateBody>,
) -> HttpResponse {
    let result = Tenant::check_client(body.client_id.as_deref(), body.client_secret.as_deref())
        .and_then(|()| bearer(&req))
        .and_then(|token| {
            tenant.associate(
                token,
                body.authenticator_types
                    .first()
                    .map(String::as_str)
                    .unwrap_or(""),
                body.oob_channels
                    .as_ref()
                    .and_then(|c| c.first())
                    .map(String::as_str),
                body.phone_number.as_deref(),
                body.email.as_deref(),
            )
        });
    answer(result)
}

#[derive(Deserialize)]
struct ChallengeBody {
    client_id: Option<String>,
    client_secret: Option<String>,
    mfa_token: String,
    challenge_type: String,
    authenticator_id: Option<String>,
}

async fn challenge(tenant: web::Data<Tenant>, body: web::Json<ChallengeBody>) -> HttpResponse {
    let result = Tenant::check_client(body.client_id.as_deref(), body.client_secret.as_deref())
        .and_then(|()| {
            tenant.challenge(
                &body.mfa_token,
                &body.challenge_type,
                body.authenticator_id.as_deref(),
            )
        });
    answer(result)
}

async fn delete_authenticator(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    match bearer(&req).and_then(|token| tenant.delete_authenticator(token, &path)) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(error) => answer(Err(error)),
    }
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
                format!("http://127.0.0.1:{}", app.port()),
                format!("http://localhost:{}", app.port()),
            ]
        );
        assert_eq!(
            settings.auth0.magic_link_redirect_uri,
            Some(format!("http://127.0.0.1:{}/", app.port()))
        );
    }
}
