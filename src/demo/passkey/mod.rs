//! The demo tenant's passkeys (SPEC §11): Auth0's native Passkey API
//! (`POST /passkey/register`, `POST /passkey/challenge`, the
//! `urn:okta:params:oauth:grant-type:webauthn` grant) and My Account
//! enrolment, with real WebAuthn checks by `webauthn_rp` (no hand-written
//! CBOR or signature code): `none` and `packed` self attestation; EdDSA,
//! ES256 and RS256 keys; challenge, origin, `rpIdHash`, the user-present and
//! user-verified flags and the signature counter.
//!
//! - this file has the state (ceremonies waiting for their credential by
//!   `auth_session`, users and their credentials);
//! - [`ceremony`] runs the two WebAuthn ceremonies through `webauthn_rp`;
//! - [`grant`] has `/passkey/register`, `/passkey/challenge`, the webauthn
//!   grant and the phone sign-up's verification code;
//! - [`routes`] is their HTTP face;
//! - [`super::my_account`] has `/me/v1/authentication-methods`.
//!
//! The relying party is `localhost` (the demo's one origin is
//! `http://localhost:<port>`, and WebAuthn refuses IP-address origins); a
//! ceremony may come from the linked example app's origin or from
//! [`DemoOptions::passkey_origin`](super::DemoOptions::passkey_origin).

mod ceremony;
pub(super) mod grant;
pub(super) mod routes;

pub(super) use ceremony::Refusal;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use webauthn_rp::request::register::UserHandle;
use webauthn_rp::response::register::{CompressedPubKey, DynamicState};
use webauthn_rp::response::Backup;
use webauthn_rp::{AuthenticationServerState, RegistrationServerState};

use super::tenant::{prune, MAX_ENTRIES};

/// Auth0's passkey grant.
pub const GRANT_WEBAUTHN: &str = "urn:okta:params:oauth:grant-type:webauthn";
/// The database connection with passkeys on: Auth0's `realm`.
pub const PASSKEY_CONNECTION: &str = "Username-Password-Authentication";
/// The relying party every demo passkey belongs to.
pub const RP_ID: &str = "localhost";
/// How long a ceremony (and its `auth_session`) lives, in milliseconds:
/// the `timeout` of the options. Auth0's examples show 60000; the demo
/// gives a person time to type a texted code before creating the passkey.
const CEREMONY_TIMEOUT_MS: u32 = 300_000;
/// Passkeys one user may hold; enrolment beyond it is refused.
const MAX_CREDENTIALS_PER_USER: usize = 16;
/// A user handle's length: 32 random bytes (WebAuthn allows 1 to 64).
const USER_HANDLE_LEN: usize = 32;

/// The owned public key of a stored credential (the shape `webauthn_rp`
/// decodes its own encoding into).
type StoredPublicKey = CompressedPubKey<[u8; 32], [u8; 32], [u8; 48], Vec<u8>>;

/// Who a passkey sign-up is for, as `/passkey/register` was given it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Profile {
    pub email: Option<String>,
    pub phone_number: Option<String>,
    pub username: Option<String>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub nickname: Option<String>,
    pub picture: Option<String>,
}

impl Profile {
    /// The identifier WebAuthn shows as `user.name`: the email, else the
    /// phone number, else the username (Auth0: "the highest-precedence
    /// value supplied").
    pub fn identifier(&self) -> &str {
        self.email
            .as_deref()
            .or(self.phone_number.as_deref())
            .or(self.username.as_deref())
            .unwrap_or_default()
    }

    /// `user.displayName`: the name, else the identifier.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or_else(|| self.identifier())
    }

    /// Whether `other` names one of this profile's identifiers.
    fn shares_identifier(&self, other: &Profile) -> bool {
        let same = |a: &Option<String>, b: &Option<String>| {
            a.as_ref()
                .zip(b.as_ref())
                .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
        };
        same(&self.email, &other.email)
            || same(&self.phone_number, &other.phone_number)
            || same(&self.username, &other.username)
    }
}

/// A user with passkeys: one created by a passkey sign-up (`auth0|…`), or
/// a passwordless user (`email|…`, `sms|…`) who enrolled one.
pub(super) struct PasskeyUser {
    pub profile: Profile,
    /// Whether the phone number was proven with a texted code.
    pub phone_verified: bool,
    pub handle: UserHandle<Vec<u8>>,
    pub credentials: Vec<StoredCredential>,
    /// Creation order, to evict the oldest user at [`MAX_ENTRIES`].
    seq: u64,
}

