//! `/token/*`: refresh and revoke. Tokens issued to a confidential client can
//! only be refreshed or revoked with its secret, so the gateway does it.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::login::allowed_scope;
use super::{caller, no_store_json, resource};
use crate::auth0::TokenGrant;
use crate::client_ip::ClientIp;
use crate::domain::visible_ascii;
use crate::error::ApiError;
use crate::startup::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/token/refresh", "POST").route(web::post().to(refresh)))
        .service(resource("/token/revoke", "POST").route(web::post().to(revoke)));
}

/// Refresh tokens are opaque to the gateway; this bounds what it forwards.
const MAX_REFRESH_TOKEN_CHARS: usize = 4096;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
    pub scope: Option<String>,
}

async fn refresh(
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
    body: web::Json<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let refresh_token = visible_ascii(
        "refresh_token",
        &body.refresh_token,
        MAX_REFRESH_TOKEN_CHARS,
    )
    .map_err(ApiError::invalid_request)?;
    let scope = match body.scope.as_deref() {
        Some(requested) => Some(allowed_scope(&state.settings.auth0, Some(requested))?),
        None => None,
    };
    state.limits.check_ip(ip.0)?;
    let grant = TokenGrant::RefreshToken {
        refresh_token: refresh_token.expose(),
        scope: scope.as_deref(),
    };
    let tokens = state
        .auth0
        .token_grant(caller(ip, None, &req), &grant)
        .await?;
    Ok(no_store_json(&tokens))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    pub refresh_token: String,
}

async fn revoke(
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
    body: web::Json<RevokeRequest>,
) -> Result<HttpResponse, ApiError> {
    let refresh_token = visible_ascii(
        "refresh_token",
        &body.refresh_token,
        MAX_REFRESH_TOKEN_CHARS,
    )
    .map_err(ApiError::invalid_request)?;
    state.limits.check_ip(ip.0)?;
    state
        .auth0
        .revoke(caller(ip, None, &req), refresh_token.expose())
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}
