//! The OpenAPI 3.1 document, generated from the code.
//!
//! Success responses are declared with `#[utoipa::path]` on each handler;
//! the error responses every operation can give are added here from one
//! table ([`ERROR_RESPONSES`]) as reusable `components/responses`, all with
//! the one [`ErrorBody`] schema whose `error` enum is built from the codes the
//! gateway produces ([`GATEWAY_ERROR_CODES`]) and the Auth0 codes it passes
//! through ([`crate::auth0::errors::DOCUMENTED_CODES`]).
//!
//! The request bodies whose fields are either/or (`/login/start`,
//! `/login/verify`, `/mfa/associate`, `/mfa/verify`) are described here by
//! hand as `oneOf` schemas; the Rust structs that deserialise them stay as
//! they are. Optional request fields are `["string", "null"]`: serde reads
//! `null` as absent, so the document says so.
//!
//! [`document`] is what `GET /openapi.json` serves, `--print-openapi`
//! prints and `openapi/openapi.json` holds: pretty-printed, keys sorted.

use std::borrow::Cow;
use std::sync::OnceLock;

use serde_json::{json, Value};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::info::{InfoBuilder, LicenseBuilder};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat,
    SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{KnownFormat, PathItem, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};

use crate::auth0::errors::DOCUMENTED_CODES;

/// The codes the gateway itself puts in `error` (SPEC §2).
pub const GATEWAY_ERROR_CODES: &[&str] = &[
    "invalid_request",
    "unauthorized",
    "not_found",
    "method_not_allowed",
    "request_timeout",
    "payload_too_large",
    "unsupported_media_type",
    "too_many_requests",
    "upstream_error",
    "upstream_timeout",
    "shutting_down",
];

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
/// passed through with their status.
pub const ERROR_RESPONSES: &[(&str, &str, &[u16])] = &[
    ("/login/start", "post", &[400, 408, 413, 415, 429, 502, 504]),
    (
        "/login/verify",
        "post",
        &[400, 403, 408, 413, 415, 429, 502, 504],
    ),
    (
        "/login/callback",
        "post",
        &[400, 403, 408, 413, 415, 429, 502, 504],
    ),
    ("/mfa/authenticators", "get", &[401, 403, 429, 502, 504]),
    (
        "/mfa/authenticators/{id}",
        "delete",
        &[400, 401, 403, 404, 429, 502, 504],
    ),
    (
        "/mfa/associate",
        "post",
        &[400, 401, 403, 408, 413, 415, 429, 502, 504],
    ),
    (
        "/mfa/challenge",
        "post",
        &[400, 401, 403, 408, 413, 415, 429, 502, 504],
    ),
    (
        "/mfa/verify",
        "post",
        &[400, 401, 403, 408, 413, 415, 429, 502, 504],
    ),
    (
        "/token/refresh",
        "post",
        &[400, 403, 408, 413, 415, 429, 502, 504],
    ),
    (
        "/token/revoke",
        "post",
        &[400, 408, 413, 415, 429, 502, 504],
    ),
    ("/readyz", "get", &[503]),
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
        crate::routes::ops::healthz,
        crate::routes::ops::readyz,
        crate::routes::docs::openapi_json,
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "login", description = "Passwordless login: send a one-time code or magic link, exchange it for tokens."),
        (name = "mfa", description = "Second factor after `403 mfa_required`: enroll, challenge, verify. Every call takes `Authorization: Bearer <mfa_token>`."),
        (name = "token", description = "Refresh and revoke tokens issued through the gateway (they need the client secret)."),
        (name = "operations", description = "Health, readiness and this document. Prometheus metrics are served on a separate listener (`server.metrics_bind`), never on this port."),
    ),
    servers((url = "/", description = "The gateway itself")),
    modifiers(&Metadata, &ErrorResponses, &RequestIdHeader),
)]
pub struct ApiDoc;

/// The document as served: `ApiDoc` plus the header flags utoipa cannot
/// express, keys sorted.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut value = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
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
                        "The `mfa_token` from a `403 mfa_required` answer, or (to enroll a \
                         further factor or delete one) an access token for the Auth0 MFA API \
                         audience. Passed to Auth0 as is.",
                    ))
                    .build(),
            ),
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
(`{error, error_description, request_id}`). `error` is one of the gateway's \
codes or a documented Auth0 code, passed through with Auth0's status (for \
example `403 invalid_grant`, `400 authorization_pending`, `429 slow_down`).

