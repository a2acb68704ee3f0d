//! `POST /passkey/enroll` and `POST /passkey/enroll/verify` (SPEC §11): a
//! signed-in user adds a passkey to their account through Auth0's My
//! Account API.
//!
//! The My Account API takes the user's own access token for
//! `https://{domain}/me/` with `create:me:authentication_methods`:
//! - token mode: the app's `Authorization: Bearer`, passed through as it
//!   is (the app gets it from `POST /token/refresh` with that audience);
//! - cookie mode: the session's, from a refresh with that audience and
//!   scope (Auth0 multi-resource refresh tokens), kept in the sealed
//!   cookie like an `/api` target's token (`session::audience_token`: the
//!   same single-flight and reseal), under §10's CSRF rule (the scope
//!   guard).
//!
//! A call with both a bearer and the session cookie is token mode: the
//! bearer names exactly whose account it is, and a cross-site page cannot
//! set `Authorization` without a CORS preflight. It still needs the CSRF
//! proof, as every call carrying the cookie does.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::credential::NewPasskeyCredential;
use crate::auth0::my_account::{self, MAX_OPAQUE_CHARS, SCOPE_CREATE_AUTHENTICATION_METHODS};
use crate::auth0::UpstreamError;
use crate::body::{JsonBody, OptionalJsonBody};
use crate::client_ip::ClientIp;
use crate::domain::visible_ascii;
use crate::error::ApiError;
use crate::routes::mfa::parse_bearer;
use crate::routes::session::{audience_token, audience_token_key, current, with_cookies};
use crate::routes::{caller, no_store_json, paths, scoped_resource};
use crate::secret::Sensitive;
use crate::session::{opted_in, SessionData, Sessions};
use crate::state::AppState;

crate::redacted_debug!(EnrollVerifyRequest);

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        scoped_resource(super::SCOPE, paths::PASSKEY_ENROLL, "POST").route(web::post().to(enroll)),
    )
    .service(
        scoped_resource(super::SCOPE, paths::PASSKEY_ENROLL_VERIFY, "POST")
            .route(web::post().to(enroll_verify)),
    );
}

/// `POST /passkey/enroll` takes no parameters: `{}`, or no body at all.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasskeyEnrollRequest, examples(json!({})))]
pub struct EnrollRequest {}

/// The credential `navigator.credentials.create` made for the started
/// enrollment, with what `POST /passkey/enroll` answered.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasskeyEnrollVerifyRequest, examples(json!({
    "id": "passkey|dev_Ahx4AKyCdjY3hVnO",
    "auth_session": "rxBhVQXXt5hHmV2nY9Mt8M2F1p1kT7vQ",
    "credential": {
        "id": "AQIDBAUGBwgJCgsMDQ4PEA",
        "rawId": "AQIDBAUGBwgJCgsMDQ4PEA",
        "type": "public-key",
        "authenticatorAttachment": "platform",
        "clientExtensionResults": {},
        "response": {
            "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoieTJiTjBlOUhxMG1JWXRXR280YTJuQSIsIm9yaWdpbiI6Imh0dHBzOi8vYXBwLmV4YW1wbGUuY29tIn0",
            "attestationObject": "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YViUDGygg5w6VoNVeDP2GKJVZmXfKgiJZHh9U4ULStTTvtxFAAAAAAAAAAAAAAAAAAAAAAAAAAAAEAECAwQFBgcICQoLDA0ODxClAQIDJiABIVggAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAiWCAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "transports": ["internal", "hybrid"]
        }
    }
})))]
pub struct EnrollVerifyRequest {
    /// `id` from `POST /passkey/enroll`: 1–2048 visible ASCII characters.
    #[schema(pattern = r"^[\x21-\x7E]{1,2048}$", min_length = 1, max_length = 2048)]
    pub id: String,
    /// `auth_session` from `POST /passkey/enroll`: 1–2048 visible ASCII
    /// characters.
    #[schema(pattern = r"^[\x21-\x7E]{1,2048}$", min_length = 1, max_length = 2048)]
    pub auth_session: String,
    /// The new passkey (`PublicKeyCredential.toJSON()`), checked strictly
    /// and sent to Auth0 as `authn_response` exactly as it came.
    #[schema(value_type = NewPasskeyCredential)]
    pub credential: Value,
}

