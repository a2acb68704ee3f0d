//! The WebAuthn `PublicKeyCredential` in its JSON form (WebAuthn Level 3
//! `toJSON()`, what Android's Credential Manager returns, what the Auth0
//! SDKs serialise): a new passkey ([`NewPasskeyCredential`], from
//! `navigator.credentials.create`) or a sign-in ([`SignInCredential`],
//! from `navigator.credentials.get`). SPEC §11.
//!
//! Checked strictly before Auth0 is called: known fields only, `type`
//! `public-key`, `id` equal to `rawId`, every binary field base64url
//! without padding (canonical: no stray bits) and within its cap, and
//! `clientDataJSON` a JSON object of the ceremony's `type`. The gateway
//! verifies no signature: Auth0 does. What passes is sent on as
//! `authn_response` exactly as it came ([`Credential::json`]), so nothing
//! the gateway parses or re-encodes can change what Auth0 verifies.
//!
//! Caps, on the decoded bytes (the body cap, `server.max_body_bytes`,
//! bounds the whole call anyway):
//! - `rawId` (and `id`): 1023 bytes, WebAuthn's longest credential id;
//! - `clientDataJSON`: 4 KiB (a browser's is ~200 bytes; cross-origin
//!   iframes and extensions add a few hundred);
//! - `attestationObject`: 8 KiB (`packed` with a certificate chain is 1–3
//!   KiB; TPM's chain is the largest seen, ~4 KiB);
//! - `authenticatorData`, `publicKey`, `signature`: 4 KiB each (an RSA-4096
//!   key or signature is ~0.5 KiB; room for post-quantum ML-DSA's 2–3.3
//!   KiB signatures);
//! - `userHandle`: 64 bytes, WebAuthn's limit for `user.id`;
//! - `transports`: at most 16 entries of 1–32 lowercase letters, digits
//!   or `-` (clients may add transports, so the list is not closed).

use std::borrow::Cow;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::openapi::schema::{OneOfBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::body::{parse_part, require_object};
use crate::error::ApiError;

/// Longest credential id in bytes (WebAuthn Level 3, `credentialIdLength`).
pub const MAX_CREDENTIAL_ID_BYTES: usize = 1023;
pub const MAX_CLIENT_DATA_BYTES: usize = 4 * 1024;
pub const MAX_ATTESTATION_OBJECT_BYTES: usize = 8 * 1024;
pub const MAX_AUTHENTICATOR_DATA_BYTES: usize = 4 * 1024;
pub const MAX_PUBLIC_KEY_BYTES: usize = 4 * 1024;
pub const MAX_SIGNATURE_BYTES: usize = 4 * 1024;
/// WebAuthn's limit for `user.id`, which comes back as `userHandle`.
pub const MAX_USER_HANDLE_BYTES: usize = 64;
const MAX_TRANSPORTS: usize = 16;
const MAX_TRANSPORT_CHARS: usize = 32;

/// base64url without padding, as the JSON Schema publishes it.
pub const BASE64URL: &str = r"^[A-Za-z0-9_-]+$";

/// The only credential type WebAuthn has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[schema(as = PublicKeyCredentialType)]
pub enum CredentialType {
    #[serde(rename = "public-key")]
    PublicKey,
}

/// Where the authenticator is: this device, or a key or phone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuthenticatorAttachment {
    Platform,
    CrossPlatform,
}