**Every response** carries `X-Request-Id` (the client's, when it sent a sane \
one, else a new one). Responses with tokens or secrets carry \
`Cache-Control: no-store` and `Pragma: no-cache`.

**Rate limits** answer `429 too_many_requests` with `Retry-After` and, for \
the gateway's own limits, the IETF `RateLimit-Policy` / `RateLimit` headers.";

/// The error responses of [`ERROR_RESPONSES`], as `$ref`s to
/// `components/responses`.
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for status in [400, 401, 403, 404, 408, 413, 415, 429, 502, 503, 504] {
            if let Some((name, response)) = error_response(status) {
                components
                    .responses
                    .insert(name.to_string(), response.into());
            }
        }
        for (path, method, statuses) in ERROR_RESPONSES {
            let Some(operation) = openapi
                .paths
                .paths
                .get_mut(*path)
                .and_then(|item| operation_mut(item, method))
            else {
                continue;
            };
            for status in *statuses {
                if let Some(name) = error_response_name(*status) {
                    operation.responses.responses.insert(
                        status.to_string(),
                        RefOr::Ref(Ref::from_response_name(name)),
                    );
                }
            }
        }
    }
}

fn operation_mut<'a>(
    item: &'a mut PathItem,
    method: &str,
) -> Option<&'a mut utoipa::openapi::path::Operation> {
    match method {
        "get" => item.get.as_mut(),
        "post" => item.post.as_mut(),
        "put" => item.put.as_mut(),
        "patch" => item.patch.as_mut(),
        "delete" => item.delete.as_mut(),
        _ => None,
    }
}

fn error_response_name(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        408 => "RequestTimeout",
        413 => "PayloadTooLarge",
        415 => "UnsupportedMediaType",
        429 => "TooManyRequests",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => return None,
    })
}

/// An `ErrorBody` example as the gateway writes it.
fn error_example(error: &str, description: &str) -> Value {
    json!({
        "error": error,
        "error_description": description,
        "request_id": "3f2a9c81d0e4-0000002a",
    })
}

