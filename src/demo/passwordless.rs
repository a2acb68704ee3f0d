//! How the fake tenant signs a user in without a password (SPEC §7):
//! `/passwordless/start` sends a one-time code or a magic link (printed to
//! the console, as the demo has no mail or SMS), the passwordless OTP grant
//! checks the code, and the `authorization_code` grant completes the link.
//! Kept apart from [`super::tenant`] because these are the only rules that
//! read the pending codes and links, and the only ones that check what
//! `/passwordless/start` is sent the way Auth0 does.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use rand::Rng;
use serde_json::json;

use super::sessions::Session;
use super::tenant::{prune, random_token, Tenant, TenantError, TenantResult};

const CODE_LIFETIME: Duration = Duration::from_secs(300);
/// Auth0 lets a code be tried a few times before it is burnt.
const MAX_CODE_ATTEMPTS: u32 = 3;

/// The codes and magic links sent and not yet used, by identifier and by
/// authorization code.
#[derive(Default)]
pub(super) struct PasswordlessState {
    codes: HashMap<String, PendingCode>,
    links: HashMap<String, PendingLink>,
}

struct PendingCode {
    code: String,
    expires: Instant,
    attempts: u32,
}

struct PendingLink {
    identifier: String,
    redirect_uri: String,
    expires: Instant,
}

/// What `/passwordless/start` was asked to do.
pub(super) struct StartRequest<'a> {
    pub connection: &'a str,
    pub email: Option<&'a str>,
    pub phone_number: Option<&'a str>,
    pub send: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
    pub language: Option<&'a str>,
    pub end_user_ip: Option<&'a str>,
}

