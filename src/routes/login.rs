//! `/login/*`: passwordless start, code verification, magic-link callback.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{caller, is_language_tag, paths, scoped_resource};
use crate::auth0::{AuthParams, PasswordlessStart, SendKind, TokenGrant, UpstreamError};
use crate::body::JsonBody;
use crate::client_ip::ClientIp;
use crate::domain::{visible_ascii, Channel, Identifier, OtpCode};
use crate::error::ApiError;
use crate::settings::Auth0Settings;
use crate::sms::Country;
use crate::state::AppState;
use crate::telemetry::note_identifier;

crate::redacted_debug!(StartRequest, VerifyRequest, CallbackRequest);

/// Every route here sits under this scope (and its per-IP guard).
pub const SCOPE: &str = "/login";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(scoped_resource(SCOPE, paths::LOGIN_START, "POST").route(web::post().to(start)))
        .service(scoped_resource(SCOPE, paths::LOGIN_VERIFY, "POST").route(web::post().to(verify)))
        .service(
            scoped_resource(SCOPE, paths::LOGIN_CALLBACK, "POST").route(web::post().to(callback)),
        );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    #[serde(default, deserialize_with = "crate::body::not_null")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "crate::body::not_null")]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub send: SendKind,
    pub locale: Option<String>,
    /// `Some(None)` is `"state": null`: present, so a code start refuses it
    /// as the document's code variants (which have no `state`) say.
    #[serde(default, deserialize_with = "crate::body::present")]
    pub state: Option<Option<String>>,
}

/// What the gateway asked Auth0 to send.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LoginStartResponse, examples(json!({"channel": "email", "send": "code"})))]
pub struct StartResponse {
    /// Where the code or link went.
    #[schema(value_type = super::schemas::Channel)]
    pub channel: Channel,
    pub send: SendKind,
}

/// Longest `state` the gateway forwards into a magic link.
const MAX_STATE_CHARS: usize = 512;