/// A registered credential, in `webauthn_rp`'s own encoding.
pub(super) struct StoredCredential {
    pub id: Vec<u8>,
    /// My Account's id for it (`passkey|dev_…`).
    pub method_id: String,
    static_state: Vec<u8>,
    dynamic: DynamicState,
    pub created_at: String,
    pub transports: Value,
    pub aaguid: String,
}

impl StoredCredential {
    /// `single_device` or `multi_device` (the BE flag), and whether it is
    /// backed up (the BS flag), as My Account words them.
    pub fn backup(&self) -> (&'static str, bool) {
        match self.dynamic.backup {
            Backup::NotEligible => ("single_device", false),
            Backup::Eligible => ("multi_device", false),
            Backup::Exists => ("multi_device", true),
        }
    }
}

/// What an `auth_session` is waiting for.
pub(super) enum Ceremony {
    /// `/passkey/register`: a new user, created when the attestation
    /// verifies (and the texted code matched, for a phone sign-up).
    SignUp {
        server: RegistrationServerState,
        profile: Box<Profile>,
        handle: UserHandle<Vec<u8>>,
        verification: Option<grant::PendingVerification>,
    },
    /// `/passkey/challenge`: any user's discoverable credential.
    SignIn { server: AuthenticationServerState },
    /// My Account enrolment: a new credential for `subject`.
    Enroll {
        server: RegistrationServerState,
        subject: String,
        handle: UserHandle<Vec<u8>>,
    },
}

pub(super) struct Pending {
    pub ceremony: Ceremony,
    pub expires: Instant,
}

/// The tenant's passkey state, bounded like its other maps.
#[derive(Default)]
pub struct PasskeyState {
    pub(super) ceremonies: HashMap<String, Pending>,
    /// By subject.
    pub(super) users: HashMap<String, PasskeyUser>,
    /// Credential id → subject.
    credentials: HashMap<Vec<u8>, String>,
    next_seq: u64,
}

/// A credential that passed the registration ceremony.
pub(super) struct NewCredential {
    credential: StoredCredential,
}

impl PasskeyState {
    /// Keeps a ceremony under a new `auth_session`.
    pub(super) fn start(&mut self, ceremony: Ceremony) -> String {
        prune(&mut self.ceremonies, |p| p.expires);
        let auth_session = super::tenant::random_token(43);
        let expires = Instant::now() + Duration::from_millis(u64::from(CEREMONY_TIMEOUT_MS));
        self.ceremonies
            .insert(auth_session.clone(), Pending { ceremony, expires });
        auth_session
    }

    /// The live ceremony of `auth_session`, if any (an expired one is
    /// dropped).
    pub(super) fn live(&mut self, auth_session: &str) -> Option<&mut Pending> {
        if self
            .ceremonies
            .get(auth_session)
            .is_some_and(|p| p.expires <= Instant::now())
        {
            self.ceremonies.remove(auth_session);
        }
        self.ceremonies.get_mut(auth_session)
    }

    /// Whether an existing user already has one of `profile`'s identifiers.
    pub(super) fn exists(&self, profile: &Profile) -> bool {
        self.users
            .values()
            .any(|u| u.profile.shares_identifier(profile))
    }

