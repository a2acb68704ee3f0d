//! The fake tenant's HTTP face: Auth0's Authentication API routes, their
//! bodies, and how a [`Tenant`] answer becomes an HTTP answer. The rules
//! themselves live in [`super::tenant`] and [`super::mfa`].

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::tenant::{self, Tenant, TenantError};

/// The tenant's route table.
pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().limit(64 * 1024))
        .route("/passwordless/start", web::post().to(passwordless_start))
        .route("/oauth/token", web::post().to(token))
        .route("/oauth/revoke", web::post().to(revoke))
        .route("/mfa/authenticators", web::get().to(list_authenticators))
        .route(
            "/mfa/authenticators/{id}",
            web::delete().to(delete_authenticator),
        )
        .route("/mfa/associate", web::post().to(associate))
        .route("/mfa/challenge", web::post().to(challenge));
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
