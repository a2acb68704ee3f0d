//! The demo tenant's passkeys (SPEC §11): Auth0's native Passkey API
//! (`POST /passkey/register`, `POST /passkey/challenge`, the
//! `urn:okta:params:oauth:grant-type:webauthn` grant) and My Account
//! enrolment, with real WebAuthn checks by `webauthn_rp` (no hand-written
//! CBOR or signature code): `none` and `packed` self attestation; EdDSA,
//! ES256 and RS256 keys; challenge, origin, `rpIdHash`, the user-present and
//! user-verified flags and the signature counter.
//!
//! - this file: the state (ceremonies waiting for their credential by
//!   `auth_session`, users and their credentials) and the two ceremonies;
//! - [`grant`]: `/passkey/register`, `/passkey/challenge`, the webauthn
//!   grant and the phone sign-up's verification code;
//! - [`routes`]: their HTTP face;
//! - [`super::my_account`]: `/me/v1/authentication-methods`.
//!
//! The relying party is `localhost` (the demo's one origin is
//! `http://localhost:<port>`, and WebAuthn refuses IP-address origins); a
//! ceremony may come from the linked example app's origin or from
//! [`DemoOptions::passkey_origin`](super::DemoOptions::passkey_origin).

pub(super) mod grant;
pub(super) mod routes;

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};
use webauthn_rp::bin::{Decode, Encode};
use webauthn_rp::request::auth::{
    AuthenticationVerificationOptions, PublicKeyCredentialRequestOptions,
    SignatureCounterEnforcement,
};
use webauthn_rp::request::register::{
    CoseAlgorithmIdentifier, CoseAlgorithmIdentifiers, Extension, Nickname,
    PublicKeyCredentialCreationOptions, PublicKeyCredentialUserEntity,
    RegistrationVerificationOptions, UserHandle, Username,
};
use webauthn_rp::request::{
    AsciiDomain, BackupReq, DomainOrigin, RpId, UserVerificationRequirement,
};
use webauthn_rp::response::auth::ser_relaxed::AuthenticationRelaxed;
use webauthn_rp::response::register::ser_relaxed::RegistrationRelaxed;
use webauthn_rp::response::register::{CompressedPubKey, DynamicState, StaticState};
use webauthn_rp::response::Backup;
use webauthn_rp::{AuthenticatedCredential, AuthenticationServerState, RegistrationServerState};

use super::tenant::{prune, Tenant, MAX_ENTRIES};

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
        profile: Profile,
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

fn rp_id() -> Result<RpId, String> {
    AsciiDomain::try_from(RP_ID.to_string())
        .map(RpId::Domain)
        .map_err(|e| format!("the relying party id is invalid: {e}"))
}

fn timeout() -> NonZeroU32 {
    NonZeroU32::new(CEREMONY_TIMEOUT_MS).unwrap_or(NonZeroU32::MIN)
}

fn user_verification(required: bool) -> (UserVerificationRequirement, &'static str) {
    if required {
        (UserVerificationRequirement::Required, "required")
    } else {
        (UserVerificationRequirement::Preferred, "preferred")
    }
}

/// Why a ceremony failed: the credential is malformed (a `400`) or was
/// refused (a `403 invalid_grant` / My Account `400`). Never secret: the
/// text comes from `webauthn_rp`'s error or the request's own shape.
#[derive(Debug)]
pub(super) enum Refusal {
    Malformed(String),
    Refused(String),
}

impl Tenant {
    /// The origins a ceremony may come from: the linked example app's and
    /// the one the options name.
    fn passkey_origins(&self) -> Vec<String> {
        self.app_origin()
            .map(str::to_string)
            .into_iter()
            .chain(self.options().passkey_origin.clone())
            .collect()
    }