    /// A new user with its first credential, under `subject`.
    pub(super) fn create_user(
        &mut self,
        subject: &str,
        profile: Profile,
        phone_verified: bool,
        handle: UserHandle<Vec<u8>>,
        credential: NewCredential,
    ) -> Result<(), &'static str> {
        if self.credentials.contains_key(&credential.credential.id) {
            return Err("This passkey is already registered.");
        }
        if self.users.len() >= MAX_ENTRIES {
            self.evict_oldest_user();
        }
        self.next_seq += 1;
        self.credentials
            .insert(credential.credential.id.clone(), subject.to_string());
        self.users.insert(
            subject.to_string(),
            PasskeyUser {
                profile,
                phone_verified,
                handle,
                credentials: vec![credential.credential],
                seq: self.next_seq,
            },
        );
        Ok(())
    }

    /// Adds a credential to `subject` (created, with `profile`, if it had
    /// none). Returns the stored credential.
    pub(super) fn add_credential(
        &mut self,
        subject: &str,
        profile: impl FnOnce() -> Profile,
        handle: UserHandle<Vec<u8>>,
        credential: NewCredential,
    ) -> Result<&StoredCredential, &'static str> {
        if self.credentials.contains_key(&credential.credential.id) {
            return Err("This passkey is already registered.");
        }
        if !self.users.contains_key(subject) {
            if self.users.len() >= MAX_ENTRIES {
                self.evict_oldest_user();
            }
            self.next_seq += 1;
            let user = PasskeyUser {
                profile: profile(),
                phone_verified: false,
                handle,
                credentials: Vec::new(),
                seq: self.next_seq,
            };
            self.users.insert(subject.to_string(), user);
        }
        let user = self
            .users
            .get_mut(subject)
            .ok_or("The user does not exist.")?;
        if user.credentials.len() >= MAX_CREDENTIALS_PER_USER {
            return Err("The maximum number of passkeys for this user was reached.");
        }
        self.credentials
            .insert(credential.credential.id.clone(), subject.to_string());
        user.credentials.push(credential.credential);
        user.credentials.last().ok_or("The user does not exist.")
    }

    fn evict_oldest_user(&mut self) {
        let oldest = self
            .users
            .iter()
            .min_by_key(|(_, u)| u.seq)
            .map(|(subject, _)| subject.clone());
        if let Some(subject) = oldest {
            if let Some(user) = self.users.remove(&subject) {
                for credential in user.credentials {
                    self.credentials.remove(&credential.id);
                }
            }
        }
    }

    /// The user handle of `subject`'s passkeys, or a new one.
    pub(super) fn handle_for(&self, subject: &str) -> UserHandle<Vec<u8>> {
        self.users
            .get(subject)
            .map(|u| u.handle.clone())
            .unwrap_or_else(new_handle)
    }

    /// Extra id_token claims for a user created by a passkey sign-up:
    /// `None` for every other subject (their claims come from the
    /// identifier in the subject).
    pub(super) fn id_token_claims(&self, subject: &str) -> Option<Map<String, Value>> {
        if !subject.starts_with("auth0|") {
            return None;
        }
        let user = self.users.get(subject)?;
        let profile = &user.profile;
        let mut claims = Map::new();
        claims.insert("name".into(), json!(profile.display_name()));
        let optional = [
            ("nickname", &profile.nickname),
            ("given_name", &profile.given_name),
            ("family_name", &profile.family_name),
            ("picture", &profile.picture),
            ("preferred_username", &profile.username),
        ];
        for (claim, value) in optional {
            if let Some(value) = value {
                claims.insert(claim.into(), json!(value));
            }
        }
        if let Some(email) = &profile.email {
            claims.insert("email".into(), json!(email));
            // No email was proven: Auth0 marks such sign-ups unverified.
            claims.insert("email_verified".into(), json!(false));
        }
        if let Some(phone) = &profile.phone_number {
            claims.insert("phone_number".into(), json!(phone));
            claims.insert("phone_number_verified".into(), json!(user.phone_verified));
        }
        Some(claims)
    }

    /// The identifier `mfa::requires_mfa` looks at for `subject`.
    pub(super) fn mfa_identifier<'a>(&'a self, subject: &'a str) -> &'a str {
        match self.users.get(subject) {
            Some(user) if subject.starts_with("auth0|") => user.profile.identifier(),
            _ => subject.split_once('|').map(|(_, id)| id).unwrap_or(subject),
        }
    }
}

/// 32 random bytes.
pub(super) fn new_handle() -> UserHandle<Vec<u8>> {
    UserHandle::rand(USER_HANDLE_LEN).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_known_by_any_of_its_identifiers() {
        let jane = Profile {
            email: Some("jane@example.com".into()),
            phone_number: Some("+14155550100".into()),
            ..Profile::default()
        };
        let by_phone = Profile {
            phone_number: Some("+14155550100".into()),
            ..Profile::default()
        };
        let by_case = Profile {
            email: Some("JANE@example.com".into()),
            ..Profile::default()
        };
        let other = Profile {
            username: Some("jane".into()),
            ..Profile::default()
        };
        assert!(jane.shares_identifier(&by_phone));
        assert!(jane.shares_identifier(&by_case));
        assert!(!jane.shares_identifier(&other));
        assert_eq!(jane.identifier(), "jane@example.com");
        assert_eq!(by_phone.display_name(), "+14155550100");
    }
}
