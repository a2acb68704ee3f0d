//! The two WebAuthn ceremonies, as `webauthn_rp` runs them: the options
//! Auth0 sends (`authn_params_public_key`) and the checks of what comes
//! back (attestation or assertion, challenge, origin, rpIdHash, UP / UV,
//! signature counter).

use std::num::NonZeroU32;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
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
use webauthn_rp::response::register::StaticState;
use webauthn_rp::{AuthenticatedCredential, AuthenticationServerState, RegistrationServerState};

use super::{
    NewCredential, PasskeyState, StoredCredential, StoredPublicKey, CEREMONY_TIMEOUT_MS, RP_ID,
};
use crate::demo::tenant::Tenant;

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
pub(in crate::demo) enum Refusal {
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
    pub(in crate::demo) fn start_registration(
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
    pub(in crate::demo) fn finish_registration(
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
            method_id: format!("passkey|dev_{}", crate::demo::tenant::random_token(24)),
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
    pub(in crate::demo) fn start_authentication(
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
    pub(in crate::demo) fn finish_authentication(
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
    rfc3339(crate::demo::tenant::unix_now())
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
}
