//! Auth0's native Passkey API (SPEC §11): `POST /passkey/register` (sign
//! up), `POST /passkey/challenge` (sign in) and the token grant
//! `urn:okta:params:oauth:grant-type:webauthn`, which Auth0 takes as JSON
//! only (a form-encoded `authn_response` is a string, and refused).
//!
//! Wire shapes (Auth0's API reference and its SDKs' request code):
//! - register: `{client_id, client_secret, realm, user_profile: {email?,
//!   phone_number?, username?, name?, given_name?, family_name?,
//!   nickname?}}` → `200 {auth_session, authn_params_public_key,
//!   verification_required?: ["email" | "phone"]}`;
//! - challenge: `{client_id, client_secret, realm}` → `200 {auth_session,
//!   authn_params_public_key}`;
//! - grant: `{grant_type, client_id, client_secret, realm, auth_session,
//!   authn_response, scope, audience?, verification?: {email?, phone?}}` →
//!   tokens, `403 mfa_required`, or `invalid_grant` (with
//!   `verification_required` and `auth_session` while codes are missing).
//!
//! `authn_params_public_key` is WebAuthn's creation or request options with
//! binary fields in base64url: the client hands it to the platform as is,
//! so it is kept as an object and passed on unchanged.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::answer::{decode_json, Answer};
use super::types::{KnownOrOther, TokenGrant, TokenSet};
use super::{Auth0Client, Call, Caller, Endpoint, UpstreamError, WithCredentials};
use crate::secret::Sensitive;

crate::redacted_debug!(UserProfile<'a>);

/// The grant type of [`TokenGrant::Webauthn`], for the demo tenant.
pub const GRANT_WEBAUTHN: &str = "urn:okta:params:oauth:grant-type:webauthn";

/// Longest `auth_session` the gateway accepts or passes on (SPEC §11).
pub const MAX_AUTH_SESSION_CHARS: usize = 2048;

/// The identifiers Auth0 can ask a sign-up to prove with a code it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = PasskeyVerificationIdentifier)]
pub enum VerificationIdentifier {
    /// A code went to the email address.
    Email,
    /// A code went to the phone number by text.
    Phone,
}

/// `user_profile` of `POST /passkey/register`; absent fields are left out.
#[derive(Serialize)]
pub struct UserProfile<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nickname: Option<&'a str>,
}

#[derive(Serialize)]
struct RegisterBody<'a> {
    realm: &'a str,
    user_profile: &'a UserProfile<'a>,
}

#[derive(Serialize)]
struct ChallengeBody<'a> {
    realm: &'a str,
}

/// A ceremony Auth0 opened: the session to echo back, and the WebAuthn
/// options (creation options for a sign-up, request options for a
/// sign-in) exactly as Auth0 sent them.
#[derive(Debug)]
pub struct PasskeyCeremony {
    pub auth_session: Sensitive,
    pub public_key: Map<String, Value>,
    /// Sign-up only: the codes Auth0 sent, to come back as `verification`.
    pub verification_required: Option<Vec<VerificationIdentifier>>,
}

/// What Auth0's 2xx holds; every other field is dropped.
#[derive(Deserialize)]
struct CeremonyAnswer {
    auth_session: Sensitive,
    authn_params_public_key: Map<String, Value>,
    #[serde(default)]
    verification_required: Option<Vec<KnownOrOther<VerificationIdentifier>>>,
}

/// 1–[`MAX_AUTH_SESSION_CHARS`] visible ASCII: what `/passkey/verify`
/// accepts back, so a session Auth0 hands out can always be used.
pub fn is_auth_session(value: &str) -> bool {
    (1..=MAX_AUTH_SESSION_CHARS).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_graphic())
}

fn decode_ceremony(answer: &Answer) -> Result<PasskeyCeremony, UpstreamError> {
    let answer: CeremonyAnswer = decode_json(answer)?;
    if !is_auth_session(answer.auth_session.expose()) {
        return Err(UpstreamError::bad_answer(
            "auth_session is not 1 to 2048 visible ASCII characters",
        ));
    }
    Ok(PasskeyCeremony {
        auth_session: answer.auth_session,
        public_key: answer.authn_params_public_key,
        verification_required: answer.verification_required.map(super::types::known),
    })
}

impl Auth0Client {
    /// `POST /passkey/register`: a sign-up ceremony for a new user. Every
    /// `400` is [`UpstreamError::SignUpRefused`] (SPEC §11: no enumeration).
    pub async fn passkey_register(
        &self,
        caller: Caller<'_>,
        realm: &str,
        user_profile: &UserProfile<'_>,
    ) -> Result<PasskeyCeremony, UpstreamError> {
        let request = RegisterBody {
            realm,
            user_profile,
        };
        let body = WithCredentials::new(self, &request);
        let call = Call::post(
            Endpoint::PasskeyRegister,
            &self.urls.passkey_register,
            caller,
            &body,
        );
        self.send(call, decode_ceremony).await
    }

    /// `POST /passkey/challenge`: a sign-in ceremony (any user of `realm`
    /// with a discoverable passkey).
    pub async fn passkey_challenge(
        &self,
        caller: Caller<'_>,
        realm: &str,
    ) -> Result<PasskeyCeremony, UpstreamError> {
        let request = ChallengeBody { realm };
        let body = WithCredentials::new(self, &request);
        let call = Call::post(
            Endpoint::PasskeyChallenge,
            &self.urls.passkey_challenge,
            caller,
            &body,
        );
        self.send(call, decode_ceremony).await
    }

    /// `POST /oauth/token` with the webauthn grant ([`TokenGrant::Webauthn`]),
    /// as JSON like every grant. Tokens, or `MfaRequired`, or
    /// `PasskeyRetry` while sign-up codes are missing.
    pub async fn passkey_token(
        &self,
        caller: Caller<'_>,
        grant: &TokenGrant<'_>,
    ) -> Result<TokenSet, UpstreamError> {
        let body = WithCredentials::new(self, grant);
        let call = Call::post(Endpoint::PasskeyToken, &self.urls.token, caller, &body);
        self.send(call, decode_json).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth0::types::PasskeyVerification;

    #[test]
    fn the_webauthn_grant_serialises_with_its_constant_and_the_credential_unchanged() {
        let credential = serde_json::json!({"id": "AQID", "response": {"x": [1, null]}});
        let verification = PasskeyVerification {
            email: None,
            phone: Some("123456"),
        };
        let grant = TokenGrant::Webauthn {
            realm: "Username-Password-Authentication",
            auth_session: "s",
            authn_response: &credential,
            scope: "openid",
            audience: "",
            verification: Some(&verification),
        };
        let json = serde_json::to_value(&grant).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({
                "grant_type": GRANT_WEBAUTHN,
                "realm": "Username-Password-Authentication",
                "auth_session": "s",
                "authn_response": credential,
                "scope": "openid",
                "verification": {"phone": "123456"},
            })
        );
    }

    #[test]
    fn auth_sessions_are_bounded_visible_ascii() {
        assert!(is_auth_session("a"));
        assert!(is_auth_session(&"x".repeat(2048)));
        for bad in ["", " a", "a\nb", "naïve"] {
            assert!(!is_auth_session(bad), "{bad:?}");
        }
        assert!(!is_auth_session(&"x".repeat(2049)));
    }
}
