//! The demo tenant's MFA API: real RFC 6238 TOTP (SHA-1, 6 digits, 30 s),
//! SMS / voice / email codes printed to the console, push that approves
//! itself after a few seconds, and single-use recovery codes.
//!
//! Users whose email local part is `mfa` or starts with `mfa+` (for example
//! `mfa+alice@example.com`) must pass a second factor after their code.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use rand::Rng;
use serde_json::{json, Value};
use totp_rs::{Algorithm, TOTP};

use super::jwt;
use super::tenant::{
    prune, random_token, Session, State, Tenant, TenantError, TenantResult, MAX_ENTRIES,
};

const MFA_TOKEN_LIFETIME: Duration = Duration::from_secs(600);
/// How long the demo "phone" takes to approve a push.
pub const PUSH_APPROVAL_DELAY: Duration = Duration::from_secs(4);
/// Polling a push faster than this answers `slow_down`.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(900);
const TOTP_ISSUER: &str = "login-gateway demo";

/// Whether the demo asks this user for a second factor.
pub fn requires_mfa(identifier: &str) -> bool {
    identifier
        .split_once('@')
        .is_some_and(|(local, _)| local == "mfa" || local.starts_with("mfa+"))
}

#[derive(Default)]
pub struct MfaState {
    users: HashMap<String, DemoUser>,
    tokens: HashMap<String, MfaSession>,
    challenges: HashMap<String, OobChallenge>,
}

#[derive(Default)]
struct DemoUser {
    authenticators: Vec<DemoAuthenticator>,
    recovery_code: Option<String>,
}

impl DemoUser {
    fn has_active(&self) -> bool {
        self.authenticators.iter().any(|a| a.active)
    }
}

struct DemoAuthenticator {
    id: String,
    kind: Kind,
    active: bool,
}

enum Kind {
    Otp {
        totp: Box<TOTP>,
    },
    Oob {
        channel: &'static str,
        address: String,
    },
}

struct MfaSession {
    session: Session,
    expires: Instant,
}

struct OobChallenge {
    mfa_token: String,
    authenticator_id: String,
    /// The code sent by SMS / voice / email; `None` for push.
    binding_code: Option<String>,
    approve_at: Instant,
    last_poll: Option<Instant>,
}

fn invalid_grant(description: &str) -> TenantError {
    TenantError::new(StatusCode::FORBIDDEN, "invalid_grant", description)
}

fn six_digits() -> String {
    format!("{:06}", rand::thread_rng().gen_range(0..1_000_000))
}

fn recovery_code() -> String {
    random_token(24).to_uppercase()
}

/// `j***@example.com`-style names, as Auth0 shows enrolled factors.
fn masked_name(address: &str) -> String {
    if address.contains('@') {
        crate::domain::mask_email(address)
    } else {
        crate::domain::mask_phone(address)
    }
}

impl Tenant {
    /// Auth0's `403 mfa_required`, with a new mfa_token for this session.
    pub(super) fn mfa_required(&self, state: &mut State, session: Session) -> TenantError {
        let mfa_token = random_token(32);
        let user = state.mfa.users.entry(session.subject.clone()).or_default();
        let requirements = if user.has_active() {
            let mut types: Vec<&str> = user
                .authenticators
                .iter()
                .filter(|a| a.active)
                .map(|a| match &a.kind {
                    Kind::Otp { .. } => "otp",
                    Kind::Oob {
                        channel: "auth0", ..
                    } => "push-notification",
                    Kind::Oob {
                        channel: "email", ..
                    } => "email",
                    Kind::Oob { .. } => "phone",
                })
                .collect();
            types.push("recovery-code");
            types.dedup();
            json!({"challenge": types.iter().map(|t| json!({"type": t})).collect::<Vec<_>>()})
        } else {
            json!({"enroll": [{"type": "otp"}, {"type": "phone"}, {"type": "email"}, {"type": "push-notification"}]})
        };
        prune(&mut state.mfa.tokens, |s| s.expires);
        state.mfa.tokens.insert(
            mfa_token.clone(),
            MfaSession {
                session,
                expires: Instant::now() + MFA_TOKEN_LIFETIME,
            },
        );
        let mut error = TenantError::new(
            StatusCode::FORBIDDEN,
            "mfa_required",
            "Multifactor authentication required",
        );
        error.extra = Some(json!({"mfa_token": mfa_token, "mfa_requirements": requirements}));
        error
    }

