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
//! [`error_bodies`].
//!
//! [`document`] is what `GET /openapi.json` serves, `--print-openapi`
//! prints and `openapi/openapi.json` holds: pretty-printed, keys sorted.

use std::sync::OnceLock;

use serde_json::{json, Value};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::info::{InfoBuilder, LicenseBuilder};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi};

mod error_bodies;
mod errors;

use crate::auth0::errors::DOCUMENTED_CODES;
use crate::error::ErrorCode;
use crate::routes::schemas::string_schema;
use error_bodies::{ErrorBody, ErrorCode as ErrorCodeSchema, MfaRequired, MfaRequiredSealed};
use errors::ErrorResponses;

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
            `https://` origin otherwise (Swagger UI at `/docs` fills in the origin that serves it).",
        variables(("origin" = (default = "http://127.0.0.1:8080", description = "Scheme, host and port of the gateway, no trailing slash.")))
    )),
    modifiers(&Metadata, &ErrorResponses, &RequestIdHeader),
)]
pub struct ApiDoc;

/// The document as served: `ApiDoc` plus the header flags utoipa cannot
/// express, keys sorted.
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

/// `info`, the security scheme.
struct Metadata;

impl Modify for Metadata {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.info = InfoBuilder::new()
            .title("login-gateway")
            .version(env!("CARGO_PKG_VERSION"))
            .description(Some(DESCRIPTION))
            .license(Some(
                LicenseBuilder::new()
                    .name("Apache-2.0")
                    .identifier(Some("Apache-2.0"))
                    .build(),
            ))
            .build();
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The `mfa_token` from a `403 mfa_required` answer (see \
                         `MfaRequired.mfa_token` for how long it works), or, to list or \
                         delete authenticators after sign-in, an access token for the Auth0 \
                         MFA API audience `https://{tenant}/mfa/`; on `/passkey/enroll*`, an \
                         access token for the My Account API `https://{tenant}/me/` with \
                         `create:me:authentication_methods`. Passed to Auth0 as is.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "__Host-lgw",
                "Cookie mode (SPEC §10): the sealed session cookie (`session.cookie_name`, \
                 default `__Host-lgw`; `__Host-lgw.0`, `.1`, … when chunked). Set by the \
                 login-completing calls sent with `X-Lgw-Session: 1`; `HttpOnly`, so the \
                 browser sends it and scripts cannot read it. Every call that carries it \
                 (except `GET /session`) must send `X-Lgw-Session: 1`.",
            ))),
        );
        components.add_security_scheme(
            "session_mfa_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "__Host-lgw-mfa",
                "Cookie mode (SPEC §10): the sealed mfa_token (at most 600 s), set by a \
                 `403 mfa_required` answered with `X-Lgw-Session: 1`; `/mfa/*` use it when \
                 no `Authorization` header is sent.",
            ))),
        );
    }
}

const DESCRIPTION: &str = "\
A stateless backend-for-frontend for Auth0 passwordless login (email or SMS \
one-time code, email magic link) and the Auth0 MFA API. The gateway holds the \
client secret, sends the end user's IP to Auth0 (`auth0-forwarded-for`), \
applies local rate limits and validates every input before Auth0 is called.

**Flow:** `POST /login/start` → `POST /login/verify` → tokens, or \
`403 mfa_required` with an `mfa_token` → `/mfa/*` with \
`Authorization: Bearer <mfa_token>` → `POST /mfa/verify` → tokens.

**Requests** are JSON (`Content-Type: application/json`, parameters allowed; \
anything else, `text/json` and `+json` types included, is 415), never \
compressed (`Content-Encoding` other than `identity` is 415); unknown fields \
are rejected (400); `null` for an optional field means absent; bodies over \
`server.max_body_bytes` (default 16384) get 413, bodies not complete within \
`server.client_body_timeout_ms` (default 10000) of the head get 408. Error \
descriptions name the field and the rule, never the value sent.

