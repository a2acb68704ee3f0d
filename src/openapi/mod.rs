//! The OpenAPI 3.1 document, generated from the code.
//!
//! Success responses are declared with `#[utoipa::path]` on each handler;
//! the error responses every operation can give are added here from one
//! table ([`ERROR_RESPONSES`]) as reusable `components/responses`, all with
//! the one [`ErrorBody`] schema whose `error` enum is built from the codes the
//! gateway produces ([`GATEWAY_ERROR_CODES`]) and the Auth0 codes it passes
//! through ([`crate::auth0::errors::DOCUMENTED_CODES`]).
//!
//! This module only assembles: request and response schemas live with their
//! routes (`routes::schemas` for the hand-written either/or request
//! bodies), the error responses in [`errors`] and the bodies they carry in
//! [`error_bodies`], `info` and the security schemes in [`metadata`], the
//! shared response headers in [`headers`], and the JSON edits for cookie
//! mode that utoipa's attributes cannot express in [`cookie_mode`].
//!
//! [`document`] is what `GET /openapi.json` serves, `--print-openapi`
//! prints and `openapi/openapi.json` holds: pretty-printed, keys sorted.

use std::sync::OnceLock;

use serde_json::Value;
use utoipa::OpenApi;

mod cookie_mode;
mod error_bodies;
mod errors;
mod headers;
mod metadata;

use crate::auth0::errors::DOCUMENTED_CODES;
use crate::error::ErrorCode;
use cookie_mode::document_cookie_mode;
use error_bodies::{ErrorBody, ErrorCode as ErrorCodeSchema, MfaRequired, MfaRequiredSealed};
use errors::ErrorResponses;
use headers::{mark_required_headers, RequestIdHeader};
use metadata::Metadata;

/// The codes the gateway itself puts in `error` (SPEC §2), from the one
/// enum that owns them.
pub const GATEWAY_ERROR_CODES: [&str; ErrorCode::ALL.len()] = {
    let mut codes = [""; ErrorCode::ALL.len()];
    let mut i = 0;
    while i < codes.len() {
        codes[i] = ErrorCode::ALL[i].as_str();
        i += 1;
    }
    codes
};

/// Every value `error` can take: the gateway's codes, then the Auth0 codes
/// passed through, without duplicates.
pub fn error_codes() -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = Vec::new();
    for code in GATEWAY_ERROR_CODES.iter().chain(DOCUMENTED_CODES) {
        if !codes.contains(code) {
            codes.push(code);
        }
    }
    codes
}