    /// A registration ceremony for `handle`: its server state and Auth0's
    /// `authn_params_public_key` (`PublicKeyCredentialCreationOptions`
    /// JSON: challenge, timeout, rp, pubKeyCredParams, authenticatorSelection,
    /// user).
    pub(super) fn start_registration(
        &self,
        handle: &UserHandle<Vec<u8>>,
        name: &str,
        display_name: &str,
    ) -> Result<(RegistrationServerState, Value), Refusal> {
        let rp_id = rp_id().map_err(Refusal::Refused)?;
        let username = Username::try_from(name).map_err(|_| {
            Refusal::Malformed(
                "user_profile: the identifier is not a valid WebAuthn user name".into(),
            )
        })?;
        let nickname = Nickname::try_from(display_name).map_err(|_| {
            Refusal::Malformed("user_profile.name is not a valid WebAuthn display name".into())
        })?;
        let user = PublicKeyCredentialUserEntity {
            name: username,
            id: handle.into(),
            display_name: Some(nickname),
        };
        let (uv, uv_name) = user_verification(self.options().passkey_user_verification_required);
        let mut options = PublicKeyCredentialCreationOptions::passkey(&rp_id, user, Vec::new());
        options.timeout = timeout();
        options.pub_key_cred_params =
            CoseAlgorithmIdentifiers::default().remove(CoseAlgorithmIdentifier::Es384);
        options.authenticator_selection.user_verification = uv;
        // Auth0 asks for no extension (its options carry none).
        options.extensions = Extension::default();
        let (server, client) = options
            .start_ceremony()
            .map_err(|e| Refusal::Refused(format!("the ceremony could not start: {e}")))?;
        let challenge = serde_json::to_value(&client.options().challenge)
            .map_err(|e| Refusal::Refused(e.to_string()))?;
        let public_key = json!({
            "challenge": challenge,
            "timeout": CEREMONY_TIMEOUT_MS,
            "rp": {"id": RP_ID, "name": RP_ID},
            "pubKeyCredParams": [
                {"type": "public-key", "alg": -8},
                {"type": "public-key", "alg": -7},
                {"type": "public-key", "alg": -257},
            ],
            "authenticatorSelection": {"residentKey": "required", "userVerification": uv_name},
            "user": {
                "id": URL_SAFE_NO_PAD.encode(handle.as_ref()),
                "name": name,
                "displayName": display_name,
            },
        });
        Ok((server, public_key))
    }

    /// Verifies a new credential (`PublicKeyCredential` JSON with an
    /// attestation) against its ceremony.
    pub(super) fn finish_registration(
        &self,
        server: RegistrationServerState,
        handle: &UserHandle<Vec<u8>>,
        credential: &Value,
    ) -> Result<NewCredential, Refusal> {
        let registration = serde_json::from_value::<RegistrationRelaxed>(credential.clone())
            .map_err(|e| Refusal::Malformed(format!("authn_response: {e}")))?
            .0;
        let rp_id = rp_id().map_err(Refusal::Refused)?;
        let origins = self.passkey_origins();
        let allowed: Vec<DomainOrigin<'_, '_>> = origins
            .iter()
            .filter_map(|origin| DomainOrigin::try_from(origin.as_str()).ok())
            .collect();
        let options = RegistrationVerificationOptions::<DomainOrigin<'_, '_>, DomainOrigin<'_, '_>> {
            allowed_origins: &allowed,
            allowed_top_origins: None,
            backup_requirement: BackupReq::None,
            // Browsers may report extensions nobody asked for (credProps).
            error_on_unsolicited_extensions: false,
            require_authenticator_attachment: false,
            client_data_json_relaxed: true,
        };
        let registered = server
            .verify(&rp_id, handle.into(), &registration, &options)
            .map_err(|e| Refusal::Refused(e.to_string()))?;
        let (id, transports, _, static_state, dynamic, metadata) = registered.into_parts();
        let static_state = static_state
            .encode()
            .map_err(|_| Refusal::Refused("the public key could not be kept".into()))?;
        let credential = StoredCredential {
            id: id.as_ref().to_vec(),
            method_id: format!("passkey|dev_{}", super::tenant::random_token(24)),
            static_state,
            dynamic,
            created_at: rfc3339_now(),
            transports: serde_json::to_value(transports).unwrap_or(Value::Null),
            aaguid: uuid_text(metadata.aaguid.data()),
        };
        Ok(NewCredential { credential })
    }

