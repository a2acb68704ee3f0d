//! What can go wrong upstream, and the one place that maps Auth0's answers
//! to the client's status and code (SPEC §2).

use actix_web::http::StatusCode;
use serde::Deserialize;

use super::passkey::{is_auth_session, VerificationIdentifier};
use super::types::{known, KnownOrOther, MfaRequired, MfaRequirements};
use super::Endpoint;
use crate::secret::Sensitive;

/// Auth0 4xx codes the gateway passes through with their status: the ones a
/// client can act on. Anything else is an upstream fault (502).
pub const DOCUMENTED_CODES: &[&str] = &[
    "invalid_request",
    "invalid_grant",
    "invalid_scope",
    "unsupported_challenge_type",
    "association_required",
    "mfa_required",
    "mfa_registration_required",
    "access_denied",
    "expired_token",
    "authorization_pending",
    "slow_down",
    "too_many_attempts",
    "too_many_requests",
    "unauthorized",
    "invalid_token",
    // RFC 6750 §3.1: the token lacks a scope (the My Account API's 403).
    "insufficient_scope",
    "bad.email",
    "bad.phone_number",
    "bad.connection",
    "bad.request",
    "bad.authParams",
    "sms_provider_error",
];

/// Codes that mean the gateway's own credentials or setup are wrong: an
/// operator's problem, never the client's.
const CONFIGURATION_CODES: &[&str] = &[
    "invalid_client",
    "unauthorized_client",
    "bad.client_id",
    "unsupported_grant_type",
];

#[derive(Debug, Clone)]
pub enum UpstreamError {
    /// A documented Auth0 4xx: keeps status and code.
    Rejected {
        status: StatusCode,
        code: String,
        description: String,
        retry_after: Option<u64>,
    },
    /// Auth0's `403 mfa_required`: the login continues at `/mfa/*`.
    MfaRequired(MfaRequired),
    /// A `400` to a passkey sign-up, whatever Auth0 said (an existing
    /// user among them): one answer for all, so a sign-up cannot tell
    /// who has an account (SPEC §11). `code` is for the log only.
    SignUpRefused { code: String },
    /// The webauthn grant's `invalid_grant` that says which sign-up codes
    /// are still missing, and the session to try again with.
    PasskeyRetry(Box<PasskeyRetry>),
    /// Auth0's own rate limit.
    RateLimited { retry_after: u64 },
    /// Auth0 rejected the gateway's credentials or grant setup.
    Misconfigured { code: String },
    /// 5xx, garbage, oversize, undocumented: `reason` is for the log.
    BadAnswer { reason: String },
    /// Could not connect (refused, DNS, TLS, connect timeout).
    Unreachable { reason: String },
    /// Connected, but no answer within `timeout_ms`.
    Timeout,
}

/// What a [`UpstreamError::PasskeyRetry`] keeps of Auth0's answer: its
/// status, code and description, and the two fields the app asks again
/// with (each absent when Auth0 left it out: a spent session has none).
#[derive(Debug, Clone)]
pub struct PasskeyRetry {
    pub status: StatusCode,
    pub code: String,
    pub description: String,
    pub verification_required: Option<Vec<VerificationIdentifier>>,
    pub auth_session: Option<Sensitive>,
}

impl UpstreamError {
    pub fn bad_answer(reason: impl Into<String>) -> Self {
        Self::BadAnswer {
            reason: reason.into(),
        }
    }
}

/// Both of Auth0's error shapes: `{error, error_description}` and
/// `{statusCode, error, message, errorCode}`.
#[derive(Deserialize)]
struct Auth0ErrorBody {
    error: Option<String>,
    error_description: Option<String>,
    message: Option<String>,
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
    mfa_token: Option<Sensitive>,
    mfa_requirements: Option<MfaRequirements>,
    /// The webauthn grant only (SPEC §11).
    #[serde(default)]
    verification_required: Option<Vec<KnownOrOther<VerificationIdentifier>>>,
    auth_session: Option<Sensitive>,
}

/// Descriptions are passed through, but not without bound.
const MAX_DESCRIPTION_CHARS: usize = 512;

