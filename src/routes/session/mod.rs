//! Cookie-session routes (SPEC §10): `GET /session`, `POST
//! /session/refresh`, `POST /session/logout`, `GET /session/token`, and
//! [`complete_login`], which the login-completing calls (`/login/verify`,
//! `/login/callback`, `/mfa/verify`) answer through. While
//! `session.enabled = false` the routes are `404` and `X-Lgw-Session` is
//! ignored.
//!
//! This file has the route table, the annotated handlers and what they
//! share (the current session, its answers); [`refresh`] keeps the
//! session's tokens fresh and [`login_answer`] has [`complete_login`].

mod login_answer;
mod refresh;

pub(super) use login_answer::complete_login;
pub(super) use refresh::{api_token, audience_token, audience_token_key};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{caller, no_store_json, paths, scoped_resource};
use crate::body::OptionalJsonBody;
use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::session::revocation::{masked_sub, Marker, Reason, Verdict};
use crate::session::{unix_now, Found, SessionData, Sessions};
use crate::state::AppState;
use refresh::{ensure_fresh, refresh};

pub const SCOPE: &str = "/session";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(scoped_resource(SCOPE, paths::SESSION, "GET").route(web::get().to(get_session)))
        .service(
            scoped_resource(SCOPE, paths::SESSION_REFRESH, "POST")
                .route(web::post().to(refresh_session)),
        )
        .service(
            scoped_resource(SCOPE, paths::SESSION_LOGOUT, "POST").route(web::post().to(logout)),
        )
        .service(
            scoped_resource(SCOPE, paths::SESSION_TOKEN, "GET").route(web::get().to(session_token)),
        )
        .service(
            scoped_resource(SCOPE, paths::SESSION_BACKCHANNEL_LOGOUT, "POST")
                .route(web::post().to(super::backchannel::backchannel_logout)),
        );
}

/// The profile claims of the session's id_token (those present).
#[derive(ToSchema)]
#[schema(as = SessionUser, examples(json!({"sub": "email|64d2b0c1e9f3a1b2c3d4e5f6", "email": "jane@example.com", "email_verified": true})))]
#[allow(dead_code)] // the document's view of `SessionAnswer::user`
pub struct SessionUserSchema {
    #[schema(nullable = false)]
    sub: Option<String>,
    #[schema(nullable = false)]
    email: Option<String>,
    #[schema(nullable = false)]
    email_verified: Option<bool>,
    #[schema(nullable = false)]
    phone_number: Option<String>,
    #[schema(nullable = false)]
    name: Option<String>,
    #[schema(nullable = false)]
    picture: Option<String>,
}

/// A cookie-mode answer: who is signed in and until when; no token.
#[derive(ToSchema)]
#[schema(as = SessionInfo, examples(json!({"user": {"sub": "email|64d2b0c1e9f3a1b2c3d4e5f6", "email": "jane@example.com"}, "expires_at": 1767225600})))]
#[allow(dead_code)] // the document's view of `SessionAnswer`
pub struct SessionInfoSchema {
    user: SessionUserSchema,
    /// The session's absolute end (unix seconds): login + `session.max_age_secs`.
    expires_at: u64,
    /// After a recovery-code login: the new recovery code, shown once.
    #[schema(nullable = false)]
    recovery_code: Option<String>,
}

/// `GET /session/token`: the session's access token.
#[derive(ToSchema)]
#[schema(as = SessionToken, examples(json!({"access_token": "eyJhbGciOiJSUzI1NiIs…", "expires_in": 86340})))]
#[allow(dead_code)] // the document's view of `TokenAnswer`
pub struct SessionTokenSchema {
    access_token: String,
    /// Seconds until it expires.
    expires_in: u64,
}

/// Who is signed in, and until when.
#[derive(Serialize)]
pub struct SessionAnswer<'a> {
    pub user: &'a serde_json::Map<String, serde_json::Value>,
    pub expires_at: u64,
    /// After a recovery-code login: the new code (shown once).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<&'a str>,
}

pub fn sessions(state: &AppState) -> Result<&Sessions, ApiError> {
    state.sessions.as_ref().ok_or_else(ApiError::not_found)
}