/// Which error responses each operation documents: what the route can
/// really answer. 401 only where a bearer is read (`/mfa/*`); 413/415 only
/// where a JSON body is read; 404 where a path parameter can fail to match.
/// 403 and the Auth0 side of 400/401/429 are Auth0's documented answers,
/// passed through with their status. 503 on every limited route:
/// `rate_limit_unavailable` with `rate_limit.redis.on_error = "closed"`.
pub const ERROR_RESPONSES: &[(&str, &str, &[u16])] = &[
    (
        "/login/start",
        "post",
        &[400, 408, 413, 415, 429, 502, 503, 504],
    ),
    (
        "/login/verify",
        "post",
        &[400, 403, 408, 413, 415, 429, 502, 503, 504],
    ),
    (
        "/login/callback",
        "post",
        &[400, 403, 408, 413, 415, 429, 502, 503, 504],
    ),
    (
        "/mfa/authenticators",
        "get",
        &[401, 403, 429, 502, 503, 504],
    ),
    (
        "/mfa/authenticators/{id}",
        "delete",
        &[400, 401, 403, 404, 429, 502, 503, 504],
    ),
    (
        "/mfa/associate",
        "post",
        &[400, 401, 403, 408, 413, 415, 429, 502, 503, 504],
    ),
    (
        "/mfa/challenge",
        "post",
        &[400, 401, 403, 408, 413, 415, 429, 502, 503, 504],
    ),
    (
        "/mfa/verify",
        "post",
        &[400, 401, 403, 408, 413, 415, 429, 502, 503, 504],
    ),
    (
        "/token/refresh",
        "post",
        &[400, 403, 408, 413, 415, 429, 502, 503, 504],
    ),
    (
        "/token/revoke",
        "post",
        &[400, 408, 413, 415, 429, 502, 503, 504],
    ),
    ("/session", "get", &[401, 404, 429, 503]),
    (
        "/session/refresh",
        "post",
        &[401, 403, 404, 429, 502, 503, 504],
    ),
    (
        "/session/logout",
        "post",
        &[400, 403, 404, 408, 413, 415, 429, 503],
    ),
    (
        "/session/backchannel-logout",
        "post",
        &[400, 404, 408, 413, 429, 502, 503],
    ),
    ("/api/{name}/{rest}", "get", API_PROXY_ERRORS),
    ("/api/{name}/{rest}", "post", API_PROXY_ERRORS),
    ("/api/{name}/{rest}", "put", API_PROXY_ERRORS),
    ("/api/{name}/{rest}", "patch", API_PROXY_ERRORS),
    ("/api/{name}/{rest}", "delete", API_PROXY_ERRORS),
    (
        "/session/token",
        "get",
        &[401, 403, 404, 429, 502, 503, 504],
    ),
    ("/passkey/enroll", "post", PASSKEY_ENROLL_ERRORS),
    ("/passkey/enroll/verify", "post", PASSKEY_ENROLL_ERRORS),
    ("/readyz", "get", &[503]),
    // 404 while `passkey.enabled` is off.
    (
        "/passkey/register",
        "post",
        &[400, 404, 408, 413, 415, 429, 502, 503, 504],
    ),
    (
        "/passkey/challenge",
        "post",
        &[400, 404, 408, 413, 415, 429, 502, 503, 504],
    ),
    (
        "/passkey/verify",
        "post",
        &[400, 403, 404, 408, 413, 415, 429, 502, 503, 504],
    ),
];

/// `/passkey/enroll*`: a JSON body; a bearer or the session cookie (401
/// `unauthorized`, `invalid_token`, `session_expired`; 403 `csrf_failed`,
/// `insufficient_scope`); the My Account API's refusals (400, 429).
const PASSKEY_ENROLL_ERRORS: &[u16] = &[400, 401, 403, 408, 413, 415, 429, 502, 503, 504];

/// The gateway's own answers on `/api/{name}/{rest}` (the API's own pass
/// through as they are).
const API_PROXY_ERRORS: &[u16] = &[400, 401, 403, 404, 408, 413, 429, 502, 503, 504];

/// The operations that end in an Auth0 token grant, so their 403 may be
/// `mfa_required` (documented as `oneOf` `MfaRequired` / `ErrorBody`).
pub const MFA_REQUIRED_OPERATIONS: &[(&str, &str)] = &[
    ("/login/verify", "post"),
    ("/login/callback", "post"),
    ("/mfa/verify", "post"),
    ("/token/refresh", "post"),
    ("/passkey/verify", "post"),
];

/// Routes the gateway serves that are not API operations and so are not in
/// the document: the Swagger UI page and its assets.
pub const UNDOCUMENTED_ROUTES: &[(&str, &str)] = &[
    (
        "/docs",
        "Swagger UI page: HTML for people, not an API operation",
    ),
    (
        "/docs/",
        "Swagger UI page: HTML for people, not an API operation",
    ),
    (
        "/docs/{file}",
        "Swagger UI's JavaScript, CSS and images, served from the binary",
    ),
];