**Errors:** every non-2xx answer is an `ErrorBody` \
(`{error, error_description, request_id}`), but `403 mfa_required`, which is \
an `MfaRequired` (the same three fields plus `mfa_token` and \
`mfa_requirements`). `error` is one of the gateway's codes or a documented \
Auth0 code, passed through with Auth0's status (for example \
`403 invalid_grant`, `400 authorization_pending`, `429 slow_down`); treat a \
code you do not know like any failure of its status.

**Base URL:** the server `{origin}` defaults to `http://127.0.0.1:8080`, \
where `login-gateway --demo` listens; set it to your deployment's origin.

**Every response** carries `X-Request-Id` (the client's, when it sent a sane \
one, else a new one). Responses with tokens or secrets carry \
`Cache-Control: no-store` and `Pragma: no-cache`.

**Rate limits** answer `429 too_many_requests` with `Retry-After` and, for \
the gateway's own limits, the IETF `RateLimit-Policy` / `RateLimit` headers.";

/// `X-Request-Id` on every response, success and error alike; and an
/// explicit `security: []` on the operations that need no credentials.
struct RequestIdHeader;

impl Modify for RequestIdHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let header = || {
            HeaderBuilder::new()
                .schema(
                    string_schema()
                        .pattern(Some(r"^[\x21-\x7E]{1,128}$"))
                        .examples(["3f2a9c81d0e4-0000002a"]),
                )
                .description(Some(
                    "The request id: the client's `X-Request-Id` when it sent one of at most \
                     128 visible ASCII characters, else a new one. Also in error bodies and logs.",
                ))
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.patch.as_mut(),
                item.delete.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                operation.security.get_or_insert_with(Vec::new);
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response.headers.insert("X-Request-Id".into(), header());
                    }
                }
            }
        }
        if let Some(components) = openapi.components.as_mut() {
            for response in components.responses.values_mut() {
                if let RefOr::T(response) = response {
                    response.headers.insert("X-Request-Id".into(), header());
                }
            }
        }
    }
}

/// Whether a documented response header is always sent. utoipa's `Header`
/// has no `required`, so the flag is added to the JSON.
fn header_required(name: &str, status: &str) -> bool {
    match name {
        // Only the gateway's own limits name a policy.
        "RateLimit-Policy" | "RateLimit" => false,
        // On a 403 only with `mfa_required`.
        "Cache-Control" | "Pragma" => !status.starts_with('4'),
        _ => true,
    }
}

fn mark_required_headers(document: &mut Value) {
    let mark = |status: &str, response: &mut Value| {
        if let Some(headers) = response.get_mut("headers").and_then(Value::as_object_mut) {
            for (name, header) in headers.iter_mut() {
                if let Some(header) = header.as_object_mut() {
                    header.insert("required".into(), json!(header_required(name, status)));
                }
            }
        }
    };
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in item.values_mut() {
                let Some(responses) = operation
                    .get_mut("responses")
                    .and_then(Value::as_object_mut)
                else {
                    continue;
                };
                for (status, response) in responses.iter_mut() {
                    mark(status, response);
                }
            }
        }
    }
    if let Some(responses) = document
        .pointer_mut("/components/responses")
        .and_then(Value::as_object_mut)
    {
        for (name, response) in responses.iter_mut() {
            let status = match name.as_str() {
                "Forbidden" => "403",
                "TooManyRequests" => "429",
                _ => "4xx",
            };
            mark(status, response);
        }
    }
}

/// The operations that complete a login and so answer a `SessionInfo` and
/// the session cookie instead of tokens when sent `X-Lgw-Session: 1`.
pub const LOGIN_COMPLETING_OPERATIONS: &[(&str, &str)] = &[
    ("/login/verify", "post"),
    ("/login/callback", "post"),
    ("/mfa/verify", "post"),
    ("/passkey/verify", "post"),
];