fn error_response(status: u16) -> Option<(&'static str, Response)> {
    let name = error_response_name(status)?;
    let (description, examples): (&str, Vec<(&str, &str, Value)>) = match status {
        400 => (
            "The request is invalid (`invalid_request`: bad JSON, a missing, unknown or \
             invalid field, both or neither identifier, a value the gateway does not allow), \
             or Auth0 rejected it with a documented code such as `bad.email`, \
             `bad.phone_number`, `unsupported_challenge_type`, or, while a push approval \
             is pending, `authorization_pending` (poll again).",
            vec![
                (
                    "invalid_request",
                    "A field failed validation",
                    error_example(
                        "invalid_request",
                        "phone_number must be E.164, e.g. +14155550100",
                    ),
                ),
                (
                    "auth0_bad_email",
                    "Auth0 rejected the address",
                    error_example("bad.email", "email is not valid"),
                ),
                (
                    "authorization_pending",
                    "Push not approved yet: poll again",
                    error_example(
                        "authorization_pending",
                        "Authorization pending: please repeat the request in a few seconds.",
                    ),
                ),
            ],
        ),
        401 => (
            "No usable bearer: `unauthorized` when `Authorization: Bearer <token>` is \
             missing or malformed, or Auth0's `invalid_token` when it does not accept the \
             token.",
            vec![
                (
                    "unauthorized",
                    "Missing bearer",
                    error_example(
                        "unauthorized",
                        "Authorization: Bearer <mfa_token> is required",
                    ),
                ),
                (
                    "invalid_token",
                    "Auth0 did not accept the token",
                    error_example("invalid_token", "Invalid token"),
                ),
            ],
        ),
        403 => (
            "Auth0 refused: a wrong or used code (`invalid_grant`), an expired \
             `mfa_token` (`expired_token`), a rejected request (`access_denied`), or \
             `mfa_required`: the credentials were right and a second factor is needed; \
             the body then carries `mfa_token` and `mfa_requirements` (and the response \
             `Cache-Control: no-store`, `Pragma: no-cache`).",
            vec![
                (
                    "invalid_grant",
                    "Wrong one-time code",
                    error_example("invalid_grant", "Wrong email or verification code."),
                ),
                (
                    "mfa_required",
                    "A second factor is needed: continue at /mfa/*",
                    json!({
                        "error": "mfa_required",
                        "error_description": "Multifactor authentication required",
                        "request_id": "3f2a9c81d0e4-0000002a",
                        "mfa_token": "Fe26.2**0f4d3c8e2b1a",
                        "mfa_requirements": {"challenge": [{"type": "otp"}]},
                    }),
                ),
                (
                    "expired_token",
                    "The mfa_token expired",
                    error_example("expired_token", "mfa_token is expired"),
                ),
            ],
        ),
        404 => (
            "`not_found`: Auth0 knows no authenticator with this id, or the path is not \
             a route (e.g. an authenticator id that is not one path segment).",
            vec![
                (
                    "authenticator_not_found",
                    "Unknown authenticator",
                    error_example("not_found", "Authenticator not found"),
                ),
                (
                    "not_found",
                    "No such route",
                    error_example("not_found", "no such route"),
                ),
            ],
        ),
        408 => (
            "The body did not fully arrive within `server.client_body_timeout_ms` of the \
             request head (`request_timeout`); the connection is closed.",
            vec![(
                "request_timeout",
                "Body too slow",
                error_example("request_timeout", "the request body did not arrive in time"),
            )],
        ),
        413 => (
            "The body is larger than `server.max_body_bytes` (`payload_too_large`).",
            vec![(
                "payload_too_large",
                "Body too large",
                error_example(
                    "payload_too_large",
                    "request body is larger than 16384 bytes",
                ),
            )],
        ),
        415 => (
            "The body is not `application/json` (parameters such as `charset=utf-8` \
             allowed; `text/json` and `+json` types are not), or it is compressed \
             (`Content-Encoding` other than `identity`): `unsupported_media_type`.",
            vec![
                (
                    "unsupported_media_type",
                    "Not JSON",
                    error_example(
                        "unsupported_media_type",
                        "request body must be JSON (Content-Type: application/json)",
                    ),
                ),
                (
                    "content_encoding",
                    "Compressed body",
                    error_example(
                        "unsupported_media_type",
                        "request bodies must not be compressed (Content-Encoding other than identity)",
                    ),
                ),
            ],
        ),
        429 => (
            "Too many requests: a local rate limit or Auth0's (`too_many_requests`), or \
             Auth0's `slow_down` (push polled too fast) and `too_many_attempts`. Wait \
             `Retry-After` seconds. Local limits also send `RateLimit-Policy` and \
             `RateLimit`.",
            vec![
                (
                    "too_many_requests",
                    "A rate limit",
                    error_example(
                        "too_many_requests",
                        "too many requests; retry after the time in Retry-After",
                    ),
                ),
                (
                    "slow_down",
                    "Push polled too fast",
                    error_example(
                        "slow_down",
                        "You are polling faster than allowed. Try again in 5 seconds.",
                    ),
                ),
            ],
        ),
        502 => (
            "Auth0 could not be reached, answered 5xx or something unusable, or rejected \
             the gateway's own credentials (`upstream_error`). Not the client's fault.",
            vec![(
                "upstream_error",
                "Auth0 unavailable",
                error_example(
                    "upstream_error",
                    "the identity provider could not be reached or gave an invalid answer",
                ),
            )],
        ),
        503 => (
            "The gateway is shutting down (`shutting_down`): stop sending traffic to this \
             instance. Only `/readyz` answers this; other routes keep serving during the drain.",
            vec![(
                "shutting_down",
                "Draining",
                error_example(
                    "shutting_down",
                    "the gateway is shutting down; send traffic elsewhere",
                ),
            )],
        ),
        504 => (
            "Auth0 did not answer within `auth0.timeout_ms` (`upstream_timeout`).",
            vec![(
                "upstream_timeout",
                "Auth0 too slow",
                error_example(
                    "upstream_timeout",
                    "the identity provider did not answer in time",
                ),
            )],
        ),
        _ => return None,
    };
    let content = ContentBuilder::new()
        .schema(Some(RefOr::Ref(Ref::from_schema_name("ErrorBody"))))
        .examples_from_iter(examples.into_iter().map(|(key, summary, value)| {
            (
                key,
                ExampleBuilder::new().summary(summary).value(Some(value)),
            )
        }))
        .build();
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/json", content);
    match status {
        401 => {
            response = response.header(
                "WWW-Authenticate",
                HeaderBuilder::new()
                    .schema(string_schema().enum_values(Some(["Bearer"])))
                    .description(Some("`Bearer` (RFC 6750)."))
                    .build(),
            );
        }
        403 => {
            response = response
                .header(
                    "Cache-Control",
                    HeaderBuilder::new()
                        .schema(string_schema())
                        .description(Some("`no-store` when the body carries an `mfa_token`."))
                        .build(),
                )
                .header(
                    "Pragma",
                    HeaderBuilder::new()
                        .schema(string_schema().enum_values(Some(["no-cache"])))
                        .description(Some("`no-cache` when the body carries an `mfa_token`."))
                        .build(),
                );
        }
        429 => {
            response = response
                .header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(
                            ObjectBuilder::new()
                                .schema_type(Type::Integer)
                                .minimum(Some(1)),
                        )
                        .description(Some("Seconds to wait before trying again."))
                        .build(),
                )
                .header(
                    "RateLimit-Policy",
                    HeaderBuilder::new()
                        .schema(string_schema())
                        .description(Some(
                            "The local policy that refused the call, e.g. \
                             `\"login_start_per_identifier\";q=5;w=3600` \
                             (draft-ietf-httpapi-ratelimit-headers). Only for local limits.",
                        ))
                        .build(),
                )
                .header(
                    "RateLimit",
                    HeaderBuilder::new()
                        .schema(string_schema())
                        .description(Some(
                            "What is left of that policy, e.g. \
                             `\"login_start_per_identifier\";r=0;t=720`. Only for local limits.",
                        ))
                        .build(),
                );
        }
        _ => {}
    }
    Some((name, response.build()))
}

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

