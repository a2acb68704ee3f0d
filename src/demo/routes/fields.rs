//! How the demo tenant reads a request body, the way Auth0's parsers do:
//! JSON or form-encoded into named [`Fields`], at most [`MAX_BODY_BYTES`],
//! with each API's own wording for a missing or mistyped field ([`Api`]),
//! and the client's credentials from the body or HTTP Basic. Apart from
//! the routes because every route of the tenant (passkeys and the MFA API
//! included) reads its body through it.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

use super::{boom, failure, header};
use crate::demo::tenant::{Tenant, TenantError};

/// Bodies above this are refused with 413 before they are parsed.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Which API a body belongs to: Auth0 words its 400s differently in each.
#[derive(Clone, Copy)]
pub(in crate::demo) enum Api {
    /// `/passwordless/start`: `{"error": "bad.<property>", "error_description":
    /// "Missing required property: <property>"}`.
    Passwordless,
    /// `/oauth/*` and the MFA API: `{"error": "invalid_request",
    /// "error_description": "Missing required parameter: <parameter>"}`.
    OAuth,
}

impl Api {
    pub(super) fn missing(self, field: &str) -> TenantError {
        match self {
            Api::Passwordless => TenantError::new(
                StatusCode::BAD_REQUEST,
                passwordless_error(field),
                format!("Missing required property: {field}"),
            ),
            Api::OAuth => TenantError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("Missing required parameter: {field}"),
            ),
        }
    }

    fn invalid(self, field: &str, expected: &str) -> TenantError {
        let (error, description) = match self {
            Api::Passwordless => (
                passwordless_error(field),
                format!("error in {field} - invalid type (expected {expected})"),
            ),
            Api::OAuth => (
                "invalid_request",
                format!("Invalid parameter: {field} must be {expected}"),
            ),
        };
        TenantError::new(StatusCode::BAD_REQUEST, error, description)
    }

    fn malformed(self, description: &str) -> TenantError {
        let error = match self {
            Api::Passwordless => "bad.request",
            Api::OAuth => "invalid_request",
        };
        TenantError::new(StatusCode::BAD_REQUEST, error, description)
    }
}

/// `bad.connection`, `bad.email`, …: Auth0's code for a property of
/// `/passwordless/start`.
fn passwordless_error(field: &str) -> &'static str {
    match field {
        "client_id" => "bad.client_id",
        "connection" => "bad.connection",
        "email" => "bad.email",
        "phone_number" => "bad.phone_number",
        "authParams" => "bad.authParams",
        _ => "bad.request",
    }
}

/// A request body as named fields, whether it came as JSON or form-encoded.
pub(in crate::demo) struct Fields {
    pub(in crate::demo) map: Map<String, Value>,
    api: Api,
}

impl Fields {
    /// Reads at most [`MAX_BODY_BYTES`]. `application/json` must be an
    /// object; `application/x-www-form-urlencoded` gives string fields; a
    /// body of any other type is not read, as Auth0's parsers ignore it, so
    /// the answer names the first missing field.
    pub(in crate::demo) async fn read(
        req: &HttpRequest,
        payload: web::Payload,
        api: Api,
    ) -> Result<Self, HttpResponse> {
        let bytes = match payload.to_bytes_limited(MAX_BODY_BYTES).await {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(_)) => return Err(failure(api.malformed("The request body could not be read"))),
            Err(_) => {
                return Err(boom(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!(
                        "Payload content length greater than maximum allowed: {MAX_BODY_BYTES}"
                    ),
                ))
            }
        };
        let essence = header(req, "content-type")
            .and_then(|value| value.split(';').next())
            .map(|essence| essence.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let map = match essence.as_str() {
            "application/json" if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            "application/json" => match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => map,
                Ok(_) => {
                    return Err(failure(
                        api.malformed("The request body must be a JSON object"),
                    ))
                }
                Err(_) => return Err(failure(api.malformed("The request body is not valid JSON"))),
            },
            "application/x-www-form-urlencoded" => url::form_urlencoded::parse(&bytes)
                .map(|(key, value)| (key.into_owned(), Value::String(value.into_owned())))
                .collect(),
            _ => Map::new(),
        };
        Ok(Self { map, api })
    }

    /// A string field; `None` when absent or `null`.
    pub(in crate::demo) fn get(&self, name: &str) -> Result<Option<&str>, TenantError> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => Ok(Some(value)),
            Some(_) => Err(self.api.invalid(name, "string")),
        }
    }

    pub(super) fn require(&self, name: &str) -> Result<&str, TenantError> {
        self.get(name)?.ok_or_else(|| self.api.missing(name))
    }

    /// A list of strings (JSON array).
    pub(super) fn list(&self, name: &str) -> Result<Option<Vec<&str>>, TenantError> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .ok_or_else(|| self.api.invalid(name, "array of strings"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(self.api.invalid(name, "array")),
        }
    }

    /// The client's credentials: `client_id` / `client_secret` in the body
    /// (`client_secret_post`), else HTTP Basic (`client_secret_basic`).
    pub(in crate::demo) fn check_client(&self, req: &HttpRequest) -> Result<(), TenantError> {
        let (mut id, mut secret) = (
            self.get("client_id")?.map(str::to_string),
            self.get("client_secret")?.map(str::to_string),
        );
        if secret.is_none() {
            if let Some((basic_id, basic_secret)) = basic_credentials(req) {
                if id.as_ref().is_some_and(|id| *id != basic_id) {
                    return Err(TenantError::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "The client_id in the authentication header does not match the client_id in the payload",
                    ));
                }
                id = Some(basic_id);
                secret = Some(basic_secret);
            }
        }
        Tenant::check_client(id.as_deref(), secret.as_deref())
    }
}

/// `Authorization: Basic base64(urlencoded id ":" urlencoded secret)`
/// (RFC 6749 §2.3.1).
fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let encoded = header(req, "authorization")?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|s| s.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}
