//! `POST /passkey/register`: a sign-up with a new passkey (SPEC §11).
//!
//! Each sign-up creates a user, so it has a budget per client network
//! (`passkey_register_per_ip`); one with a phone number may make Auth0 text
//! it, so it is one of §4's "text or phone someone" calls (allowed
//! countries, the §8 pause, `sms_per_phone` keyed by the number,
//! `sms_global`). Every `400` Auth0 gives is the same answer (no
//! enumeration: see [`crate::error::SIGN_UP_REFUSED`]).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::auth0::{UserProfile, VerificationIdentifier};
use crate::body::JsonBody;
use crate::client_ip::ClientIp;
use crate::domain::{visible_ascii, Email, PhoneNumber};
use crate::error::ApiError;
use crate::routes::{caller, no_store_json, paths};
use crate::secret::Sensitive;
use crate::sms::Country;
use crate::state::AppState;
use crate::telemetry::note_identifier;

crate::redacted_debug!(RegisterRequest);

/// Longest `username` (SPEC §11), visible ASCII.
const MAX_USERNAME_CHARS: usize = 128;
/// Longest `name` and `nickname`, in characters.
const MAX_NAME_CHARS: usize = 300;
/// Longest `given_name` and `family_name`, in characters.
const MAX_PART_NAME_CHARS: usize = 150;

/// Auth0's `user_profile`, at the top level of the body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PasskeyRegisterRequest, examples(
    json!({"email": "jane@example.com", "name": "Jane Doe"}),
    json!({"phone_number": "+14155550100", "given_name": "Jane"}),
))]
pub struct RegisterRequest {
    /// At most 254 characters; trimmed and lowercased by the gateway.
    #[schema(format = Email, max_length = 254, examples("jane@example.com"))]
    pub email: Option<String>,
    /// E.164. Auth0 may text it a code (`verification_required: ["phone"]`).
    #[schema(pattern = r"^\+[1-9][0-9]{7,14}$", examples("+14155550100"))]
    pub phone_number: Option<String>,
    /// 1–128 visible ASCII characters, when the connection uses usernames.
    #[schema(
        pattern = r"^[\x21-\x7E]{1,128}$",
        min_length = 1,
        max_length = 128,
        examples("jane_doe")
    )]
    pub username: Option<String>,
    /// The display name, 1–300 characters, none a control character.
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F]{1,300}$",
        min_length = 1,
        max_length = 300,
        examples("Jane Doe")
    )]
    pub name: Option<String>,
    /// 1–150 characters, none a control character.
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F]{1,150}$",
        min_length = 1,
        max_length = 150,
        examples("Jane")
    )]
    pub given_name: Option<String>,
    /// 1–150 characters, none a control character.
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F]{1,150}$",
        min_length = 1,
        max_length = 150,
        examples("Doe")
    )]
    pub family_name: Option<String>,
    /// 1–300 characters, none a control character.
    #[schema(
        pattern = r"^[^\x00-\x1F\x7F-\x9F]{1,300}$",
        min_length = 1,
        max_length = 300,
        examples("jd")
    )]
    pub nickname: Option<String>,
}

/// A sign-up ceremony: create the passkey with `public_key`, then send it
/// with `auth_session` to `POST /passkey/verify`.
#[derive(Serialize, ToSchema)]
#[schema(as = PasskeyRegisterResponse, examples(json!({
    "auth_session": "c2lnbnVwLXNlc3Npb24tZXhhbXBsZQ",
    "public_key": {
        "challenge": "y2bN0e9Hq0mIYtWGo4a2nA",
        "timeout": 60000,
        "rp": {"id": "login.example.com", "name": "Example"},
        "user": {"id": "dXNlci02YzNmMWE", "name": "jane@example.com", "displayName": "Jane Doe"},
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
        "authenticatorSelection": {"residentKey": "required", "userVerification": "preferred"}
    }
})))]
pub struct RegisterResponse {
    /// Echo it to `POST /passkey/verify`; it lives as long as
    /// `public_key.timeout` says. A credential: keep it in memory only.
    #[schema(value_type = String, pattern = r"^[\x21-\x7E]{1,2048}$", min_length = 1, max_length = 2048)]
    pub auth_session: Sensitive,
    #[schema(value_type = super::schemas::PasskeyCreationOptions)]
    pub public_key: Map<String, Value>,
    /// The identifiers Auth0 sent a code to: ask the user for each and
    /// send them as `verification` to `POST /passkey/verify`. Absent when
    /// none is needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub verification_required: Option<Vec<VerificationIdentifier>>,
}

/// A sign-up's fields, each checked; what Auth0 receives.
struct Profile {
    email: Option<Email>,
    phone: Option<PhoneNumber>,
    username: Option<Sensitive>,
}