// ---------------------------------------------------------------------------
// Schemas

/// JSON Schema of the SPEC §1 field rules (src/domain.rs).
pub mod patterns {
    /// E.164: `+`, then 8–15 digits, not starting with 0.
    pub const E164: &str = r"^\+[1-9][0-9]{7,14}$";
    /// A passwordless one-time code: 4–12 digits.
    pub const CODE: &str = r"^[0-9]{4,12}$";
    /// An authenticator-app code: 6 digits.
    pub const OTP: &str = r"^[0-9]{6}$";
    /// An out-of-band binding code: 4–12 visible ASCII characters.
    pub const BINDING_CODE: &str = r"^[\x21-\x7E]{4,12}$";
    /// Opaque codes and ids: 1–512 visible ASCII characters.
    pub const OPAQUE: &str = r"^[\x21-\x7E]{1,512}$";
    /// A refresh token as the gateway forwards it: 1–4096 visible ASCII.
    pub const REFRESH_TOKEN: &str = r"^[\x21-\x7E]{1,4096}$";
    /// A BCP 47 language tag as the gateway checks it (at most 35 chars).
    pub const LOCALE: &str = r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$";
}

fn string_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn nullable_string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::Array(vec![Type::String, Type::Null]))
}

/// A property that may be sent as `null` (same as absent) and nothing else.
fn null_only(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Null)
        .description(Some(description))
}

fn email_schema() -> ObjectBuilder {
    string_schema()
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .max_length(Some(254))
        .description(Some(
            "An email address, at most 254 characters; trimmed and lowercased by the gateway.",
        ))
        .examples(["jane@example.com"])
}

fn phone_schema() -> ObjectBuilder {
    string_schema()
        .pattern(Some(patterns::E164))
        .description(Some("E.164: `+` then 8–15 digits."))
        .examples(["+14155550100"])
}