/// A new passkey: the `PublicKeyCredential` that
/// `navigator.credentials.create` returned (or Android's Credential
/// Manager's `registrationResponseJson`), in its JSON form.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(examples(json!({
    "id": "AQIDBAUGBwgJCgsMDQ4PEA",
    "rawId": "AQIDBAUGBwgJCgsMDQ4PEA",
    "type": "public-key",
    "authenticatorAttachment": "platform",
    "clientExtensionResults": {},
    "response": {
        "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoieTJiTjBlOUhxMG1JWXRXR280YTJuQSIsIm9yaWdpbiI6Imh0dHBzOi8vYXBwLmV4YW1wbGUuY29tIn0",
        "attestationObject": "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YViUDGygg5w6VoNVeDP2GKJVZmXfKgiJZHh9U4ULStTTvtxFAAAAAAAAAAAAAAAAAAAAAAAAAAAAEAECAwQFBgcICQoLDA0ODxClAQIDJiABIVggAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAiWCAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "transports": ["internal", "hybrid"]
    }
})))]
pub struct NewPasskeyCredential {
    /// The credential id, base64url: the same as `rawId`.
    #[schema(pattern = r"^[A-Za-z0-9_-]+$", min_length = 2, max_length = 1364)]
    pub id: String,
    /// The credential id, base64url (at most 1023 bytes).
    #[schema(pattern = r"^[A-Za-z0-9_-]+$", min_length = 2, max_length = 1364)]
    pub raw_id: String,
    #[serde(rename = "type")]
    pub credential_type: CredentialType,
    /// `platform` (this device) or `cross-platform` (a key, a phone).
    #[schema(nullable = false)]
    pub authenticator_attachment: Option<AuthenticatorAttachment>,
    /// The client extension outputs, passed to Auth0 as they are.
    #[schema(value_type = Option<Object>)]
    pub client_extension_results: Option<Map<String, Value>>,
    pub response: AttestationResponse,
}

/// `AuthenticatorAttestationResponse` in its JSON form.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = PasskeyAttestationResponse)]
pub struct AttestationResponse {
    /// base64url of the client data JSON (`type` `webauthn.create`), at most 4 KiB.
    #[serde(rename = "clientDataJSON")]
    #[schema(pattern = r"^[A-Za-z0-9_-]+$", min_length = 2, max_length = 5462)]
    pub client_data_json: String,
    /// base64url of the CBOR attestation object, at most 8 KiB.
    #[schema(pattern = r"^[A-Za-z0-9_-]+$", min_length = 2, max_length = 10923)]
    pub attestation_object: String,
    /// How the authenticator can be reached (`internal`, `hybrid`, `usb`, …).
    #[schema(max_items = 16, inline)]
    pub transports: Option<Vec<TransportName>>,
    /// Level 3: base64url of the authenticator data, at most 4 KiB.
    #[schema(pattern = r"^[A-Za-z0-9_-]+$", min_length = 2, max_length = 5462)]
    pub authenticator_data: Option<String>,
    /// Level 3: base64url of the new public key (SubjectPublicKeyInfo), at most 4 KiB.
    #[schema(pattern = r"^[A-Za-z0-9_-]+$", min_length = 2, max_length = 5462)]
    pub public_key: Option<String>,
    /// Level 3: the key's COSE algorithm (`-7` ES256, `-8` EdDSA, `-257` RS256).
    pub public_key_algorithm: Option<i64>,
}

/// One `transports` entry: 1–32 lowercase letters, digits or `-`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, pattern = r"^[a-z0-9-]{1,32}$", examples("internal"))]
pub struct TransportName(pub String);

/// A sign-in: the `PublicKeyCredential` that `navigator.credentials.get`
/// returned (or Android's Credential Manager's
/// `authenticationResponseJson`), in its JSON form.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(examples(json!({
    "id": "AQIDBAUGBwgJCgsMDQ4PEA",
    "rawId": "AQIDBAUGBwgJCgsMDQ4PEA",
    "type": "public-key",
    "authenticatorAttachment": "platform",
    "clientExtensionResults": {},
    "response": {
        "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0IiwiY2hhbGxlbmdlIjoiVjNHOW5xV20yS3gweVo4YVRRcDRoQSIsIm9yaWdpbiI6Imh0dHBzOi8vYXBwLmV4YW1wbGUuY29tIn0",
        "authenticatorData": "DGygg5w6VoNVeDP2GKJVZmXfKgiJZHh9U4ULStTTvtwFAAAAAQ",
        "signature": "MEUCIQAAAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHwIgICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8",
        "userHandle": "dXNlci02YzNmMWE"
    }
})))]
pub struct SignInCredential {
    /// The credential id, base64url: the same as `rawId`.
    #[schema(pattern = r"^[A-Za-z0-9_-]+$", min_length = 2, max_length = 1364)]
    pub id: String,
    /// The credential id, base64url (at most 1023 bytes).
    #[schema(pattern = r"^[A-Za-z0-9_-]+$", min_length = 2, max_length = 1364)]
    pub raw_id: String,
    #[serde(rename = "type")]
    pub credential_type: CredentialType,
    /// `platform` (this device) or `cross-platform` (a key, a phone).
    #[schema(nullable = false)]
    pub authenticator_attachment: Option<AuthenticatorAttachment>,
    /// The client extension outputs, passed to Auth0 as they are.
    #[schema(value_type = Option<Object>)]
    pub client_extension_results: Option<Map<String, Value>>,
    pub response: AssertionResponse,
}

