//! The bodies `/mfa/associate`, `/mfa/challenge` and `/mfa/verify`
//! accept, and how a challenge or a proof is read from them (parse at the
//! edge: the handlers only see a valid [`Challenge`] or [`Proof`]). Apart
//! from the handlers so each reads on its own; the OpenAPI schemas of these
//! bodies are with the others (`routes::schemas`).

use serde::{Deserialize, Serialize};

use super::MAX_OPAQUE_CHARS;
use crate::auth0::ChallengeType;
use crate::domain::visible_ascii;
use crate::secret::Sensitive;

crate::redacted_debug!(AssociateBody, ChallengeBody, VerifyBody);

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
    #[serde(default, deserialize_with = "crate::body::not_null")]
    pub phone_number: Option<String>,
    #[serde(default, deserialize_with = "crate::body::not_null")]
    pub email: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeBody {
    pub challenge_type: ChallengeType,
    pub authenticator_id: Option<String>,
}

/// What a `/mfa/challenge` call asks Auth0 for.
pub(super) enum Challenge {
    /// The user reads the code from their app: nothing is sent.
    Otp { authenticator_id: Option<Sensitive> },
    /// Auth0 sends a message to this authenticator. It must be named
    /// (SPEC §13): left to Auth0, the message could go to a phone while the
    /// gateway could not tell whose budget it spends.
    Oob { authenticator_id: Sensitive },
}

impl ChallengeBody {
    pub(super) fn into_challenge(self) -> Result<Challenge, String> {
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
    pub(super) fn challenge_type(&self) -> ChallengeType {
        match self {
            Self::Otp { .. } => ChallengeType::Otp,
            Self::Oob { .. } => ChallengeType::Oob,
        }
    }

    pub(super) fn authenticator_id(&self) -> Option<&str> {
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
    pub(super) fn phone_authenticator(&self) -> Option<&str> {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    #[serde(default, deserialize_with = "crate::body::not_null")]
    pub otp: Option<String>,
    #[serde(default, deserialize_with = "crate::body::not_null")]
    pub oob_code: Option<String>,
    /// Nullable, but only beside `oob_code`: present (`null` too) is `Some`.
    #[serde(default, deserialize_with = "crate::body::present")]
    pub binding_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::body::not_null")]
    pub recovery_code: Option<String>,
}

/// The second factor a `/mfa/verify` call proves.
pub(super) enum Proof {
    Otp(Sensitive),
    Oob {
        oob_code: Sensitive,
        binding_code: Option<Sensitive>,
    },
    RecoveryCode(Sensitive),
}

impl VerifyBody {
    pub(super) fn into_proof(self) -> Result<Proof, String> {
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
                    .flatten()
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

#[cfg(test)]
mod tests {
    use super::*;

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
