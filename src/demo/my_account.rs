//! The demo tenant's My Account API, the part that adds a passkey to a
//! signed-in user (SPEC §11, "Enrollment Flow" of Auth0's Passkey API):
//!
//! - `POST /me/v1/authentication-methods` `{"type": "passkey",
//!   "connection"?, "identity_user_id"?}` → `202 Accepted`, the new
//!   method's id only in `Location` (absolute, as Auth0's SDKs parse it:
//!   `{origin}/me/v1/authentication-methods/passkey%7Cnew`, the id of every
//!   new passkey enrolment) and `{auth_session, authn_params_public_key}`;
//! - `POST /me/v1/authentication-methods/passkey%7Cnew/verify`
//!   `{auth_session, authn_response}` → `201 Created` with the method:
//!   `{id, type: "passkey", confirmed, created_at, credential_device_type,
//!   credential_backed_up, identity_user_id, key_id, user_handle, usage,
//!   relying_party_id, aaguid, transports?}` (no `public_key`: the demo keeps
//!   the key in `webauthn_rp`'s encoding, not COSE).
//!
//! The bearer is an access token of this tenant whose `aud` is the My
//! Account API (`{origin}/me/`) and whose `scope` has
//! `create:me:authentication_methods`. Failures use the API's own shape,
//! `{type, status, title, detail}`; the `type` URIs are the demo's (Auth0's
//! are not documented), shaped like Auth0's `https://auth0.com/api-errors/…`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::passkey::{Ceremony, Profile, Refusal, PASSKEY_CONNECTION, RP_ID};
use super::routes::only;
use super::tenant::{unix_now, Tenant, TenantError};

/// The scope that enrols an authentication method.
pub const CREATE_SCOPE: &str = "create:me:authentication_methods";
const METHODS_PATH: &str = "/me/v1/authentication-methods";
/// The id of a passkey enrolment before it is verified.
const NEW_PASSKEY_ID: &str = "passkey|new";
/// Bodies above this are refused.
const MAX_BODY_BYTES: usize = 64 * 1024;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(only(METHODS_PATH, Method::POST, web::post().to(create)))
        .service(only(
            "/me/v1/authentication-methods/{id}/verify",
            Method::POST,
            web::post().to(verify),
        ));
}

/// A My Account failure: `{type, status, title, detail}`.
#[derive(Debug)]
struct Problem {
    status: StatusCode,
    detail: String,
}

impl Problem {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
        }
    }

    fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    fn response(&self) -> HttpResponse {
        let status = self.status.as_u16();
        let mut response = HttpResponse::build(self.status).json(json!({
            "type": format!("https://auth0.com/api-errors/A0E-{status}-0001"),
            "status": status,
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "detail": self.detail,
        }));
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            );
        }
        response
    }
}

impl Tenant {
    /// The My Account API's audience: `{origin}/me/`.
    pub fn my_account_audience(&self, forwarded_https: bool) -> String {
        format!("{}/me/", self.origin(forwarded_https))
    }

