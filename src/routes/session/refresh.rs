//! Keeping a cookie session's access tokens fresh (SPEC §10): a refresh at
//! Auth0 when the session's token is about to expire, shared by every
//! concurrent refresh of the same refresh token (single-flight), and the
//! tokens for other audiences (`/api` targets, the My Account token of
//! `/passkey/enroll*`) kept in the cookie. Apart from the handlers because
//! `/session/token`, `/session/refresh`, `/api` and `/passkey/enroll` all
//! take their tokens from here.

use actix_web::http::header::HeaderValue;
use actix_web::{web, HttpRequest};

use super::login_answer::{id_token_mismatch, issuer};
use crate::auth0::{Caller, TokenGrant, TokenSet, UpstreamError};
use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::session::{unix_now, user_claims, SessionData, Sessions};
use crate::state::AppState;

/// An access token this close to its expiry is refreshed first.
const REFRESH_MARGIN_SECS: u64 = 60;

/// Refreshes `data` when its access token is within
/// [`REFRESH_MARGIN_SECS`] of expiry; whether it did.
pub(super) async fn ensure_fresh(
    state: &web::Data<AppState>,
    sessions: &Sessions,
    req: &HttpRequest,
    ip: ClientIp,
    data: &mut SessionData,
) -> Result<bool, ApiError> {
    if data.access_expires_at > unix_now() + REFRESH_MARGIN_SECS {
        return Ok(false);
    }
    refresh(state, sessions, req, ip, data).await?;
    Ok(true)
}

/// One refresh at Auth0 with the sealed refresh token, shared with every
/// concurrent refresh of the same token (two tabs, `/session/token` and
/// `/api` racing: SPEC §10 single-flight). The session ends (`401
/// session_expired`, cookies cleared) when there is no refresh token or
/// Auth0 answers `invalid_grant`: Auth0 does not say how long a refresh
/// token lives, so its first refusal is the end.
pub(super) async fn refresh(
    state: &web::Data<AppState>,
    sessions: &Sessions,
    req: &HttpRequest,
    ip: ClientIp,
    data: &mut SessionData,
) -> Result<(), ApiError> {
    let tokens = refresh_grant(state, sessions, req, ip, data, None, None).await?;
    let auth0 = &state.settings.auth0;
    if let Some(id_token) = tokens.id_token.as_ref() {
        data.user = user_claims(Some(id_token.expose()), &issuer(state), &auth0.client_id)
            .map_err(id_token_mismatch)?;
    }
    data.access_token = tokens.access_token.expose().to_string();
    data.access_expires_at = unix_now() + tokens.expires_in;
    if let Some(rotated) = tokens.refresh_token {
        data.refresh_token = Some(rotated.expose().to_string());
    }
    if tokens.scope.is_some() {
        data.scope = tokens.scope;
    }
    Ok(())
}

/// The access token for an `/api` call and the `Set-Cookie` values that
/// reseal the session (`data`, read by the route) when it changed: the
/// session's own token (refreshed within 60 s of expiry), or, for an API
/// with an `audience`, one from a refresh for that audience, kept in the
/// cookie until it nears expiry.
pub(in crate::routes) async fn api_token(
    state: &web::Data<AppState>,
    sessions: &Sessions,
    req: &HttpRequest,
    ip: ClientIp,
    data: &mut SessionData,
    audience: Option<&str>,
) -> Result<(String, Vec<HeaderValue>), ApiError> {
    let (token, changed) = match audience {
        None => {
            let refreshed = ensure_fresh(state, sessions, req, ip, data).await?;
            (data.access_token.clone(), refreshed)
        }
        Some(audience) => audience_token(state, sessions, req, ip, data, audience, None).await?,
    };
    Ok((token, sessions.reseal(req, data, changed)))
}

/// An access token for `audience` (with `scope`, when given) from a
/// refresh of the session's refresh token (Auth0 multi-resource refresh
/// tokens), kept in the cookie under [`audience_token_key`] until it nears
/// expiry; and whether `data` changed (a new token, a rotated refresh
/// token), so the caller reseals. `/api` targets with their own audience
/// and the My Account token of `/passkey/enroll*` come from here.
pub(in crate::routes) async fn audience_token(
    state: &web::Data<AppState>,
    sessions: &Sessions,
    req: &HttpRequest,
    ip: ClientIp,
    data: &mut SessionData,
    audience: &str,
    scope: Option<&str>,
) -> Result<(String, bool), ApiError> {
    let now = unix_now();
    let key = audience_token_key(audience, scope);
    if let Some(kept) = data.api_tokens.get(&key) {
        if kept.expires_at > now + REFRESH_MARGIN_SECS {
            return Ok((kept.access_token.clone(), false));
        }
    }
    let tokens = refresh_grant(state, sessions, req, ip, data, Some(audience), scope).await?;
    let token = tokens.access_token.expose().to_string();
    if let Some(rotated) = tokens.refresh_token {
        data.refresh_token = Some(rotated.expose().to_string());
    }
    data.api_tokens.insert(
        key,
        crate::session::ApiToken {
            access_token: token.clone(),
            expires_at: now + tokens.expires_in,
        },
    );
    Ok((token, true))
}

/// Where [`audience_token`] keeps a token in the cookie: the audience
/// alone (as `/api` targets always have), or with the scope asked for,
/// so a token for fewer scopes is never handed out for more.
pub(in crate::routes) fn audience_token_key(audience: &str, scope: Option<&str>) -> String {
    match scope {
        None => audience.to_string(),
        Some(scope) => format!("{audience} scope={scope}"),
    }
}

/// Auth0's answer to a refresh of the session's token, for its own
/// audience or an API's (with `scope`, when given), through the
/// single-flight.
async fn refresh_grant(
    state: &web::Data<AppState>,
    sessions: &Sessions,
    req: &HttpRequest,
    ip: ClientIp,
    data: &SessionData,
    audience: Option<&str>,
    scope: Option<&str>,
) -> Result<TokenSet, ApiError> {
    let Some(refresh_token) = data.refresh_token.clone() else {
        return Err(ApiError::session_expired(sessions.clear_all(req)));
    };
    let key = state.refresh_flights.key(&refresh_token, scope, audience);
    let upstream = state.clone();
    let audience = audience.map(str::to_owned);
    let scope = scope.map(str::to_owned);
    let answer = state
        .refresh_flights
        .refresh(key, move || async move {
            let grant = TokenGrant::RefreshToken {
                refresh_token: &refresh_token,
                scope: scope.as_deref(),
                audience: audience.as_deref(),
            };
            let caller = Caller {
                ip: ip.0,
                language: None,
            };
            upstream.auth0.token_grant(caller, &grant).await
        })
        .await;
    match answer {
        Ok(tokens) => Ok(tokens),
        Err(UpstreamError::Rejected { code, .. }) if code == "invalid_grant" => {
            Err(ApiError::session_expired(sessions.clear_all(req)))
        }
        Err(error) => Err(error.into()),
    }
}