/// `AuthenticatorAssertionResponse` in its JSON form.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(as = PasskeyAssertionResponse)]
pub struct AssertionResponse {
    /// base64url of the client data JSON (`type` `webauthn.get`), at most 4 KiB.
    #[serde(rename = "clientDataJSON")]
    #[schema(pattern = r"^[A-Za-z0-9_-]+$", min_length = 2, max_length = 5462)]
    pub client_data_json: String,
    /// base64url of the authenticator data, at most 4 KiB.
    #[schema(pattern = r"^[A-Za-z0-9_-]+$", min_length = 2, max_length = 5462)]
    pub authenticator_data: String,
    /// base64url of the assertion signature, at most 4 KiB.
    #[schema(pattern = r"^[A-Za-z0-9_-]+$", min_length = 2, max_length = 5462)]
    pub signature: String,
    /// base64url of the user handle (`user.id` at sign-up), at most 64 bytes.
    #[schema(pattern = r"^[A-Za-z0-9_-]+$", min_length = 2, max_length = 86)]
    pub user_handle: Option<String>,
}

/// A credential that passed every check, and the JSON it came as: what
/// goes to Auth0 as `authn_response`.
#[derive(Debug)]
pub struct Credential<T> {
    parsed: T,
    json: Value,
}

impl<T> Credential<T> {
    /// The credential exactly as the client sent it.
    pub fn json(&self) -> &Value {
        &self.json
    }

    pub fn parsed(&self) -> &T {
        &self.parsed
    }
}

/// Either credential, told apart by its `response`: an `attestationObject`
/// is a new passkey, anything else is read as a sign-in (so a credential
/// with neither is refused naming what a sign-in lacks).
#[derive(Debug)]
pub enum AnyCredential {
    NewPasskey(Credential<NewPasskeyCredential>),
    SignIn(Credential<SignInCredential>),
}

impl AnyCredential {
    /// `field`: where the credential sits in the request (for messages).
    pub fn parse(field: &str, json: Value) -> Result<Self, ApiError> {
        let new_passkey = json
            .get("response")
            .and_then(Value::as_object)
            .is_some_and(|response| response.contains_key("attestationObject"));
        if new_passkey {
            NewPasskeyCredential::parse(field, json).map(Self::NewPasskey)
        } else {
            SignInCredential::parse(field, json).map(Self::SignIn)
        }
    }

    pub fn json(&self) -> &Value {
        match self {
            Self::NewPasskey(credential) => credential.json(),
            Self::SignIn(credential) => credential.json(),
        }
    }
}

/// Published as `PasskeyCredential`: one of the two shapes.
impl PartialSchema for AnyCredential {
    fn schema() -> RefOr<Schema> {
        Schema::OneOf(
            OneOfBuilder::new()
                .description(Some(
                    "The `PublicKeyCredential` the platform returned, in its JSON form \
                     (WebAuthn Level 3 `toJSON()`; Android Credential Manager's response JSON): \
                     a `NewPasskeyCredential` to finish a sign-up, a `SignInCredential` to sign \
                     in. Binary fields are base64url without padding. Sent to Auth0 unchanged.",
                ))
                .item(Ref::from_schema_name(NewPasskeyCredential::name()))
                .item(Ref::from_schema_name(SignInCredential::name()))
                .build(),
        )
        .into()
    }
}

impl ToSchema for AnyCredential {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("PasskeyCredential")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((
            NewPasskeyCredential::name().into_owned(),
            NewPasskeyCredential::schema(),
        ));
        NewPasskeyCredential::schemas(schemas);
        schemas.push((
            SignInCredential::name().into_owned(),
            SignInCredential::schema(),
        ));
        SignInCredential::schemas(schemas);
    }
}