    /// The audience a refresh may ask for (Auth0's multi-resource refresh
    /// tokens): the sign-in's own, the My Account API, or one of the demo's
    /// other APIs (MFA, demo-api). Anything else is Auth0's `403
    /// access_denied` "Service not found".
    pub(super) fn refresh_audience(
        &self,
        current: &str,
        requested: &str,
    ) -> Result<String, TenantError> {
        let base = self.base_url();
        let known = [
            current.to_string(),
            self.my_account_audience(false),
            self.my_account_audience(true),
            format!("{base}/mfa/"),
            super::api::audience(base),
        ];
        if known.iter().any(|audience| audience == requested) {
            Ok(requested.to_string())
        } else {
            Err(TenantError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                format!("Service not found: {requested}"),
            ))
        }
    }

    /// The subject of a bearer good for enrolment, or the problem.
    fn my_account_subject(&self, req: &HttpRequest) -> Result<String, Problem> {
        let unauthorized = |detail: &str| Problem::new(StatusCode::UNAUTHORIZED, detail);
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("Missing authorization header"))?;
        let claims = self
            .key()
            .verify(token)
            .ok_or_else(|| unauthorized("Invalid token"))?;
        let issuers = [self.issuer(false), self.issuer(true)];
        if !issuers.iter().any(|issuer| claims["iss"] == json!(issuer)) {
            return Err(unauthorized("Invalid token issuer"));
        }
        let audiences = [
            self.my_account_audience(false),
            self.my_account_audience(true),
        ];
        let audience_ok = crate::session::audience_matches(&claims["aud"], |aud| {
            audiences.iter().any(|a| a == aud)
        });
        if !audience_ok {
            return Err(unauthorized("Invalid token audience"));
        }
        if claims["exp"].as_u64().is_none_or(|exp| exp <= unix_now()) {
            return Err(unauthorized("Token expired"));
        }
        let granted = claims["scope"]
            .as_str()
            .is_some_and(|scope| scope.split_whitespace().any(|s| s == CREATE_SCOPE));
        if !granted {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                format!("Insufficient scope; expected: {CREATE_SCOPE}"),
            ));
        }
        claims["sub"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| unauthorized("Invalid token subject"))
    }

    /// Starts a passkey enrolment for `subject`.
    fn enroll_passkey(&self, subject: &str) -> Result<(String, Value), Problem> {
        let (handle, profile) = {
            let state = self.lock();
            let profile = state
                .passkeys
                .users
                .get(subject)
                .map(|user| user.profile.clone())
                .unwrap_or_else(|| profile_of(subject));
            (state.passkeys.handle_for(subject), profile)
        };
        let (server, public_key) = self
            .start_registration(&handle, profile.identifier(), profile.display_name())
            .map_err(problem_of)?;
        let auth_session = self.lock().passkeys.start(Ceremony::Enroll {
            server,
            subject: subject.to_string(),
            handle,
        });
        Ok((auth_session, public_key))
    }

    /// Completes `subject`'s enrolment: the new method's JSON.
    fn verify_enrollment(
        &self,
        subject: &str,
        auth_session: &str,
        credential: &Value,
    ) -> Result<Value, Problem> {
        let expired = || Problem::bad_request("The auth_session is invalid or has expired.");
        let mut state = self.lock();
        let ours = state.passkeys.live(auth_session).is_some_and(|pending| {
            matches!(&pending.ceremony, Ceremony::Enroll { subject: s, .. } if s == subject)
        });
        if !ours {
            return Err(expired());
        }
        let Some(Ceremony::Enroll { server, handle, .. }) = state
            .passkeys
            .ceremonies
            .remove(auth_session)
            .map(|pending| pending.ceremony)
        else {
            return Err(expired());
        };
        let new = self
            .finish_registration(server, &handle, credential)
            .map_err(problem_of)?;
        let user_handle = URL_SAFE_NO_PAD.encode(handle.as_ref());
        let stored = state
            .passkeys
            .add_credential(subject, || profile_of(subject), handle, new)
            .map_err(|detail| Problem::new(StatusCode::CONFLICT, detail))?;
        let (device_type, backed_up) = stored.backup();
        let mut method = json!({
            "id": stored.method_id,
            "type": "passkey",
            "confirmed": true,
            "created_at": stored.created_at,
            "credential_device_type": device_type,
            "credential_backed_up": backed_up,
            "identity_user_id": subject,
            "key_id": URL_SAFE_NO_PAD.encode(&stored.id),
            "user_handle": user_handle,
            "usage": ["primary"],
            "relying_party_id": RP_ID,
            "aaguid": stored.aaguid,
        });
        if stored.transports.as_array().is_some_and(|t| !t.is_empty()) {
            method["transports"] = stored.transports.clone();
        }
        Ok(method)
    }
}

/// The profile of a user who enrols a first passkey without having signed
/// up with one: the identifier in its subject (`email|…`, `sms|…`).
fn profile_of(subject: &str) -> Profile {
    let (provider, id) = subject.split_once('|').unwrap_or(("", subject));
    match provider {
        "email" => Profile {
            email: Some(id.to_string()),
            ..Profile::default()
        },
        "sms" => Profile {
            phone_number: Some(id.to_string()),
            ..Profile::default()
        },
        _ => Profile {
            username: Some(id.to_string()),
            ..Profile::default()
        },
    }
}

fn problem_of(refusal: Refusal) -> Problem {
    match refusal {
        Refusal::Malformed(detail) => Problem::bad_request(detail),
        Refusal::Refused(reason) => {
            Problem::bad_request(format!("The passkey was refused: {reason}"))
        }
    }
}

/// A JSON object body, or the problem.
async fn read_object(payload: web::Payload) -> Result<Map<String, Value>, Problem> {
    let bytes = match payload.to_bytes_limited(MAX_BODY_BYTES).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return Err(Problem::bad_request("The request body could not be read")),
        Err(_) => {
            return Err(Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "The request body is too large",
            ))
        }
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Problem::bad_request(
            "The request body must be a JSON object",
        )),
    }
}

fn allowed(body: &Map<String, Value>, names: &[&str]) -> Result<(), Problem> {
    match body.keys().find(|key| !names.contains(&key.as_str())) {
        Some(unknown) => Err(Problem::bad_request(format!(
            "Unexpected property: {unknown}"
        ))),
        None => Ok(()),
    }
}