/// Send a one-time code or a magic link
///
/// Starts Auth0 passwordless login: a one-time code by email or SMS, or a
/// magic link by email. Nothing from Auth0's answer (user ids) is reflected.
/// Continue with `POST /login/verify` (code) or `POST /login/callback` (link).
#[utoipa::path(
    post,
    path = paths::LOGIN_START,
    tag = "login",
    operation_id = "loginStart",
    request_body(content = super::schemas::LoginStartRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Auth0 is sending the code or link.", body = StartResponse),
    ),
)]
async fn start(
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
    body: JsonBody<StartRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let identifier = Identifier::parse(body.email.as_deref(), body.phone_number.as_deref())
        .map_err(ApiError::invalid_request)?;
    note_identifier(&req, identifier.masked());
    if let Some(locale) = body.locale.as_deref() {
        if !is_language_tag(locale) {
            return Err(ApiError::invalid_request(
                "locale must be a BCP 47 language tag, e.g. en-US",
            ));
        }
    }
    let auth0 = &state.settings.auth0;
    let auth_params = match body.send {
        SendKind::Code => {
            if body.state.is_some() {
                return Err(ApiError::invalid_request(
                    "state is only allowed with send: \"link\"",
                ));
            }
            None
        }
        SendKind::Link => {
            if identifier.channel() != Channel::Email {
                return Err(ApiError::invalid_request(
                    "send: \"link\" is only possible with email",
                ));
            }
            let redirect_uri = magic_link_redirect_uri(auth0)?;
            let link_state = body.state.as_ref().and_then(Option::as_deref);
            if let Some(value) = link_state {
                visible_ascii("state", value, MAX_STATE_CHARS)
                    .map_err(ApiError::invalid_request)?;
            }
            Some(AuthParams {
                scope: &auth0.scope,
                response_type: "code",
                redirect_uri,
                state: link_state,
            })
        }
    };
    // A text goes out only to an allowed, unpaused country, within the
    // per-number and global budgets. The country comes first, so a refused
    // number spends no one's budget.
    let country = match &identifier {
        Identifier::Phone(phone) => {
            let country = Country::of_number(phone.as_str());
            state.sms.check_allowed(country, true)?;
            state.sms.check_paused(country).await?;
            Some(country)
        }
        Identifier::Email(_) => None,
    };
    state.limits.check_login_start(ip.0, &identifier).await?;
    let (email, phone_number, connection) = match &identifier {
        Identifier::Email(email) => (Some(email.as_str()), None, auth0.email_connection.as_str()),
        Identifier::Phone(phone) => (None, Some(phone.as_str()), auth0.sms_connection.as_str()),
    };
    let request = PasswordlessStart {
        connection,
        email,
        phone_number,
        send: body.send,
        auth_params,
    };
    state
        .auth0
        .passwordless_start(caller(ip, body.locale.as_deref(), &req), &request)
        .await?;
    if let Some(country) = country {
        state.sms.record_send(country, None).await;
    }
    Ok(HttpResponse::Ok().json(StartResponse {
        channel: identifier.channel(),
        send: body.send,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    #[serde(default, deserialize_with = "crate::body::not_null")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "crate::body::not_null")]
    pub phone_number: Option<String>,
    pub code: String,
    pub audience: Option<String>,
    pub scope: Option<String>,
}

/// Exchange a one-time code for tokens
///
/// Answers the tokens, or `403 mfa_required` with an `mfa_token` and
/// `mfa_requirements` when the user must pass a second factor (continue at
/// `/mfa/*`). A wrong code is Auth0's `403 invalid_grant`.
#[utoipa::path(
    post,
    path = paths::LOGIN_VERIFY,
    tag = "login",
    operation_id = "loginVerify",
    request_body(content = super::schemas::LoginVerifyRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Logged in.", body = crate::auth0::TokenSet, headers(
            ("Cache-Control" = String, description = "`no-store`: the body holds tokens."),
            ("Pragma" = String, description = "`no-cache`."),
        )),
    ),
)]
async fn verify(
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
    body: JsonBody<VerifyRequest>,
) -> Result<HttpResponse, ApiError> {
    let identifier = Identifier::parse(body.email.as_deref(), body.phone_number.as_deref())
        .map_err(ApiError::invalid_request)?;
    note_identifier(&req, identifier.masked());
    let code = OtpCode::parse(&body.code).map_err(ApiError::invalid_request)?;
    let auth0 = &state.settings.auth0;
    let audience = allowed_audience(auth0, body.audience.as_deref())?;
    let scope = allowed_scope(auth0, body.scope.as_deref())?;
    state.limits.check_verify(ip.0, &identifier).await?;
    let realm = match identifier {
        Identifier::Email(_) => auth0.email_connection.as_str(),
        Identifier::Phone(_) => auth0.sms_connection.as_str(),
    };
    let grant = TokenGrant::PasswordlessOtp {
        username: identifier.as_str(),
        otp: code.expose(),
        realm,
        audience,
        scope: &scope,
    };
    let answer = state
        .auth0
        .token_grant(caller(ip, None, &req), &grant)
        .await;
    // A network that completes a login is known for this user (SPEC §13):
    // strangers spending the user's all-network ceilings no longer lock
    // the user out of it. A login that needs a second factor completes at
    // `/mfa/verify`, on the token issued here.
    match &answer {
        Ok(_) => state.limits.login_completed(ip.0, &identifier).await,
        Err(UpstreamError::MfaRequired(details)) => {
            state
                .limits
                .login_awaits_mfa(details.mfa_token.expose(), &identifier)
                .await;
        }
        Err(_) => {}
    }
    // The right code proves the text arrived: tokens, or `mfa_required`
    // (the first factor passed) count as the SMS fraud guard's conversion.
    if let Identifier::Phone(phone) = &identifier {
        if matches!(answer, Ok(_) | Err(UpstreamError::MfaRequired(_))) {
            state
                .sms
                .record_verification(Country::of_number(phone.as_str()))
                .await;
        }
    }
    // Tokens, or the session cookie (SPEC §10); `403 mfa_required` leaves
    // like any other Auth0 answer.
    super::session::complete_login(&state, &req, answer)
}