    /// The user behind a bearer: an mfa_token, or an access token for the
    /// MFA API audience (`{tenant}/mfa/`).
    fn subject_for_bearer(&self, state: &State, bearer: &str) -> Result<String, TenantError> {
        if let Some(found) = state.mfa.tokens.get(bearer) {
            if found.expires < Instant::now() {
                return Err(TenantError::new(
                    StatusCode::FORBIDDEN,
                    "expired_token",
                    "mfa_token is expired",
                ));
            }
            return Ok(found.session.subject.clone());
        }
        let mfa_audience = format!("{}/mfa/", self.base_url());
        jwt::verify(bearer)
            .filter(|claims| claims["aud"] == json!(mfa_audience))
            .and_then(|claims| claims["sub"].as_str().map(str::to_string))
            .ok_or_else(|| {
                TenantError::new(StatusCode::UNAUTHORIZED, "invalid_token", "Invalid token")
            })
    }

    /// The session an mfa_token continues.
    fn mfa_session(state: &State, mfa_token: &str) -> Result<Session, TenantError> {
        match state.mfa.tokens.get(mfa_token) {
            Some(found) if found.expires >= Instant::now() => Ok(found.session.clone()),
            Some(_) => Err(TenantError::new(
                StatusCode::FORBIDDEN,
                "expired_token",
                "mfa_token is expired",
            )),
            None => Err(invalid_grant("Malformed mfa_token")),
        }
    }

    /// `GET /mfa/authenticators`.
    pub fn list_authenticators(&self, bearer: &str) -> TenantResult {
        let state = self.lock();
        let subject = self.subject_for_bearer(&state, bearer)?;
        let Some(user) = state.mfa.users.get(&subject) else {
            return Ok(json!([]));
        };
        let mut list: Vec<Value> = user
            .authenticators
            .iter()
            .map(|a| match &a.kind {
                Kind::Otp { .. } => {
                    json!({"id": a.id, "authenticator_type": "otp", "active": a.active})
                }
                Kind::Oob { channel, address } => json!({
                    "id": a.id, "authenticator_type": "oob", "oob_channel": channel,
                    "name": masked_name(address), "active": a.active,
                    // Real tenants add fields like this; the gateway must drop them.
                    "created_at": "2026-01-01T00:00:00.000Z",
                }),
            })
            .collect();
        if user.recovery_code.is_some() && user.has_active() {
            list.push(json!({"id": "recovery-code|dev_demo", "authenticator_type": "recovery-code", "active": true}));
        }
        Ok(Value::Array(list))
    }

