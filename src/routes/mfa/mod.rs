//! `/mfa/*`: finish a login that answered `403 mfa_required`, with Auth0's
//! MFA API. Every route takes `Authorization: Bearer <mfa_token>` (or, to
//! enroll a further factor or delete one, an access token for the MFA API).
//!
//! This file has the route table and the handlers (with their OpenAPI
//! annotations); [`bearer`] reads the credential and [`bodies`] the request
//! bodies, each parsed before a handler runs.

mod bearer;
mod bodies;

pub(super) use bearer::parse_bearer;
pub use bodies::{AssociateBody, ChallengeBody, Factor, VerifyBody};

use actix_web::{web, HttpRequest, HttpResponse};

use super::{caller, no_store_json, paths, scoped_resource};
use crate::auth0::{
    AssociateRequest, AuthenticatorType, ChallengeRequest, OobChannel, TokenGrant, UpstreamError,
};
use crate::body::JsonBody;
use crate::client_ip::ClientIp;
use crate::domain::{visible_ascii, Email, PhoneNumber};
use crate::error::ApiError;
use crate::rate_limit::SmsDestination;
use crate::secret::Sensitive;
use crate::sms::Country;
use crate::state::AppState;
use bearer::Bearer;
use bodies::Proof;

/// Every route here sits under this scope (and its per-IP guard).
pub const SCOPE: &str = "/mfa";
/// Opaque codes and ids (SPEC §1): 1–512 visible ASCII characters.
const MAX_OPAQUE_CHARS: usize = 512;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        scoped_resource(SCOPE, paths::MFA_AUTHENTICATORS, "GET")
            .route(web::get().to(list_authenticators)),
    )
    .service(
        scoped_resource(SCOPE, paths::MFA_AUTHENTICATOR, "DELETE")
            .route(web::delete().to(delete_authenticator)),
    )
    .service(scoped_resource(SCOPE, paths::MFA_ASSOCIATE, "POST").route(web::post().to(associate)))
    .service(scoped_resource(SCOPE, paths::MFA_CHALLENGE, "POST").route(web::post().to(challenge)))
    .service(scoped_resource(SCOPE, paths::MFA_VERIFY, "POST").route(web::post().to(verify)));
}

/// List the user's authenticators
///
/// The factors the user has enrolled (Auth0's documented fields only), to
/// pick one for `POST /mfa/challenge` or to delete one.
#[utoipa::path(
    get,
    path = paths::MFA_AUTHENTICATORS,
    tag = "mfa",
    operation_id = "mfaListAuthenticators",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The enrolled authenticators.", body = Vec<crate::auth0::Authenticator>),
    ),
)]
async fn list_authenticators(
    bearer: Bearer,
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let authenticators = state
        .auth0
        .list_authenticators(caller(ip, None, &req), bearer.0.expose())
        .await?;
    Ok(HttpResponse::Ok().json(authenticators))
}