/// Cookie mode (SPEC §10) where utoipa's attributes cannot say it: the
/// login-completing calls take the optional `X-Lgw-Session` header and
/// answer `oneOf` tokens / `SessionInfo`; `/mfa/*` accept the bearer or the
/// sealed mfa cookie.
fn document_cookie_mode(document: &mut Value) {
    for (route, method) in LOGIN_COMPLETING_OPERATIONS {
        let pointer = format!("/paths/{}/{method}", route.replace('/', "~1"));
        let Some(operation) = document.pointer_mut(&pointer) else {
            continue;
        };
        let header = json!({
            "name": "X-Lgw-Session",
            "in": "header",
            "required": false,
            "description": "`1`: cookie mode (SPEC §10, with `session.enabled`). The 200 is then a \
                `SessionInfo` and a `Set-Cookie` of the sealed session instead of tokens, and a \
                `403 mfa_required` leaves the `mfa_token` out of its body and seals it into the \
                `__Host-lgw-mfa` cookie. Ignored while sessions are off.",
            "schema": {"type": "string", "enum": ["1"]},
        });
        if let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        {
            parameters.push(header);
        } else if let Some(map) = operation.as_object_mut() {
            map.insert("parameters".into(), json!([header]));
        }
        if let Some(ok) = operation.pointer_mut("/responses/200") {
            if let Some(schema) = ok.pointer_mut("/content/application~1json/schema") {
                *schema = json!({"$ref": "#/components/schemas/LoginAnswer"});
            }
            if let Some(headers) = ok.get_mut("headers").and_then(Value::as_object_mut) {
                headers.insert(
                    "Set-Cookie".into(),
                    json!({
                        "description": "Cookie mode: the sealed session (`HttpOnly; Secure; \
                            SameSite=Strict; Path=/`), chunked as `name.0`, `name.1`, … past 4000 bytes.",
                        "schema": {"type": "string"},
                    }),
                );
            }
        }
    }
    // Sign-out, the passkey challenge and starting a passkey enrollment
    // take a body or none (utoipa makes a body optional only as
    // `Option<T>`, whose schema would be a nullable union).
    for route in [
        "~1session~1logout",
        "~1passkey~1challenge",
        "~1passkey~1enroll",
    ] {
        if let Some(body) = document
            .pointer_mut(&format!("/paths/{route}/post/requestBody"))
            .and_then(Value::as_object_mut)
        {
            body.insert("required".into(), Value::Bool(false));
        }
    }
    // Named, so generators call the union by its name, not after one of
    // its operations.
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.insert(
            "LoginAnswer".into(),
            json!({
                "description": "What a login-completing call answers: the tokens (`TokenSet`), \
                    or, sent with `X-Lgw-Session: 1` while cookie sessions are on, a \
                    `SessionInfo` (the tokens stay in the sealed cookie). Tell them apart by \
                    `access_token`.",
                "oneOf": [
                    {"$ref": "#/components/schemas/TokenSet"},
                    {"$ref": "#/components/schemas/SessionInfo"},
                ],
            }),
        );
    }
    // One handler serves every method of `/api/{name}/{rest}`; each
    // operation gets its own id (`apiProxyGet`, …).
    if let Some(item) = document
        .pointer_mut("/paths/~1api~1{name}~1{rest}")
        .and_then(Value::as_object_mut)
    {
        for (method, operation) in item.iter_mut() {
            let mut id = String::from("apiProxy");
            let mut letters = method.chars();
            id.extend(letters.next().map(|c| c.to_ascii_uppercase()));
            id.push_str(letters.as_str());
            if let Some(map) = operation.as_object_mut() {
                map.insert("operationId".into(), json!(id));
            }
        }
    }
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        for (route, item) in paths.iter_mut() {
            if !route.starts_with("/mfa/") {
                continue;
            }
            for operation in item
                .as_object_mut()
                .into_iter()
                .flat_map(|m| m.values_mut())
            {
                if let Some(security) = operation.get_mut("security").and_then(Value::as_array_mut)
                {
                    if security.iter().any(|s| s.get("bearer").is_some()) {
                        security.push(json!({"session_mfa_cookie": []}));
                    }
                }
            }
        }
    }
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
