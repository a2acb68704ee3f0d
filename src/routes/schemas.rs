//! Schemas written by hand: the request bodies whose fields are either/or
//! (`/login/start`, `/login/verify`, `/mfa/associate`, `/mfa/verify`) as
//! `oneOf`, and the error body. The Rust structs that deserialise the
//! requests stay plain (their rules are checked in the handlers through
//! `domain`); the patterns published here are `domain::patterns`, the
//! ones the gateway enforces. Optional request fields are
//! `["string", "null"]`: serde reads `null` as absent.

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::schema::{
    AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{KnownFormat, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::patterns;

pub(crate) fn string_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

pub(crate) fn nullable_string() -> ObjectBuilder {
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

pub(crate) fn closed_object() -> ObjectBuilder {
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
pub(crate) use hand_schema;

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