    /// `POST /mfa/associate`: starts an enrollment, confirmed by `/oauth/token`.
    pub fn associate(
        &self,
        bearer: &str,
        authenticator_type: &str,
        oob_channel: Option<&str>,
        phone_number: Option<&str>,
        email: Option<&str>,
    ) -> TenantResult {
        let mut state = self.lock();
        let subject = self.subject_for_bearer(&state, bearer)?;
        let with_mfa_token = state.mfa.tokens.contains_key(bearer);
        let user = state.mfa.users.entry(subject.clone()).or_default();
        if with_mfa_token && user.has_active() {
            return Err(TenantError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                "User is already enrolled.",
            ));
        }
        // Only one enrollment at a time is pending.
        user.authenticators.retain(|a| a.active);
        let new_recovery = if user.recovery_code.is_none() {
            let code = recovery_code();
            user.recovery_code = Some(code.clone());
            Some(vec![code])
        } else {
            None
        };
        let account = subject
            .split_once('|')
            .map(|(_, id)| id)
            .unwrap_or(&subject)
            .to_string();
        let id_suffix = random_token(16);
        let mut answer = match (authenticator_type, oob_channel) {
            ("otp", None) => {
                let secret: [u8; 20] = rand::random();
                let totp = TOTP::new(
                    Algorithm::SHA1,
                    6,
                    1,
                    30,
                    secret.to_vec(),
                    Some(TOTP_ISSUER.into()),
                    account,
                )
                .map_err(|_| invalid_grant("could not create an OTP secret"))?;
                let answer = json!({
                    "authenticator_type": "otp",
                    "secret": totp.get_secret_base32(),
                    "barcode_uri": totp.get_url(),
                });
                user.authenticators.push(DemoAuthenticator {
                    id: format!("totp|dev_{id_suffix}"),
                    kind: Kind::Otp {
                        totp: Box::new(totp),
                    },
                    active: false,
                });
                answer
            }
            ("oob", Some(channel @ ("sms" | "voice" | "email" | "auth0"))) => {
                let address = match channel {
                    "email" => email.unwrap_or(&account).to_string(),
                    "auth0" => "demo device".to_string(),
                    _ => match phone_number {
                        Some(phone) => phone.to_string(),
                        None => {
                            return Err(TenantError::new(
                                StatusCode::BAD_REQUEST,
                                "invalid_request",
                                "phone_number is required",
                            ))
                        }
                    },
                };
                let prefix = if channel == "auth0" { "push" } else { channel };
                let authenticator_id = format!("{prefix}|dev_{id_suffix}");
                let channel: &'static str = match channel {
                    "sms" => "sms",
                    "voice" => "voice",
                    "email" => "email",
                    _ => "auth0",
                };
                user.authenticators.push(DemoAuthenticator {
                    id: authenticator_id.clone(),
                    kind: Kind::Oob {
                        channel,
                        address: address.clone(),
                    },
                    active: false,
                });
                let (oob_code, binding_method) =
                    start_oob(&mut state, bearer, &authenticator_id, channel, &address);
                let mut answer = json!({"authenticator_type": "oob", "oob_channel": channel, "oob_code": oob_code});
                if let Some(method) = binding_method {
                    answer["binding_method"] = json!(method);
                }
                answer
            }
            _ => {
                return Err(TenantError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "unsupported authenticator_types / oob_channels",
                ))
            }
        };
        if let Some(codes) = new_recovery {
            answer["recovery_codes"] = json!(codes);
        }
        Ok(answer)
    }

    /// The binding code an SMS / voice / email challenge sent, for tests
    /// that cannot read the console.
    #[doc(hidden)]
    pub fn pending_binding_code(&self, oob_code: &str) -> Option<String> {
        self.lock()
            .mfa
            .challenges
            .get(oob_code)
            .and_then(|c| c.binding_code.clone())
    }

    /// `POST /mfa/challenge`.
    pub fn challenge(
        &self,
        mfa_token: &str,
        challenge_type: &str,
        authenticator_id: Option<&str>,
    ) -> TenantResult {
        let mut state = self.lock();
        let session = Self::mfa_session(&state, mfa_token)?;
        let not_enrolled = || {
            TenantError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_challenge_type",
                "User is not enrolled with an authenticator of this type.",
            )
        };
        let user = state
            .mfa
            .users
            .get(&session.subject)
            .ok_or_else(not_enrolled)?;
        let wanted =
            |a: &&DemoAuthenticator| a.active && authenticator_id.is_none_or(|id| id == a.id);
        match challenge_type {
            "otp" => {
                user.authenticators
                    .iter()
                    .filter(wanted)
                    .find(|a| matches!(a.kind, Kind::Otp { .. }))
                    .ok_or_else(not_enrolled)?;
                Ok(json!({"challenge_type": "otp"}))
            }
            "oob" => {
                let (id, channel, address) = user
                    .authenticators
                    .iter()
                    .filter(wanted)
                    .find_map(|a| match &a.kind {
                        Kind::Oob { channel, address } => {
                            Some((a.id.clone(), *channel, address.clone()))
                        }
                        Kind::Otp { .. } => None,
                    })
                    .ok_or_else(not_enrolled)?;
                let (oob_code, binding_method) =
                    start_oob(&mut state, mfa_token, &id, channel, &address);
                let mut answer = json!({"challenge_type": "oob", "oob_code": oob_code});
                if let Some(method) = binding_method {
                    answer["binding_method"] = json!(method);
                }
                Ok(answer)
            }
            _ => Err(not_enrolled()),
        }
    }

    /// The `mfa-otp` grant: confirms an OTP enrollment or passes a challenge.
    pub fn grant_mfa_otp(&self, mfa_token: &str, otp: &str) -> TenantResult {
        let mut state = self.lock();
        let session = Self::mfa_session(&state, mfa_token)?;
        let user = state
            .mfa
            .users
            .get_mut(&session.subject)
            .ok_or_else(|| invalid_grant("Invalid otp_code."))?;
        let any_active_otp = user
            .authenticators
            .iter()
            .any(|a| a.active && matches!(a.kind, Kind::Otp { .. }));
        let matched = user.authenticators.iter_mut().find(|a| match &a.kind {
            // Before enrollment is confirmed only the pending secret counts.
            Kind::Otp { totp } => {
                (a.active || !any_active_otp) && totp.check_current(otp).unwrap_or(false)
            }
            Kind::Oob { .. } => false,
        });
        let Some(authenticator) = matched else {
            return Err(invalid_grant("Invalid otp_code."));
        };
        authenticator.active = true;
        Ok(self.finish_mfa(&mut state, mfa_token, &session))
    }

    /// The `mfa-oob` grant: SMS / voice / email binding codes, or push polling.
    pub fn grant_mfa_oob(
        &self,
        mfa_token: &str,
        oob_code: &str,
        binding_code: Option<&str>,
    ) -> TenantResult {
        let mut state = self.lock();
        let session = Self::mfa_session(&state, mfa_token)?;
        let now = Instant::now();
        let challenge = match state.mfa.challenges.get_mut(oob_code) {
            Some(challenge) if challenge.mfa_token == mfa_token => challenge,
            _ => return Err(invalid_grant("Invalid oob_code.")),
        };
        match &challenge.binding_code {
            Some(expected) => {
                if binding_code != Some(expected.as_str()) {
                    return Err(invalid_grant("Invalid binding_code."));
                }
            }
            None => {
                let too_fast = challenge
                    .last_poll
                    .is_some_and(|last| now.duration_since(last) < MIN_POLL_INTERVAL);
                challenge.last_poll = Some(now);
                if too_fast {
                    return Err(TenantError::new(
                        StatusCode::TOO_MANY_REQUESTS,
                        "slow_down",
                        "You are polling faster than allowed. Try again in 5 seconds.",
                    ));
                }
                if now < challenge.approve_at {
                    return Err(TenantError::new(
                        StatusCode::BAD_REQUEST,
                        "authorization_pending",
                        "Authorization pending: please repeat the request in a few seconds.",
                    ));
                }
            }
        }
        let authenticator_id = challenge.authenticator_id.clone();
        state.mfa.challenges.remove(oob_code);
        if let Some(user) = state.mfa.users.get_mut(&session.subject) {
            for authenticator in user
                .authenticators
                .iter_mut()
                .filter(|a| a.id == authenticator_id)
            {
                authenticator.active = true;
            }
        }
        Ok(self.finish_mfa(&mut state, mfa_token, &session))
    }

    /// The `mfa-recovery-code` grant: each code works once; a new one is
    /// answered in its place.
    pub fn grant_recovery_code(&self, mfa_token: &str, code: &str) -> TenantResult {
        let mut state = self.lock();
        let session = Self::mfa_session(&state, mfa_token)?;
        let user = state.mfa.users.get_mut(&session.subject);
        let Some(user) =
            user.filter(|u| u.has_active() && u.recovery_code.as_deref() == Some(code))
        else {
            return Err(invalid_grant("Invalid recovery code."));
        };
        let next = recovery_code();
        user.recovery_code = Some(next.clone());
        let mut answer = self.finish_mfa(&mut state, mfa_token, &session);
        answer["recovery_code"] = json!(next);
        Ok(answer)
    }

    /// `DELETE /mfa/authenticators/{id}` with an MFA-audience access token.
    pub fn delete_authenticator(&self, bearer: &str, id: &str) -> Result<(), TenantError> {
        let mut state = self.lock();
        if state.mfa.tokens.contains_key(bearer) {
            return Err(TenantError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "An access token for the MFA API is required",
            ));
        }
        let subject = self.subject_for_bearer(&state, bearer)?;
        let user = state.mfa.users.entry(subject).or_default();
        let before = user.authenticators.len();
        user.authenticators.retain(|a| a.id != id);
        if user.authenticators.len() == before {
            // Auth0 documents a plain 404 here.
            return Err(TenantError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "Authenticator not found",
            ));
        }
        Ok(())
    }

    fn finish_mfa(&self, state: &mut State, mfa_token: &str, session: &Session) -> Value {
        state.mfa.tokens.remove(mfa_token);
        state.mfa.challenges.retain(|_, c| c.mfa_token != mfa_token);
        self.issue_tokens(state, session, true)
    }
}

