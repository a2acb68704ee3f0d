//! Auth0's request and response bodies, as far as the gateway uses them.
//! Responses list only documented fields: anything else Auth0 adds is
//! dropped on the way in and can never be reflected to a client.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::secret::Sensitive;

crate::redacted_debug!(
    PasswordlessStart<'a>,
    AuthParams<'a>,
    TokenGrant<'a>,
    PasskeyVerification<'a>,
    AssociateRequest<'a>,
    ChallengeRequest<'a>
);

/// Body of `POST /passwordless/start` (credentials are added by the client).
#[derive(Serialize)]
pub struct PasswordlessStart<'a> {
    pub connection: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<&'a str>,
    pub send: SendKind,
    #[serde(rename = "authParams", skip_serializing_if = "Option::is_none")]
    pub auth_params: Option<AuthParams<'a>>,
}

/// Magic-link parameters Auth0 puts into the link.
#[derive(Serialize)]
pub struct AuthParams<'a> {
    pub scope: &'a str,
    pub response_type: &'a str,
    pub redirect_uri: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'a str>,
}

/// The grant types of [`TokenGrant`] (its serde renames must be literals; a
/// test checks they agree), for the demo tenant that reads them.
pub const GRANT_PASSWORDLESS_OTP: &str = "http://auth0.com/oauth/grant-type/passwordless/otp";
pub const GRANT_MFA_OTP: &str = "http://auth0.com/oauth/grant-type/mfa-otp";
pub const GRANT_MFA_OOB: &str = "http://auth0.com/oauth/grant-type/mfa-oob";
pub const GRANT_MFA_RECOVERY_CODE: &str = "http://auth0.com/oauth/grant-type/mfa-recovery-code";

/// What to send: a one-time code (default) or a magic link (email only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SendKind {
    #[default]
    Code,
    Link,
}

/// Auth0's authenticator types: `otp` (an authenticator app), `oob` (SMS,
/// voice, email or push), `recovery-code` (listed, never enrolled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuthenticatorType {
    Otp,
    Oob,
    RecoveryCode,
}

/// Auth0's out-of-band channels; `auth0` is Guardian push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OobChannel {
    Sms,
    Voice,
    Email,
    Auth0,
}

/// How the user proves an out-of-band challenge: `prompt` means they type
/// the code they received (SMS, voice, email) as `binding_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BindingMethod {
    Prompt,
}

/// The factor kinds of `mfa_requirements`, as Auth0 names them: `phone`
/// covers SMS and voice, `push-notification` is Guardian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MfaFactorType {
    Otp,
    Phone,
    Email,
    PushNotification,
    RecoveryCode,
}

/// One entry of `mfa_requirements.challenge` / `.enroll`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MfaFactor {
    #[serde(rename = "type")]
    pub factor_type: MfaFactorType,
}

/// What a `403 mfa_required` asks for. Factor kinds this gateway cannot
/// drive (Auth0 may add new ones, e.g. WebAuthn) are left out, so the
/// published enum stays true and a client never meets a value it cannot
/// parse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(examples(json!({"challenge": [{"type": "otp"}, {"type": "recovery-code"}]})))]
pub struct MfaRequirements {
    /// The factors the user has enrolled: challenge one of them.
    #[serde(
        default,
        deserialize_with = "known_only",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(nullable = false)]
    pub challenge: Option<Vec<MfaFactor>>,
    /// The user has none yet: enroll one of these (`POST /mfa/associate`).
    #[serde(
        default,
        deserialize_with = "known_only",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(nullable = false)]
    pub enroll: Option<Vec<MfaFactor>>,
}

/// A list entry that is either a value the gateway knows or anything else.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum KnownOrOther<T> {
    Known(T),
    Other(serde::de::IgnoredAny),
}

/// Keeps the entries the gateway knows, drops the others.
pub(crate) fn known<T>(entries: Vec<KnownOrOther<T>>) -> Vec<T> {
    entries
        .into_iter()
        .filter_map(|entry| match entry {
            KnownOrOther::Known(value) => Some(value),
            KnownOrOther::Other(_) => None,
        })
        .collect()
}

fn known_only<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let entries: Option<Vec<KnownOrOther<T>>> = Option::deserialize(deserializer)?;
    Ok(entries.map(known))
}

/// `otp`: the user reads a code from their app; `oob`: Auth0 sends a code
/// (SMS, voice, email) or a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = MfaChallengeType)]
pub enum ChallengeType {
    Otp,
    Oob,
}