/// A started enrollment: create the passkey with `public_key`, then send
/// it with `id` and `auth_session` to `POST /passkey/enroll/verify`.
#[derive(Serialize, ToSchema)]
#[schema(as = PasskeyEnrollResponse, examples(json!({
    "id": "passkey|dev_Ahx4AKyCdjY3hVnO",
    "auth_session": "rxBhVQXXt5hHmV2nY9Mt8M2F1p1kT7vQ",
    "public_key": {
        "challenge": "x7Tq3mJ0bXxRrYcEwq2aRg",
        "rp": {"id": "login.example.com", "name": "Example"},
        "user": {"id": "Zm9vYmFyLXVzZXItaWQ", "name": "jane@example.com", "displayName": "Jane"},
        "pubKeyCredParams": [{"type": "public-key", "alg": -8}, {"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
        "authenticatorSelection": {"residentKey": "required", "userVerification": "required"},
        "timeout": 60000
    }
})))]
pub struct EnrollResponse {
    /// The new authentication method's id (Auth0's `Location`, decoded):
    /// echo it to `POST /passkey/enroll/verify`.
    #[schema(
        pattern = r"^[\x21-\x7E]{1,2048}$",
        min_length = 1,
        max_length = 2048,
        examples("passkey|dev_Ahx4AKyCdjY3hVnO")
    )]
    pub id: String,
    /// Echo it to `POST /passkey/enroll/verify`; it lives as long as
    /// `public_key.timeout` says. A credential: keep it in memory only.
    #[schema(value_type = String, pattern = r"^[\x21-\x7E]{1,2048}$", min_length = 1, max_length = 2048)]
    pub auth_session: Sensitive,
    #[schema(value_type = super::schemas::PasskeyCreationOptions)]
    pub public_key: Map<String, Value>,
}

/// The `X-Lgw-Session` parameter of both operations.
const CSRF_HEADER_DOC: &str = "Exactly `1` whenever the call carries the session cookie: the \
    CSRF proof (SPEC §10); without it such a call is `403 csrf_failed`.";

/// Start adding a passkey
///
/// For a signed-in user: Auth0's My Account API starts a passkey
/// enrollment on `passkey.connection`. Token mode: `Authorization: Bearer
/// <access token for https://{domain}/me/ with
/// create:me:authentication_methods>` (get one from `POST /token/refresh`
/// with that `audience` and `scope`). Cookie mode: the session cookie
/// (and `X-Lgw-Session: 1`); the gateway gets the My Account token itself
/// and keeps it in the cookie. A bearer wins over the cookie. Hand
/// `public_key` to `navigator.credentials.create` (decode `challenge` and
/// `user.id` from base64url), then send the credential with `id` and
/// `auth_session` to `POST /passkey/enroll/verify`.
#[utoipa::path(
    post,
    path = paths::PASSKEY_ENROLL,
    tag = "passkey",
    operation_id = "passkeyEnroll",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("X-Lgw-Session" = Option<String>, Header, description = CSRF_HEADER_DOC, example = "1")),
    // Optional (no body, an empty one or `{}`): `openapi::document` marks it so.
    request_body(content = EnrollRequest, content_type = "application/json", description = "Optional: no body, an empty one or `{}`."),
    responses(
        (status = 200, description = "Enrollment started.", body = EnrollResponse, headers(
            ("Cache-Control" = String, description = "`no-store`: the body holds the enrollment's `auth_session`."),
            ("Pragma" = String, description = "`no-cache`."),
        )),
    ),
)]
async fn enroll(
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
    _body: OptionalJsonBody<EnrollRequest>,
) -> Result<HttpResponse, ApiError> {
    let access = Access::open(&state, &req, ip).await?;
    let started = state
        .auth0
        .start_passkey_enrollment(
            caller(ip, None, &req),
            access.token(),
            &state.settings.passkey.connection,
        )
        .await;
    let answer = started.map(|started| {
        no_store_json(&EnrollResponse {
            id: started.id,
            auth_session: started.auth_session,
            public_key: started.public_key,
        })
    });
    access.answer(&state, &req, answer)
}

/// Finish adding a passkey
///
/// Sends the new credential to Auth0's My Account API, which checks the
/// attestation and adds the passkey to the user's account. Same bearer or
/// session cookie as `POST /passkey/enroll`. The credential is checked
/// strictly (shape, base64url, sizes) before Auth0 is called.
#[utoipa::path(
    post,
    path = paths::PASSKEY_ENROLL_VERIFY,
    tag = "passkey",
    operation_id = "passkeyEnrollVerify",
    security(("bearer" = []), ("session_cookie" = [])),
    params(("X-Lgw-Session" = Option<String>, Header, description = CSRF_HEADER_DOC, example = "1")),
    request_body(content = EnrollVerifyRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The passkey was added.", body = crate::auth0::EnrolledPasskey, headers(
            ("Cache-Control" = String, description = "`no-store`."),
            ("Pragma" = String, description = "`no-cache`."),
        )),
    ),
)]
async fn enroll_verify(
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
    body: JsonBody<EnrollVerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let id = opaque("id", &body.id)?;
    let auth_session = opaque("auth_session", &body.auth_session)?;
    let credential = NewPasskeyCredential::parse("credential", body.credential)?;
    let access = Access::open(&state, &req, ip).await?;
    let enrolled = state
        .auth0
        .verify_passkey_enrollment(
            caller(ip, None, &req),
            access.token(),
            id.expose(),
            auth_session.expose(),
            credential.json(),
        )
        .await;
    access.answer(
        &state,
        &req,
        enrolled.map(|passkey| {
            let mut answer = no_store_json(&passkey);
            *answer.status_mut() = StatusCode::CREATED;
            answer
        }),
    )
}

