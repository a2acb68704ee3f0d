//! The fake tenant's HTTP face: Auth0's Authentication API routes, how
//! their bodies are read, and how a [`Tenant`] answer becomes an HTTP
//! answer. The rules themselves live in [`super::tenant`] and
//! [`super::mfa`].
//!
//! What Auth0's own SDKs rely on is mirrored here, not only what the
//! gateway sends: bodies may be JSON or form-encoded (RFC 6749 §4 requires
//! the latter, node-auth0 sends it for every grant), the client may
//! authenticate in the body or with HTTP Basic, token answers are
//! `no-store`, and every failure, down to an unknown route, is JSON in one
//! of Auth0's two shapes.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::tenant::{self, Tenant, TenantError};

/// Bodies above this are refused with 413 before they are parsed.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The tenant's route table. A known path with another method is `405`
/// (with `Allow`), anything else `404`, both as JSON.
pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(only(
        "/passwordless/start",
        Method::POST,
        web::post().to(passwordless_start),
    ))
    .service(only("/oauth/token", Method::POST, web::post().to(token)))
    .service(only("/oauth/revoke", Method::POST, web::post().to(revoke)))
    .service(only(
        "/mfa/authenticators",
        Method::GET,
        web::get().to(list_authenticators),
    ))
    .service(only(
        "/mfa/authenticators/{id}",
        Method::DELETE,
        web::delete().to(delete_authenticator),
    ))
    .service(only(
        "/mfa/associate",
        Method::POST,
        web::post().to(associate),
    ))
    .service(only(
        "/mfa/challenge",
        Method::POST,
        web::post().to(challenge),
    ))
    .service(only(
        "/.well-known/jwks.json",
        Method::GET,
        web::get().to(jwks),
    ))
    .service(only(
        "/.well-known/openid-configuration",
        Method::GET,
        web::get().to(openid_configuration),
    ))
    .service(only(
        "/passkey/register",
        Method::POST,
        web::post().to(super::passkey::routes::register),
    ))
    .service(only(
        "/passkey/challenge",
        Method::POST,
        web::post().to(super::passkey::routes::challenge),
    ))
    .configure(super::my_account::configure)
    .service(super::end_session::resource())
    .service(only(
        super::api::PROFILE_PATH,
        Method::GET,
        web::get().to(super::api::profile),
    ))
    .default_service(web::to(|| async {
        boom(StatusCode::NOT_FOUND, "Not Found")
    }));
}

/// `path` answers `method` with `route`, and `405` to every other method.
pub(super) fn only(path: &str, method: Method, route: actix_web::Route) -> actix_web::Resource {
    web::resource(path)
        .route(route)
        .default_service(web::to(move || {
            let allow = method.clone();
            async move {
                let mut response = boom(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
                if let Ok(value) = HeaderValue::from_str(allow.as_str()) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
                response
            }
        }))
}

/// Auth0's second error shape (its HTTP framework's), used where no OAuth
/// error applies: `{"statusCode": 404, "error": "Not Found", "message": …}`.
fn boom(status: StatusCode, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({
        "statusCode": status.as_u16(),
        "error": status.canonical_reason().unwrap_or("Error"),
        "message": message,
    }))
}

pub(super) fn answer(result: tenant::TenantResult) -> HttpResponse {
    match result {
        Ok(body) => HttpResponse::Ok().json(body),
        Err(error) => failure(error),
    }
}

fn failure(error: TenantError) -> HttpResponse {
    HttpResponse::build(error.status).json(error.body())
}