fn locale_schema() -> ObjectBuilder {
    nullable_string()
        .pattern(Some(patterns::LOCALE))
        .max_length(Some(35))
        .description(Some(
            "BCP 47 language tag for Auth0's message (`x-request-language`). If absent, the \
             first tag of `Accept-Language` is used.",
        ))
        .examples(["en-US"])
}

fn opaque_schema(description: &str, example: &str) -> ObjectBuilder {
    string_schema()
        .pattern(Some(patterns::OPAQUE))
        .min_length(Some(1))
        .max_length(Some(512))
        .description(Some(description))
        .examples([example])
}

fn nullable_opaque(description: &str, example: &str) -> ObjectBuilder {
    nullable_string()
        .pattern(Some(patterns::OPAQUE))
        .min_length(Some(1))
        .max_length(Some(512))
        .description(Some(description))
        .examples([example])
}

fn closed_object() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
}

fn scope_schema(description: &str) -> ObjectBuilder {
    nullable_string()
        .min_length(Some(1))
        .description(Some(description))
        .examples(["openid profile email offline_access"])
}

/// Where a passwordless code or link went (`crate::domain::Channel`).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum Channel {
    Email,
    Sms,
}

/// The `status` of `/healthz` and `/readyz`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum HealthState {
    Ok,
    Ready,
}

/// A schema defined by hand: `name` and the schema.
macro_rules! hand_schema {
    ($(#[$doc:meta])* $ty:ident, $build:expr) => {
        $(#[$doc])*
        pub struct $ty;

        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                let build: fn() -> Schema = $build;
                RefOr::T(build())
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($ty))
            }
        }
    };
}

hand_schema!(
    /// `POST /login/start`: exactly one of `email` / `phone_number`.
    LoginStartRequest,
    || {
        let send_code = || {
            // No `default` keyword: generators (openapi-typescript) would
            // make the field required.
            string_schema()
                .enum_values(Some(["code"]))
                .description(Some("`code` (the default when absent): send a one-time code."))
        };
        Schema::OneOf(
            OneOfBuilder::new()
                .description(Some(
                    "Exactly one of `email` / `phone_number`. `send: \"link\"` (a magic link) \
                     only with `email`, and only when the gateway has \
                     `auth0.magic_link_redirect_uri`; `state` only with a link.",
                ))
                .item(
                    closed_object()
                        .title(Some("Email code"))
                        .property("email", email_schema())
                        .required("email")
                        .property("phone_number", null_only("Not with `email`."))
                        .property("send", send_code())
                        .property("locale", locale_schema())
                        .property("state", null_only("Only with `send: \"link\"`."))
                        .examples([json!({"email": "jane@example.com", "send": "code"})]),
                )
                .item(
                    closed_object()
                        .title(Some("Email magic link"))
                        .property("email", email_schema())
                        .required("email")
                        .property("phone_number", null_only("Not with `email`."))
                        .property(
                            "send",
                            string_schema()
                                .enum_values(Some(["link"]))
                                .description(Some("`link`: send a magic link.")),
                        )
                        .required("send")
                        .property("locale", locale_schema())
                        .property(
                            "state",
                            nullable_opaque(
                                "Opaque value put into the link (`authParams.state`); the \
                                 app compares it when the link comes back.",
                                "af0ifjsldkj",
                            ),
                        )
                        .examples([json!({
                            "email": "jane@example.com",
                            "send": "link",
                            "state": "af0ifjsldkj",
                        })]),
                )
                .item(
                    closed_object()
                        .title(Some("SMS code"))
                        .property("phone_number", phone_schema())
                        .required("phone_number")
                        .property("email", null_only("Not with `phone_number`."))
                        .property("send", send_code())
                        .property("locale", locale_schema())
                        .property("state", null_only("Only with `send: \"link\"`."))
                        .examples([json!({"phone_number": "+14155550100", "locale": "en-US"})]),
                )
                .build(),
        )
    }
);