/// The gateway's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        crate::routes::login::start,
        crate::routes::login::verify,
        crate::routes::login::callback,
        crate::routes::mfa::list_authenticators,
        crate::routes::mfa::delete_authenticator,
        crate::routes::mfa::associate,
        crate::routes::mfa::challenge,
        crate::routes::mfa::verify,
        crate::routes::token::refresh,
        crate::routes::token::revoke,
        crate::routes::session::get_session,
        crate::routes::session::refresh_session,
        crate::routes::session::logout,
        crate::routes::session::session_token,
        crate::routes::backchannel::backchannel_logout,
        crate::routes::api::proxy,
        crate::routes::passkey::enroll::enroll,
        crate::routes::passkey::enroll::enroll_verify,
        crate::routes::passkey::signup::register,
        crate::routes::passkey::login::challenge,
        crate::routes::passkey::login::verify,
        crate::routes::ops::healthz,
        crate::routes::ops::readyz,
        crate::routes::docs::openapi_json,
    ),
    components(schemas(
        ErrorBody,
        ErrorCodeSchema,
        MfaRequired,
        MfaRequiredSealed,
        crate::auth0::MfaRequirements,
        crate::auth0::MfaFactor,
        crate::auth0::MfaFactorType,
        crate::auth0::VerificationIdentifier,
    )),
    tags(
        (name = "login", description = "Passwordless login: send a one-time code or magic link, exchange it for tokens."),
        (name = "mfa", description = "Second factor after `403 mfa_required`: enroll, challenge, verify. Every call takes `Authorization: Bearer <mfa_token>`."),
        (name = "token", description = "Refresh and revoke tokens issued through the gateway (they need the client secret)."),
        (name = "session", description = "Cookie sessions (`session.enabled`, SPEC §10): send `X-Lgw-Session: 1` with `/login/verify`, `/login/callback` or `/mfa/verify` and the gateway keeps the tokens in a sealed `HttpOnly` cookie instead of answering them; these routes read and end that session. `404` while sessions are off."),
        (name = "passkey", description = "Passkeys (`passkey.enabled`, SPEC §11): sign up with a new passkey (`POST /passkey/register`), sign in with one (`POST /passkey/challenge`), then exchange the credential for tokens (`POST /passkey/verify`, or a cookie session with `X-Lgw-Session: 1`). Auth0's native Passkey API with the client secret injected; nothing is texted unless a sign-up gives a phone number. A signed-in user adds a passkey with `POST /passkey/enroll` and `POST /passkey/enroll/verify` (Auth0's My Account API), with a bearer for `https://{domain}/me/` (token mode) or the session cookie (cookie mode). `404` while passkeys are off."),
        (name = "operations", description = "Health, readiness and this document. Prometheus metrics are served on a separate listener (`server.metrics_bind`), never on this port."),
    ),
    servers((
        url = "{origin}",
        description = "The gateway. `origin` is where it is served: \
            `http://127.0.0.1:8080` for `login-gateway --demo`, your deployment's \
            `https://` origin otherwise (Swagger UI at `/docs` calls the gateway that serves it).",
        variables(("origin" = (default = "http://127.0.0.1:8080", description = "Scheme, host and port of the gateway, no trailing slash.")))
    )),
    modifiers(&Metadata, &ErrorResponses, &RequestIdHeader),
)]
pub struct ApiDoc;

/// The document as served: `ApiDoc` plus what utoipa cannot express
/// ([`cookie_mode`], the header flags of [`headers`]), keys sorted.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut value = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
        document_cookie_mode(&mut value);
        mark_required_headers(&mut value);
        sort_keys(value)
    })
}

/// [`document`] pretty-printed with a final newline: the exact bytes of
/// `openapi/openapi.json`, `GET /openapi.json` and `--print-openapi`.
pub fn document_json() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = serde_json::to_string_pretty(document()).unwrap_or_default();
        text.push('\n');
        text
    })
}

/// Keys sorted at every level, whatever serde_json's map type preserves.
fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, value)| (key, sort_keys(value)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_cover_both_lists_once() {
        let codes = error_codes();
        for code in GATEWAY_ERROR_CODES.iter().chain(DOCUMENTED_CODES) {
            assert_eq!(codes.iter().filter(|c| *c == code).count(), 1, "{code}");
        }
    }

    #[test]
    fn the_document_is_openapi_3_1() {
        let document = document();
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    }
}
