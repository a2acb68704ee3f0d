//! A string that must never reach a log: tokens, codes, mfa_tokens, TOTP
//! secrets. Unlike `secrecy::SecretString` it serialises, because the gateway
//! has to hand tokens to the client; what it guarantees is that `{:?}` and
//! tracing fields print `[redacted]`.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sensitive(String);

impl Sensitive {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for the one place that sends it on.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A `Debug` that names the type and nothing else, for request and upstream
/// bodies that hold codes, tokens or unmasked emails and phone numbers
/// (SPEC §6): a stray `{:?}` in a log line then leaks nothing.
#[macro_export]
macro_rules! redacted_debug {
    ($($name:ident $(<$lt:lifetime>)?),+ $(,)?) => {$(
        impl $(<$lt>)? ::std::fmt::Debug for $name $(<$lt>)? {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(concat!(stringify!($name), " { .. }"))
            }
        }
    )+};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let token = Sensitive::new("eyJ-secret-token");
        assert_eq!(format!("{token:?}"), "[redacted]");
        assert_eq!(
            serde_json::to_string(&token).ok().as_deref(),
            Some("\"eyJ-secret-token\"")
        );
    }
}
