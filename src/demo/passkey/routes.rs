//! The HTTP face of `POST /passkey/register` and `POST /passkey/challenge`
//! (the webauthn grant is one more arm of `/oauth/token`, in
//! [`crate::demo::routes`]).
//!
//! The client: Auth0 documents `client_secret` as required for
//! confidential applications, yet `@auth0/auth0-auth-js` (a server SDK)
//! sends only `client_id` to these two endpoints ("they work with public
//! clients"); the demo answers both: `client_id` alone is accepted, and a
//! `client_secret` (or HTTP Basic) that is sent must be right (`401
//! invalid_client`). The grant itself always needs the secret.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::grant::{invalid_request, parse_profile};
use crate::demo::routes::answer;
use crate::demo::routes::fields::{Api, Fields};
use crate::demo::tenant::{Tenant, TenantError, TenantResult, DEMO_CLIENT_ID};

/// What `/passkey/register` accepts (Auth0's list); any other property is
/// refused.
const REGISTER_PROPERTIES: [&str; 6] = [
    "client_id",
    "client_secret",
    "realm",
    "organization",
    "user_profile",
    "user_metadata",
];
const CHALLENGE_PROPERTIES: [&str; 4] = ["client_id", "client_secret", "realm", "organization"];

/// `"<property>" is not allowed` for the first unknown property.
fn only(fields: &Fields, allowed: &[&str]) -> Result<(), TenantError> {
    match fields
        .map
        .keys()
        .find(|key| !allowed.contains(&key.as_str()))
    {
        Some(unknown) => Err(invalid_request(format!("\"{unknown}\" is not allowed"))),
        None => Ok(()),
    }
}

/// `client_id` alone (a public client), or the client's credentials.
fn check_client(fields: &Fields, req: &HttpRequest) -> Result<(), TenantError> {
    let basic = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Basic "));
    if basic || fields.get("client_secret")?.is_some() {
        return fields.check_client(req);
    }
    match fields.get("client_id")? {
        None => Err(invalid_request("\"client_id\" is required")),
        Some(DEMO_CLIENT_ID) => Ok(()),
        Some(_) => Tenant::check_client(None, None),
    }
}

/// `organization` (ignored: the demo has no organizations) and
/// `user_metadata` (at most 10 string fields, kept nowhere) are checked
/// for their type only.
fn check_extras(fields: &Fields) -> Result<(), TenantError> {
    fields.get("organization")?;
    match fields.map.get("user_metadata") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(metadata))
            if metadata.len() <= 10 && metadata.values().all(Value::is_string) =>
        {
            Ok(())
        }
        Some(_) => Err(invalid_request(
            "\"user_metadata\" must be an object of at most 10 string fields",
        )),
    }
}

pub(in crate::demo) async fn register(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let fields = match Fields::read(&req, payload, Api::OAuth).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let register = || -> TenantResult {
        only(&fields, &REGISTER_PROPERTIES)?;
        check_client(&fields, &req)?;
        check_extras(&fields)?;
        let profile = parse_profile(fields.map.get("user_profile"))?;
        tenant.passkey_register(fields.get("realm")?, profile)
    };
    answer(register())
}

pub(in crate::demo) async fn challenge(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let fields = match Fields::read(&req, payload, Api::OAuth).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let challenge = || -> TenantResult {
        only(&fields, &CHALLENGE_PROPERTIES)?;
        check_client(&fields, &req)?;
        check_extras(&fields)?;
        tenant.passkey_challenge(fields.get("realm")?)
    };
    answer(challenge())
}