/// The request's session, or `401 session_expired` (clearing a cookie that
/// does not open). Every call that opens the session cookie comes here
/// first, before any refresh, Auth0 or API call: a revocation marker that
/// matches (SPEC §12) is `401 session_expired` with every session cookie
/// cleared, and `503 session_store_unavailable` when the fleet's markers
/// cannot be read under `on_error = "closed"`.
pub async fn current(
    state: &AppState,
    sessions: &Sessions,
    req: &HttpRequest,
) -> Result<SessionData, ApiError> {
    let data = match sessions.read(req) {
        Found::Open(data) => data,
        Found::None => return Err(ApiError::session_expired(Vec::new())),
        Found::Broken => return Err(ApiError::session_expired(sessions.clear_session(req))),
    };
    match state.revocations.check(&data).await {
        Verdict::Live => Ok(data),
        Verdict::Revoked => Err(ApiError::session_expired(sessions.clear_all(req))),
        Verdict::Unavailable => Err(ApiError::session_store_unavailable()),
    }
}

pub fn with_cookies(mut answer: HttpResponse, cookies: Vec<HeaderValue>) -> HttpResponse {
    for cookie in cookies {
        answer.headers_mut().append(header::SET_COOKIE, cookie);
    }
    answer
}

fn session_answer(data: &SessionData) -> HttpResponse {
    no_store_json(&SessionAnswer {
        user: &data.user,
        expires_at: data.expires_at,
        recovery_code: None,
    })
}

/// Read the session
///
/// Cookie mode (SPEC §10): the signed-in user and the session's absolute
/// end, from the sealed `__Host-lgw` cookie; `401 session_expired` without
/// one (or with one that does not open, which the answer clears). Needs no
/// `X-Lgw-Session` header (it changes nothing).
#[utoipa::path(
    get,
    path = paths::SESSION,
    tag = "session",
    operation_id = "sessionGet",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Signed in.", body = SessionInfoSchema),
    ),
)]
async fn get_session(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let sessions = sessions(&state)?;
    let mut data = current(&state, sessions, &req).await?;
    let answer = session_answer(&data);
    let cookies = sessions.reseal(&req, &mut data, false);
    Ok(with_cookies(answer, cookies))
}

/// Refresh the session
///
/// New tokens from the sealed refresh token (concurrent refreshes share one
/// Auth0 call); the cookie is resealed. Auth0's `invalid_grant` ends the
/// session: `401 session_expired`, cookies cleared.
#[utoipa::path(
    post,
    path = paths::SESSION_REFRESH,
    tag = "session",
    operation_id = "sessionRefresh",
    security(("session_cookie" = [])),
    params(("X-Lgw-Session" = Option<String>, Header, description = "Exactly `1` whenever the call carries the session cookie: the CSRF proof (SPEC §10); without it such a call is `403 csrf_failed`.", example = "1")),
    responses(
        (status = 200, description = "Refreshed and resealed.", body = SessionInfoSchema),
    ),
)]
async fn refresh_session(
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let sessions = sessions(&state)?;
    let mut data = current(&state, sessions, &req).await?;
    refresh(&state, sessions, &req, ip, &mut data).await?;
    let cookies = sessions.store(&req, &mut data);
    Ok(with_cookies(session_answer(&data), cookies))
}

/// The current access token, refreshed first when it is about to expire.
#[derive(Serialize)]
struct TokenAnswer<'a> {
    access_token: &'a str,
    expires_in: u64,
}

/// Get the access token
///
/// For apps that must call APIs themselves: the session's access token,
/// refreshed first when it expires within 60 s.
#[utoipa::path(
    get,
    path = paths::SESSION_TOKEN,
    tag = "session",
    operation_id = "sessionToken",
    security(("session_cookie" = [])),
    params(("X-Lgw-Session" = Option<String>, Header, description = "Exactly `1` whenever the call carries the session cookie: the CSRF proof (SPEC §10); without it such a call is `403 csrf_failed`.", example = "1")),
    responses(
        (status = 200, description = "The access token.", body = SessionTokenSchema, headers(
            ("Cache-Control" = String, description = "`no-store`: the body holds a token."),
        )),
    ),
)]
async fn session_token(
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let sessions = sessions(&state)?;
    let mut data = current(&state, sessions, &req).await?;
    let refreshed = ensure_fresh(&state, sessions, &req, ip, &mut data).await?;
    let answer = no_store_json(&TokenAnswer {
        access_token: &data.access_token,
        expires_in: data.access_expires_at.saturating_sub(unix_now()),
    });
    let cookies = sessions.reseal(&req, &mut data, refreshed);
    Ok(with_cookies(answer, cookies))
}

