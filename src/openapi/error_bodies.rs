//! The bodies of the error answers, as hand-written schemas: `ErrorBody`
//! (every non-2xx answer but `mfa_required`), its `ErrorCode` enum built
//! from the codes the gateway produces and the Auth0 codes it passes
//! through, and the two `mfa_required` bodies (`MfaRequired` in token mode,
//! `MfaRequiredSealed` in cookie mode). The `errors` module says when each
//! status is answered and refers to these by name; nothing here depends on
//! it.

use std::borrow::Cow;

use serde_json::{json, Value};
use utoipa::openapi::schema::{AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::{error_codes, GATEWAY_ERROR_CODES};
use crate::routes::schemas::{closed_object, hand_schema, string_schema};

/// An `ErrorBody` example as the gateway writes it.
pub(super) fn error_example(error: &str, description: &str) -> Value {
    json!({
        "error": error,
        "error_description": description,
        "request_id": "3f2a9c81d0e4-0000002a",
    })
}

/// An `MfaRequired` example as the gateway writes it.
pub(super) fn mfa_required_example() -> Value {
    json!({
        "error": "mfa_required",
        "error_description": "Multifactor authentication required",
        "request_id": "3f2a9c81d0e4-0000002a",
        "mfa_token": "Fe26.2**0f4d3c8e2b1a",
        "mfa_requirements": {"challenge": [{"type": "otp"}, {"type": "recovery-code"}]},
    })
}

hand_schema!(
    /// The codes `error` takes today.
    ErrorCode,
    || {
        string_schema()
            .enum_values(Some(error_codes()))
            .description(Some(format!(
                "The error codes of this version. The gateway's own: {}; the others are \
                 Auth0's, passed through with Auth0's status. A newer gateway (or Auth0) may \
                 add codes, so `ErrorBody.error` also admits any string.",
                GATEWAY_ERROR_CODES.join(", ")
            )))
            .build()
            .into()
    }
);

hand_schema!(
    /// The body of every non-2xx answer (SPEC §2) but `mfa_required`.
    ErrorBody,
    || {
        closed_object()
            .description(Some(
                "Every error answer (but `mfa_required`, see `MfaRequired`). `error` is a \
                 gateway code or a documented Auth0 code (kept with Auth0's status); \
                 `error_description` is for people (Auth0's text is passed through); \
                 `request_id` matches the `X-Request-Id` header.",
            ))
            .property(
                "error",
                AnyOfBuilder::new()
                    .item(Ref::from_schema_name("ErrorCode"))
                    .item(string_schema())
                    .description(Some(
                        "Machine-readable code: one of `ErrorCode`, or a code a newer \
                         gateway or Auth0 added (handle unknown codes like a generic \
                         failure of their status).",
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
                "verification_required",
                ArrayBuilder::new()
                    .items(Ref::from_schema_name("PasskeyVerificationIdentifier"))
                    .description(Some(
                        "`POST /passkey/verify` only, with Auth0's `invalid_grant` for a \
                         sign-up whose codes are missing or wrong: the codes to ask for again \
                         (send them as `verification`).",
                    )),
            )
            .property(
                "auth_session",
                string_schema()
                    .pattern(Some(r"^[\x21-\x7E]{1,2048}$"))
                    .description(Some(
                        "`POST /passkey/verify` only, beside `verification_required`: the \
                         session to try again with (absent once Auth0 has ended it). The \
                         answer then has `Cache-Control: no-store`.",
                    )),
            )
            .examples([error_example(
                "invalid_request",
                "phone_number must be E.164, e.g. +14155550100",
            )])
            .build()
            .into()
    }
);

hand_schema!(
    /// `403 mfa_required`: what the client continues `/mfa/*` with.
    MfaRequired,
    || {
        mfa_required_object(
            "Auth0's `403 mfa_required`: the first factor was right, a second one is \
             needed. Send `mfa_token` as `Authorization: Bearer` to `/mfa/*`: enroll a \
             factor (`mfa_requirements.enroll`) or challenge one the user has \
             (`mfa_requirements.challenge`), then `POST /mfa/verify`.",
            true,
        )
        .examples([mfa_required_example()])
        .build()
        .into()
    }
);

hand_schema!(
    /// `403 mfa_required` in cookie mode: the mfa_token is in a cookie.
    MfaRequiredSealed,
    || {
        mfa_required_object(
            "`403 mfa_required` on a call sent with `X-Lgw-Session: 1` (cookie mode, SPEC \
             §10): as `MfaRequired` without `mfa_token`, which the gateway sealed into the \
             `HttpOnly` `__Host-lgw-mfa` cookie instead; `/mfa/*` use that cookie when they \
             carry no `Authorization` (and send `X-Lgw-Session: 1`).",
            false,
        )
        .examples([json!({
            "error": "mfa_required",
            "error_description": "Multifactor authentication required",
            "request_id": "3f2a9c81d0e4-0000002a",
            "mfa_requirements": {"challenge": [{"type": "otp"}]},
        })])
        .build()
        .into()
    }
);

/// The fields of both `mfa_required` bodies, closed; `with_token`: the
/// token-mode one's `mfa_token` too.
fn mfa_required_object(description: &str, with_token: bool) -> ObjectBuilder {
    let object = closed_object()
        .description(Some(description))
        .property(
            "error",
            string_schema()
                .enum_values(Some(["mfa_required"]))
                .description(Some("Always `mfa_required`.")),
        )
        .required("error")
        .property(
            "error_description",
            string_schema().description(Some("Auth0's explanation, for people.")),
        )
        .required("error_description")
        .property(
            "request_id",
            string_schema().description(Some("Same as the `X-Request-Id` header.")),
        )
        .required("request_id");
    let object = match with_token {
        true => object
            .property(
                "mfa_token",
                string_schema()
                    .min_length(Some(1))
                    .description(Some(MFA_TOKEN_LIFECYCLE)),
            )
            .required("mfa_token"),
        false => object,
    };
    object
        .property("mfa_requirements", Ref::from_schema_name("MfaRequirements"))
        .required("mfa_requirements")
}

/// How long an mfa_token works, said once for the schema and the bearer
/// scheme.
const MFA_TOKEN_LIFECYCLE: &str = "The bearer for `/mfa/*` in this sign-in. It \
     expires after 10 minutes (Auth0's lifetime) and stops working once `POST /mfa/verify` \
     has succeeded with it (Auth0 then answers `expired_token` or `invalid_grant`): a new \
     sign-in gives a new one. Keep it in memory only; it is as sensitive as a password \
     for that window.";
