//! The error responses every operation can give, from one table
//! ([`super::ERROR_RESPONSES`]), as reusable `components/responses` that
//! all carry the one `ErrorBody` schema.

use serde_json::{json, Value};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{PathItem, Ref, RefOr, Response};
use utoipa::Modify;

use std::borrow::Cow;

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use super::{error_codes, ERROR_RESPONSES};
use crate::routes::schemas::{closed_object, hand_schema, string_schema};

/// The error responses of [`ERROR_RESPONSES`], as `$ref`s to
/// `components/responses`.
pub struct ErrorResponses;

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
