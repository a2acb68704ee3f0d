//! The demo tenant's MFA API: real RFC 6238 TOTP (SHA-1, 6 digits, 30 s),
//! SMS / voice / email codes printed to the console, push that approves
//! itself after a delay (4 s unless [`DemoOptions`](super::DemoOptions)
//! says otherwise), and single-use recovery codes.
//!
//! Users whose email local part is `mfa` or starts with `mfa+` (for example
//! `mfa+alice@example.com`) must pass a second factor after their code.
//!
//! The code is split by concern so each file reads on its own:
//! - this file: the per-user state (authenticators, recovery code, pending
//!   mfa_tokens and challenges), `403 mfa_required`, and how a bearer or an
//!   mfa_token resolves to a user;
//! - [`authenticators`]: listing, enrolling (`/mfa/associate`) and deleting;
//! - [`oob`]: out-of-band messages (SMS / voice / email codes, push) and the
//!   `mfa-oob` grant that checks a binding code or answers a push poll;
//! - [`verify`]: `/mfa/challenge` and the `mfa-otp` / `mfa-recovery-code`
//!   grants.

mod authenticators;
mod oob;
mod verify;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use serde_json::json;
use totp_rs::TOTP;

use super::sessions::Session;
use super::tenant::{prune, random_token, State, Tenant, TenantError};

const MFA_TOKEN_LIFETIME: Duration = Duration::from_secs(600);

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
        /// The time step of the last code accepted: RFC 6238 §5.2, a
        /// code is accepted once, and an older one never after it.
        last_step: Option<u64>,
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

/// An out-of-band message waiting for its binding code or, for a push, for
/// the demo device's approval (see [`oob`]).
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

fn recovery_code() -> String {
    random_token(24).to_uppercase()
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
        self.key()
            .verify(bearer)
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

    /// A passed second factor: the mfa_token and its pending challenges are
    /// spent, and the session gets its tokens.
    fn finish_mfa(
        &self,
        state: &mut State,
        mfa_token: &str,
        session: &Session,
    ) -> serde_json::Value {
        state.mfa.tokens.remove(mfa_token);
        state.mfa.challenges.retain(|_, c| c.mfa_token != mfa_token);
        self.issue_tokens(state, session, true)
    }
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
