//! How a login-completing call (`/login/verify`, `/login/callback`,
//! `/mfa/verify`, `/passkey/verify`) answers: the tokens, or in cookie mode
//! the session cookie with `{"user", "expires_at"}`, once the id_token is
//! checked against the tenant and the client. Apart from the `/session`
//! handlers because the login routes answer through it, not through them.

use actix_web::{HttpRequest, HttpResponse};

use super::{with_cookies, SessionAnswer};
use crate::auth0::{TokenSet, UpstreamError};
use crate::error::ApiError;
use crate::routes::no_store_json;
use crate::session::{id_claims, opted_in};
use crate::state::AppState;

/// The tenant's issuer as its id_tokens name it: the domain URL with `/`.
pub(super) fn issuer(state: &AppState) -> String {
    format!("{}/", state.settings.auth0.base_url.trim_end_matches('/'))
}

pub(super) fn id_token_mismatch(reason: &'static str) -> ApiError {
    tracing::warn!(
        event = "id_token_mismatch",
        reason,
        "Auth0's id_token does not match the tenant or client"
    );
    ApiError::upstream_error()
}

/// How a login-completing call answers. Without `X-Lgw-Session: 1` (or
/// with sessions off): the tokens, as before. With it: the session cookie
/// and `{"user", "expires_at"}`; a `403 mfa_required` keeps its body but
/// the mfa_token goes into the short-lived `-mfa` cookie instead.
pub(in crate::routes) fn complete_login(
    state: &AppState,
    req: &HttpRequest,
    answer: Result<TokenSet, UpstreamError>,
) -> Result<HttpResponse, ApiError> {
    let Some(sessions) = state.sessions.as_ref().filter(|_| opted_in(req)) else {
        return Ok(no_store_json(&answer?));
    };
    let tokens = match answer {
        Ok(tokens) => tokens,
        Err(UpstreamError::MfaRequired(details)) => {
            let cookies = sessions.store_mfa_token(req, details.mfa_token.expose());
            let mut error = ApiError::mfa_required(details);
            error.mfa_token_sealed = true;
            error.set_cookies(cookies);
            return Err(error);
        }
        Err(error) => return Err(error.into()),
    };
    let claims = id_claims(
        tokens.id_token.as_ref().map(|t| t.expose()),
        &issuer(state),
        &state.settings.auth0.client_id,
    )
    .map_err(id_token_mismatch)?;
    let mut data = sessions.start(
        tokens
            .refresh_token
            .as_ref()
            .map(|t| t.expose().to_string()),
        tokens.access_token.expose().to_string(),
        tokens.expires_in,
        tokens.scope.clone(),
        claims,
    );
    let mut cookies = sessions.store(req, &mut data);
    // The second factor is passed: the mfa_token's cookie has done its job.
    cookies.extend(sessions.clear_mfa_if_present(req));
    let answer = no_store_json(&SessionAnswer {
        user: &data.user,
        expires_at: data.expires_at,
        recovery_code: tokens.recovery_code.as_ref().map(|c| c.expose()),
    });
    Ok(with_cookies(answer, cookies))
}
