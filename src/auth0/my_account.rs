//! Auth0's My Account API (SPEC §11): a signed-in user adds a passkey to
//! their own account. Every call carries the user's own access token for
//! `https://{domain}/me/` (the My Account API acts for the user, so the
//! client secret never goes with it) and `auth0-forwarded-for`, and reads
//! the answer under the same timeouts and size cap as every Auth0 call.
//!
//! Wire shapes (Auth0's API reference, "Start the enrollment of a supported
//! authentication method" / "Confirm the enrollment …"; auth0-spa-js
//! `MyAccountApiClient`):
//! - `POST /me/v1/authentication-methods` `{"type": "passkey", "connection"}`
//!   → `202`, the new method's id only as the last segment of `Location`
//!   (percent-encoded: ids look like `passkey|dev_…`), body
//!   `{auth_session, authn_params_public_key}`.
//! - `POST /me/v1/authentication-methods/{id}/verify`
//!   `{auth_session, authn_response}` → `201` with the method
//!   (`id`, `type`, `created_at`, …).
//! - Errors: `{type, status, title, detail}`, mapped in [`super::errors`].

use actix_web::http::StatusCode;
use reqwest::header::HeaderValue;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::answer::{decode_json, Answer};
use super::passkey::is_auth_session;
use super::{Auth0Client, Call, Caller, Endpoint, UpstreamError, PATH_SEGMENT};
use crate::secret::Sensitive;

/// The scope `POST /me/v1/authentication-methods` and its `verify` need.
pub const SCOPE_CREATE_AUTHENTICATION_METHODS: &str = "create:me:authentication_methods";

/// Ids and `auth_session`s the gateway accepts: 1–2048 visible ASCII.
pub const MAX_OPAQUE_CHARS: usize = 2048;

/// The My Account API's audience for a tenant whose base URL (scheme and
/// host, no trailing slash) is `base_url`.
pub fn audience(base_url: &str) -> String {
    format!("{base_url}/me/")
}

/// Body of `POST /me/v1/authentication-methods`.
#[derive(Debug, Serialize)]
struct StartEnrollment<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    connection: &'a str,
}

/// Auth0's body of the `202`; anything else it adds is dropped.
#[derive(Deserialize)]
struct StartAnswer {
    auth_session: Sensitive,
    authn_params_public_key: serde_json::Map<String, serde_json::Value>,
}

/// A started enrollment: the new method's id (from `Location`, decoded),
/// the flow's `auth_session`, and Auth0's `authn_params_public_key` (the
/// WebAuthn creation options) exactly as Auth0 sent them.
#[derive(Debug)]
pub struct PasskeyEnrollment {
    pub id: String,
    pub auth_session: Sensitive,
    pub public_key: serde_json::Map<String, serde_json::Value>,
}

/// Body of `POST /me/v1/authentication-methods/{id}/verify`: `credential`
/// is the client's new-passkey credential, sent as it came.
#[derive(Serialize)]
struct VerifyEnrollment<'a, C: Serialize> {
    auth_session: &'a str,
    authn_response: &'a C,
}

/// The enrolled passkey, Auth0's documented fields that the gateway
/// answers (keys, user handle and user agent stay at Auth0).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = PasskeyEnrollVerifyResponse, examples(json!({
    "id": "passkey|dev_Ahx4AKyCdjY3hVnO",
    "type": "passkey",
    "created_at": "2026-01-05T10:28:12.580Z",
    "credential_device_type": "multi_device",
    "credential_backed_up": true
})))]
pub struct EnrolledPasskey {
    /// The authentication method's id.
    #[schema(examples("passkey|dev_Ahx4AKyCdjY3hVnO"))]
    pub id: String,
    /// `passkey`.
    #[serde(rename = "type")]
    #[schema(examples("passkey"))]
    pub kind: String,
    /// When it was added (ISO 8601).
    #[schema(examples("2026-01-05T10:28:12.580Z"))]
    pub created_at: String,
    /// `single_device` or `multi_device` (synced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, examples("multi_device"))]
    pub credential_device_type: Option<String>,
    /// Whether the passkey is backed up (synced by its provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub credential_backed_up: Option<bool>,
}

impl Auth0Client {
    /// `POST /me/v1/authentication-methods` with the user's `bearer`:
    /// starts adding a passkey on `connection`.
    pub async fn start_passkey_enrollment(
        &self,
        caller: Caller<'_>,
        bearer: &str,
        connection: &str,
    ) -> Result<PasskeyEnrollment, UpstreamError> {
        let body = StartEnrollment {
            kind: "passkey",
            connection,
        };
        let url = self.my_account_url(&[])?;
        let mut call = Call::post(Endpoint::MyAccountEnroll, &url, caller, &body);
        call.bearer = Some(bearer);
        self.send(call, decode_enrollment).await
    }

    /// `POST /me/v1/authentication-methods/{id}/verify` with the user's
    /// `bearer`; `credential` goes as `authn_response`, unchanged. The id
    /// is one percent-encoded path segment, so nothing in it can change
    /// the target.
    pub async fn verify_passkey_enrollment<C: Serialize>(
        &self,
        caller: Caller<'_>,
        bearer: &str,
        id: &str,
        auth_session: &str,
        credential: &C,
    ) -> Result<EnrolledPasskey, UpstreamError> {
        let body = VerifyEnrollment {
            auth_session,
            authn_response: credential,
        };
        let url = self.my_account_url(&[id, "verify"])?;
        let mut call = Call::post(Endpoint::MyAccountEnrollVerify, &url, caller, &body);
        call.bearer = Some(bearer);
        self.send(call, decode_json).await
    }