impl RegisterRequest {
    fn check(&self) -> Result<Profile, ApiError> {
        let profile = Profile {
            email: self
                .email
                .as_deref()
                .map(Email::parse)
                .transpose()
                .map_err(ApiError::invalid_request)?,
            phone: self
                .phone_number
                .as_deref()
                .map(PhoneNumber::parse)
                .transpose()
                .map_err(ApiError::invalid_request)?,
            username: self
                .username
                .as_deref()
                .map(|username| visible_ascii("username", username, MAX_USERNAME_CHARS))
                .transpose()
                .map_err(ApiError::invalid_request)?,
        };
        if profile.email.is_none() && profile.phone.is_none() && profile.username.is_none() {
            return Err(ApiError::invalid_request(
                "at least one of email, phone_number or username is required",
            ));
        }
        for (field, value, max) in [
            ("name", &self.name, MAX_NAME_CHARS),
            ("given_name", &self.given_name, MAX_PART_NAME_CHARS),
            ("family_name", &self.family_name, MAX_PART_NAME_CHARS),
            ("nickname", &self.nickname, MAX_NAME_CHARS),
        ] {
            if let Some(value) = value {
                display_text(field, value, max)?;
            }
        }
        Ok(profile)
    }
}

/// 1 to `max` characters, none of them a control character (Unicode
/// `Cc`: U+0000–001F, U+007F–009F, as the published pattern says).
fn display_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    let count = value.chars().count();
    if (1..=max).contains(&count) && !value.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(ApiError::invalid_request(format!(
            "{field} must be 1 to {max} characters, without control characters"
        )))
    }
}

/// Sign up with a passkey
///
/// Starts a sign-up: Auth0 checks the profile against the connection
/// (`passkey.connection`) and answers the WebAuthn creation options. Pass
/// `public_key` to `navigator.credentials.create` (decode `challenge` and
/// `user.id` from base64url first) or, on Android, to Credential Manager
/// as is; then `POST /passkey/verify`. When `verification_required` is
/// present, Auth0 sent codes: collect them before creating the passkey.
/// Any sign-up Auth0 refuses (an account that exists among other reasons)
/// is the same `400 invalid_request`, so the answer never tells who has an
/// account. Limited per client network (`passkey_register_per_ip`); with a
/// `phone_number` also as a text (`sms_per_phone`, `sms_global`,
/// `sms.allowed_countries`).
#[utoipa::path(
    post,
    path = paths::PASSKEY_REGISTER,
    tag = "passkey",
    operation_id = "passkeyRegister",
    request_body(content = RegisterRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "A sign-up ceremony.", body = RegisterResponse, headers(
            ("Cache-Control" = String, description = "`no-store`: the body holds the `auth_session`."),
            ("Pragma" = String, description = "`no-cache`."),
        )),
    ),
)]
pub(super) async fn register(
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
    body: JsonBody<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let profile = body.check()?;
    let masked = match (&profile.email, &profile.phone) {
        (Some(email), _) => Some(email.to_string()),
        (None, Some(phone)) => Some(phone.to_string()),
        (None, None) => None,
    };
    if let Some(masked) = masked {
        note_identifier(&req, masked);
    }
    // A number Auth0 may text: an allowed, unpaused country first, so a
    // refused number spends no one's budget; then every budget at once.
    let country = match &profile.phone {
        Some(phone) => {
            let country = Country::of_number(phone.as_str());
            state.sms.check_allowed(country, true)?;
            state.sms.check_paused(country).await?;
            Some(country)
        }
        None => None,
    };
    state
        .limits
        .check_passkey_register(ip.0, profile.phone.as_ref().map(PhoneNumber::as_str))
        .await?;
    let user_profile = UserProfile {
        email: profile.email.as_ref().map(Email::as_str),
        phone_number: profile.phone.as_ref().map(PhoneNumber::as_str),
        username: profile.username.as_ref().map(Sensitive::expose),
        name: body.name.as_deref(),
        given_name: body.given_name.as_deref(),
        family_name: body.family_name.as_deref(),
        nickname: body.nickname.as_deref(),
    };
    let ceremony = state
        .auth0
        .passkey_register(
            caller(ip, None, &req),
            &state.settings.passkey.connection,
            &user_profile,
        )
        .await?;
    let verification_required = ceremony
        .verification_required
        .filter(|identifiers| !identifiers.is_empty());
    // A send is a text Auth0 says it sent: the code it asks back for. A
    // sign-up Auth0 texted nothing would count a send no verification can
    // ever follow, and pause the country for everyone.
    let texted = verification_required
        .as_ref()
        .is_some_and(|identifiers| identifiers.contains(&VerificationIdentifier::Phone));
    if let (Some(country), true) = (country, texted) {
        state
            .sms
            .record_sign_up_send(country, ceremony.auth_session.expose())
            .await;
    }
    Ok(no_store_json(&RegisterResponse {
        auth_session: ceremony.auth_session,
        public_key: ceremony.public_key,
        verification_required,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule the OpenAPI document publishes for the display fields.
    const DISPLAY_TEXT: &str = r"^[^\x00-\x1F\x7F-\x9F]{1,150}$";

    #[test]
    fn display_fields_follow_the_published_pattern() {
        let pattern = regex::Regex::new(DISPLAY_TEXT).expect("pattern");
        let long = "é".repeat(151);
        for value in [
            "Jane",
            "Zoë",
            "李",
            "a\u{9e}b",
            "a\u{7f}",
            "tab\there",
            "",
            " ",
            "\u{a0}",
            &long,
        ] {
            assert_eq!(
                display_text("given_name", value, MAX_PART_NAME_CHARS).is_ok(),
                pattern.is_match(value),
                "{value:?}"
            );
        }
    }
}