/// Turns a non-2xx Auth0 answer into an [`UpstreamError`].
/// `retry_after` is what the response headers say (already in seconds).
pub fn classify(
    endpoint: Endpoint,
    status: StatusCode,
    body: &[u8],
    retry_after: Option<u64>,
) -> UpstreamError {
    if status.is_server_error() {
        return UpstreamError::bad_answer(format!("status {}", status.as_u16()));
    }
    if endpoint.is_my_account() {
        return classify_my_account(status, body, retry_after);
    }
    let parsed: Option<Auth0ErrorBody> = serde_json::from_slice(body).ok();
    if let Some(error) = passkey_api(endpoint, status, parsed.as_ref()) {
        return error;
    }
    // Auth0 documents `404 Authenticator not found` for DELETE
    // /mfa/authenticators/{id}, without naming a code. Only that endpoint
    // has an id in its path: a 404 anywhere else means a wrong
    // `auth0.domain`, an upstream fault.
    if endpoint == Endpoint::MfaDeleteAuthenticator && status == StatusCode::NOT_FOUND {
        return UpstreamError::Rejected {
            status,
            code: "not_found".to_string(),
            description: parsed
                .as_ref()
                .map(description)
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| "Authenticator not found".to_string()),
            retry_after: None,
        };
    }
    let Some(parsed) = parsed else {
        if status == StatusCode::TOO_MANY_REQUESTS {
            return UpstreamError::RateLimited {
                retry_after: retry_after.unwrap_or(1),
            };
        }
        return UpstreamError::bad_answer(format!(
            "status {} with a non-JSON body",
            status.as_u16()
        ));
    };
    let documented = |code: &Option<String>| {
        code.as_deref()
            .filter(|c| DOCUMENTED_CODES.contains(c) || CONFIGURATION_CODES.contains(c))
            .map(str::to_string)
    };
    // In the second shape `error` is often the HTTP reason ("Forbidden") and
    // `errorCode` the real code.
    let code = documented(&parsed.error_code).or_else(|| documented(&parsed.error));
    if let Some(code) = code.as_deref().filter(|c| CONFIGURATION_CODES.contains(c)) {
        return UpstreamError::Misconfigured {
            code: code.to_string(),
        };
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return match code {
            // slow_down / too_many_attempts keep their code so a client can react.
            Some(code) if code != "too_many_requests" => UpstreamError::Rejected {
                status,
                description: description(&parsed),
                code,
                retry_after: Some(retry_after.unwrap_or(1)),
            },
            _ => UpstreamError::RateLimited {
                retry_after: retry_after.unwrap_or(1),
            },
        };
    }
    if !status.is_client_error() {
        return UpstreamError::bad_answer(format!("unexpected status {}", status.as_u16()));
    }
    let Some(code) = code else {
        return UpstreamError::bad_answer(format!(
            "status {} with an undocumented error code",
            status.as_u16()
        ));
    };
    if code == "mfa_required" {
        return match (parsed.mfa_token, parsed.mfa_requirements) {
            (Some(mfa_token), requirements) => UpstreamError::MfaRequired(MfaRequired {
                mfa_token,
                mfa_requirements: requirements.unwrap_or_default(),
            }),
            (None, _) => UpstreamError::bad_answer("mfa_required without mfa_token"),
        };
    }
    if endpoint == Endpoint::PasskeyToken
        && code == "invalid_grant"
        && (parsed.verification_required.is_some() || parsed.auth_session.is_some())
    {
        return UpstreamError::PasskeyRetry(Box::new(PasskeyRetry {
            status,
            description: description(&parsed),
            code,
            verification_required: parsed.verification_required.map(known),
            // Only a session `/passkey/verify` would take back.
            auth_session: parsed
                .auth_session
                .filter(|session| is_auth_session(session.expose())),
        }));
    }
    UpstreamError::Rejected {
        status,
        description: description(&parsed),
        code,
        retry_after: None,
    }
}

/// The My Account API's error shape (`{type, status, title, detail,
/// validation_errors?}`); only the texts are read, the status decides.
#[derive(Deserialize)]
struct MyAccountErrorBody {
    title: Option<String>,
    detail: Option<String>,
}

