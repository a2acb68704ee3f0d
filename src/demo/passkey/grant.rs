//! `POST /passkey/register`, `POST /passkey/challenge` and the
//! `urn:okta:params:oauth:grant-type:webauthn` grant, with the answers
//! Auth0 documents (`auth_session` + `authn_params_public_key`; tokens; `400
//! invalid_request` for a sign-up of an existing user; `403 invalid_grant`
//! for a refused credential or a spent, unknown or expired `auth_session`).
//!
//! Where Auth0's documentation is silent the demo chooses, and says so:
//! - a phone sign-up is texted a 6-digit code and answered
//!   `"verification_required": ["phone"]` (the field Auth0's SDKs read); the
//!   grant then needs `verification: {"phone": "<code>"}`. Without it, or
//!   with a wrong one, the answer is `403 invalid_grant` carrying
//!   `verification_required` (what is still missing) and `auth_session` (the
//!   session lives on, as the SDKs expect); the third wrong code ends the
//!   session (no `auth_session` in that answer). Email sign-ups are not
//!   asked for a code, so the demo's email flows need none.
//! - the descriptions of refusals are the demo's own: a refused credential
//!   says why in `webauthn_rp`'s words ("The passkey was refused: …").
//! - validation errors are worded as Auth0's request validator words them
//!   (`"authn_response" must be of type object`, which is what Auth0
//!   answers a form-encoded webauthn grant, where every field is a string).

use actix_web::http::StatusCode;
use rand::Rng;
use serde_json::{json, Map, Value};

use super::{Ceremony, Profile, Refusal, PASSKEY_CONNECTION};
use crate::demo::sessions::Session;
use crate::demo::tenant::{Tenant, TenantError, TenantResult};

/// Wrong codes a phone sign-up may try before its session is spent.
const MAX_VERIFICATION_ATTEMPTS: u32 = 3;
/// `user_profile`'s properties (Auth0's list).
const PROFILE_PROPERTIES: [&str; 8] = [
    "email",
    "phone_number",
    "username",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "picture",
];
const SESSION_INVALID: &str = "The auth_session is invalid or has expired.";

/// The code texted to a phone sign-up, waiting for the grant.
pub(in crate::demo) struct PendingVerification {
    phone: String,
    code: String,
    attempts: u32,
    verified: bool,
}

/// What the webauthn grant was asked.
pub struct WebauthnGrant<'a> {
    pub auth_session: &'a str,
    pub authn_response: Option<&'a Value>,
    pub realm: Option<&'a str>,
    pub scope: &'a str,
    pub audience: Option<&'a str>,
    pub verification: Option<&'a Value>,
    pub issuer: &'a str,
}

pub(super) fn invalid_request(description: impl Into<String>) -> TenantError {
    TenantError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
}

fn invalid_grant(description: impl Into<String>) -> TenantError {
    TenantError::new(StatusCode::FORBIDDEN, "invalid_grant", description)
}

/// `realm` may be absent (the default connection) or the passkey one.
pub(super) fn check_realm(realm: Option<&str>) -> Result<(), TenantError> {
    match realm {
        None | Some(PASSKEY_CONNECTION) => Ok(()),
        Some(other) => Err(invalid_request(format!(
            "Connection does not exist or does not have passkeys enabled: {other}"
        ))),
    }
}