impl NewPasskeyCredential {
    /// Checks `json` (found at `field` of the request) as a new passkey.
    pub fn parse(field: &str, json: Value) -> Result<Credential<Self>, ApiError> {
        let parsed: Self = parse_part(field, &json)?;
        require_object(&format!("{field}.response"), &json["response"])?;
        let checks = Checks { field };
        checks.ids(&parsed.id, &parsed.raw_id)?;
        let response = &parsed.response;
        checks.client_data(&response.client_data_json, "webauthn.create")?;
        checks.binary(
            "response.attestationObject",
            &response.attestation_object,
            MAX_ATTESTATION_OBJECT_BYTES,
        )?;
        if let Some(data) = &response.authenticator_data {
            checks.binary(
                "response.authenticatorData",
                data,
                MAX_AUTHENTICATOR_DATA_BYTES,
            )?;
        }
        if let Some(key) = &response.public_key {
            checks.binary("response.publicKey", key, MAX_PUBLIC_KEY_BYTES)?;
        }
        if let Some(transports) = &response.transports {
            checks.transports(transports)?;
        }
        Ok(Credential { parsed, json })
    }
}

impl SignInCredential {
    /// Checks `json` (found at `field` of the request) as a sign-in.
    pub fn parse(field: &str, json: Value) -> Result<Credential<Self>, ApiError> {
        let parsed: Self = parse_part(field, &json)?;
        require_object(&format!("{field}.response"), &json["response"])?;
        let checks = Checks { field };
        checks.ids(&parsed.id, &parsed.raw_id)?;
        let response = &parsed.response;
        checks.client_data(&response.client_data_json, "webauthn.get")?;
        checks.binary(
            "response.authenticatorData",
            &response.authenticator_data,
            MAX_AUTHENTICATOR_DATA_BYTES,
        )?;
        checks.binary(
            "response.signature",
            &response.signature,
            MAX_SIGNATURE_BYTES,
        )?;
        if let Some(handle) = &response.user_handle {
            checks.binary("response.userHandle", handle, MAX_USER_HANDLE_BYTES)?;
        }
        Ok(Credential { parsed, json })
    }
}

/// The checks serde cannot make; each error names the field and the rule.
struct Checks<'a> {
    field: &'a str,
}