/// RFC 6749 §5.1: answers that carry tokens or secrets are never cached.
fn no_store(mut response: HttpResponse) -> HttpResponse {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Whether a TLS-terminating proxy says the client came over `https`
/// (see [`Tenant::origin`]).
fn forwarded_https(req: &HttpRequest) -> bool {
    header(req, "x-forwarded-proto").is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// Which API a body belongs to: Auth0 words its 400s differently in each.
#[derive(Clone, Copy)]
pub(super) enum Api {
    /// `/passwordless/start`: `{"error": "bad.<property>", "error_description":
    /// "Missing required property: <property>"}`.
    Passwordless,
    /// `/oauth/*` and the MFA API: `{"error": "invalid_request",
    /// "error_description": "Missing required parameter: <parameter>"}`.
    OAuth,
}

impl Api {
    fn missing(self, field: &str) -> TenantError {
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
pub(super) struct Fields {
    pub(super) map: Map<String, Value>,
    api: Api,
}

impl Fields {
    /// Reads at most [`MAX_BODY_BYTES`]. `application/json` must be an
    /// object; `application/x-www-form-urlencoded` gives string fields; a
    /// body of any other type is not read, as Auth0's parsers ignore it, so
    /// the answer names the first missing field.
    pub(super) async fn read(
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
    pub(super) fn get(&self, name: &str) -> Result<Option<&str>, TenantError> {
        match self.map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(value)) => Ok(Some(value)),
            Some(_) => Err(self.api.invalid(name, "string")),
        }
    }

    fn require(&self, name: &str) -> Result<&str, TenantError> {
        self.get(name)?.ok_or_else(|| self.api.missing(name))
    }

    /// A list of strings (JSON array).
    fn list(&self, name: &str) -> Result<Option<Vec<&str>>, TenantError> {
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
    pub(super) fn check_client(&self, req: &HttpRequest) -> Result<(), TenantError> {
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

/// What `/passwordless/start` accepts; anything else is Auth0's
/// `bad.request` "the following properties are not allowed".
const START_PROPERTIES: [&str; 7] = [
    "client_id",
    "client_secret",
    "connection",
    "email",
    "phone_number",
    "send",
    "authParams",
];

async fn passwordless_start(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let fields = match Fields::read(&req, payload, Api::Passwordless).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let start = || -> tenant::TenantResult {
        let unknown: Vec<&str> = fields
            .map
            .keys()
            .map(String::as_str)
            .filter(|key| !START_PROPERTIES.contains(key))
            .collect();
        if !unknown.is_empty() {
            return Err(TenantError::new(
                StatusCode::BAD_REQUEST,
                "bad.request",
                format!(
                    "the following properties are not allowed: {}",
                    unknown.join(", ")
                ),
            ));
        }
        fields.require("client_id")?;
        let connection = fields.require("connection")?;
        fields.check_client(&req)?;
        let auth_params = match fields.map.get("authParams") {
            None | Some(Value::Null) => None,
            Some(Value::Object(params)) => Some(params),
            Some(_) => {
                return Err(TenantError::new(
                    StatusCode::BAD_REQUEST,
                    "bad.authParams",
                    "error in authParams - invalid type: string (expected object)",
                ))
            }
        };
        let param = |name: &str| {
            auth_params
                .and_then(|p| p.get(name))
                .and_then(Value::as_str)
        };
        tenant.passwordless_start(super::passwordless::StartRequest {
            connection,
            email: fields.get("email")?,
            phone_number: fields.get("phone_number")?,
            send: fields.get("send")?.unwrap_or("code"),
            redirect_uri: param("redirect_uri"),
            state: param("state"),
            language: header(&req, "x-request-language"),
            end_user_ip: header(&req, crate::auth0::FORWARDED_FOR_HEADER),
        })
    };
    answer(start())
}

async fn token(tenant: web::Data<Tenant>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let fields = match Fields::read(&req, payload, Api::OAuth).await {
        Ok(fields) => fields,
        Err(response) => return no_store(response),
    };
    let issuer = tenant.issuer(forwarded_https(&req));
    let grant = || -> tenant::TenantResult {
        let grant_type = fields.require("grant_type")?;
        fields.check_client(&req)?;
        match grant_type {
            crate::auth0::GRANT_PASSWORDLESS_OTP => tenant.passwordless_otp(
                fields.require("username")?,
                fields.require("otp")?,
                fields.require("realm")?,
                fields.get("audience")?.filter(|a| !a.is_empty()),
                fields
                    .get("scope")?
                    .filter(|s| !s.trim().is_empty())
                    .unwrap_or("openid"),
                &issuer,
            ),
            "authorization_code" => tenant.authorization_code(
                fields.require("code")?,
                fields.require("redirect_uri")?,
                &issuer,
            ),
            "refresh_token" => tenant.refresh(
                fields.require("refresh_token")?,
                fields.get("scope")?,
                fields.get("audience")?.filter(|a| !a.is_empty()),
                &issuer,
            ),
            // JSON only: a form body makes `authn_response` a string, which
            // Auth0 refuses (`"authn_response" must be of type object`).
            super::passkey::GRANT_WEBAUTHN => {
                tenant.grant_webauthn(super::passkey::grant::WebauthnGrant {
                    auth_session: fields.require("auth_session")?,
                    authn_response: fields.map.get("authn_response"),
                    realm: fields.get("realm")?,
                    scope: fields
                        .get("scope")?
                        .filter(|s| !s.trim().is_empty())
                        .unwrap_or("openid"),
                    audience: fields.get("audience")?.filter(|a| !a.is_empty()),
                    verification: fields.map.get("verification"),
                    issuer: &issuer,
                })
            }
            crate::auth0::GRANT_MFA_OTP => {
                tenant.grant_mfa_otp(fields.require("mfa_token")?, fields.require("otp")?)
            }
            crate::auth0::GRANT_MFA_OOB => tenant.grant_mfa_oob(
                fields.require("mfa_token")?,
                fields.require("oob_code")?,
                fields.get("binding_code")?,
            ),
            crate::auth0::GRANT_MFA_RECOVERY_CODE => tenant.grant_recovery_code(
                fields.require("mfa_token")?,
                fields.require("recovery_code")?,
            ),
            other => Err(TenantError::new(
                StatusCode::FORBIDDEN,
                "unsupported_grant_type",
                format!("Unsupported grant type: {other}"),
            )),
        }
    };
    no_store(answer(grant()))
}

async fn revoke(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let fields = match Fields::read(&req, payload, Api::OAuth).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let revoked = fields
        .require("token")
        .and_then(|token| fields.check_client(&req).map(|()| token))
        .map(|token| tenant.revoke(token));
    match revoked {
        // Auth0 answers an empty 200.
        Ok(()) => HttpResponse::Ok().finish(),
        Err(error) => failure(error),
    }
}

/// The bearer of an MFA API call, or Auth0's 401.
fn bearer(req: &HttpRequest) -> Result<&str, TenantError> {
    header(req, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            TenantError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authorization header is required",
            )
        })
}

async fn list_authenticators(tenant: web::Data<Tenant>, req: HttpRequest) -> HttpResponse {
    answer(bearer(&req).and_then(|token| tenant.list_authenticators(token)))
}

async fn associate(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let fields = match Fields::read(&req, payload, Api::OAuth).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let associate = || -> tenant::TenantResult {
        let types = fields
            .list("authenticator_types")?
            .ok_or_else(|| Api::OAuth.missing("authenticator_types"))?;
        fields.check_client(&req)?;
        let token = bearer(&req)?;
        let channels = fields.list("oob_channels")?;
        tenant.associate(
            token,
            types.first().copied().unwrap_or(""),
            channels.as_ref().and_then(|c| c.first().copied()),
            fields.get("phone_number")?,
            fields.get("email")?,
        )
    };
    // The answer may carry a TOTP secret and a recovery code.
    no_store(answer(associate()))
}

async fn challenge(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let fields = match Fields::read(&req, payload, Api::OAuth).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let challenge = || -> tenant::TenantResult {
        let mfa_token = fields.require("mfa_token")?;
        let challenge_type = fields.require("challenge_type")?;
        fields.check_client(&req)?;
        tenant.challenge(mfa_token, challenge_type, fields.get("authenticator_id")?)
    };
    answer(challenge())
}

async fn delete_authenticator(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    match bearer(&req).and_then(|token| tenant.delete_authenticator(token, &path)) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(error) => failure(error),
    }
}

async fn jwks(tenant: web::Data<Tenant>) -> HttpResponse {
    HttpResponse::Ok().json(tenant.jwks())
}

async fn openid_configuration(tenant: web::Data<Tenant>, req: HttpRequest) -> HttpResponse {
    HttpResponse::Ok().json(tenant.openid_configuration(forwarded_https(&req)))
}