    /// `{base}/me/v1/authentication-methods`, then `segments`, each one
    /// percent-encoded path segment.
    fn my_account_url(&self, segments: &[&str]) -> Result<reqwest::Url, UpstreamError> {
        let mut url = format!("{}/me/v1/authentication-methods", self.base_url);
        for segment in segments {
            // `.` and `..` would be resolved away by the URL parser, encoded
            // or not; the routes never let one through, this is the backstop.
            if matches!(*segment, "." | "..") {
                return Err(UpstreamError::bad_answer(
                    "a dot segment in a My Account path",
                ));
            }
            url.push('/');
            url.extend(percent_encoding::utf8_percent_encode(segment, PATH_SEGMENT));
        }
        reqwest::Url::parse(&url)
            .map_err(|_| UpstreamError::bad_answer("My Account URL could not be built"))
    }
}

/// The `202`: the id from `Location`, and the body's two fields.
fn decode_enrollment(answer: &Answer) -> Result<PasskeyEnrollment, UpstreamError> {
    if answer.status != StatusCode::ACCEPTED && answer.status != StatusCode::CREATED {
        return Err(UpstreamError::bad_answer(format!(
            "enrollment answered {} instead of 202",
            answer.status.as_u16()
        )));
    }
    let id = method_id(answer.location.as_ref())?;
    let start: StartAnswer = decode_json(answer)?;
    // The client sends it back, and the gateway takes back only this.
    if !is_auth_session(start.auth_session.expose()) {
        return Err(UpstreamError::bad_answer(
            "auth_session is not 1 to 2048 visible ASCII characters",
        ));
    }
    Ok(PasskeyEnrollment {
        id,
        auth_session: start.auth_session,
        public_key: start.authn_params_public_key,
    })
}

/// The authentication method's id: the last path segment of `Location`,
/// percent-decoded, 1–[`MAX_OPAQUE_CHARS`] visible ASCII and not a dot
/// segment. A `Location` with a query or fragment, a malformed escape or
/// an empty last segment is not Auth0's.
pub(super) fn method_id(location: Option<&HeaderValue>) -> Result<String, UpstreamError> {
    let bad = |reason: &str| UpstreamError::bad_answer(format!("enrollment Location {reason}"));
    let location = location
        .ok_or_else(|| bad("missing"))?
        .to_str()
        .map_err(|_| bad("is not visible ASCII"))?;
    if location.contains(['?', '#']) {
        return Err(bad("has a query or fragment"));
    }
    let segment = location.rsplit('/').next().unwrap_or_default();
    if !well_formed_escapes(segment) {
        return Err(bad("has a malformed escape"));
    }
    let id = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| bad("does not decode to UTF-8"))?;
    let visible =
        !id.is_empty() && id.len() <= MAX_OPAQUE_CHARS && id.bytes().all(|b| b.is_ascii_graphic());
    if !visible || matches!(id.as_ref(), "." | "..") {
        return Err(bad("does not end in an authentication method id"));
    }
    Ok(id.into_owned())
}

/// Every `%` starts a two-hex-digit escape.
fn well_formed_escapes(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_method_id_is_the_decoded_last_segment_of_location() {
        let id = |location: &str| {
            method_id(Some(&HeaderValue::from_str(location).expect("header"))).ok()
        };
        let good = [
            (
                "https://login.example.com/me/v1/authentication-methods/passkey%7Cdev_abc",
                "passkey|dev_abc",
            ),
            (
                "/me/v1/authentication-methods/passkey|dev_abc",
                "passkey|dev_abc",
            ),
            ("passkey%7cdev_abc", "passkey|dev_abc"),
            ("/x/a%2Fb", "a/b"),
        ];
        for (location, expected) in good {
            assert_eq!(id(location).as_deref(), Some(expected), "{location}");
        }
        let long = format!("/m/{}", "a".repeat(MAX_OPAQUE_CHARS + 1));
        let bad = [
            "",
            "/me/v1/authentication-methods/",
            "/me/v1/authentication-methods/passkey%7",
            "/me/v1/authentication-methods/passkey%zzabc",
            "/me/v1/authentication-methods/a%20b",
            "/me/v1/authentication-methods/a%00b",
            "/me/v1/authentication-methods/%C3%A9",
            "/me/v1/authentication-methods/%FF",
            "/me/v1/authentication-methods/id?x=1",
            "/me/v1/authentication-methods/id#frag",
            "/me/v1/authentication-methods/..",
            "/me/v1/authentication-methods/%2e%2E",
            "/me/v1/authentication-methods/.",
            long.as_str(),
        ];
        for location in bad {
            assert_eq!(id(location), None, "{location:?}");
        }
        assert!(method_id(None).is_err(), "no Location at all");
        let obs_text = HeaderValue::from_bytes(b"/m/caf\xe9").expect("obs-text header");
        assert!(method_id(Some(&obs_text)).is_err());
    }
}