    /// A discoverable authentication ceremony: its server state and Auth0's
    /// `authn_params_public_key` (challenge, timeout, rpId, userVerification).
    pub(super) fn start_authentication(
        &self,
    ) -> Result<(AuthenticationServerState, Value), Refusal> {
        let rp_id = rp_id().map_err(Refusal::Refused)?;
        let (uv, uv_name) = user_verification(self.options().passkey_user_verification_required);
        let mut options = PublicKeyCredentialRequestOptions::passkey(&rp_id);
        options.timeout = timeout();
        options.user_verification = uv;
        let (server, client) = options
            .start_ceremony()
            .map_err(|e| Refusal::Refused(format!("the ceremony could not start: {e}")))?;
        let challenge = serde_json::to_value(&client.options().challenge)
            .map_err(|e| Refusal::Refused(e.to_string()))?;
        let public_key = json!({
            "challenge": challenge,
            "timeout": CEREMONY_TIMEOUT_MS,
            "rpId": RP_ID,
            "userVerification": uv_name,
        });
        Ok((server, public_key))
    }

    /// Verifies an assertion (`PublicKeyCredential` JSON) against its
    /// ceremony and the stored credential it names, and keeps its new
    /// signature counter. Returns the credential's user (subject).
    pub(super) fn finish_authentication(
        &self,
        passkeys: &mut PasskeyState,
        server: AuthenticationServerState,
        credential: &Value,
    ) -> Result<String, Refusal> {
        let authentication = serde_json::from_value::<AuthenticationRelaxed>(credential.clone())
            .map_err(|e| Refusal::Malformed(format!("authn_response: {e}")))?
            .0;
        let raw_id = authentication.raw_id();
        let unknown = || Refusal::Refused("the passkey is not registered".into());
        let subject = passkeys
            .credentials
            .get(raw_id.as_ref())
            .cloned()
            .ok_or_else(unknown)?;
        let user = passkeys.users.get_mut(&subject).ok_or_else(unknown)?;
        let handle = user.handle.clone();
        let stored = user
            .credentials
            .iter_mut()
            .find(|c| c.id == raw_id.as_ref())
            .ok_or_else(unknown)?;
        let static_state =
            StaticState::<StoredPublicKey>::decode(stored.static_state.as_slice())
                .map_err(|e| Refusal::Refused(format!("the stored key could not be read: {e}")))?;
        let mut authenticated =
            AuthenticatedCredential::new(raw_id, (&handle).into(), static_state, stored.dynamic)
                .map_err(|e| Refusal::Refused(e.to_string()))?;
        let rp_id = rp_id().map_err(Refusal::Refused)?;
        let origins = self.passkey_origins();
        let allowed: Vec<DomainOrigin<'_, '_>> = origins
            .iter()
            .filter_map(|origin| DomainOrigin::try_from(origin.as_str()).ok())
            .collect();
        let options =
            AuthenticationVerificationOptions::<DomainOrigin<'_, '_>, DomainOrigin<'_, '_>> {
                allowed_origins: &allowed,
                allowed_top_origins: None,
                backup_requirement: None,
                error_on_unsolicited_extensions: false,
                auth_attachment_enforcement: Default::default(),
                update_uv: true,
                // A counter that did not grow (0 and 0 excepted) is a clone.
                sig_counter_enforcement: SignatureCounterEnforcement::Fail,
                client_data_json_relaxed: true,
            };
        server
            .verify(&rp_id, &authentication, &mut authenticated, &options)
            .map_err(|e| Refusal::Refused(e.to_string()))?;
        stored.dynamic = authenticated.dynamic_state();
        Ok(subject)
    }
}

fn rfc3339_now() -> String {
    rfc3339(super::tenant::unix_now())
}

/// `2026-01-31T12:00:00.000Z`, as My Account writes `created_at`.
fn rfc3339(secs: u64) -> String {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (hour, minute, second) = (rest / 3600, rest % 3600 / 60, rest % 60);
    // Civil from days (Howard Hinnant's algorithm), for the proleptic
    // Gregorian calendar.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.000Z")
}

/// An AAGUID as a UUID (`00000000-0000-0000-0000-000000000000`).
fn uuid_text(bytes: &[u8]) -> String {
    uuid::Uuid::from_slice(bytes)
        .map(|u| u.hyphenated().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_as_auth0_writes_them() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_825_600), "2000-02-29T12:00:00.000Z");
        assert_eq!(rfc3339(1_767_225_599), "2025-12-31T23:59:59.000Z");
        assert_eq!(rfc3339_now().len(), 24);
    }

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
