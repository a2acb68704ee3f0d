//! `/token/*`: refresh and revoke. Tokens issued to a confidential client can
//! only be refreshed or revoked with its secret, so the gateway does it.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

use super::login::allowed_scopes_plus;
use super::{caller, no_store_json, paths, scoped_resource};
use crate::auth0::my_account::{self, SCOPE_CREATE_AUTHENTICATION_METHODS};
use crate::auth0::{Caller, TokenGrant};
use crate::body::JsonBody;
use crate::client_ip::ClientIp;
use crate::domain::visible_ascii;
use crate::error::ApiError;
use crate::state::AppState;

crate::redacted_debug!(RefreshRequest, RevokeRequest);

/// Every route here sits under this scope (and its per-IP guard).
pub const SCOPE: &str = "/token";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        scoped_resource(SCOPE, paths::TOKEN_REFRESH, "POST").route(web::post().to(refresh)),
    )
    .service(scoped_resource(SCOPE, paths::TOKEN_REVOKE, "POST").route(web::post().to(revoke)));
}

/// Refresh tokens are opaque to the gateway; this bounds what it forwards.
const MAX_REFRESH_TOKEN_CHARS: usize = 4096;

/// A refresh token, and optionally fewer scopes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TokenRefreshRequest, examples(json!({"refresh_token": "v1.MRrT5fT7kq3yX0cUeC9pQ2"})))]
pub struct RefreshRequest {
    /// A refresh token issued through this gateway: 1–4096 visible ASCII characters.
    #[schema(pattern = r"^[\x21-\x7E]{1,4096}$", min_length = 1, max_length = 4096)]
    pub refresh_token: String,
    /// Space-separated scopes, each in `auth0.allowed_scopes` (with the My
    /// Account audience, `create:me:authentication_methods` too); default:
    /// the scopes of the original grant.
    #[schema(min_length = 1, examples("openid profile"))]
    pub scope: Option<String>,
    /// An access token for another API from the same refresh token (Auth0
    /// multi-resource refresh tokens; the application's refresh token
    /// policy must list it): `auth0.audience`, one of
    /// `auth0.allowed_audiences`, or, while passkeys are on, the My Account
    /// API `https://{domain}/me/` for `POST /passkey/enroll`. Default: the
    /// original grant's.
    #[schema(min_length = 1, examples("https://login.example.com/me/"))]
    pub audience: Option<String>,
}

/// Refresh the tokens
///
/// Tokens issued to a confidential client can only be refreshed with its
/// secret, so the gateway does it (grant `refresh_token`).
#[utoipa::path(
    post,
    path = paths::TOKEN_REFRESH,
    tag = "token",
    operation_id = "tokenRefresh",
    request_body(content = RefreshRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "New tokens.", body = crate::auth0::TokenSet, headers(
            ("Cache-Control" = String, description = "`no-store`: the body holds tokens."),
            ("Pragma" = String, description = "`no-cache`."),
        )),
    ),
)]
async fn refresh(
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
    body: JsonBody<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let refresh_token = parse_refresh_token(&body.refresh_token)?;
    let audience = refresh_audience(&state, body.audience.as_deref())?;
    let scope = match body.scope.as_deref() {
        Some(requested) => Some(allowed_scopes_plus(
            &state.settings.auth0,
            requested,
            audience.extra_scopes(),
        )?),
        None => None,
    };
    let audience = audience.into_inner();
    // Tabs racing on one refresh token share one Auth0 call and its answer
    // (SPEC §10): with rotation on, a second call presenting the rotated
    // token would make Auth0 revoke the whole token family.
    let key = state.refresh_flights.key(
        refresh_token.expose(),
        scope.as_deref(),
        audience.as_deref(),
    );
    let Caller { ip, language } = caller(ip, None, &req);
    let language = language.map(str::to_owned);
    let upstream = state.clone();
    let tokens = state
        .refresh_flights
        .refresh(key, move || async move {
            let grant = TokenGrant::RefreshToken {
                refresh_token: refresh_token.expose(),
                scope: scope.as_deref(),
                audience: audience.as_deref(),
            };
            let caller = Caller {
                ip,
                language: language.as_deref(),
            };
            upstream.auth0.token_grant(caller, &grant).await
        })
        .await?;
    Ok(no_store_json(&tokens))
}