impl Tenant {
    /// `POST /passwordless/start`.
    pub(super) fn passwordless_start(&self, request: StartRequest<'_>) -> TenantResult {
        let (identifier, channel) = match (request.connection, request.email, request.phone_number)
        {
            ("email", Some(email), None) => (check_email(email)?.to_string(), "email"),
            ("sms", None, Some(phone)) => (check_phone_number(phone)?.to_string(), "sms"),
            ("email", None, _) => return Err(missing_property("bad.email", "email")),
            ("sms", _, None) => return Err(missing_property("bad.phone_number", "phone_number")),
            ("email", _, Some(_)) => return Err(not_allowed("phone_number")),
            ("sms", Some(_), _) => return Err(not_allowed("email")),
            _ => {
                return Err(TenantError::new(
                    StatusCode::BAD_REQUEST,
                    "bad.connection",
                    "Connection does not exist",
                ))
            }
        };
        let ip = request.end_user_ip.unwrap_or("(not sent)");
        let language = request.language.unwrap_or("default");
        match request.send {
            "code" => {
                let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000));
                let mut state = self.lock();
                prune(&mut state.passwordless.codes, |c| c.expires);
                state.passwordless.codes.insert(
                    identifier.clone(),
                    PendingCode {
                        code: code.clone(),
                        expires: Instant::now() + CODE_LIFETIME,
                        attempts: 0,
                    },
                );
                let what = if channel == "email" {
                    "email"
                } else {
                    "text message"
                };
                super::announce(&format!(
                    "{what} to {identifier}: your one-time code is {code}  \
                     (end-user IP {ip}, language {language}, valid 5 minutes)"
                ));
            }
            "link" => {
                let Some(redirect_uri) = request.redirect_uri else {
                    return Err(TenantError::new(
                        StatusCode::BAD_REQUEST,
                        "bad.authParams",
                        "redirect_uri is required for magic links",
                    ));
                };
                let code = random_token(24);
                let mut state = self.lock();
                prune(&mut state.passwordless.links, |l| l.expires);
                state.passwordless.links.insert(
                    code.clone(),
                    PendingLink {
                        identifier: identifier.clone(),
                        redirect_uri: redirect_uri.to_string(),
                        expires: Instant::now() + CODE_LIFETIME,
                    },
                );
                let separator = if redirect_uri.contains('?') { '&' } else { '?' };
                let state_param = request
                    .state
                    .map(|s| {
                        format!(
                            "&state={}",
                            url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>()
                        )
                    })
                    .unwrap_or_default();
                super::announce(&format!(
                    "magic link to {identifier}: {redirect_uri}{separator}code={code}{state_param}  \
                     (or POST {{\"code\":\"{code}\"}} to /login/callback; end-user IP {ip})"
                ));
            }
            _ => {
                return Err(TenantError::new(
                    StatusCode::BAD_REQUEST,
                    "bad.request",
                    "send must be code or link",
                ))
            }
        }
        // Auth0's recorded answers (SPEC §7).
        Ok(if channel == "email" {
            json!({"_id": random_token(24), "email": identifier, "email_verified": false})
        } else {
            json!({"_id": random_token(24), "phone_number": identifier, "phone_verified": false, "request_language": null})
        })
    }

    /// The one-time code waiting for `identifier`, for tests that cannot
    /// read the console.
    #[doc(hidden)]
    pub fn pending_code(&self, identifier: &str) -> Option<String> {
        self.lock()
            .passwordless
            .codes
            .get(identifier)
            .map(|c| c.code.clone())
    }

    /// The passwordless OTP grant; `issuer` from [`Tenant::issuer`].
    pub fn passwordless_otp(
        &self,
        username: &str,
        otp: &str,
        realm: &str,
        audience: Option<&str>,
        scope: &str,
        issuer: &str,
    ) -> TenantResult {
        let wrong = if realm == "sms" {
            "Wrong phone number or verification code."
        } else {
            "Wrong email or verification code."
        };
        let mut state = self.lock();
        let Some(pending) = state.passwordless.codes.get_mut(username) else {
            return Err(TenantError::new(
                StatusCode::FORBIDDEN,
                "invalid_grant",
                wrong,
            ));
        };
        if pending.expires < Instant::now() {
            state.passwordless.codes.remove(username);
            return Err(TenantError::new(
                StatusCode::FORBIDDEN,
                "invalid_grant",
                wrong,
            ));
        }
        if pending.code != otp {
            pending.attempts += 1;
            if pending.attempts >= MAX_CODE_ATTEMPTS {
                state.passwordless.codes.remove(username);
                return Err(TenantError::new(
                    StatusCode::FORBIDDEN,
                    "invalid_grant",
                    "You've reached the maximum number of attempts. Please try to login again.",
                ));
            }
            return Err(TenantError::new(
                StatusCode::FORBIDDEN,
                "invalid_grant",
                wrong,
            ));
        }
        state.passwordless.codes.remove(username);
        let session = Session::sign_in(
            subject_for(username),
            audience.unwrap_or_default().to_string(),
            scope.to_string(),
            issuer.to_string(),
        );
        if super::mfa::requires_mfa(username) {
            return Err(self.mfa_required(&mut state, session));
        }
        Ok(self.issue_tokens(&mut state, &session, true))
    }

    /// The `authorization_code` grant that completes a magic link.
    pub fn authorization_code(&self, code: &str, redirect_uri: &str, issuer: &str) -> TenantResult {
        let invalid = || {
            TenantError::new(
                StatusCode::FORBIDDEN,
                "invalid_grant",
                "Invalid authorization code",
            )
        };
        let mut state = self.lock();
        let link = state.passwordless.links.remove(code).ok_or_else(invalid)?;
        if link.expires < Instant::now() || link.redirect_uri != redirect_uri {
            return Err(invalid());
        }
        let session = Session::sign_in(
            subject_for(&link.identifier),
            String::new(),
            "openid profile email offline_access".to_string(),
            issuer.to_string(),
        );
        if super::mfa::requires_mfa(&link.identifier) {
            return Err(self.mfa_required(&mut state, session));
        }
        Ok(self.issue_tokens(&mut state, &session, true))
    }
}

/// Auth0's `bad.*` answer for a missing `/passwordless/start` property.
fn missing_property(error: &'static str, property: &str) -> TenantError {
    TenantError::new(
        StatusCode::BAD_REQUEST,
        error,
        format!("Missing required property: {property}"),
    )
}

fn not_allowed(property: &str) -> TenantError {
    TenantError::new(
        StatusCode::BAD_REQUEST,
        "bad.request",
        format!("the following properties are not allowed: {property}"),
    )
}

/// An address Auth0's `email` format accepts: the gateway's own check
/// (`local@domain`, a dotted domain of letters, digits and hyphens, at most
/// 254 characters), without its trimming: Auth0 refuses the spaces.
fn check_email(email: &str) -> Result<&str, TenantError> {
    let valid = email == email.trim() && crate::domain::Email::parse(email).is_ok();
    if valid {
        Ok(email)
    } else {
        Err(TenantError::new(
            StatusCode::BAD_REQUEST,
            "bad.email",
            format!("error in email - email format validation failed: {email}"),
        ))
    }
}

/// Auth0's own pattern for `/passwordless/start`: `^\+[0-9]{1,15}$`.
fn check_phone_number(phone: &str) -> Result<&str, TenantError> {
    let digits = phone.strip_prefix('+').unwrap_or("");
    if (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(phone)
    } else {
        Err(TenantError::new(
            StatusCode::BAD_REQUEST,
            "bad.phone_number",
            "String does not match pattern: ^\\+[0-9]{1,15}$",
        ))
    }
}

