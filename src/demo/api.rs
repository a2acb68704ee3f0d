//! A small protected API beside the fake tenant, for the example app to
//! call through the gateway's `/api/...`: `GET /demo-api/profile` checks
//! the bearer as a real resource server checks an Auth0 access token
//! (RS256 under the tenant's key, issuer, audience, expiry) and answers
//! with who called.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::tenant::{unix_now, Tenant};

/// The path of the API's one route.
pub const PROFILE_PATH: &str = "/demo-api/profile";

/// The audience this API was registered under: `{tenant}/demo-api/`.
/// Tokens asked for without an audience (`{tenant}/userinfo`) are
/// accepted too, so a session works before an audience is configured.
pub fn audience(tenant_base_url: &str) -> String {
    format!("{tenant_base_url}/demo-api/")
}

/// `GET /demo-api/profile`.
pub(super) async fn profile(tenant: web::Data<Tenant>, req: HttpRequest) -> HttpResponse {
    match check_bearer(&tenant, &req) {
        Ok(claims) => HttpResponse::Ok().json(json!({
            "sub": claims["sub"],
            "message": "Hello from the demo API",
            "scope": claims.get("scope").cloned().unwrap_or(Value::Null),
        })),
        Err(description) => invalid_token(description),
    }
}

/// The claims of a valid access token, or why it is not one.
fn check_bearer(tenant: &Tenant, req: &HttpRequest) -> Result<Value, &'static str> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or("Authorization: Bearer <access token> is required")?;
    let claims = tenant.key().verify(token).ok_or("invalid signature")?;
    // The issuer the token was asked for under: plain, or the `https`
    // twin behind a TLS-terminating proxy (see `Tenant::origin`).
    let issuer_ok = [tenant.issuer(false), tenant.issuer(true)]
        .iter()
        .any(|issuer| claims["iss"] == json!(issuer));
    if !issuer_ok {
        return Err("wrong issuer");
    }
    let accepted = [
        audience(tenant.base_url()),
        format!("{}/userinfo", tenant.base_url()),
    ];
    if !crate::session::audience_matches(&claims["aud"], |aud| accepted.iter().any(|a| a == aud)) {
        return Err("wrong audience");
    }
    match claims["exp"].as_u64() {
        Some(exp) if exp > unix_now() => {}
        _ => return Err("the access token is expired"),
    }
    if !claims["sub"].is_string() {
        return Err("no subject");
    }
    Ok(claims)
}

/// RFC 6750 §3: `401` with the reason in `WWW-Authenticate` and the body.
fn invalid_token(description: &str) -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer error="invalid_token""#),
        ))
        .json(json!({"error": "invalid_token", "error_description": description}))
}