/// An `id` or `auth_session`: 1–2048 visible ASCII. An id of `.` or `..`
/// could not stay one segment of Auth0's path.
fn opaque(field: &str, raw: &str) -> Result<Sensitive, ApiError> {
    if matches!(raw, "." | "..") {
        return Err(ApiError::invalid_request(format!(
            "{field} must not be a dot segment"
        )));
    }
    visible_ascii(field, raw, MAX_OPAQUE_CHARS).map_err(ApiError::invalid_request)
}

/// The My Account token a call adds the passkey with.
enum Access {
    /// Token mode: the app's bearer, passed through.
    Bearer(Sensitive),
    /// Cookie mode: the session's token, and the session to reseal.
    Session {
        token: String,
        data: Box<SessionData>,
        /// A refresh changed the session (new token, rotated refresh
        /// token): the answer must carry the resealed cookie.
        changed: bool,
    },
}

impl Access {
    /// A bearer when the call has `Authorization`; else the session when
    /// sessions are on and the call carries the cookie or opts in with
    /// `X-Lgw-Session: 1` (so a cookie-mode app whose cookie is gone
    /// hears `session_expired`); else `401 unauthorized`. Nothing is
    /// sent anywhere before this has decided.
    async fn open(
        state: &web::Data<AppState>,
        req: &HttpRequest,
        ip: ClientIp,
    ) -> Result<Self, ApiError> {
        if let Some(authorization) = req.headers().get(header::AUTHORIZATION) {
            return parse_bearer(Some(authorization)).map(|bearer| Self::Bearer(bearer.0));
        }
        let Some(sessions) = cookie_mode(state, req) else {
            return Err(ApiError::unauthorized(
                "Authorization: Bearer <access token for the My Account API> is required \
                 (or, in cookie mode, the session cookie)",
            ));
        };
        let mut data = current(state, sessions, req).await?;
        let audience = my_account::audience(&state.settings.auth0.base_url);
        let (token, changed) = audience_token(
            state,
            sessions,
            req,
            ip,
            &mut data,
            &audience,
            Some(SCOPE_CREATE_AUTHENTICATION_METHODS),
        )
        .await?;
        Ok(Self::Session {
            token,
            data: Box::new(data),
            changed,
        })
    }

    fn token(&self) -> &str {
        match self {
            Self::Bearer(token) => token.expose(),
            Self::Session { token, .. } => token,
        }
    }

    /// The client's answer. Cookie mode reseals the session whatever Auth0
    /// said (a refresh may have rotated the refresh token; losing it would
    /// replay the old one), and forgets the kept token when Auth0 refused
    /// it (`401`/`403`), so the next call asks for a new one instead of
    /// failing until it expires.
    fn answer(
        self,
        state: &AppState,
        req: &HttpRequest,
        outcome: Result<HttpResponse, UpstreamError>,
    ) -> Result<HttpResponse, ApiError> {
        let Self::Session {
            mut data,
            mut changed,
            ..
        } = self
        else {
            return Ok(outcome?);
        };
        let Some(sessions) = state.sessions.as_ref() else {
            return Ok(outcome?);
        };
        if let Err(UpstreamError::Rejected { status, .. }) = &outcome {
            if matches!(*status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                let audience = my_account::audience(&state.settings.auth0.base_url);
                let key = audience_token_key(&audience, Some(SCOPE_CREATE_AUTHENTICATION_METHODS));
                changed |= data.api_tokens.remove(&key).is_some();
            }
        }
        let cookies: Vec<HeaderValue> = sessions.reseal(req, &mut data, changed);
        match outcome {
            Ok(answer) => Ok(with_cookies(answer, cookies)),
            Err(error) => {
                let mut error = ApiError::from(error);
                error.set_cookies(cookies);
                Err(error)
            }
        }
    }
}

/// The sessions, when this call is in cookie mode.
fn cookie_mode<'a>(state: &'a AppState, req: &HttpRequest) -> Option<&'a Sessions> {
    state
        .sessions
        .as_ref()
        .filter(|sessions| sessions.carries_cookie(req) || opted_in(req))
}
