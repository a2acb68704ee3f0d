//! `/mfa/*`: finish a login that answered `403 mfa_required`, with Auth0's
//! MFA API. Every route takes `Authorization: Bearer <mfa_token>` (or, to
//! enroll a further factor or delete one, an access token for the MFA API).

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::{caller, no_store_json, paths, scoped_resource};
use crate::auth0::{
    AssociateRequest, AuthenticatorType, ChallengeRequest, ChallengeType, OobChannel, TokenGrant,
    UpstreamError,
};
use crate::body::JsonBody;
use crate::client_ip::ClientIp;
use crate::domain::{visible_ascii, Email, PhoneNumber};
use crate::error::ApiError;
use crate::rate_limit::SmsDestination;
use crate::secret::Sensitive;
use crate::sms::Country;
use crate::state::AppState;

crate::redacted_debug!(AssociateBody, ChallengeBody, VerifyBody);

/// Every route here sits under this scope (and its per-IP guard).
pub const SCOPE: &str = "/mfa";

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

/// Longest bearer token the gateway forwards.
const MAX_BEARER_CHARS: usize = 4096;
/// Opaque codes and ids (SPEC §1): 1–512 visible ASCII characters.
const MAX_OPAQUE_CHARS: usize = 512;

/// The `Authorization: Bearer` credential of an `/mfa/*` call.
#[derive(Debug)]
pub struct Bearer(pub Sensitive);

impl FromRequest for Bearer {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let header = req.headers().get(header::AUTHORIZATION);
        std::future::ready(match (header, sealed_mfa_token(req)) {
            // Cookie mode (SPEC §10): no Authorization, the sealed mfa_token.
            (None, Some(sealed)) => sealed,
            (header, _) => parse_bearer(header),
        })
    }
}

/// The mfa_token sealed in the `-mfa` cookie, when sessions are on and the
/// request carries one; a cookie that does not open is `401
/// session_expired` (and is cleared).
fn sealed_mfa_token(req: &HttpRequest) -> Option<Result<Bearer, ApiError>> {
    let state = req.app_data::<web::Data<crate::state::AppState>>()?;
    let sessions = state.sessions.as_ref()?;
    match sessions.read_mfa_token(req) {
        crate::session::Found::None => None,
        crate::session::Found::Open(token) => Some(Ok(Bearer(Sensitive::new(token)))),
        crate::session::Found::Broken => Some(Err(ApiError::session_expired(
            sessions.clear_mfa_if_present(req),
        ))),
    }
}

