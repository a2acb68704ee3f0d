//! `POST /passkey/challenge` (a sign-in ceremony) and `POST /passkey/verify`
//! (the webauthn grant, for a sign-up's new passkey or a sign-in), with
//! `POST /passkey/register` from [`super::signup`]: the three routes of
//! Auth0's native Passkey API for apps that draw their own UI (SPEC §11).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::credential::AnyCredential;
use super::signup;
use crate::auth0::passkey::is_auth_session;
use crate::auth0::{PasskeyVerification, TokenGrant, UpstreamError};
use crate::body::{JsonBody, OptionalJsonBody};
use crate::client_ip::ClientIp;
use crate::domain::OtpCode;
use crate::error::ApiError;
use crate::routes::login::{allowed_audience, allowed_scope};
use crate::routes::{caller, no_store_json, paths, scoped_resource};
use crate::secret::Sensitive;
use crate::state::AppState;

crate::redacted_debug!(VerifyRequest, VerificationCodes);

pub fn configure(cfg: &mut web::ServiceConfig) {
    let scope = super::SCOPE;
    cfg.service(
        scoped_resource(scope, paths::PASSKEY_REGISTER, "POST")
            .route(web::post().to(signup::register)),
    )
    .service(
        scoped_resource(scope, paths::PASSKEY_CHALLENGE, "POST").route(web::post().to(challenge)),
    )
    .service(scoped_resource(scope, paths::PASSKEY_VERIFY, "POST").route(web::post().to(verify)));
}

/// `{}`: nothing to choose; the connection is the gateway's.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {}

/// A sign-in ceremony: get a passkey with `public_key`, then send it with
/// `auth_session` to `POST /passkey/verify`.
#[derive(Serialize, ToSchema)]
#[schema(as = PasskeyChallengeResponse, examples(json!({
    "auth_session": "c2lnbmluLXNlc3Npb24tZXhhbXBsZQ",
    "public_key": {
        "challenge": "V3G9nqWm2Kx0yZ8aTQp4hA",
        "timeout": 60000,
        "rpId": "login.example.com",
        "userVerification": "preferred"
    }
})))]
pub struct ChallengeResponse {
    /// Echo it to `POST /passkey/verify`; it lives as long as
    /// `public_key.timeout` says. A credential: keep it in memory only.
    #[schema(value_type = String, pattern = r"^[\x21-\x7E]{1,2048}$", min_length = 1, max_length = 2048)]
    pub auth_session: Sensitive,
    #[schema(value_type = super::schemas::PasskeyRequestOptions)]
    pub public_key: Map<String, Value>,
}

/// Sign in with a passkey
///
/// Starts a sign-in: Auth0 answers the WebAuthn request options for the
/// connection's passkeys (no user named: the passkey says who). Pass
/// `public_key` to `navigator.credentials.get` (decode `challenge` first;
/// `mediation: "conditional"` offers passkeys in the autofill) or, on
/// Android, to Credential Manager as is; then `POST /passkey/verify`.
#[utoipa::path(
    post,
    path = paths::PASSKEY_CHALLENGE,
    tag = "passkey",
    operation_id = "passkeyChallenge",
    request_body(content = super::schemas::PasskeyChallengeRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "A sign-in ceremony.", body = ChallengeResponse, headers(
            ("Cache-Control" = String, description = "`no-store`: the body holds the `auth_session`."),
            ("Pragma" = String, description = "`no-cache`."),
        )),
    ),
)]
async fn challenge(
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
    _body: OptionalJsonBody<ChallengeRequest>,
) -> Result<HttpResponse, ApiError> {
    let ceremony = state
        .auth0
        .passkey_challenge(caller(ip, None, &req), &state.settings.passkey.connection)
        .await?;
    Ok(no_store_json(&ChallengeResponse {
        auth_session: ceremony.auth_session,
        public_key: ceremony.public_key,
    }))
}

/// The codes Auth0 sent at sign-up (`verification_required` named them).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasskeyVerificationCodes, examples(json!({"phone": "123456"})))]
pub struct VerificationCodes {
    /// The code sent to the email address: 4–12 digits.
    #[schema(pattern = r"^[0-9]{4,12}$", examples("123456"))]
    pub email: Option<String>,
    /// The code texted to the phone number: 4–12 digits.
    #[schema(pattern = r"^[0-9]{4,12}$", examples("123456"))]
    pub phone: Option<String>,
}