/// Enroll a second factor
///
/// Works with the `mfa_token` while the user has no active authenticator;
/// a further factor needs an access token for the MFA API audience with the
/// `enroll` scope. The answer carries the enrollment material (TOTP secret
/// and QR URI, or an `oob_code`, and recovery codes the first time);
/// confirm it with `POST /mfa/verify`.
#[utoipa::path(
    post,
    path = paths::MFA_ASSOCIATE,
    tag = "mfa",
    operation_id = "mfaAssociate",
    security(("bearer" = [])),
    request_body(content = super::schemas::MfaAssociateRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Enrollment started.", body = crate::auth0::AssociateAnswer, headers(
            ("Cache-Control" = String, description = "`no-store`: the body holds secrets."),
            ("Pragma" = String, description = "`no-cache`."),
        )),
    ),
)]
async fn associate(
    bearer: Bearer,
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
    body: JsonBody<AssociateBody>,
) -> Result<HttpResponse, ApiError> {
    let phone = match (body.factor, body.phone_number.as_deref()) {
        (Factor::Sms | Factor::Voice, Some(phone)) => {
            Some(PhoneNumber::parse(phone).map_err(ApiError::invalid_request)?)
        }
        (Factor::Sms | Factor::Voice, None) => {
            return Err(ApiError::invalid_request(
                "phone_number (E.164) is required for sms and voice",
            ))
        }
        (_, Some(_)) => {
            return Err(ApiError::invalid_request(
                "phone_number is only used with sms or voice",
            ))
        }
        (_, None) => None,
    };
    let email = match (body.factor, body.email.as_deref()) {
        (Factor::Email, Some(email)) => {
            Some(Email::parse(email).map_err(ApiError::invalid_request)?)
        }
        (Factor::Email, None) => {
            return Err(ApiError::invalid_request(
                "email is required for the email factor",
            ))
        }
        (_, Some(_)) => {
            return Err(ApiError::invalid_request(
                "email is only used with the email factor",
            ))
        }
        (_, None) => None,
    };
    let (authenticator_type, oob_channel) = match body.factor {
        Factor::Otp => (AuthenticatorType::Otp, None),
        Factor::Sms => (AuthenticatorType::Oob, Some(OobChannel::Sms)),
        Factor::Voice => (AuthenticatorType::Oob, Some(OobChannel::Voice)),
        Factor::Email => (AuthenticatorType::Oob, Some(OobChannel::Email)),
        Factor::Push => (AuthenticatorType::Oob, Some(OobChannel::Auth0)),
    };
    // A text or call: an allowed, unpaused country, within the per-number
    // and global budgets (SPEC §4, §8).
    let country = match &phone {
        Some(phone) => {
            let country = Country::of_number(phone.as_str());
            state.sms.check_allowed(country, true)?;
            state.sms.check_paused(country).await?;
            state
                .limits
                .check_sms_send(ip.0, SmsDestination::Number(phone.as_str()))
                .await?;
            Some(country)
        }
        None => {
            state.limits.check_ip_left_to_route(ip.0).await?;
            None
        }
    };
    let request = AssociateRequest {
        authenticator_types: [authenticator_type],
        oob_channels: oob_channel.map(|c| [c]),
        phone_number: phone.as_ref().map(PhoneNumber::as_str),
        email: email.as_ref().map(Email::as_str),
    };
    let answer = state
        .auth0
        .associate(caller(ip, None, &req), bearer.0.expose(), &request)
        .await?;
    if let Some(country) = country {
        state
            .sms
            .record_send(country, Some(bearer.0.expose()))
            .await;
    }
    tracing::debug!(factor = ?body.factor, "mfa enrollment started");
    Ok(no_store_json(&answer))
}

/// Challenge an enrolled factor
///
/// For `oob` Auth0 sends the SMS, voice call, email or push of the named
/// `authenticator_id` (required) and the answer carries the `oob_code` for
/// `POST /mfa/verify`; for `otp` the user reads the code from their app.
/// A text or call spends the authenticator's `sms_per_phone` budget, the
/// same at every login, and is judged by the SMS fraud guard under the
/// country of the number this mfa_token enrolled, or `unknown`.
#[utoipa::path(
    post,
    path = paths::MFA_CHALLENGE,
    tag = "mfa",
    operation_id = "mfaChallenge",
    security(("bearer" = [])),
    request_body(content = super::schemas::MfaChallengeRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Challenge sent.", body = crate::auth0::ChallengeAnswer, headers(
            ("Cache-Control" = String, description = "`no-store`: the body holds an `oob_code`."),
            ("Pragma" = String, description = "`no-cache`."),
        )),
    ),
)]
async fn challenge(
    bearer: Bearer,
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
    body: JsonBody<ChallengeBody>,
) -> Result<HttpResponse, ApiError> {
    let challenge = body
        .into_inner()
        .into_challenge()
        .map_err(ApiError::invalid_request)?;
    let mfa_token = bearer.0.expose();
    // A text or call: the country of the number this mfa_token enrolled
    // through the gateway, else `unknown`, which the fraud guard judges
    // like any country; the per-number budget is the authenticator's,
    // which outlives the mfa_token (SPEC §4, §8, §13).
    let country = match challenge.phone_authenticator() {
        Some(authenticator_id) => {
            let country = state
                .sms
                .token_country(mfa_token)
                .await
                .unwrap_or(Country::Unknown);
            state.sms.check_allowed(country, false)?;
            state.sms.check_paused(country).await?;
            state
                .limits
                .check_sms_send(ip.0, SmsDestination::Authenticator(authenticator_id))
                .await?;
            Some(country)
        }
        None => {
            state.limits.check_ip_left_to_route(ip.0).await?;
            None
        }
    };
    let request = ChallengeRequest {
        mfa_token,
        challenge_type: challenge.challenge_type(),
        authenticator_id: challenge.authenticator_id(),
    };
    let answer = state
        .auth0
        .challenge(caller(ip, None, &req), &request)
        .await?;
    if let Some(country) = country {
        state.sms.record_send(country, Some(mfa_token)).await;
    }
    Ok(no_store_json(&answer))
}