pub(super) fn parse_bearer(value: Option<&header::HeaderValue>) -> Result<Bearer, ApiError> {
    let Some(value) = value else {
        return Err(ApiError::unauthorized(
            "Authorization: Bearer <mfa_token> is required",
        ));
    };
    let malformed = || ApiError::unauthorized("Authorization must be Bearer <token>");
    let text = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = text.split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    // RFC 6750 §2.1 b64token.
    let b64token = !token.is_empty()
        && token.len() <= MAX_BEARER_CHARS
        && token
            .trim_end_matches('=')
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if !scheme.eq_ignore_ascii_case("bearer") || !b64token {
        return Err(malformed());
    }
    Ok(Bearer(Sensitive::new(token)))
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

/// Which second factor to enroll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Factor {
    Otp,
    Sms,
    Voice,
    Email,
    Push,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssociateBody {
    pub factor: Factor,
    pub phone_number: Option<String>,
    pub email: Option<String>,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeBody {
    pub challenge_type: ChallengeType,
    pub authenticator_id: Option<String>,
}

/// What a `/mfa/challenge` call asks Auth0 for.
enum Challenge {
    /// The user reads the code from their app: nothing is sent.
    Otp { authenticator_id: Option<Sensitive> },
    /// Auth0 sends a message to this authenticator. It must be named
    /// (SPEC §13): left to Auth0, the message could go to a phone while the
    /// gateway could not tell whose budget it spends.
    Oob { authenticator_id: Sensitive },
}

impl ChallengeBody {
    fn into_challenge(self) -> Result<Challenge, String> {
        let authenticator_id = self
            .authenticator_id
            .map(|id| visible_ascii("authenticator_id", &id, MAX_OPAQUE_CHARS))
            .transpose()?;
        match (self.challenge_type, authenticator_id) {
            (ChallengeType::Otp, authenticator_id) => Ok(Challenge::Otp { authenticator_id }),
            (ChallengeType::Oob, Some(authenticator_id)) => Ok(Challenge::Oob { authenticator_id }),
            (ChallengeType::Oob, None) => Err(
                "authenticator_id is required for an oob challenge: an id from GET \
                 /mfa/authenticators"
                    .into(),
            ),
        }
    }
}

impl Challenge {
    fn challenge_type(&self) -> ChallengeType {
        match self {
            Self::Otp { .. } => ChallengeType::Otp,
            Self::Oob { .. } => ChallengeType::Oob,
        }
    }

    fn authenticator_id(&self) -> Option<&str> {
        match self {
            Self::Otp { authenticator_id } => authenticator_id.as_ref().map(Sensitive::expose),
            Self::Oob { authenticator_id } => Some(authenticator_id.expose()),
        }
    }

    /// The authenticator whose number Auth0 will text or phone, if the
    /// challenge may do that. Auth0's ids start with their channel
    /// (`sms|…`, `voice|…`, `email|…`, `push|…`); an out-of-band id that is
    /// not an email or a push one is taken for a phone, since what Auth0
    /// sends to an id the gateway does not recognise is unknown, and
    /// counting a message that was no text costs less than missing a text.
    fn phone_authenticator(&self) -> Option<&str> {
        match self {
            Self::Oob { authenticator_id } => {
                let id = authenticator_id.expose();
                let other_channel = ["email|", "push|"]
                    .iter()
                    .any(|prefix| id.starts_with(prefix));
                (!other_channel).then_some(id)
            }
            Self::Otp { .. } => None,
        }
    }
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    pub otp: Option<String>,
    pub oob_code: Option<String>,
    pub binding_code: Option<String>,
    pub recovery_code: Option<String>,
}

/// The second factor a `/mfa/verify` call proves.
enum Proof {
    Otp(Sensitive),
    Oob {
        oob_code: Sensitive,
        binding_code: Option<Sensitive>,
    },
    RecoveryCode(Sensitive),
}

impl VerifyBody {
    fn into_proof(self) -> Result<Proof, String> {
        let opaque = |field: &str, value: &str| visible_ascii(field, value, MAX_OPAQUE_CHARS);
        match (
            self.otp,
            self.oob_code,
            self.binding_code,
            self.recovery_code,
        ) {
            (Some(otp), None, None, None) => {
                if otp.len() == 6 && otp.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(Proof::Otp(Sensitive::new(otp)))
                } else {
                    Err("otp must be 6 digits".into())
                }
            }
            (None, Some(oob_code), binding_code, None) => Ok(Proof::Oob {
                oob_code: opaque("oob_code", &oob_code)?,
                binding_code: binding_code
                    .map(|code| {
                        if (4..=12).contains(&code.len()) {
                            visible_ascii("binding_code", &code, 12)
                        } else {
                            Err("binding_code must be 4 to 12 visible ASCII characters".into())
                        }
                    })
                    .transpose()?,
            }),
            (None, None, None, Some(code)) => {
                Ok(Proof::RecoveryCode(opaque("recovery_code", &code)?))
            }
            (None, None, Some(_), None) => Err("binding_code goes with oob_code".into()),
            _ => Err(
                "send exactly one of otp, oob_code (with optional binding_code) or recovery_code"
                    .into(),
            ),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(value: &str) -> Result<Bearer, ApiError> {
        let header =
            header::HeaderValue::from_str(value).map_err(|_| ApiError::unauthorized(""))?;
        parse_bearer(Some(&header))
    }

    #[test]
    fn bearer_tokens_follow_rfc_6750() {
        assert!(bearer("Bearer abc.DEF-123_~+/==").is_ok());
        assert!(bearer("bearer abc").is_ok());
        for bad in [
            "Basic abc",
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a\"b",
            "Token abc",
        ] {
            assert!(bearer(bad).is_err(), "{bad:?}");
        }
        assert!(parse_bearer(None).is_err());
    }

    /// The challenge type, and the authenticator whose number is texted.
    fn challenge(json: serde_json::Value) -> Result<(ChallengeType, Option<String>), String> {
        let body: ChallengeBody = serde_json::from_value(json).map_err(|e| e.to_string())?;
        let challenge = body.into_challenge()?;
        Ok((
            challenge.challenge_type(),
            challenge.phone_authenticator().map(str::to_string),
        ))
    }

    #[test]
    fn an_oob_challenge_names_its_authenticator_and_phones_are_texts() {
        use serde_json::json;
        let text = |id: &str| Ok((ChallengeType::Oob, Some(id.to_string())));
        let no_text = |kind| Ok((kind, None));
        for (body, expected) in [
            (
                json!({"challenge_type": "otp"}),
                no_text(ChallengeType::Otp),
            ),
            (
                json!({"challenge_type": "otp", "authenticator_id": "totp|dev_a"}),
                no_text(ChallengeType::Otp),
            ),
            (
                json!({"challenge_type": "oob", "authenticator_id": "sms|dev_a"}),
                text("sms|dev_a"),
            ),
            (
                json!({"challenge_type": "oob", "authenticator_id": "voice|dev_a"}),
                text("voice|dev_a"),
            ),
            // An id the gateway does not recognise may be a phone.
            (
                json!({"challenge_type": "oob", "authenticator_id": "SMS|dev_a"}),
                text("SMS|dev_a"),
            ),
            (
                json!({"challenge_type": "oob", "authenticator_id": "email|dev_a"}),
                no_text(ChallengeType::Oob),
            ),
            (
                json!({"challenge_type": "oob", "authenticator_id": "push|dev_a"}),
                no_text(ChallengeType::Oob),
            ),
        ] {
            assert_eq!(challenge(body.clone()), expected, "{body}");
        }
        let missing = challenge(json!({"challenge_type": "oob"}));
        assert!(
            missing
                .as_ref()
                .is_err_and(|e| e.contains("authenticator_id")),
            "{missing:?}"
        );
        assert!(
            challenge(json!({"challenge_type": "oob", "authenticator_id": "sms|a b"})).is_err()
        );
    }

    fn proof(json: serde_json::Value) -> Result<&'static str, String> {
        let body: VerifyBody = serde_json::from_value(json).map_err(|e| e.to_string())?;
        body.into_proof().map(|p| match p {
            Proof::Otp(_) => "otp",
            Proof::Oob { .. } => "oob",
            Proof::RecoveryCode(_) => "recovery",
        })
    }

    #[test]
    fn verify_takes_exactly_one_proof() {
        use serde_json::json;
        assert_eq!(proof(json!({"otp": "123456"})), Ok("otp"));
        assert_eq!(
            proof(json!({"oob_code": "abc", "binding_code": "123456"})),
            Ok("oob")
        );
        assert_eq!(proof(json!({"oob_code": "abc"})), Ok("oob"));
        assert_eq!(proof(json!({"recovery_code": "ABCD1234"})), Ok("recovery"));
        for bad in [
            json!({}),
            json!({"otp": "12345"}),
            json!({"otp": "12345a"}),
            json!({"otp": "123456", "recovery_code": "x"}),
            json!({"binding_code": "1234"}),
            json!({"oob_code": "abc", "binding_code": "12"}),
            json!({"oob_code": "a b"}),
            json!({"mfa_token": "x", "otp": "123456"}),
        ] {
            assert!(proof(bad.clone()).is_err(), "{bad}");
        }
    }
}