/// The refresh token to revoke.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TokenRevokeRequest, examples(json!({"refresh_token": "v1.MRrT5fT7kq3yX0cUeC9pQ2"})))]
pub struct RevokeRequest {
    /// A refresh token issued through this gateway: 1–4096 visible ASCII characters.
    #[schema(pattern = r"^[\x21-\x7E]{1,4096}$", min_length = 1, max_length = 4096)]
    pub refresh_token: String,
}

/// Revoke a refresh token
///
/// Calls Auth0's `/oauth/revoke` with the client secret. Answers `{}`.
#[utoipa::path(
    post,
    path = paths::TOKEN_REVOKE,
    tag = "token",
    operation_id = "tokenRevoke",
    request_body(content = RevokeRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Revoked (Auth0 answers the same for an unknown token).", body = super::schemas::TokenRevokeResponse),
    ),
)]
async fn revoke(
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
    body: JsonBody<RevokeRequest>,
) -> Result<HttpResponse, ApiError> {
    let refresh_token = parse_refresh_token(&body.refresh_token)?;
    let revoked = state
        .auth0
        .revoke(caller(ip, None, &req), refresh_token.expose())
        .await;
    // Whatever Auth0 answered, a reused refresh result of this token must
    // not outlive the attempt to revoke it.
    state.refresh_flights.forget(refresh_token.expose()).await;
    revoked?;
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}

/// The audience a refresh asked for, and what it allows.
enum RefreshAudience {
    /// None asked for: the original grant's.
    Original,
    /// `auth0.audience` or one of `auth0.allowed_audiences`.
    Allowed(String),
    /// The My Account API, while passkeys are on: its token is what
    /// `POST /passkey/enroll` takes in token mode.
    MyAccount(String),
}

impl RefreshAudience {
    /// Scopes this audience allows beyond `auth0.allowed_scopes`: adding
    /// a passkey needs `create:me:authentication_methods`, which no other
    /// audience gets unless the operator lists it.
    fn extra_scopes(&self) -> &'static [&'static str] {
        match self {
            Self::MyAccount(_) => &[SCOPE_CREATE_AUTHENTICATION_METHODS],
            Self::Original | Self::Allowed(_) => &[],
        }
    }

    fn into_inner(self) -> Option<String> {
        match self {
            Self::Original => None,
            Self::Allowed(audience) | Self::MyAccount(audience) => Some(audience),
        }
    }
}

fn refresh_audience(
    state: &AppState,
    requested: Option<&str>,
) -> Result<RefreshAudience, ApiError> {
    let Some(audience) = requested else {
        return Ok(RefreshAudience::Original);
    };
    let auth0 = &state.settings.auth0;
    if audience.is_empty() {
        return Err(ApiError::invalid_request("audience must not be empty"));
    }
    if state.settings.passkey.enabled && audience == my_account::audience(&auth0.base_url) {
        return Ok(RefreshAudience::MyAccount(audience.to_string()));
    }
    if audience == auth0.audience || auth0.allowed_audiences.iter().any(|a| a == audience) {
        return Ok(RefreshAudience::Allowed(audience.to_string()));
    }
    Err(ApiError::invalid_request(
        "audience is not in the gateway's allowed audiences",
    ))
}

fn parse_refresh_token(raw: &str) -> Result<crate::secret::Sensitive, ApiError> {
    visible_ascii("refresh_token", raw, MAX_REFRESH_TOKEN_CHARS).map_err(ApiError::invalid_request)
}