/// Verify the second factor and get the tokens
///
/// Completes the login (or confirms an enrollment) with an app code, an
/// out-of-band code (with the `binding_code` the user received), or a
/// recovery code. For a push, poll while the answer is
/// `400 authorization_pending`, slower if it is `429 slow_down`.
#[utoipa::path(
    post,
    path = paths::MFA_VERIFY,
    tag = "mfa",
    operation_id = "mfaVerify",
    security(("bearer" = [])),
    request_body(content = super::schemas::MfaVerifyRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Logged in.", body = crate::auth0::TokenSet, headers(
            ("Cache-Control" = String, description = "`no-store`: the body holds tokens."),
            ("Pragma" = String, description = "`no-cache`."),
        )),
    ),
)]
async fn verify(
    bearer: Bearer,
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
    body: JsonBody<VerifyBody>,
) -> Result<HttpResponse, ApiError> {
    let proof = body
        .into_inner()
        .into_proof()
        .map_err(ApiError::invalid_request)?;
    let mfa_token = bearer.0.expose();
    let login = state.limits.check_mfa_verify(ip.0, mfa_token).await?;
    let grant = match &proof {
        Proof::Otp(otp) => TokenGrant::MfaOtp {
            mfa_token,
            otp: otp.expose(),
        },
        Proof::Oob {
            oob_code,
            binding_code,
        } => TokenGrant::MfaOob {
            mfa_token,
            oob_code: oob_code.expose(),
            binding_code: binding_code.as_ref().map(Sensitive::expose),
        },
        Proof::RecoveryCode(code) => TokenGrant::MfaRecoveryCode {
            mfa_token,
            recovery_code: code.expose(),
        },
    };
    let answer = state
        .auth0
        .token_grant(caller(ip, None, &req), &grant)
        .await;
    // An out-of-band code that works proves the text or call arrived.
    if matches!(proof, Proof::Oob { .. })
        && matches!(answer, Ok(_) | Err(UpstreamError::MfaRequired(_)))
    {
        state.sms.record_token_verification(mfa_token).await;
    }
    if answer.is_ok() {
        tracing::debug!("second factor verified");
        // The login `/login/verify` started is complete: its network is
        // known for that user (SPEC §13).
        state
            .limits
            .mfa_login_completed(ip.0, mfa_token, login)
            .await;
    }
    super::session::complete_login(&state, &req, answer)
}

/// Delete an authenticator
///
/// Needs an access token for the Auth0 MFA API audience, not an
/// `mfa_token`. Get one by signing in with that audience: `POST
/// /login/verify` with `"audience": "https://{tenant}/mfa/"` (and, on a
/// real tenant, `"scope": "remove:authenticators"`; both must be allowed by
/// the gateway's `auth0.allowed_audiences` / `auth0.allowed_scopes`), then
/// pass the second factor as usual; the `access_token` of `POST
/// /mfa/verify` is the bearer here. `login-gateway --demo` allows its
/// tenant's MFA audience and prints it in its banner. Answers `204` when
/// Auth0 removed the authenticator.
#[utoipa::path(
    delete,
    path = paths::MFA_AUTHENTICATOR,
    tag = "mfa",
    operation_id = "mfaDeleteAuthenticator",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "An `id` from `GET /mfa/authenticators`: 1–512 visible ASCII characters, one path segment (percent-encode `/`).", pattern = r"^[\x21-\x7E]{1,512}$", min_length = 1, max_length = 512, example = "totp|dev_Ahx4AKyCdjY3hVnO"),
    ),
    responses(
        (status = 204, description = "Deleted."),
    ),
)]
async fn delete_authenticator(
    bearer: Bearer,
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = visible_ascii("authenticator id", &path, MAX_OPAQUE_CHARS)
        .map_err(ApiError::invalid_request)?;
    if matches!(id.expose(), "." | "..") {
        return Err(ApiError::invalid_request("authenticator id is not valid"));
    }
    state
        .auth0
        .delete_authenticator(caller(ip, None, &req), bearer.0.expose(), id.expose())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