/// `email|jane@example.com` / `sms|+14155550100`, like Auth0's user ids.
fn subject_for(identifier: &str) -> String {
    if identifier.contains('@') {
        format!("email|{identifier}")
    } else {
        format!("sms|{identifier}")
    }
}

/// A sign-in of `email` through a one-time code, asking for `openid
/// offline_access`: the token answer, for the tests of the rules that
/// start from a signed-in user.
#[cfg(test)]
pub(super) fn sign_in_with_code(tenant: &Tenant, email: &str, issuer: &str) -> TenantResult {
    tenant.passwordless_start(StartRequest {
        connection: "email",
        email: Some(email),
        phone_number: None,
        send: "code",
        redirect_uri: None,
        state: None,
        language: None,
        end_user_ip: None,
    })?;
    let code = tenant.pending_code(email).unwrap_or_default();
    tenant.passwordless_otp(email, &code, "email", None, "openid offline_access", issuer)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "http://127.0.0.1:1/";

    fn start(tenant: &Tenant, email: &str) {
        let result = tenant.passwordless_start(StartRequest {
            connection: "email",
            email: Some(email),
            phone_number: None,
            send: "code",
            redirect_uri: None,
            state: None,
            language: None,
            end_user_ip: None,
        });
        assert!(result.is_ok());
    }

    fn code_for(tenant: &Tenant, email: &str) -> String {
        tenant
            .lock()
            .passwordless
            .codes
            .get(email)
            .map(|c| c.code.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a_code_works_once_and_wrong_codes_burn_it() {
        let tenant = Tenant::new("http://127.0.0.1:1".into());
        start(&tenant, "jane@example.com");
        let code = code_for(&tenant, "jane@example.com");
        let scope = "openid offline_access";
        let ok = tenant.passwordless_otp("jane@example.com", &code, "email", None, scope, ISS);
        assert!(ok.as_ref().is_ok_and(|v| v["refresh_token"].is_string()));
        let again = tenant.passwordless_otp("jane@example.com", &code, "email", None, scope, ISS);
        assert_eq!(again.err().map(|e| e.error), Some("invalid_grant"));

        start(&tenant, "jane@example.com");
        for _ in 0..2 {
            let wrong =
                tenant.passwordless_otp("jane@example.com", "000000x", "email", None, scope, ISS);
            assert_eq!(
                wrong.err().map(|e| e.description),
                Some("Wrong email or verification code.".into())
            );
        }
        let last =
            tenant.passwordless_otp("jane@example.com", "000000x", "email", None, scope, ISS);
        assert!(last
            .err()
            .is_some_and(|e| e.description.contains("maximum number of attempts")));
    }

    fn start_request<'a>(
        connection: &'a str,
        email: Option<&'a str>,
        phone_number: Option<&'a str>,
    ) -> StartRequest<'a> {
        StartRequest {
            connection,
            email,
            phone_number,
            send: "code",
            redirect_uri: None,
            state: None,
            language: None,
            end_user_ip: None,
        }
    }

    #[test]
    fn passwordless_start_answers_auth0s_bad_input_codes() {
        let tenant = Tenant::new("http://127.0.0.1:1".into());
        let cases = [
            ("email", Some("not-an-email"), None, "bad.email"),
            ("email", Some("jane@localhost"), None, "bad.email"),
            ("email", Some("jane doe@example.com"), None, "bad.email"),
            ("email", Some("@example.com"), None, "bad.email"),
            ("email", None, None, "bad.email"),
            ("sms", None, Some("not-a-phone"), "bad.phone_number"),
            ("sms", None, Some("14155550100"), "bad.phone_number"),
            ("sms", None, Some("+1234567890123456"), "bad.phone_number"),
            ("sms", None, None, "bad.phone_number"),
            (
                "email",
                Some("jane@example.com"),
                Some("+14155550100"),
                "bad.request",
            ),
            ("push", Some("jane@example.com"), None, "bad.connection"),
        ];
        for (connection, email, phone, error) in cases {
            let answer = tenant.passwordless_start(start_request(connection, email, phone));
            let got = answer.err().map(|e| (e.status.as_u16(), e.error));
            assert_eq!(got, Some((400, error)), "{connection} {email:?} {phone:?}");
        }
        for (connection, email, phone) in [
            ("email", Some("mfa+alice@mail.example.co.uk"), None),
            ("sms", None, Some("+14155550100")),
        ] {
            let answer = tenant.passwordless_start(start_request(connection, email, phone));
            assert!(answer.is_ok(), "{email:?} {phone:?}");
        }
        assert!(tenant.pending_code("+14155550100").is_some());
    }
}