fn forwarded_https(req: &HttpRequest) -> bool {
    req.headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// What a method id escapes in a path: `|` (as Auth0 writes `passkey%7Cnew`)
/// and whatever would end the segment.
const ID_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'|')
    .add(b'%')
    .add(b'/')
    .add(b'?')
    .add(b'#');

/// `Location` of a method: the id percent-encoded (`|` is `%7C`).
fn location(tenant: &Tenant, req: &HttpRequest, id: &str) -> String {
    let id: String = percent_encoding::utf8_percent_encode(id, ID_ESCAPES).collect();
    format!("{}{METHODS_PATH}/{id}", tenant.origin(forwarded_https(req)))
}

fn no_store(mut response: HttpResponse) -> HttpResponse {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /me/v1/authentication-methods`.
async fn create(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let started = async {
        let subject = tenant.my_account_subject(&req)?;
        let body = read_object(payload).await?;
        allowed(&body, &["type", "connection", "identity_user_id"])?;
        match body.get("type") {
            Some(Value::String(kind)) if kind == "passkey" => {}
            Some(Value::String(kind)) => {
                return Err(Problem::bad_request(format!(
                    "Authentication method type not supported: {kind}"
                )))
            }
            _ => return Err(Problem::bad_request("Missing or invalid property: type")),
        }
        match body.get("connection") {
            None | Some(Value::Null) => {}
            Some(Value::String(connection)) if connection == PASSKEY_CONNECTION => {}
            Some(_) => {
                return Err(Problem::bad_request(
                    "The connection does not exist or does not have passkeys enabled",
                ))
            }
        }
        match body.get("identity_user_id") {
            None | Some(Value::Null) => {}
            Some(Value::String(id)) if subject.ends_with(&format!("|{id}")) || *id == subject => {}
            Some(_) => return Err(Problem::bad_request("Unknown identity_user_id")),
        }
        tenant.enroll_passkey(&subject)
    };
    match started.await {
        Ok((auth_session, public_key)) => {
            let mut response = HttpResponse::Accepted().json(json!({
                "auth_session": auth_session,
                "authn_params_public_key": public_key,
            }));
            if let Ok(value) = HeaderValue::from_str(&location(&tenant, &req, NEW_PASSKEY_ID)) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            no_store(response)
        }
        Err(problem) => problem.response(),
    }
}

/// `POST /me/v1/authentication-methods/{id}/verify`.
async fn verify(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let verified = async {
        let subject = tenant.my_account_subject(&req)?;
        if path.as_str() != NEW_PASSKEY_ID {
            return Err(Problem::new(
                StatusCode::NOT_FOUND,
                "The authentication method was not found",
            ));
        }
        let body = read_object(payload).await?;
        allowed(&body, &["auth_session", "authn_response"])?;
        let Some(Value::String(auth_session)) = body.get("auth_session") else {
            return Err(Problem::bad_request(
                "Missing or invalid property: auth_session",
            ));
        };
        let credential = match body.get("authn_response") {
            Some(credential @ Value::Object(_)) => credential,
            _ => {
                return Err(Problem::bad_request(
                    "Missing or invalid property: authn_response",
                ))
            }
        };
        tenant.verify_enrollment(&subject, auth_session, credential)
    };
    match verified.await {
        Ok(method) => {
            let id = method["id"].as_str().unwrap_or_default().to_string();
            let mut response = HttpResponse::Created().json(method);
            if let Ok(value) = HeaderValue::from_str(&location(&tenant, &req, &id)) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            response
        }
        Err(problem) => problem.response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_passkey_belongs_to_the_identifier_of_the_subject() {
        assert_eq!(
            profile_of("email|jane@example.com").email.as_deref(),
            Some("jane@example.com")
        );
        assert_eq!(
            profile_of("sms|+14155550100").phone_number.as_deref(),
            Some("+14155550100")
        );
        assert_eq!(profile_of("auth0|abc").username.as_deref(), Some("abc"));
    }

    #[test]
    fn a_refresh_may_ask_for_the_my_account_api_but_not_a_stranger() {
        let tenant = Tenant::new("http://127.0.0.1:1".into());
        let me = tenant.my_account_audience(false);
        assert_eq!(me, "http://127.0.0.1:1/me/");
        assert_eq!(tenant.refresh_audience("", &me).ok(), Some(me.clone()));
        assert!(tenant
            .refresh_audience("", "https://127.0.0.1:1/me/")
            .is_ok());
        assert!(tenant
            .refresh_audience("https://api", "https://api")
            .is_ok());
        let refused = tenant
            .refresh_audience("", "https://elsewhere.example/")
            .expect_err("unknown API");
        assert_eq!(
            (refused.status.as_u16(), refused.error),
            (403, "access_denied")
        );
    }
}
