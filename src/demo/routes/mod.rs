//! The fake tenant's HTTP face: its route table, Auth0's Authentication
//! API routes (`/passwordless/start`, `/oauth/token`, `/oauth/revoke`,
//! discovery), and how a [`Tenant`] answer becomes an HTTP answer. The
//! rules themselves live in [`super::tenant`] and the modules it lists.
//!
//! - [`fields`] reads a body (JSON or form) and the client's credentials;
//! - [`mfa`] has the MFA API's routes.
//!
//! What Auth0's own SDKs rely on is mirrored here, not only what the
//! gateway sends: bodies may be JSON or form-encoded (RFC 6749 §4 requires
//! the latter, node-auth0 sends it for every grant), the client may
//! authenticate in the body or with HTTP Basic, token answers are
//! `no-store`, and every failure, down to an unknown route, is JSON in one
//! of Auth0's two shapes.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::tenant::{self, Tenant, TenantError};

pub(super) mod fields;
mod mfa;

use fields::{Api, Fields};

/// The tenant's route table. A known path with another method is `405`
/// (with `Allow`), anything else `404`, both as JSON.
pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(only(
        "/passwordless/start",
        Method::POST,
        web::post().to(passwordless_start),
    ))
    .service(only("/oauth/token", Method::POST, web::post().to(token)))
    .service(only("/oauth/revoke", Method::POST, web::post().to(revoke)))
    .service(only(
        "/mfa/authenticators",
        Method::GET,
        web::get().to(mfa::list_authenticators),
    ))
    .service(only(
        "/mfa/authenticators/{id}",
        Method::DELETE,
        web::delete().to(mfa::delete_authenticator),
    ))
    .service(only(
        "/mfa/associate",
        Method::POST,
        web::post().to(mfa::associate),
    ))
    .service(only(
        "/mfa/challenge",
        Method::POST,
        web::post().to(mfa::challenge),
    ))
    .service(only(
        "/.well-known/jwks.json",
        Method::GET,
        web::get().to(jwks),
    ))
    .service(only(
        "/.well-known/openid-configuration",
        Method::GET,
        web::get().to(openid_configuration),
    ))
    .service(only(
        "/passkey/register",
        Method::POST,
        web::post().to(super::passkey::routes::register),
    ))
    .service(only(
        "/passkey/challenge",
        Method::POST,
        web::post().to(super::passkey::routes::challenge),
    ))
    .configure(super::my_account::configure)
    .service(super::end_session::resource())
    .service(only(
        super::api::PROFILE_PATH,
        Method::GET,
        web::get().to(super::api::profile),
    ))
    .default_service(web::to(|| async {
        boom(StatusCode::NOT_FOUND, "Not Found")
    }));
}

/// `path` answers `method` with `route`, and `405` to every other method.
pub(super) fn only(path: &str, method: Method, route: actix_web::Route) -> actix_web::Resource {
    web::resource(path)
        .route(route)
        .default_service(web::to(move || {
            let allow = method.clone();
            async move {
                let mut response = boom(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
                if let Ok(value) = HeaderValue::from_str(allow.as_str()) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
                response
            }
        }))
}

/// Auth0's second error shape (its HTTP framework's), used where no OAuth
/// error applies: `{"statusCode": 404, "error": "Not Found", "message": …}`.
fn boom(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "statusCode": status.as_u16(),
        "error": status.canonical_reason().unwrap_or("Error"),
        "message": message,
    }))
}

pub(super) fn answer(result: tenant::TenantResult) -> HttpResponse {
    match result {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(error) => failure(error),
    }
}

fn failure(error: TenantError) -> HttpResponse {
    HttpResponse::build(error.status).json(error.body())
}

