//! The user's authenticators: `GET /mfa/authenticators`, enrollment through
//! `POST /mfa/associate` (confirmed later by an `mfa-otp` or `mfa-oob`
//! grant) and `DELETE /mfa/authenticators/{id}`. Kept apart from the
//! challenge and grant code because it only changes who owns which factor.

use actix_web::http::StatusCode;
use serde_json::{json, Value};
use totp_rs::{Algorithm, TOTP};

use super::{invalid_grant, recovery_code, DemoAuthenticator, Kind};
use crate::demo::tenant::{random_token, Tenant, TenantError, TenantResult};

const TOTP_ISSUER: &str = "login-gateway demo";

/// `j***@example.com`-style names, as Auth0 shows enrolled factors.
fn masked_name(address: &str) -> String {
    if address.contains('@') {
        crate::domain::mask_email(address)
    } else {
        crate::domain::mask_phone(address)
    }
}

impl Tenant {
    /// `GET /mfa/authenticators`.
    pub fn list_authenticators(&self, bearer: &str) -> TenantResult {
        let state = self.lock();
        let subject = self.subject_for_bearer(&state, bearer)?;
        let Some(user) = state.mfa.users.get(&subject) else {
            return Ok(json!([]));
        };
        let mut list: Vec<Value> = user
            .authenticators
            .iter()
            .map(|a| match &a.kind {
                Kind::Otp { .. } => {
                    json!({"id": a.id, "authenticator_type": "otp", "active": a.active})
                }
                Kind::Oob { channel, address } => json!({
                    "id": a.id, "authenticator_type": "oob", "oob_channel": channel,
                    "name": masked_name(address), "active": a.active,
                    // Real tenants add fields like this; the gateway must drop them.
                    "created_at": "2026-01-01T00:00:00.000Z",
                }),
            })
            .collect();
        if user.recovery_code.is_some() && user.has_active() {
            list.push(json!({"id": "recovery-code|dev_demo", "authenticator_type": "recovery-code", "active": true}));
        }
        Ok(Value::Array(list))
    }

    /// `POST /mfa/associate`: starts an enrollment, confirmed by `/oauth/token`.
    pub fn associate(
        &self,
        bearer: &str,
        authenticator_type: &str,
        oob_channel: Option<&str>,
        phone_number: Option<&str>,
        email: Option<&str>,
    ) -> TenantResult {
        let mut state = self.lock();
        let subject = self.subject_for_bearer(&state, bearer)?;
        let with_mfa_token = state.mfa.tokens.contains_key(bearer);
        let user = state.mfa.users.entry(subject.clone()).or_default();
        if with_mfa_token && user.has_active() {
            return Err(TenantError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                "User is already enrolled.",
            ));
        }
        // Only one enrollment at a time is pending.
        user.authenticators.retain(|a| a.active);
        let new_recovery = if user.recovery_code.is_none() {
            let code = recovery_code();
            user.recovery_code = Some(code.clone());
            Some(vec![code])
        } else {
            None
        };
        let account = subject
            .split_once('|')
            .map(|(_, id)| id)
            .unwrap_or(&subject)
            .to_string();
        let id_suffix = random_token(16);
        let mut answer = match (authenticator_type, oob_channel) {
            ("otp", None) => {
                let secret: [u8; 20] = rand::random();
                let totp = TOTP::new(
                    Algorithm::SHA1,
                    6,
                    1,
                    30,
                    secret.to_vec(),
                    Some(TOTP_ISSUER.into()),
                    account,
                )
                .map_err(|_| invalid_grant("could not create an OTP secret"))?;
                let answer = json!({
                    "authenticator_type": "otp",
                    "secret": totp.get_secret_base32(),
                    "barcode_uri": totp.get_url(),
                });
                user.authenticators.push(DemoAuthenticator {
                    id: format!("totp|dev_{id_suffix}"),
                    kind: Kind::Otp {
                        totp: Box::new(totp),
                        last_step: None,
                    },
                    active: false,
                });
                answer
            }
            ("oob", Some(channel @ ("sms" | "voice" | "email" | "auth0"))) => {
                let address = match channel {
                    "email" => email.unwrap_or(&account).to_string(),
                    "auth0" => "demo device".to_string(),
                    _ => match phone_number {
                        Some(phone) => phone.to_string(),
                        None => {
                            return Err(TenantError::new(
                                StatusCode::BAD_REQUEST,
                                "invalid_request",
                                "phone_number is required",
                            ))
                        }
                    },
                };
                let prefix = if channel == "auth0" { "push" } else { channel };
                let authenticator_id = format!("{prefix}|dev_{id_suffix}");
                let channel: &'static str = match channel {
                    "sms" => "sms",
                    "voice" => "voice",
                    "email" => "email",
                    _ => "auth0",
                };
                user.authenticators.push(DemoAuthenticator {
                    id: authenticator_id.clone(),
                    kind: Kind::Oob {
                        channel,
                        address: address.clone(),
                    },
                    active: false,
                });
                let (oob_code, binding_method) =
                    self.start_oob(&mut state, bearer, &authenticator_id, channel, &address);
                let mut answer = json!({"authenticator_type": "oob", "oob_channel": channel, "oob_code": oob_code});
                if let Some(method) = binding_method {
                    answer["binding_method"] = json!(method);
                }
                answer
            }
            _ => {
                return Err(TenantError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "unsupported authenticator_types / oob_channels",
                ))
            }
        };
        if let Some(codes) = new_recovery {
            answer["recovery_codes"] = json!(codes);
        }
        Ok(answer)
    }

    /// `DELETE /mfa/authenticators/{id}` with an MFA-audience access token.
    pub fn delete_authenticator(&self, bearer: &str, id: &str) -> Result<(), TenantError> {
        let mut state = self.lock();
        if state.mfa.tokens.contains_key(bearer) {
            return Err(TenantError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "An access token for the MFA API is required",
            ));
        }
        let subject = self.subject_for_bearer(&state, bearer)?;
        let user = state.mfa.users.entry(subject).or_default();
        let before = user.authenticators.len();
        user.authenticators.retain(|a| a.id != id);
        if user.authenticators.len() == before {
            // Auth0 documents a plain 404 here.
            return Err(TenantError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "Authenticator not found",
            ));
        }
        Ok(())
    }
}