/// `user_profile` as Auth0 validates it against the connection's sign-up
/// attributes (the demo's: any of email, phone number, username).
pub(super) fn parse_profile(value: Option<&Value>) -> Result<Profile, TenantError> {
    let map = match value {
        None | Some(Value::Null) => return Err(invalid_request("\"user_profile\" is required")),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(invalid_request("\"user_profile\" must be of type object")),
    };
    if let Some(unknown) = map
        .keys()
        .find(|key| !PROFILE_PROPERTIES.contains(&key.as_str()))
    {
        return Err(invalid_request(format!(
            "\"user_profile.{unknown}\" is not allowed"
        )));
    }
    let text = |name: &str, max: usize| -> Result<Option<String>, TenantError> {
        match map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if (1..=max).contains(&text.chars().count()) => {
                Ok(Some(text.clone()))
            }
            Some(Value::String(_)) => Err(invalid_request(format!(
                "\"user_profile.{name}\" length must be between 1 and {max} characters"
            ))),
            Some(_) => Err(invalid_request(format!(
                "\"user_profile.{name}\" must be a string"
            ))),
        }
    };
    let profile = Profile {
        email: text("email", 254)?,
        phone_number: text("phone_number", 30)?,
        username: text("username", 128)?,
        name: text("name", 300)?,
        given_name: text("given_name", 150)?,
        family_name: text("family_name", 150)?,
        nickname: text("nickname", 300)?,
        picture: text("picture", 2048)?,
    };
    if let Some(email) = &profile.email {
        if email.trim() != email || crate::domain::Email::parse(email).is_err() {
            return Err(invalid_request(
                "\"user_profile.email\" must be a valid email",
            ));
        }
    }
    if let Some(phone) = &profile.phone_number {
        let digits = phone.strip_prefix('+').unwrap_or("");
        if !(1..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid_request(
                "\"user_profile.phone_number\" must be a phone number in E.164 format",
            ));
        }
    }
    if let Some(username) = &profile.username {
        if !username.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid_request(
                "\"user_profile.username\" contains characters the connection does not allow",
            ));
        }
    }
    if profile.email.is_none() && profile.phone_number.is_none() && profile.username.is_none() {
        return Err(invalid_request(
            "\"user_profile\" must contain at least one of [email, phone_number, username]",
        ));
    }
    Ok(profile)
}

fn ceremony_error(refusal: Refusal) -> TenantError {
    match refusal {
        Refusal::Malformed(description) => invalid_request(description),
        Refusal::Refused(reason) => invalid_grant(format!("The passkey was refused: {reason}")),
    }
}

/// How a sign-up's texted code compares with what the grant sent.
enum Verification {
    Passed,
    /// Still missing or wrong: the session lives on.
    Retry(&'static str),
    /// The last allowed wrong code: the session is spent.
    Exhausted,
}

impl PendingVerification {
    fn check(&mut self, sent: Option<&str>) -> Verification {
        if self.verified {
            return Verification::Passed;
        }
        match sent {
            None => Verification::Retry("Missing verification code for: phone"),
            Some(code) if code == self.code => {
                self.verified = true;
                Verification::Passed
            }
            Some(_) => {
                self.attempts += 1;
                if self.attempts >= MAX_VERIFICATION_ATTEMPTS {
                    Verification::Exhausted
                } else {
                    Verification::Retry("Invalid verification code for: phone")
                }
            }
        }
    }
}

impl Tenant {
    /// `POST /passkey/register`: `200 {auth_session, authn_params_public_key,
    /// verification_required?}`, or `400 invalid_request` when a user
    /// already has one of the identifiers.
    pub(in crate::demo) fn passkey_register(
        &self,
        realm: Option<&str>,
        profile: Profile,
    ) -> TenantResult {
        check_realm(realm)?;
        let mut state = self.lock();
        if state.passkeys.exists(&profile) {
            return Err(invalid_request("The user already exists."));
        }
        let handle = super::new_handle();
        let (server, public_key) = self
            .start_registration(&handle, profile.identifier(), profile.display_name())
            .map_err(ceremony_error)?;
        let verification = profile
            .phone_number
            .as_ref()
            .map(|phone| PendingVerification {
                phone: phone.clone(),
                code: format!("{:06}", rand::thread_rng().gen_range(0..1_000_000)),
                attempts: 0,
                verified: false,
            });
        if let Some(pending) = &verification {
            crate::demo::announce(&format!(
                "text message to {}: your sign-up code is {}  (for the passkey sign-up; valid 5 minutes)",
                pending.phone, pending.code
            ));
        }
        let phone = verification.is_some();
        let auth_session = state.passkeys.start(Ceremony::SignUp {
            server,
            profile: Box::new(profile),
            handle,
            verification,
        });
        let mut answer =
            json!({"auth_session": auth_session, "authn_params_public_key": public_key});
        if phone {
            answer["verification_required"] = json!(["phone"]);
        }
        Ok(answer)
    }