hand_schema!(
    /// `POST /login/verify`: the identifier the code was sent to, and the code.
    LoginVerifyRequest,
    || {
        let code = || {
            string_schema()
                .pattern(Some(patterns::CODE))
                .description(Some("The one-time code: 4–12 digits."))
                .examples(["123456"])
        };
        let audience = || {
            nullable_string()
                .min_length(Some(1))
                .description(Some(
                    "API audience for the access token; must be one of the gateway's allowed \
                     audiences (`auth0.audience`, `auth0.allowed_audiences`). Default: \
                     `auth0.audience`.",
                ))
                .examples(["https://api.example.com"])
        };
        let scope = || {
            scope_schema(
                "Space-separated scopes, each in `auth0.allowed_scopes`. Default: \
                 `auth0.scope`.",
            )
        };
        Schema::OneOf(
            OneOfBuilder::new()
                .description(Some("Exactly one of `email` / `phone_number`, and `code`."))
                .item(
                    closed_object()
                        .title(Some("Email"))
                        .property("email", email_schema())
                        .required("email")
                        .property("phone_number", null_only("Not with `email`."))
                        .property("code", code())
                        .required("code")
                        .property("audience", audience())
                        .property("scope", scope())
                        .examples([json!({"email": "jane@example.com", "code": "123456"})]),
                )
                .item(
                    closed_object()
                        .title(Some("SMS"))
                        .property("phone_number", phone_schema())
                        .required("phone_number")
                        .property("email", null_only("Not with `phone_number`."))
                        .property("code", code())
                        .required("code")
                        .property("audience", audience())
                        .property("scope", scope())
                        .examples([json!({"phone_number": "+14155550100", "code": "123456"})]),
                )
                .build(),
        )
    }
);

hand_schema!(
    /// `POST /mfa/associate`: the factor to enroll and where to reach it.
    MfaAssociateRequest,
    || {
        Schema::OneOf(
            OneOfBuilder::new()
                .description(Some(
                    "`sms` and `voice` need `phone_number`; `email` needs `email`; `otp` \
                     (an authenticator app) and `push` (Auth0 Guardian) need neither.",
                ))
                .item(
                    closed_object()
                        .title(Some("Authenticator app or push"))
                        .property(
                            "factor",
                            string_schema()
                                .enum_values(Some(["otp", "push"]))
                                .description(Some(
                                    "`otp`: TOTP app (answer has `secret`, `barcode_uri`); \
                                     `push`: Auth0 Guardian.",
                                )),
                        )
                        .required("factor")
                        .property("phone_number", null_only("Only for `sms` / `voice`."))
                        .property("email", null_only("Only for `email`."))
                        .examples([json!({"factor": "otp"})]),
                )
                .item(
                    closed_object()
                        .title(Some("SMS or voice"))
                        .property(
                            "factor",
                            string_schema()
                                .enum_values(Some(["sms", "voice"]))
                                .description(Some("A code by text message or voice call.")),
                        )
                        .required("factor")
                        .property("phone_number", phone_schema())
                        .required("phone_number")
                        .property("email", null_only("Only for `email`."))
                        .examples([json!({"factor": "sms", "phone_number": "+14155550100"})]),
                )
                .item(
                    closed_object()
                        .title(Some("Email"))
                        .property(
                            "factor",
                            string_schema()
                                .enum_values(Some(["email"]))
                                .description(Some("A code by email.")),
                        )
                        .required("factor")
                        .property("email", email_schema())
                        .required("email")
                        .property("phone_number", null_only("Only for `sms` / `voice`."))
                        .examples([json!({"factor": "email", "email": "jane@example.com"})]),
                )
                .build(),
        )
    }
);

