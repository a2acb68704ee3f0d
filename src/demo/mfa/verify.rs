//! Passing a second factor: `POST /mfa/challenge` (which authenticator to
//! use; an out-of-band one gets its message from [`super::oob`]) and the
//! `mfa-otp` and `mfa-recovery-code` grants. The `mfa-oob` grant lives with
//! the out-of-band code in [`super::oob`].

use actix_web::http::StatusCode;
use serde_json::json;
use subtle::ConstantTimeEq;
use totp_rs::TOTP;

use super::{invalid_grant, recovery_code, DemoAuthenticator, Kind};
use crate::demo::tenant::{unix_now, Tenant, TenantError, TenantResult};

impl Tenant {
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
                    self.start_oob(&mut state, mfa_token, &id, channel, &address);
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
        let now = unix_now();
        // Before enrollment is confirmed only the pending secret counts.
        let matched = user
            .authenticators
            .iter_mut()
            .filter(|a| a.active || !any_active_otp)
            .find_map(|a| match &mut a.kind {
                Kind::Otp { totp, last_step } => {
                    let step = fresh_step(totp, *last_step, otp, now)?;
                    *last_step = Some(step);
                    a.active = true;
                    Some(())
                }
                Kind::Oob { .. } => None,
            });
        // A code used before is refused like a wrong one, as Auth0 does.
        if matched.is_none() {
            return Err(invalid_grant("Invalid otp_code."));
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
}

/// The time step whose code `otp` is (this one, or within the TOTP's skew
/// for a clock that drifts), if it is later than the last one accepted.
fn fresh_step(totp: &TOTP, last_step: Option<u64>, otp: &str, now: u64) -> Option<u64> {
    let current = now / totp.step;
    let skew = u64::from(totp.skew);
    (current.saturating_sub(skew)..=current + skew)
        .filter(|step| last_step.is_none_or(|last| *step > last))
        .find(|step| {
            totp.generate(step * totp.step)
                .as_bytes()
                .ct_eq(otp.as_bytes())
                .into()
        })
}