impl Checks<'_> {
    fn invalid(&self, name: &str, rule: &str) -> ApiError {
        ApiError::invalid_request(format!("{}.{name} {rule}", self.field))
    }

    /// base64url without padding, 1 to `max` decoded bytes.
    fn binary(&self, name: &str, value: &str, max: usize) -> Result<Vec<u8>, ApiError> {
        // Checked on the text first: nothing longer than the cap allows is
        // decoded at all.
        if value.len() > max.div_ceil(3) * 4 {
            return Err(self.invalid(name, &format!("must decode to at most {max} bytes")));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| self.invalid(name, "must be base64url without padding"))?;
        if bytes.is_empty() {
            return Err(self.invalid(name, "must not be empty"));
        }
        if bytes.len() > max {
            return Err(self.invalid(name, &format!("must decode to at most {max} bytes")));
        }
        Ok(bytes)
    }

    fn ids(&self, id: &str, raw_id: &str) -> Result<(), ApiError> {
        self.binary("rawId", raw_id, MAX_CREDENTIAL_ID_BYTES)?;
        self.binary("id", id, MAX_CREDENTIAL_ID_BYTES)?;
        if id != raw_id {
            return Err(self.invalid("id", "must equal rawId"));
        }
        Ok(())
    }

    /// A JSON object whose `type` is the ceremony's: a new passkey sent
    /// where a sign-in is expected (or the reverse) is refused here.
    fn client_data(&self, value: &str, ceremony: &str) -> Result<(), ApiError> {
        let name = "response.clientDataJSON";
        let bytes = self.binary(name, value, MAX_CLIENT_DATA_BYTES)?;
        let client_data: Map<String, Value> = serde_json::from_slice(&bytes)
            .map_err(|_| self.invalid(name, "must be base64url of a JSON object"))?;
        match client_data.get("type").and_then(Value::as_str) {
            Some(found) if found == ceremony => Ok(()),
            _ => Err(self.invalid(name, &format!("must have type \"{ceremony}\""))),
        }
    }

    fn transports(&self, transports: &[TransportName]) -> Result<(), ApiError> {
        if transports.len() > MAX_TRANSPORTS {
            return Err(self.invalid(
                "response.transports",
                &format!("must have at most {MAX_TRANSPORTS} entries"),
            ));
        }
        let valid = |name: &str| {
            (1..=MAX_TRANSPORT_CHARS).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if transports.iter().all(|t| valid(&t.0)) {
            Ok(())
        } else {
            Err(self.invalid(
                "response.transports",
                &format!(
                    "entries must be 1 to {MAX_TRANSPORT_CHARS} lowercase letters, digits or -"
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "AQIDBAUGBwgJCgsMDQ4PEA";

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn client_data(kind: &str) -> String {
        b64(format!(
            r#"{{"type":"{kind}","challenge":"Y2hhbGxlbmdl","origin":"https://app.example.com"}}"#
        )
        .as_bytes())
    }

    pub(crate) fn new_passkey() -> Value {
        json!({
            "id": ID,
            "rawId": ID,
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {"credProps": {"rk": true}},
            "response": {
                "clientDataJSON": client_data("webauthn.create"),
                "attestationObject": b64(b"\xa3cfmtdnone"),
                "transports": ["internal", "hybrid"],
                "authenticatorData": b64(&[7; 37]),
                "publicKey": b64(&[4; 91]),
                "publicKeyAlgorithm": -7,
            },
        })
    }

    pub(crate) fn sign_in() -> Value {
        json!({
            "id": ID,
            "rawId": ID,
            "type": "public-key",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": client_data("webauthn.get"),
                "authenticatorData": b64(&[5; 37]),
                "signature": b64(&[48; 70]),
                "userHandle": b64(b"user-1"),
            },
        })
    }

    /// `value` with the JSON pointer `at` set to `to` (`None`: removed).
    fn with(mut value: Value, at: &str, to: Option<Value>) -> Value {
        let (parent, key) = at.rsplit_once('/').unwrap_or(("", at));
        if let Some(Value::Object(map)) = value.pointer_mut(parent) {
            match to {
                Some(to) => map.insert(key.to_string(), to),
                None => map.remove(key),
            };
        }
        value
    }

    fn refusal(result: Result<impl std::fmt::Debug, ApiError>) -> String {
        match result {
            Ok(ok) => panic!("accepted: {ok:?}"),
            Err(error) => {
                assert_eq!(error.status.as_u16(), 400);
                assert_eq!(error.code, "invalid_request");
                error.description.into_owned()
            }
        }
    }

    #[test]
    fn valid_credentials_pass_and_keep_their_json() {
        let json = new_passkey();
        let parsed = NewPasskeyCredential::parse("credential", json.clone());
        assert!(
            parsed.as_ref().is_ok_and(|c| c.json() == &json),
            "{parsed:?}"
        );
        let json = sign_in();
        let parsed = SignInCredential::parse("credential", json.clone());
        assert!(
            parsed.as_ref().is_ok_and(|c| c.json() == &json),
            "{parsed:?}"
        );
        // Optional fields may be null or absent, and stay as they came.
        let json = with(sign_in(), "/response/userHandle", Some(Value::Null));
        let json = with(json, "/authenticatorAttachment", Some(Value::Null));
        let json = with(json, "/clientExtensionResults", None);
        let parsed = AnyCredential::parse("credential", json.clone());
        assert!(
            matches!(&parsed, Ok(AnyCredential::SignIn(c)) if c.json() == &json),
            "{parsed:?}"
        );
        let parsed = AnyCredential::parse("credential", new_passkey());
        assert!(matches!(parsed, Ok(AnyCredential::NewPasskey(_))));
    }

    #[test]
    fn every_malformed_part_is_refused_naming_the_field_and_rule() {
        let too_long = |bytes: usize| json!(b64(&vec![1; bytes + 1]));
        #[rustfmt::skip]
        let new_passkey_cases: Vec<(&str, Option<Value>, &str)> = vec![
            ("/type", Some(json!("password")), "credential.type must be one of `public-key`"),
            ("/type", None, "credential: missing field `type`"),
            ("/rawId", Some(json!("AQID+A")), "credential.rawId must be base64url without padding"),
            ("/rawId", Some(json!("AQIDBA==")), "credential.rawId must be base64url without padding"),
            ("/rawId", Some(json!("")), "credential.rawId must not be empty"),
            ("/rawId", Some(too_long(MAX_CREDENTIAL_ID_BYTES)), "credential.rawId must decode to at most 1023 bytes"),
            ("/id", Some(json!("AQIDBAUGBwgJCgsMDQ4PEQ")), "credential.id must equal rawId"),
            ("/id", Some(json!(42)), "credential.id: expected a string"),
            ("/extra", Some(json!(1)), "credential: unknown field extra"),
            ("/authenticatorAttachment", Some(json!("usb")), "credential.authenticatorAttachment must be one of `platform` or `cross-platform`"),
            ("/clientExtensionResults", Some(json!([])), "credential.clientExtensionResults: expected a map"),
            ("/response", None, "credential: missing field `response`"),
            ("/response/attestationObject", Some(json!("not base64!")), "credential.response.attestationObject must be base64url without padding"),
            ("/response/attestationObject", Some(too_long(MAX_ATTESTATION_OBJECT_BYTES)), "credential.response.attestationObject must decode to at most 8192 bytes"),
            ("/response/clientDataJSON", None, "credential.response: missing field `clientDataJSON`"),
            ("/response/clientDataJSON", Some(json!(client_data("webauthn.get"))), "credential.response.clientDataJSON must have type \"webauthn.create\""),
            ("/response/clientDataJSON", Some(json!(b64(b"[1]"))), "credential.response.clientDataJSON must be base64url of a JSON object"),
            ("/response/clientDataJSON", Some(too_long(MAX_CLIENT_DATA_BYTES)), "credential.response.clientDataJSON must decode to at most 4096 bytes"),
            ("/response/authenticatorData", Some(json!("a")), "credential.response.authenticatorData must be base64url without padding"),
            ("/response/publicKey", Some(too_long(MAX_PUBLIC_KEY_BYTES)), "credential.response.publicKey must decode to at most 4096 bytes"),
            ("/response/publicKeyAlgorithm", Some(json!("ES256")), "credential.response.publicKeyAlgorithm: expected i64"),
            ("/response/transports", Some(json!(["USB"])), "credential.response.transports entries must be 1 to 32 lowercase letters, digits or -"),
            ("/response/transports", Some(json!(vec!["usb"; 17])), "credential.response.transports must have at most 16 entries"),
            ("/response/signature", Some(json!(b64(b"sig"))), "credential.response: unknown field signature"),
        ];
        for (at, to, expected) in new_passkey_cases {
            let json = with(new_passkey(), at, to);
            assert_eq!(
                refusal(NewPasskeyCredential::parse("credential", json)),
                expected,
                "{at}"
            );
        }
        #[rustfmt::skip]
        let sign_in_cases: Vec<(&str, Option<Value>, &str)> = vec![
            ("/response/signature", None, "credential.response: missing field `signature`"),
            ("/response/signature", Some(too_long(MAX_SIGNATURE_BYTES)), "credential.response.signature must decode to at most 4096 bytes"),
            ("/response/authenticatorData", Some(json!("AQ=")), "credential.response.authenticatorData must be base64url without padding"),
            ("/response/userHandle", Some(too_long(MAX_USER_HANDLE_BYTES)), "credential.response.userHandle must decode to at most 64 bytes"),
            ("/response/userHandle", Some(json!("")), "credential.response.userHandle must not be empty"),
            ("/response/clientDataJSON", Some(json!(client_data("webauthn.create"))), "credential.response.clientDataJSON must have type \"webauthn.get\""),
            ("/response/transports", Some(json!(["usb"])), "credential.response: unknown field transports"),
        ];
        for (at, to, expected) in sign_in_cases {
            let json = with(sign_in(), at, to);
            assert_eq!(
                refusal(SignInCredential::parse("credential", json)),
                expected,
                "{at}"
            );
        }
        assert_eq!(
            refusal(AnyCredential::parse("credential", json!("AQID"))),
            "credential: expected struct SignInCredential"
        );
    }

    #[test]
    fn refusals_never_quote_the_value() {
        let secretish = "c2VjcmV0LXZhbHVlLTkxODI3MzY0NQ";
        let json = with(sign_in(), "/rawId", Some(json!(secretish)));
        let json = with(json, "/id", Some(json!("c2VjcmV0LXZhbHVlLTkxODI3MzY0NA")));
        let description = refusal(SignInCredential::parse("credential", json));
        assert!(!description.contains("c2Vj"), "{description}");
        let json = with(sign_in(), "/type", Some(json!("918273645")));
        let description = refusal(SignInCredential::parse("credential", json));
        assert!(!description.contains("918273645"), "{description}");
    }
}