/// SPEC §11: a My Account answer (4xx; 5xx is handled before) becomes
/// §2's shape. 400/409/422 → `400 invalid_request`, 401 → `401
/// invalid_token`, 403 → `403 insufficient_scope`, 429 → `429
/// too_many_requests`, each with Auth0's `detail` as the description.
/// Its 404 means the tenant has no passkeys or My Account API (or
/// `auth0.domain` is not its custom domain): the operator's problem, so
/// `502` with that reason in the one log event of the call.
fn classify_my_account(status: StatusCode, body: &[u8], retry_after: Option<u64>) -> UpstreamError {
    let (client_status, code, fallback) = match status.as_u16() {
        429 => {
            return UpstreamError::RateLimited {
                retry_after: retry_after.unwrap_or(1),
            }
        }
        404 => {
            return UpstreamError::bad_answer(
                "the My Account API answered 404: passkeys or the My Account API are not \
                 enabled for this tenant, or auth0.domain is not its custom domain",
            )
        }
        400 | 409 | 422 => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the identity provider refused the passkey enrollment",
        ),
        401 => (
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the identity provider did not accept the access token",
        ),
        403 => (
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the access token does not allow adding a passkey (create:me:authentication_methods)",
        ),
        other => return UpstreamError::bad_answer(format!("unexpected status {other}")),
    };
    let Ok(parsed) = serde_json::from_slice::<MyAccountErrorBody>(body) else {
        return UpstreamError::bad_answer(format!(
            "status {} without the My Account error shape",
            status.as_u16()
        ));
    };
    let text = [parsed.detail, parsed.title]
        .into_iter()
        .flatten()
        .find(|text| !text.trim().is_empty())
        .unwrap_or_else(|| fallback.to_string());
    UpstreamError::Rejected {
        status: client_status,
        code: code.to_string(),
        description: text.chars().take(MAX_DESCRIPTION_CHARS).collect(),
        retry_after: None,
    }
}

/// What the Passkey API's answers mean beyond the common rules (SPEC §11):
/// a `404` from any of its calls is passkeys not enabled (for the tenant,
/// the application or the connection) or `auth0.domain` not being the
/// tenant's custom domain: the operator's to fix, `502`. A `401`/`403` to
/// register or challenge can only be about the gateway's own client (no
/// user is involved yet). Every other `400` to a sign-up is
/// [`UpstreamError::SignUpRefused`].
fn passkey_api(
    endpoint: Endpoint,
    status: StatusCode,
    parsed: Option<&Auth0ErrorBody>,
) -> Option<UpstreamError> {
    let passkey_call = matches!(
        endpoint,
        Endpoint::PasskeyRegister | Endpoint::PasskeyChallenge | Endpoint::PasskeyToken
    );
    if !passkey_call {
        return None;
    }
    let auth0_code = || {
        parsed
            .and_then(|body| body.error_code.as_deref().or(body.error.as_deref()))
            .map(|code| code.chars().take(64).collect::<String>())
    };
    if status == StatusCode::NOT_FOUND {
        return Some(UpstreamError::bad_answer(
            "404 from the Passkey API: passkeys are not enabled for the tenant, the \
             application or passkey.connection, or auth0.domain is not the tenant's custom domain",
        ));
    }
    let ceremony = matches!(
        endpoint,
        Endpoint::PasskeyRegister | Endpoint::PasskeyChallenge
    );
    if ceremony && matches!(status.as_u16(), 401 | 403) {
        return Some(UpstreamError::Misconfigured {
            code: auth0_code().unwrap_or_else(|| format!("status {}", status.as_u16())),
        });
    }
    if endpoint == Endpoint::PasskeyRegister && status == StatusCode::BAD_REQUEST {
        let code = auth0_code();
        if let Some(code) = code
            .as_deref()
            .filter(|code| CONFIGURATION_CODES.contains(code))
        {
            // The same for every sign-up, so nothing to enumerate: the
            // operator's fault, logged as such.
            return Some(UpstreamError::Misconfigured {
                code: code.to_string(),
            });
        }
        return Some(UpstreamError::SignUpRefused {
            code: code.unwrap_or_else(|| "none".to_string()),
        });
    }
    None
}

fn description(body: &Auth0ErrorBody) -> String {
    let text = body
        .error_description
        .as_deref()
        .or(body.message.as_deref())
        .unwrap_or("");
    text.chars().take(MAX_DESCRIPTION_CHARS).collect()
}
