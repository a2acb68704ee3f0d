//! [`DemoOptions`]: the fake tenant's timings where real Auth0 waits on a
//! person (today the push approval), and `LGW_DEMO_PUSH_DELAY_MS`, the one
//! environment variable `--demo` reads to change them. Separate from the
//! tenant so tests and the command line share one definition of the
//! defaults and of what the variable accepts.

use std::time::Duration;

/// The environment variable that sets the demo push's approval delay for
/// `--demo`, in whole milliseconds (`0` to 600000; default 4000). It only
/// tunes the fake tenant: it cannot switch the demo on.
pub const PUSH_DELAY_ENV: &str = "LGW_DEMO_PUSH_DELAY_MS";

/// The longest push approval delay [`PUSH_DELAY_ENV`] accepts: the
/// mfa_token's lifetime, after which waiting longer cannot matter.
const MAX_PUSH_DELAY_MS: u64 = 600_000;

/// How the fake tenant behaves where real Auth0 depends on a person.
///
/// The defaults are what someone trying `--demo` sees: a push approves
/// itself after 4 s, long enough to watch the app poll. Tests set short
/// values so a push flow takes well under a second.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoOptions {
    /// How long after a push is sent the demo device approves it; polls
    /// before then answer `authorization_pending`.
    pub push_approval_delay: Duration,
    /// Polling a push again sooner than this answers `slow_down`, as Auth0
    /// does (it asks for about 5 s; the demo is more lenient).
    pub min_poll_interval: Duration,
    /// The origin WebAuthn ceremonies may come from when no example app is
    /// linked ([`Tenant::link`](super::Tenant::link)); tests set
    /// `http://localhost:<port>`. A linked app's origin is allowed too.
    pub passkey_origin: Option<String>,
    /// Whether passkey ceremonies require user verification (`required`
    /// instead of Auth0's `preferred`, as a tenant whose passkey policy
    /// demands it). Off by default, as on Auth0.
    pub passkey_user_verification_required: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            push_approval_delay: Duration::from_secs(4),
            min_poll_interval: Duration::from_millis(900),
            passkey_origin: None,
            passkey_user_verification_required: false,
        }
    }
}

impl DemoOptions {
    /// The defaults, with the push approval delay from
    /// `LGW_DEMO_PUSH_DELAY_MS` ([`PUSH_DELAY_ENV`]) when it is set. A value
    /// that is not a whole number of milliseconds up to 600000 is an error
    /// naming the variable (never quoting the value).
    pub fn from_env() -> Result<Self, String> {
        let value = std::env::var_os(PUSH_DELAY_ENV);
        let value = match value.as_deref().map(|v| v.to_str()) {
            None => None,
            Some(Some(text)) => Some(text),
            Some(None) => return Err(Self::bad_push_delay()),
        };
        Self::with_push_delay_ms(value)
    }

    fn with_push_delay_ms(value: Option<&str>) -> Result<Self, String> {
        let mut options = Self::default();
        if let Some(text) = value {
            match text.trim().parse::<u64>() {
                Ok(ms) if ms <= MAX_PUSH_DELAY_MS => {
                    options.push_approval_delay = Duration::from_millis(ms);
                }
                _ => return Err(Self::bad_push_delay()),
            }
        }
        Ok(options)
    }

    fn bad_push_delay() -> String {
        format!(
            "{PUSH_DELAY_ENV} must be a whole number of milliseconds from 0 to {MAX_PUSH_DELAY_MS}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_what_a_person_trying_the_demo_sees() {
        let options = DemoOptions::default();
        assert_eq!(options.push_approval_delay, Duration::from_secs(4));
        assert_eq!(options.min_poll_interval, Duration::from_millis(900));
        assert_eq!(DemoOptions::with_push_delay_ms(None), Ok(options));
    }

    #[test]
    fn the_push_delay_is_read_in_milliseconds_and_bounded() {
        let delay = |v| DemoOptions::with_push_delay_ms(Some(v)).map(|o| o.push_approval_delay);
        assert_eq!(delay("300"), Ok(Duration::from_millis(300)));
        assert_eq!(delay(" 0 "), Ok(Duration::ZERO));
        assert_eq!(delay("600000"), Ok(Duration::from_secs(600)));
        for bad in ["", "-1", "1.5", "4s", "600001", "18446744073709551616"] {
            let error = delay(bad).expect_err(bad);
            assert!(error.starts_with(PUSH_DELAY_ENV), "{error}");
            assert!(bad.is_empty() || !error.contains(bad.trim()), "{error}");
        }
    }
}
