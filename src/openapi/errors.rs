//! The error responses every operation can give, from one table
//! ([`super::ERROR_RESPONSES`]), as reusable `components/responses`: each
//! status's description, examples and headers. The bodies they carry
//! (`ErrorBody`, `MfaRequired`, …) are schemas in [`super::error_bodies`];
//! the 403 of the operations that can end in `mfa_required`
//! ([`super::MFA_REQUIRED_OPERATIONS`]) is `oneOf` those bodies.

use serde_json::Value;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{PathItem, Ref, RefOr, Response};
use utoipa::Modify;

use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};

use super::error_bodies::{error_example, mfa_required_example};
use super::{ERROR_RESPONSES, MFA_REQUIRED_OPERATIONS};
use crate::routes::schemas::string_schema;

/// The error responses of [`ERROR_RESPONSES`], as `$ref`s to
/// `components/responses`.
pub struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for status in [400, 401, 403, 404, 408, 413, 415, 429, 502, 503, 504] {
            if let Some((name, response)) = error_response(status, false) {
                components
                    .responses
                    .insert(name.to_string(), response.into());
            }
        }
        if let Some((name, response)) = error_response(403, true) {
            components
                .responses
                .insert(name.to_string(), response.into());
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
            let mfa_required = MFA_REQUIRED_OPERATIONS.contains(&(*path, *method));
            for status in *statuses {
                if let Some(name) = error_response_name(*status, mfa_required) {
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

/// The `components/responses` name of an error status; `mfa_required`:
/// the 403 that may carry an `mfa_token`.
fn error_response_name(status: u16, mfa_required: bool) -> Option<&'static str> {
    Some(match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 if mfa_required => "ForbiddenOrMfaRequired",
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

fn error_response(status: u16, mfa_required: bool) -> Option<(&'static str, Response)> {
    let name = error_response_name(status, mfa_required)?;
    let (description, examples): (&str, Vec<(&str, &str, Value)>) = match status {
        400 => (
            "The request is invalid (`invalid_request`: bad JSON, a missing, unknown or \
             invalid field, both or neither identifier, a value the gateway does not allow; \
             `phone_country_not_allowed`: a number outside `sms.allowed_countries`, on login, \
             MFA enrollment and passkey sign-up; a passkey sign-up Auth0 refused, whatever \
             the reason, e.g. an account that exists, is always the same `invalid_request`; \
             on `/passkey/enroll/verify` a credential the My Account API refused, or an \
             expired `auth_session`), or Auth0 rejected it with a documented code such as \
             `bad.email`, \
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
                    "phone_country_not_allowed",
                    "The number's country is not served",
                    error_example(
                        "phone_country_not_allowed",
                        "phone_number is in a country this service does not send texts or calls to",
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
             token. Cookie mode: `session_expired` when there is no session, or its cookie \
             does not open (tampered, a rotated-out key, expired: the answer clears it), \
             Auth0 refused its refresh token, or the session was signed out (a copy of the \
             cookie after `POST /session/logout`, a sign-out everywhere, Auth0's back-channel \
             logout: SPEC §12; the answer clears the cookies).",
            vec![
                (
                    "session_expired",
                    "Cookie mode: no session, or it ended",
                    error_example(
                        "session_expired",
                        "no session, or it has expired: sign in again",
                    ),
                ),
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
        403 if mfa_required => (
            "`mfa_required` (an `MfaRequired` body): the credentials were right and a \
             second factor is needed; continue at `/mfa/*` with the `mfa_token` (the response \
             then has `Cache-Control: no-store`, `Pragma: no-cache`). Otherwise an \
             `ErrorBody`: Auth0 refused, e.g. a wrong or used code (`invalid_grant`), an \
             expired `mfa_token` (`expired_token`), a rejected request (`access_denied`).",
            vec![
                (
                    "mfa_required",
                    "A second factor is needed: continue at /mfa/*",
                    mfa_required_example(),
                ),
                (
                    "invalid_grant",
                    "Wrong one-time code",
                    error_example("invalid_grant", "Wrong email or verification code."),
                ),
                (
                    "expired_token",
                    "The mfa_token expired or was used",
                    error_example("expired_token", "mfa_token is expired"),
                ),
            ],
        ),
        403 => (
            "Auth0 refused: an expired or already used `mfa_token` (`expired_token`), a \
             rejected request (`access_denied`), or a token without the needed scope \
             (`insufficient_scope`: the My Account API on `/passkey/enroll*`). \
             Cookie mode: `csrf_failed` when a call carries the session cookie without \
             `X-Lgw-Session: 1` or from an origin that is not allowed (Auth0 is not called).",
            vec![
                (
                    "csrf_failed",
                    "Cookie mode: the CSRF proof is missing",
                    error_example(
                        "csrf_failed",
                        "a call with the session cookie needs the X-Lgw-Session: 1 header and an allowed Origin",
                    ),
                ),
                (
                    "expired_token",
                    "The mfa_token expired or was used",
                    error_example("expired_token", "mfa_token is expired"),
                ),
                (
                    "access_denied",
                    "Auth0 refused the request",
                    error_example("access_denied", "Unauthorized"),
                ),
                (
                    "insufficient_scope",
                    "The token may not add a passkey",
                    error_example("insufficient_scope", "Insufficient scope"),
                ),
            ],
        ),
        404 => (
            "`not_found`: Auth0 knows no authenticator with this id, or the path is not \
             a route (e.g. an authenticator id that is not one path segment), or the route \
             is off (`session.enabled`, `passkey.enabled`).",
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
             `RateLimit` naming the policy, e.g. `sms_per_phone`, `passkey_register_per_ip`, \
             or `sms_fraud_guard` \
             when texts to the number's country are paused because they were not being \
             verified (`Retry-After`: the pause left).",
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
            "`shutting_down`: the gateway is shutting down; stop sending traffic to this \
             instance. Only `/readyz` answers this; other routes keep serving during the drain. \
             `rate_limit_unavailable`: the shared rate-limit store (Redis, SPEC §9) does not \
             answer and `rate_limit.redis.on_error = \"closed\"`; try again shortly. \
             `/readyz` answers it too while that lasts. \
             `session_store_unavailable`: a cookie-session call (`/session*`, `/api/*`) cannot \
             check the fleet's revocation list (Redis, SPEC §12) and \
             `rate_limit.redis.on_error = \"closed\"`; try again shortly (sign-out still \
             answers 204).",
            vec![
                (
                    "shutting_down",
                    "Draining",
                    error_example(
                        "shutting_down",
                        "the gateway is shutting down; send traffic elsewhere",
                    ),
                ),
                (
                    "rate_limit_unavailable",
                    "Limit store down",
                    error_example(
                        "rate_limit_unavailable",
                        "the rate limits cannot be checked right now; try again shortly",
                    ),
                ),
                (
                    "session_store_unavailable",
                    "Revocation list unreadable",
                    error_example(
                        "session_store_unavailable",
                        "the session cannot be checked right now; try again shortly",
                    ),
                ),
            ],
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
    let schema = if status == 403 && mfa_required {
        Schema::OneOf(
            OneOfBuilder::new()
                .item(Ref::from_schema_name("MfaRequired"))
                .item(Ref::from_schema_name("MfaRequiredSealed"))
                .item(Ref::from_schema_name("ErrorBody"))
                .build(),
        )
        .into()
    } else {
        RefOr::Ref(Ref::from_schema_name("ErrorBody"))
    };
    let content = ContentBuilder::new()
        .schema(Some(schema))
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
        403 if mfa_required => {
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