/// Sends the out-of-band message and records the challenge. Returns the
/// oob_code and the binding method (`prompt` unless it is a push).
fn start_oob(
    state: &mut State,
    mfa_token: &str,
    authenticator_id: &str,
    channel: &str,
    address: &str,
) -> (String, Option<&'static str>) {
    let oob_code = random_token(32);
    let (binding_code, approve_at) = if channel == "auth0" {
        super::announce(&format!(
            "push notification sent to the demo device; it approves itself in {} s",
            PUSH_APPROVAL_DELAY.as_secs()
        ));
        (None, Instant::now() + PUSH_APPROVAL_DELAY)
    } else {
        let code = six_digits();
        let how = match channel {
            "sms" => "text message",
            "voice" => "voice call",
            _ => "email",
        };
        super::announce(&format!(
            "{how} to {address}: your verification code is {code}"
        ));
        (Some(code), Instant::now())
    };
    if state.mfa.challenges.len() >= MAX_ENTRIES {
        state.mfa.challenges.clear();
    }
    state.mfa.challenges.insert(
        oob_code.clone(),
        OobChallenge {
            mfa_token: mfa_token.to_string(),
            authenticator_id: authenticator_id.to_string(),
            binding_code,
            approve_at,
            last_poll: None,
        },
    );
    (oob_code, binding_code_method(channel))
}

fn binding_code_method(channel: &str) -> Option<&'static str> {
    (channel != "auth0").then_some("prompt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mfa_users_are_recognised_by_their_local_part() {
        assert!(requires_mfa("mfa@example.com"));
        assert!(requires_mfa("mfa+alice@example.com"));
        assert!(!requires_mfa("jane@example.com"));
        assert!(!requires_mfa("mfalcon@example.com"));
        assert!(!requires_mfa("+14155550100"));
    }
}