/// The `/oauth/token` grants the gateway uses, tagged by `grant_type`.
#[derive(Serialize)]
#[serde(tag = "grant_type")]
pub enum TokenGrant<'a> {
    #[serde(rename = "http://auth0.com/oauth/grant-type/passwordless/otp")]
    PasswordlessOtp {
        username: &'a str,
        otp: &'a str,
        realm: &'a str,
        #[serde(skip_serializing_if = "is_empty")]
        audience: &'a str,
        scope: &'a str,
    },
    #[serde(rename = "authorization_code")]
    AuthorizationCode {
        code: &'a str,
        redirect_uri: &'a str,
    },
    #[serde(rename = "refresh_token")]
    RefreshToken {
        refresh_token: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        scope: Option<&'a str>,
        /// An API's audience (Auth0 multi-resource refresh tokens), for
        /// cookie mode's `/api` targets.
        #[serde(skip_serializing_if = "Option::is_none")]
        audience: Option<&'a str>,
    },
    #[serde(rename = "http://auth0.com/oauth/grant-type/mfa-otp")]
    MfaOtp { mfa_token: &'a str, otp: &'a str },
    #[serde(rename = "http://auth0.com/oauth/grant-type/mfa-oob")]
    MfaOob {
        mfa_token: &'a str,
        oob_code: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        binding_code: Option<&'a str>,
    },
    #[serde(rename = "http://auth0.com/oauth/grant-type/mfa-recovery-code")]
    MfaRecoveryCode {
        mfa_token: &'a str,
        recovery_code: &'a str,
    },
    /// A passkey sign-up or sign-in (SPEC §11); `authn_response` is the
    /// client's credential JSON, unchanged.
    #[serde(rename = "urn:okta:params:oauth:grant-type:webauthn")]
    Webauthn {
        realm: &'a str,
        auth_session: &'a str,
        authn_response: &'a serde_json::Value,
        scope: &'a str,
        #[serde(skip_serializing_if = "is_empty")]
        audience: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        verification: Option<&'a PasskeyVerification<'a>>,
    },
}

fn is_empty(value: &&str) -> bool {
    value.is_empty()
}

/// `verification` of the webauthn grant: the codes Auth0 sent at a passkey
/// sign-up. It is part of [`TokenGrant::Webauthn`]'s body, so it lives with
/// the grant (the passkey calls build on these types, never the reverse).
#[derive(Serialize)]
pub struct PasskeyVerification<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<&'a str>,
}

/// Tokens from `/oauth/token`, documented fields only.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(examples(json!({
    "access_token": "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlbWFpbHxqYW5lIn0.c2ln",
    "id_token": "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJlbWFpbCI6ImphbmVAZXhhbXBsZS5jb20ifQ.c2ln",
    "refresh_token": "v1.MRrT5fT7kq3yX0cUeC9pQ2",
    "token_type": "Bearer",
    "expires_in": 86400,
    "scope": "openid profile email offline_access"
})))]
pub struct TokenSet {
    /// The access token (a JWT when an audience was asked for).
    #[schema(value_type = String)]
    pub access_token: Sensitive,
    /// `Bearer`.
    #[schema(examples("Bearer"))]
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    #[schema(examples(86400))]
    pub expires_in: u64,
    /// With the `openid` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub id_token: Option<Sensitive>,
    /// With the `offline_access` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub refresh_token: Option<Sensitive>,
    /// The granted scopes, space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub scope: Option<String>,
    /// A new recovery code, when an MFA recovery-code grant rotated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub recovery_code: Option<Sensitive>,
}

/// Auth0's `403 mfa_required`: what the client continues `/mfa/*` with.
#[derive(Debug, Clone, Serialize)]
pub struct MfaRequired {
    pub mfa_token: Sensitive,
    pub mfa_requirements: MfaRequirements,
}

/// One enrolled factor from `GET /mfa/authenticators`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(examples(json!({
    "id": "sms|dev_NU1Ofuw3Cw0XCt5x",
    "authenticator_type": "oob",
    "oob_channel": "sms",
    "name": "+1*******0100",
    "active": true
})))]
pub struct Authenticator {
    /// For `POST /mfa/challenge` (`authenticator_id`) and `DELETE /mfa/authenticators/{id}`.
    #[schema(examples("totp|dev_Ahx4AKyCdjY3hVnO"))]
    pub id: String,
    /// `otp`, `oob` or `recovery-code`.
    pub authenticator_type: AuthenticatorType,
    /// For `oob`: `sms`, `voice`, `email` or `auth0` (push).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub oob_channel: Option<OobChannel>,
    /// A masked phone number or address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, examples("+1*******0100"))]
    pub name: Option<String>,
    /// False while an enrollment is not confirmed.
    pub active: bool,
}

