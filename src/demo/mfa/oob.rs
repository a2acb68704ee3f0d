//! Out-of-band factors: the SMS / voice / email message with its binding
//! code, the push to the "demo device", and the `mfa-oob` grant that checks
//! the code or answers a push poll (`authorization_pending` until the
//! device approves, `slow_down` when polled too fast).
//!
//! The push timings come from the tenant's
//! [`DemoOptions`](crate::demo::DemoOptions), so tests can run a push in a
//! fraction of a second while `--demo` keeps a delay a person can watch.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use rand::Rng;

use super::{invalid_grant, OobChallenge};
use crate::demo::tenant::{random_token, State, Tenant, TenantError, TenantResult, MAX_ENTRIES};

fn six_digits() -> String {
    format!("{:06}", rand::thread_rng().gen_range(0..1_000_000))
}

/// `4 s` for whole seconds (what `--demo` prints by default), else `300 ms`.
fn human(delay: Duration) -> String {
    if delay.subsec_millis() == 0 {
        format!("{} s", delay.as_secs())
    } else {
        format!("{} ms", delay.as_millis())
    }
}

fn binding_code_method(channel: &str) -> Option<&'static str> {
    (channel != "auth0").then_some("prompt")
}

impl Tenant {
    /// Sends the out-of-band message and records the challenge. Returns the
    /// oob_code and the binding method (`prompt` unless it is a push).
    pub(super) fn start_oob(
        &self,
        state: &mut State,
        mfa_token: &str,
        authenticator_id: &str,
        channel: &str,
        address: &str,
    ) -> (String, Option<&'static str>) {
        let oob_code = random_token(32);
        let (binding_code, approve_at) = if channel == "auth0" {
            let delay = self.options().push_approval_delay;
            crate::demo::announce(&format!(
                "push notification sent to the demo device; it approves itself in {}",
                human(delay)
            ));
            (None, Instant::now() + delay)
        } else {
            let code = six_digits();
            let how = match channel {
                "sms" => "text message",
                "voice" => "voice call",
                _ => "email",
            };
            crate::demo::announce(&format!(
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

    /// The `mfa-oob` grant: SMS / voice / email binding codes, or push polling.
    pub fn grant_mfa_oob(
        &self,
        mfa_token: &str,
        oob_code: &str,
        binding_code: Option<&str>,
    ) -> TenantResult {
        let min_poll_interval = self.options().min_poll_interval;
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
                    .is_some_and(|last| now.duration_since(last) < min_poll_interval);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_printed_in_seconds_when_whole() {
        assert_eq!(human(Duration::from_secs(4)), "4 s");
        assert_eq!(human(Duration::from_millis(300)), "300 ms");
        assert_eq!(human(Duration::from_millis(1500)), "1500 ms");
    }
}