/// `POST /session/logout`'s optional body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SessionLogoutRequest, examples(json!({"everywhere": true})))]
pub struct LogoutRequest {
    /// Also end every other session of this user, on every device and
    /// replica (SPEC §12); default `false`: this session only.
    #[serde(default)]
    pub everywhere: bool,
}

/// Sign out
///
/// Ends this session everywhere its cookie was copied (SPEC §12: its id is
/// marked as revoked, fleet-wide with Redis), revokes the sealed refresh
/// token at Auth0 and clears every session cookie. With
/// `{"everywhere": true}` every session of this user ends too, on every
/// device. The body is optional (none, empty, or `{}`: this session only).
/// Always `204` (a failed revoke is logged and counted in
/// `gateway_session_logout_revoke_failures_total`, not shown), also while
/// the shared session store is down (the marker then holds on this replica).
#[utoipa::path(
    post,
    path = paths::SESSION_LOGOUT,
    tag = "session",
    operation_id = "sessionLogout",
    // Always 204: signing out without a session (or with one that does not
    // open) is fine.
    security(("session_cookie" = []), ()),
    params(("X-Lgw-Session" = Option<String>, Header, description = "Exactly `1` whenever the call carries the session cookie: the CSRF proof (SPEC §10); without it such a call is `403 csrf_failed`.", example = "1")),
    // Optional (no body, an empty one or `{}`): `openapi::document` marks it so.
    request_body(content = LogoutRequest, content_type = "application/json", description = "Optional: no body, an empty one or `{}` end this session only."),
    responses(
        (status = 204, description = "Signed out: the cookies are cleared."),
    ),
)]
async fn logout(
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
    body: OptionalJsonBody<LogoutRequest>,
) -> Result<HttpResponse, ApiError> {
    let sessions = sessions(&state)?;
    let everywhere = body.into_inner().everywhere;
    let open = match sessions.read(&req) {
        Found::Open(data) => Some(data),
        Found::None | Found::Broken => None,
    };
    // A copy that is already revoked has no say any more: it must not end
    // the user's newer sessions ("everywhere") nor call Auth0. A store that
    // cannot be read does not stop a sign-out.
    let live = match open {
        Some(data) if state.revocations.check(&data).await != Verdict::Revoked => Some(data),
        _ => None,
    };
    if let Some(data) = live {
        end(&state, &data, everywhere).await;
        if let Some(refresh_token) = data.refresh_token.as_deref() {
            state.refresh_flights.forget(refresh_token).await;
            if let Err(error) = state
                .auth0
                .revoke(caller(ip, None, &req), refresh_token)
                .await
            {
                metrics::counter!("gateway_session_logout_revoke_failures_total").increment(1);
                tracing::warn!(
                    event = "session_logout_revoke_failed",
                    error = %ApiError::from(error),
                    "the session's refresh token could not be revoked at logout"
                );
            }
        }
    }
    Ok(with_cookies(
        HttpResponse::NoContent().finish(),
        sessions.clear_all(&req),
    ))
}

/// Marks a signed-out session (and, `everywhere`, its user) as revoked.
/// Sign-out answers 204 whatever the shared store says: the markers are on
/// this replica in any case.
async fn end(state: &AppState, data: &SessionData, everywhere: bool) {
    let mut markers = Vec::with_capacity(2);
    if let Some(id) = data.id.as_deref() {
        markers.push(Marker::SessionId(id));
    }
    let sub = data.sub().filter(|_| everywhere);
    if let Some(sub) = sub {
        markers.push(Marker::Sub {
            sub,
            at: unix_now(),
        });
    }
    if markers.is_empty() {
        return;
    }
    let reason = match sub {
        Some(_) => Reason::Everywhere,
        None => Reason::Logout,
    };
    // Err only under `on_error = "closed"`; the sign-out still succeeds.
    let _ = state.revocations.mark_all(&markers, reason).await;
    if let Some(sub) = sub {
        tracing::info!(
            event = "session_logout_everywhere",
            sub = %masked_sub(sub),
            "every session of this user was signed out"
        );
    }
}