hand_schema!(
    /// `POST /mfa/verify`: exactly one proof of the second factor.
    MfaVerifyRequest,
    || {
        let absent = |field: &str| null_only(&format!("Not with `{field}`."));
        Schema::OneOf(
            OneOfBuilder::new()
                .description(Some(
                    "Exactly one of: `otp` (authenticator app), `oob_code` with an optional \
                     `binding_code` (SMS, voice, email, push), or `recovery_code`.",
                ))
                .item(
                    closed_object()
                        .title(Some("Authenticator app code"))
                        .property(
                            "otp",
                            string_schema()
                                .pattern(Some(patterns::OTP))
                                .description(Some("The 6-digit code from the app."))
                                .examples(["123456"]),
                        )
                        .required("otp")
                        .property("oob_code", absent("otp"))
                        .property("binding_code", absent("otp"))
                        .property("recovery_code", absent("otp"))
                        .examples([json!({"otp": "123456"})]),
                )
                .item(
                    closed_object()
                        .title(Some("Out-of-band code"))
                        .property(
                            "oob_code",
                            opaque_schema(
                                "The `oob_code` from `/mfa/challenge` or `/mfa/associate`.",
                                "Fe26.2*ee0f4b4c3f",
                            ),
                        )
                        .required("oob_code")
                        .property(
                            "binding_code",
                            nullable_string()
                                .pattern(Some(patterns::BINDING_CODE))
                                .min_length(Some(4))
                                .max_length(Some(12))
                                .description(Some(
                                    "The code the user received by SMS, voice or email \
                                     (`binding_method: prompt`). Absent for push: poll until \
                                     the user approves (`authorization_pending`).",
                                ))
                                .examples(["482913"]),
                        )
                        .property("otp", absent("oob_code"))
                        .property("recovery_code", absent("oob_code"))
                        .examples([json!({"oob_code": "Fe26.2*ee0f4b4c3f", "binding_code": "482913"})]),
                )
                .item(
                    closed_object()
                        .title(Some("Recovery code"))
                        .property(
                            "recovery_code",
                            opaque_schema(
                                "A recovery code from enrollment.",
                                "B3N7ZQ2K8YV4TR6XW9MP5HLD",
                            ),
                        )
                        .required("recovery_code")
                        .property("otp", absent("recovery_code"))
                        .property("oob_code", absent("recovery_code"))
                        .property("binding_code", absent("recovery_code"))
                        .examples([json!({"recovery_code": "B3N7ZQ2K8YV4TR6XW9MP5HLD"})]),
                )
                .build(),
        )
    }
);

hand_schema!(
    /// `POST /token/revoke` answers `{}`.
    TokenRevokeResponse,
    || {
        Schema::Object(
            closed_object()
                .description(Some("An empty object: the refresh token is revoked."))
                .max_properties(Some(0))
                .examples([json!({})])
                .build(),
        )
    }
);

hand_schema!(
    /// The body of every non-2xx answer (SPEC §2).
    ErrorBody,
    || {
        let requirement = || {
            ArrayBuilder::new().items(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property(
                        "type",
                        string_schema().examples(["otp", "phone", "email", "push-notification"]),
                    )
                    .required("type"),
            )
        };
        Schema::Object(
            closed_object()
                .description(Some(
                    "Every error answer. `error` is a gateway code or a documented Auth0 code \
                     (kept with Auth0's status); `error_description` is for people (Auth0's \
                     text is passed through); `request_id` matches the `X-Request-Id` header.",
                ))
                .property(
                    "error",
                    string_schema()
                        .enum_values(Some(error_codes()))
                        .description(Some(
                            "Machine-readable code. Gateway codes: invalid_request, \
                             unauthorized, not_found, method_not_allowed, payload_too_large, \
                             unsupported_media_type, too_many_requests, upstream_error, \
                             upstream_timeout; the others are Auth0's.",
                        )),
                )
                .required("error")
                .property(
                    "error_description",
                    string_schema().description(Some("Human-readable explanation.")),
                )
                .required("error_description")
                .property(
                    "request_id",
                    string_schema().description(Some("Same as the `X-Request-Id` header.")),
                )
                .required("request_id")
                .property(
                    "mfa_token",
                    string_schema().description(Some(
                        "Only with `mfa_required`: the bearer for `/mfa/*`.",
                    )),
                )
                .property(
                    "mfa_requirements",
                    ObjectBuilder::new()
                        .schema_type(Type::Object)
                        .description(Some(
                            "Only with `mfa_required`: `challenge` lists the factors the user \
                             has; `enroll` the ones they may enroll when they have none.",
                        ))
                        .property("challenge", requirement())
                        .property("enroll", requirement())
                        .examples([json!({"challenge": [{"type": "otp"}]})]),
                )
                .examples([error_example(
                    "invalid_request",
                    "phone_number must be E.164, e.g. +14155550100",
                )])
                .build(),
        )
    }
);

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
