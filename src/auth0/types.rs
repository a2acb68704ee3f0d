//! Auth0's request and response bodies, as far as the gateway uses them.
//! Responses list only documented fields: anything else Auth0 adds is
//! dropped on the way in and can never be reflected to a client.

use serde::{Deserialize, Serialize};

use crate::error::MfaRequiredDetails;
use crate::secret::Sensitive;

/// Body of `POST /passwordless/start` (credentials are added by the client).
#[derive(Debug, Serialize)]
pub struct PasswordlessStart<'a> {
    pub connection: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<&'a str>,
    pub send: &'a str,
    #[serde(rename = "authParams", skip_serializing_if = "Option::is_none")]
    pub auth_params: Option<AuthParams<'a>>,
}

/// Magic-link parameters Auth0 puts into the link.
#[derive(Debug, Serialize)]
pub struct AuthParams<'a> {
    pub scope: &'a str,
    pub response_type: &'a str,
    pub redirect_uri: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'a str>,
}

pub const GRANT_PASSWORDLESS_OTP: &str = "http://auth0.com/oauth/grant-type/passwordless/otp";
pub const GRANT_MFA_OTP: &str = "http://auth0.com/oauth/grant-type/mfa-otp";
pub const GRANT_MFA_OOB: &str = "http://auth0.com/oauth/grant-type/mfa-oob";
pub const GRANT_MFA_RECOVERY_CODE: &str = "http://auth0.com/oauth/grant-type/mfa-recovery-code";

/// The `/oauth/token` grants the gateway uses, tagged by `grant_type`.
#[derive(Debug, Serialize)]
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
}

fn is_empty(value: &&str) -> bool {
    value.is_empty()
}

/// Tokens from `/oauth/token`, documented fields only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenSet {
    pub access_token: Sensitive,
    pub token_type: String,
    pub expires_in: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<Sensitive>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<Sensitive>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// A new recovery code, when an MFA recovery-code grant rotated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<Sensitive>,
}

/// A login grant either logs the user in or asks for a second factor; the
/// second is an outcome, not a failure.
#[derive(Debug)]
pub enum LoginOutcome {
    Tokens(TokenSet),
    MfaRequired(MfaRequiredDetails),
}

/// One enrolled factor from `GET /mfa/authenticators`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Authenticator {
    pub id: String,
    pub authenticator_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oob_channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub active: bool,
}

/// Body of `POST /mfa/associate` (credentials are added by the client).
#[derive(Debug, Serialize)]
pub struct AssociateRequest<'a> {
    pub authenticator_types: [&'a str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oob_channels: Option<[&'a str; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
}

/// Answer of `POST /mfa/associate`: the enrollment material.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssociateAnswer {
    pub authenticator_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Sensitive>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub barcode_uri: Option<Sensitive>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<Sensitive>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oob_channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oob_code: Option<Sensitive>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding_method: Option<String>,
}

/// Body of `POST /mfa/challenge` (credentials are added by the client).
#[derive(Debug, Serialize)]
pub struct ChallengeRequest<'a> {
    pub mfa_token: &'a str,
    pub challenge_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authenticator_id: Option<&'a str>,
}

/// Answer of `POST /mfa/challenge`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChallengeAnswer {
    pub challenge_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oob_code: Option<Sensitive>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding_method: Option<String>,
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
