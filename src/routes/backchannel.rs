//! `POST /session/backchannel-logout` (SPEC §12): Auth0 tells the gateway
//! that a user's Auth0 session ended (a sign-out elsewhere, a password
//! change, an admin), and the cookie sessions born of it end too. The
//! token is checked by [`crate::session::logout_token`]; this handler reads
//! the form, marks what the token names and answers. No cookie, CSRF
//! header or CORS applies: the caller is Auth0's server, not a browser.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::ToSchema;

use super::paths;
use crate::body::RawBody;
use crate::error::ApiError;
use crate::session::logout_token::LogoutTokenError;
use crate::session::revocation::{masked_sub, Marker, Reason};
use crate::state::AppState;

/// The form Auth0 posts (OIDC Back-Channel Logout 1.0 §2.5).
#[derive(ToSchema)]
#[schema(as = BackchannelLogoutForm)]
#[allow(dead_code)] // the document's view of the form the handler reads
pub struct BackchannelLogoutForm {
    /// The logout token: a JWT Auth0 signs (RS256) under a key of the
    /// tenant's JWKS.
    #[schema(
        example = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJpc3MiOiJodHRwczovL3RlbmFudC5leGFtcGxlLyJ9.c2ln"
    )]
    logout_token: String,
}

/// Back-channel logout (Auth0 calls this)
///
/// OIDC Back-Channel Logout: Auth0 posts `logout_token=<JWT>`
/// form-encoded when a user's Auth0 session ends. The token must be RS256
/// under a key of `{auth0.domain}/.well-known/jwks.json`, name the tenant
/// (`iss`) and this client (`aud`), carry the back-channel logout event, no
/// `nonce`, an `iat` not in the future, and a `sid` or `sub` (SPEC §12).
/// With `sid`, every gateway session of that Auth0 session ends; with only
/// `sub`, every session of the user that began at or before `iat`. Served
/// only with `session.backchannel_logout = true` (else `404`).
#[utoipa::path(
    post,
    path = paths::SESSION_BACKCHANNEL_LOGOUT,
    tag = "session",
    operation_id = "sessionBackchannelLogout",
    security(()),
    request_body(content = BackchannelLogoutForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 204, description = "The sessions the token names are ended (`Cache-Control: no-store`)."),
    ),
)]
pub async fn backchannel_logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let Some(verifier) = state.backchannel.as_ref() else {
        return Err(ApiError::not_found());
    };
    let token = logout_token(&req, &body.0).inspect_err(|_| record("invalid"))?;
    let claims = match verifier.verify(&token).await {
        Ok(claims) => claims,
        Err(LogoutTokenError::Invalid(reason)) => {
            record("invalid");
            tracing::info!(
                event = "backchannel_logout_refused",
                reason,
                "a logout token was refused"
            );
            return Err(ApiError::invalid_request("the logout_token is not valid"));
        }
        Err(LogoutTokenError::JwksUnavailable) => {
            record("jwks_unavailable");
            tracing::warn!(
                event = "backchannel_logout_jwks_unavailable",
                "the tenant's key set could not be fetched for a logout token"
            );
            return Err(ApiError::upstream_error());
        }
    };
    // `sid` ends exactly that Auth0 session; `sub` alone ends the user's
    // sessions up to the moment Auth0 issued the token.
    let marker = match (&claims.sid, &claims.sub) {
        (Some(sid), _) => Marker::Sid(sid),
        (None, Some(sub)) => Marker::Sub {
            sub,
            at: claims.iat,
        },
        (None, None) => {
            record("invalid");
            return Err(ApiError::invalid_request("the logout_token is not valid"));
        }
    };
    // `closed` and Redis down: 503, so that Auth0 records the failure (the
    // marker holds on this replica only).
    state
        .revocations
        .mark(marker, Reason::Backchannel)
        .await
        .inspect_err(|_| record("store_unavailable"))?;
    record("ok");
    tracing::info!(
        event = "backchannel_logout",
        sub = claims.sub.as_deref().map(masked_sub).as_deref(),
        by_sid = claims.sid.is_some(),
        "Auth0 ended a session; its cookie sessions are revoked"
    );
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")))
        .finish())
}

/// The one `logout_token` of an `application/x-www-form-urlencoded` body.
fn logout_token(req: &HttpRequest, body: &[u8]) -> Result<String, ApiError> {
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<mime::Mime>().ok())
        .is_some_and(|mime| mime.essence_str() == "application/x-www-form-urlencoded");
    if !form {
        return Err(ApiError::invalid_request(
            "the body must be application/x-www-form-urlencoded with logout_token",
        ));
    }
    let mut tokens = url::form_urlencoded::parse(body)
        .filter(|(name, _)| name == "logout_token")
        .map(|(_, value)| value.into_owned());
    match (tokens.next(), tokens.next()) {
        (Some(token), None) if !token.is_empty() => Ok(token),
        _ => Err(ApiError::invalid_request("logout_token is required, once")),
    }
}

fn record(outcome: &'static str) {
    crate::metrics::record_backchannel_logout(outcome);
}