/// Body of `POST /mfa/associate` (credentials are added by the client).
#[derive(Serialize)]
pub struct AssociateRequest<'a> {
    pub authenticator_types: [AuthenticatorType; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oob_channels: Option<[OobChannel; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
}

/// Answer of `POST /mfa/associate`: the enrollment material.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = MfaAssociateResponse, examples(json!({
    "authenticator_type": "otp",
    "secret": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "barcode_uri": "otpauth://totp/login-gateway%20demo:jane%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=login-gateway%20demo",
    "recovery_codes": ["B3N7ZQ2K8YV4TR6XW9MP5HLD"]
})))]
pub struct AssociateAnswer {
    /// `otp` or `oob`.
    pub authenticator_type: AuthenticatorType,
    /// For `otp`: the TOTP secret (base32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub secret: Option<Sensitive>,
    /// For `otp`: an `otpauth://` URI to show as a QR code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub barcode_uri: Option<Sensitive>,
    /// The first time the user enrolls: keep these safe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<String>)]
    pub recovery_codes: Option<Vec<Sensitive>>,
    /// For `oob`: `sms`, `voice`, `email` or `auth0` (push).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub oob_channel: Option<OobChannel>,
    /// For `oob`: confirm with `POST /mfa/verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub oob_code: Option<Sensitive>,
    /// `prompt` when the user must type the code they received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub binding_method: Option<BindingMethod>,
}

/// Body of `POST /mfa/challenge` (credentials are added by the client).
#[derive(Serialize)]
pub struct ChallengeRequest<'a> {
    pub mfa_token: &'a str,
    pub challenge_type: ChallengeType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authenticator_id: Option<&'a str>,
}

/// Answer of `POST /mfa/challenge`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = MfaChallengeResponse, examples(json!({
    "challenge_type": "oob",
    "oob_code": "Fe26.2*ee0f4b4c3f",
    "binding_method": "prompt"
})))]
pub struct ChallengeAnswer {
    /// `otp` or `oob`.
    pub challenge_type: ChallengeType,
    /// For `oob`: pass to `POST /mfa/verify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub oob_code: Option<Sensitive>,
    /// `prompt` when the user must type the code they received; absent for push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub binding_method: Option<BindingMethod>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_serialise_with_their_grant_type() {
        let grant = TokenGrant::PasswordlessOtp {
            username: "jane@example.com",
            otp: "123456",
            realm: "email",
            audience: "",
            scope: "openid",
        };
        let json = serde_json::to_value(&grant).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({
                "grant_type": GRANT_PASSWORDLESS_OTP,
                "username": "jane@example.com",
                "otp": "123456",
                "realm": "email",
                "scope": "openid",
            })
        );
    }

    #[test]
    fn every_grant_serialises_with_its_constant() {
        let grant_type = |grant: TokenGrant| {
            serde_json::to_value(&grant).unwrap_or_default()["grant_type"].clone()
        };
        assert_eq!(
            grant_type(TokenGrant::MfaOtp {
                mfa_token: "t",
                otp: "1"
            }),
            GRANT_MFA_OTP
        );
        assert_eq!(
            grant_type(TokenGrant::MfaOob {
                mfa_token: "t",
                oob_code: "o",
                binding_code: None
            }),
            GRANT_MFA_OOB
        );
        assert_eq!(
            grant_type(TokenGrant::MfaRecoveryCode {
                mfa_token: "t",
                recovery_code: "r"
            }),
            GRANT_MFA_RECOVERY_CODE
        );
    }

    #[test]
    fn undocumented_token_fields_are_dropped() {
        let tokens: TokenSet = serde_json::from_str(
            r#"{"access_token":"a","token_type":"Bearer","expires_in":60,"internal":"x"}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let out = serde_json::to_value(&tokens).unwrap_or_default();
        assert_eq!(
            out,
            serde_json::json!({"access_token":"a","token_type":"Bearer","expires_in":60})
        );
    }
}