/// RFC 6749 §5.1: answers that carry tokens or secrets are never cached.
fn no_store(mut response: HttpResponse) -> HttpResponse {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Whether a TLS-terminating proxy says the client came over `https`
/// (see [`Tenant::origin`]).
fn forwarded_https(req: &HttpRequest) -> bool {
    header(req, "x-forwarded-proto").is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// What `/passwordless/start` accepts; anything else is Auth0's
/// `bad.request` "the following properties are not allowed".
const START_PROPERTIES: [&str; 7] = [
    "client_id",
    "client_secret",
    "connection",
    "email",
    "phone_number",
    "send",
    "authParams",
];

async fn passwordless_start(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let fields = match Fields::read(&req, payload, Api::Passwordless).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let start = || -> tenant::TenantResult {
        let unknown: Vec<&str> = fields
            .map
            .keys()
            .map(String::as_str)
            .filter(|key| !START_PROPERTIES.contains(key))
            .collect();
        if !unknown.is_empty() {
            return Err(TenantError::new(
                StatusCode::BAD_REQUEST,
                "bad.request",
                format!(
                    "the following properties are not allowed: {}",
                    unknown.join(", ")
                ),
            ));
        }
        fields.require("client_id")?;
        let connection = fields.require("connection")?;
        fields.check_client(&req)?;
        let auth_params = match fields.map.get("authParams") {
            None | Some(Value::Null) => None,
            Some(Value::Object(params)) => Some(params),
            Some(_) => {
                return Err(TenantError::new(
                    StatusCode::BAD_REQUEST,
                    "bad.authParams",
                    "error in authParams - invalid type: string (expected object)",
                ))
            }
        };
        let param = |name: &str| {
            auth_params
                .and_then(|p| p.get(name))
                .and_then(Value::as_str)
        };
        tenant.passwordless_start(super::passwordless::StartRequest {
            connection,
            email: fields.get("email")?,
            phone_number: fields.get("phone_number")?,
            send: fields.get("send")?.unwrap_or("code"),
            redirect_uri: param("redirect_uri"),
            state: param("state"),
            language: header(&req, "x-request-language"),
            end_user_ip: header(&req, crate::auth0::FORWARDED_FOR_HEADER),
        })
    };
    answer(start())
}

async fn token(tenant: web::Data<Tenant>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let fields = match Fields::read(&req, payload, Api::OAuth).await {
        Ok(fields) => fields,
        Err(response) => return no_store(response),
    };
    let issuer = tenant.issuer(forwarded_https(&req));
    let grant = || -> tenant::TenantResult {
        let grant_type = fields.require("grant_type")?;
        fields.check_client(&req)?;
        match grant_type {
            crate::auth0::GRANT_PASSWORDLESS_OTP => tenant.passwordless_otp(
                fields.require("username")?,
                fields.require("otp")?,
                fields.require("realm")?,
                fields.get("audience")?.filter(|a| !a.is_empty()),
                fields
                    .get("scope")?
                    .filter(|s| !s.trim().is_empty())
                    .unwrap_or("openid"),
                &issuer,
            ),
            "authorization_code" => tenant.authorization_code(
                fields.require("code")?,
                fields.require("redirect_uri")?,
                &issuer,
            ),
            "refresh_token" => tenant.refresh(
                fields.require("refresh_token")?,
                fields.get("scope")?,
                fields.get("audience")?.filter(|a| !a.is_empty()),
                &issuer,
            ),
            // JSON only: a form body makes `authn_response` a string, which
            // Auth0 refuses (`"authn_response" must be of type object`).
            super::passkey::GRANT_WEBAUTHN => {
                tenant.grant_webauthn(super::passkey::grant::WebauthnGrant {
                    auth_session: fields.require("auth_session")?,
                    authn_response: fields.map.get("authn_response"),
                    realm: fields.get("realm")?,
                    scope: fields
                        .get("scope")?
                        .filter(|s| !s.trim().is_empty())
                        .unwrap_or("openid"),
                    audience: fields.get("audience")?.filter(|a| !a.is_empty()),
                    verification: fields.map.get("verification"),
                    issuer: &issuer,
                })
            }
            crate::auth0::GRANT_MFA_OTP => {
                tenant.grant_mfa_otp(fields.require("mfa_token")?, fields.require("otp")?)
            }
            crate::auth0::GRANT_MFA_OOB => tenant.grant_mfa_oob(
                fields.require("mfa_token")?,
                fields.require("oob_code")?,
                fields.get("binding_code")?,
            ),
            crate::auth0::GRANT_MFA_RECOVERY_CODE => tenant.grant_recovery_code(
                fields.require("mfa_token")?,
                fields.require("recovery_code")?,
            ),
            other => Err(TenantError::new(
                StatusCode::FORBIDDEN,
                "unsupported_grant_type",
                format!("Unsupported grant type: {other}"),
            )),
        }
    };
    no_store(answer(grant()))
}

async fn revoke(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let fields = match Fields::read(&req, payload, Api::OAuth).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let revoked = fields
        .require("token")
        .and_then(|token| fields.check_client(&req).map(|()| token))
        .map(|token| tenant.revoke(token));
    match revoked {
        // Auth0 answers an empty 200.
        Ok(()) => HttpResponse::Ok().finish(),
        Err(error) => failure(error),
    }
}

async fn jwks(tenant: web::Data<Tenant>) -> HttpResponse {
    HttpResponse::Ok().json(tenant.jwks())
}

async fn openid_configuration(tenant: web::Data<Tenant>, req: HttpRequest) -> HttpResponse {
    HttpResponse::Ok().json(tenant.openid_configuration(forwarded_https(&req)))
}