/// A credential and the session of the ceremony it answers.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasskeyVerifyRequest, examples(
    json!({
        "auth_session": "c2lnbmluLXNlc3Npb24tZXhhbXBsZQ",
        "credential": {
            "id": "AQIDBAUGBwgJCgsMDQ4PEA",
            "rawId": "AQIDBAUGBwgJCgsMDQ4PEA",
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiVjNHOW5xV20yS3gweVo4YVRRcDRoQSIsIm9yaWdpbiI6Imh0dHBzOi8vYXBwLmV4YW1wbGUuY29tIn0",
                "authenticatorData": "DGygg5w6VoNVeDP2GKJVZmXfKgiJZHh9U4ULStTTvtwFAAAAAQ",
                "signature": "MEUCIQAAAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHwIgICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8",
                "userHandle": "dXNlci02YzNmMWE"
            }
        }
    }),
))]
pub struct VerifyRequest {
    /// From `POST /passkey/register` or `POST /passkey/challenge`.
    #[schema(pattern = r"^[\x21-\x7E]{1,2048}$", min_length = 1, max_length = 2048)]
    pub auth_session: String,
    #[schema(value_type = AnyCredential)]
    pub credential: Value,
    /// Sign-up only: the codes `verification_required` asked for.
    #[schema(nullable = false)]
    pub verification: Option<VerificationCodes>,
    /// Must be one of the gateway's allowed audiences; default
    /// `auth0.audience`.
    #[schema(min_length = 1, examples("https://api.example.com"))]
    pub audience: Option<String>,
    /// Space-separated; every scope must be allowed; default `auth0.scope`.
    #[schema(min_length = 1, examples("openid profile email offline_access"))]
    pub scope: Option<String>,
}

/// Exchange a passkey for tokens
///
/// Finishes a sign-up (a `NewPasskeyCredential`, with `verification` when
/// the sign-up asked for codes) or a sign-in (a `SignInCredential`) with
/// Auth0's webauthn grant. Answers like `POST /login/verify`: the tokens;
/// with `X-Lgw-Session: 1` a cookie session instead; or `403
/// mfa_required` (continue at `/mfa/*`). A refused passkey or a spent
/// `auth_session` is Auth0's `invalid_grant`; while sign-up codes are
/// missing or wrong its body also carries `verification_required` and
/// `auth_session`, to ask again with.
#[utoipa::path(
    post,
    path = paths::PASSKEY_VERIFY,
    tag = "passkey",
    operation_id = "passkeyVerify",
    request_body(content = VerifyRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in.", body = crate::auth0::TokenSet, headers(
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
    let body = body.into_inner();
    if !is_auth_session(&body.auth_session) {
        return Err(ApiError::invalid_request(
            "auth_session must be 1 to 2048 visible ASCII characters",
        ));
    }
    let credential = AnyCredential::parse("credential", body.credential)?;
    let codes = match &body.verification {
        Some(codes) => Some(check_codes(codes)?),
        None => None,
    };
    let auth0 = &state.settings.auth0;
    let audience = allowed_audience(auth0, body.audience.as_deref())?;
    let scope = allowed_scope(auth0, body.scope.as_deref())?;
    let verification = codes.as_ref().map(|(email, phone)| PasskeyVerification {
        email: email.as_ref().map(OtpCode::expose),
        phone: phone.as_ref().map(OtpCode::expose),
    });
    let grant = TokenGrant::Webauthn {
        realm: &state.settings.passkey.connection,
        auth_session: &body.auth_session,
        authn_response: credential.json(),
        scope: &scope,
        audience,
        verification: verification.as_ref(),
    };
    let answer = state
        .auth0
        .passkey_token(caller(ip, None, &req), &grant)
        .await;
    // The right texted code proves the text arrived: tokens, or
    // `mfa_required` (the sign-up passed, a second factor is asked), are
    // the conversion of the send its `auth_session` remembers (SPEC §8,
    // §11), as for `/login/verify`.
    let phone_verified = codes.as_ref().is_some_and(|(_, phone)| phone.is_some());
    if phone_verified && matches!(answer, Ok(_) | Err(UpstreamError::MfaRequired(_))) {
        state
            .sms
            .record_sign_up_verification(&body.auth_session)
            .await;
    }
    // Tokens, or the session cookie (SPEC §10); `403 mfa_required` leaves
    // like any other Auth0 answer (its mfa_token sealed in cookie mode).
    // No identifier is known here (a passkey names its user to Auth0
    // only), so no network becomes known for one (SPEC §13).
    crate::routes::session::complete_login(&state, &req, answer)
}

/// The sign-up codes, each 4–12 digits (Auth0 decides whether the
/// ceremony asked for them).
fn check_codes(codes: &VerificationCodes) -> Result<(Option<OtpCode>, Option<OtpCode>), ApiError> {
    let code = |field: &str, value: &Option<String>| {
        value
            .as_deref()
            .map(|raw| {
                OtpCode::parse(raw).map_err(|_| {
                    ApiError::invalid_request(format!(
                        "verification.{field} must be 4 to 12 digits"
                    ))
                })
            })
            .transpose()
    };
    let email = code("email", &codes.email)?;
    let phone = code("phone", &codes.phone)?;
    if email.is_none() && phone.is_none() {
        return Err(ApiError::invalid_request(
            "verification must hold an email or a phone code",
        ));
    }
    Ok((email, phone))
}