/// The `code` (and `state`) Auth0 put on the magic link's redirect.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LoginCallbackRequest, examples(json!({"code": "4dc3a3f5b9e24c36a1f0", "state": "af0ifjsldkj"})))]
pub struct CallbackRequest {
    /// The `code` query parameter of the magic link's redirect.
    #[schema(pattern = r"^[\x21-\x7E]{1,512}$", min_length = 1, max_length = 512)]
    pub code: String,
    /// Checked by the app that created it, not by the gateway.
    #[schema(pattern = r"^[\x21-\x7E]{1,512}$", min_length = 1, max_length = 512)]
    pub state: Option<String>,
}

/// Complete a magic link
///
/// Auth0 redirects the browser to `auth0.magic_link_redirect_uri` with
/// `code` and `state`; the app posts them here. Answers like
/// `/login/verify`. The gateway does not check `state`: the app does.
#[utoipa::path(
    post,
    path = paths::LOGIN_CALLBACK,
    tag = "login",
    operation_id = "loginCallback",
    request_body(content = CallbackRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Logged in.", body = crate::auth0::TokenSet, headers(
            ("Cache-Control" = String, description = "`no-store`: the body holds tokens."),
            ("Pragma" = String, description = "`no-cache`."),
        )),
    ),
)]
async fn callback(
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
    body: JsonBody<CallbackRequest>,
) -> Result<HttpResponse, ApiError> {
    let code = visible_ascii("code", &body.code, 512).map_err(ApiError::invalid_request)?;
    if let Some(value) = body.state.as_deref() {
        visible_ascii("state", value, MAX_STATE_CHARS).map_err(ApiError::invalid_request)?;
    }
    let redirect_uri = magic_link_redirect_uri(&state.settings.auth0)?;
    let grant = TokenGrant::AuthorizationCode {
        code: code.expose(),
        redirect_uri,
    };
    let answer = state
        .auth0
        .token_grant(caller(ip, None, &req), &grant)
        .await;
    super::session::complete_login(&state, &req, answer)
}

fn magic_link_redirect_uri(auth0: &Auth0Settings) -> Result<&str, ApiError> {
    auth0.magic_link_redirect_uri.as_deref().ok_or_else(|| {
        ApiError::invalid_request(
            "magic links are not enabled on this gateway (auth0.magic_link_redirect_uri is not set)",
        )
    })
}

/// The requested audience if allowed, else the configured default.
pub fn allowed_audience<'a>(
    auth0: &'a Auth0Settings,
    requested: Option<&'a str>,
) -> Result<&'a str, ApiError> {
    match requested {
        None => Ok(&auth0.audience),
        Some(audience)
            if audience == auth0.audience
                || auth0.allowed_audiences.iter().any(|a| a == audience) =>
        {
            Ok(audience)
        }
        Some(_) => Err(ApiError::invalid_request(
            "audience is not in the gateway's allowed audiences",
        )),
    }
}

/// The requested scopes if every one is allowed, else the configured default.
pub fn allowed_scope(auth0: &Auth0Settings, requested: Option<&str>) -> Result<String, ApiError> {
    let Some(requested) = requested else {
        return Ok(auth0.scope.clone());
    };
    allowed_scopes_plus(auth0, requested, &[])
}

/// `requested` (space-separated) if every scope is in
/// `auth0.allowed_scopes` or in `extra` (what one audience allows beside
/// them), normalised to single spaces.
pub fn allowed_scopes_plus(
    auth0: &Auth0Settings,
    requested: &str,
    extra: &[&str],
) -> Result<String, ApiError> {
    let scopes: Vec<&str> = requested.split_whitespace().collect();
    if scopes.is_empty() {
        return Err(ApiError::invalid_request("scope must not be empty"));
    }
    if let Some(scope) = scopes
        .iter()
        .find(|s| !auth0.allowed_scopes.iter().any(|allowed| allowed == *s) && !extra.contains(s))
    {
        let shown: String = scope.chars().take(64).collect();
        return Err(ApiError::invalid_request(format!(
            "scope {shown:?} is not allowed"
        )));
    }
    Ok(scopes.join(" "))
}