    /// `POST /passkey/challenge`: `200 {auth_session, authn_params_public_key}`
    /// for a discoverable credential (no `allowCredentials`).
    pub(in crate::demo) fn passkey_challenge(&self, realm: Option<&str>) -> TenantResult {
        check_realm(realm)?;
        let (server, public_key) = self.start_authentication().map_err(ceremony_error)?;
        let auth_session = self.lock().passkeys.start(Ceremony::SignIn { server });
        Ok(json!({"auth_session": auth_session, "authn_params_public_key": public_key}))
    }

    /// The code texted to a pending phone sign-up, for tests that cannot
    /// read the console.
    #[doc(hidden)]
    pub fn pending_signup_code(&self, phone: &str) -> Option<String> {
        self.lock()
            .passkeys
            .ceremonies
            .values()
            .find_map(|pending| match &pending.ceremony {
                Ceremony::SignUp {
                    verification: Some(v),
                    ..
                } if v.phone == phone && !v.verified => Some(v.code.clone()),
                _ => None,
            })
    }

    /// The `urn:okta:params:oauth:grant-type:webauthn` grant: a sign-up's
    /// attestation creates the user, a sign-in's assertion names one; each
    /// `auth_session` is spent by its first credential, accepted or not.
    pub(in crate::demo) fn grant_webauthn(&self, grant: WebauthnGrant<'_>) -> TenantResult {
        check_realm(grant.realm)?;
        let credential = match grant.authn_response {
            None | Some(Value::Null) => {
                return Err(invalid_request("\"authn_response\" is required"))
            }
            Some(value @ Value::Object(_)) => value,
            Some(_) => return Err(invalid_request("\"authn_response\" must be of type object")),
        };
        let sent_code = match grant.verification {
            None | Some(Value::Null) => None,
            Some(Value::Object(codes)) => verification_code(codes)?,
            Some(_) => return Err(invalid_request("\"verification\" must be of type object")),
        };
        let mut guard = self.lock();
        let state = &mut *guard;
        let pending = state
            .passkeys
            .live(grant.auth_session)
            .ok_or_else(|| invalid_grant(SESSION_INVALID))?;
        match &mut pending.ceremony {
            Ceremony::Enroll { .. } => return Err(invalid_grant(SESSION_INVALID)),
            Ceremony::SignUp {
                verification: Some(verification),
                ..
            } => match verification.check(sent_code) {
                Verification::Passed => {}
                Verification::Retry(description) => {
                    let mut error = invalid_grant(description);
                    error.extra = Some(json!({
                        "verification_required": ["phone"],
                        "auth_session": grant.auth_session,
                    }));
                    return Err(error);
                }
                Verification::Exhausted => {
                    state.passkeys.ceremonies.remove(grant.auth_session);
                    return Err(invalid_grant(
                        "Too many invalid verification codes. Please start the sign-up again.",
                    ));
                }
            },
            _ => {}
        }
        let pending = state
            .passkeys
            .ceremonies
            .remove(grant.auth_session)
            .ok_or_else(|| invalid_grant(SESSION_INVALID))?;
        let subject = match pending.ceremony {
            Ceremony::SignUp {
                server,
                profile,
                handle,
                verification,
            } => {
                let credential = self
                    .finish_registration(server, &handle, credential)
                    .map_err(ceremony_error)?;
                if state.passkeys.exists(&profile) {
                    return Err(invalid_grant("The user already exists."));
                }
                let subject = format!("auth0|{}", hex_id());
                let phone_verified = verification.is_some_and(|v| v.verified);
                state
                    .passkeys
                    .create_user(&subject, *profile, phone_verified, handle, credential)
                    .map_err(invalid_grant)?;
                subject
            }
            Ceremony::SignIn { server } => self
                .finish_authentication(&mut state.passkeys, server, credential)
                .map_err(ceremony_error)?,
            Ceremony::Enroll { .. } => return Err(invalid_grant(SESSION_INVALID)),
        };
        let session = Session::sign_in(
            subject.clone(),
            grant.audience.unwrap_or_default().to_string(),
            grant.scope.to_string(),
            grant.issuer.to_string(),
        );
        // As after a code: the demo's MFA users (`mfa+…@`) pass a second
        // factor after their passkey too.
        if crate::demo::mfa::requires_mfa(state.passkeys.mfa_identifier(&subject)) {
            return Err(self.mfa_required(state, session));
        }
        Ok(self.issue_tokens(state, &session, true))
    }
}

/// `verification.phone` (and `email`, accepted and unused: no email
/// sign-up is asked for a code).
fn verification_code(codes: &Map<String, Value>) -> Result<Option<&str>, TenantError> {
    for (name, value) in codes {
        if name != "phone" && name != "email" {
            return Err(invalid_request(format!(
                "\"verification.{name}\" is not allowed"
            )));
        }
        if !value.is_string() {
            return Err(invalid_request(format!(
                "\"verification.{name}\" must be a string"
            )));
        }
    }
    Ok(codes.get("phone").and_then(Value::as_str))
}

/// 24 hex digits, like the ids Auth0 gives database users.
fn hex_id() -> String {
    let bytes: [u8; 12] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(value: Value) -> Result<Profile, String> {
        parse_profile(Some(&value)).map_err(|e| e.description)
    }

    #[test]
    fn a_profile_needs_an_identifier_and_only_known_properties() {
        assert!(profile(json!({"email": "jane@example.com", "name": "Jane"})).is_ok());
        assert!(profile(json!({"phone_number": "+14155550100"})).is_ok());
        assert!(profile(json!({"username": "jane_doe"})).is_ok());
        let refused = [
            (json!({"name": "Jane"}), "must contain at least one of"),
            (
                json!({"email": "jane@example.com", "age": 3}),
                "\"user_profile.age\" is not allowed",
            ),
            (json!({"email": "not-an-email"}), "must be a valid email"),
            (json!({"phone_number": "14155550100"}), "E.164"),
            (json!({"phone_number": "+1234567890123456"}), "E.164"),
            (json!({"username": "jane doe"}), "does not allow"),
            (
                json!({"email": "jane@example.com", "name": ""}),
                "between 1 and 300",
            ),
            (json!({"email": 7}), "must be a string"),
        ];
        for (value, expected) in refused {
            let error = profile(value.clone()).expect_err("refused");
            assert!(error.contains(expected), "{value}: {error}");
        }
        assert!(parse_profile(None).is_err());
        assert!(parse_profile(Some(&json!("jane"))).is_err());
    }

    #[test]
    fn only_the_passkey_connection_is_a_realm() {
        assert!(check_realm(None).is_ok());
        assert!(check_realm(Some(PASSKEY_CONNECTION)).is_ok());
        let error = check_realm(Some("email")).expect_err("refused");
        assert_eq!(
            (error.status.as_u16(), error.error),
            (400, "invalid_request")
        );
    }

    #[test]
    fn a_texted_code_allows_two_mistakes() {
        let mut pending = PendingVerification {
            phone: "+14155550100".into(),
            code: "123456".into(),
            attempts: 0,
            verified: false,
        };
        assert!(matches!(pending.check(None), Verification::Retry(_)));
        assert!(matches!(
            pending.check(Some("000000")),
            Verification::Retry(_)
        ));
        assert!(matches!(
            pending.check(Some("123456")),
            Verification::Passed
        ));
        assert!(matches!(pending.check(None), Verification::Passed));

        let mut burnt = PendingVerification {
            verified: false,
            attempts: 0,
            ..pending
        };
        assert!(matches!(burnt.check(Some("1")), Verification::Retry(_)));
        assert!(matches!(burnt.check(Some("2")), Verification::Retry(_)));
        assert!(matches!(burnt.check(Some("3")), Verification::Exhausted));
    }

    #[test]
    fn user_ids_look_like_auth0_database_ids() {
        let id = hex_id();
        assert_eq!(id.len(), 24);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
