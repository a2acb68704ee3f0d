//! Schemas written by hand: the request bodies whose fields are either/or
//! (`/login/start`, `/login/verify`, `/mfa/associate`, `/mfa/challenge`,
//! `/mfa/verify`).
//! Each is a `oneOf` of named component schemas, one closed object per
//! branch (`LoginVerifyByEmail`, `MfaAssociateSms`, …), so every client
//! generator gets one type per branch with a name that says what it is.
//! A field that does not belong to a branch is simply absent from it
//! (`additionalProperties: false`); "send only one of" is in the
//! descriptions and enforced by the gateway.
//!
//! The Rust structs that deserialise the requests stay plain (their rules
//! are checked in the handlers through `domain`); the patterns published
//! here are `domain::patterns`, the ones the gateway enforces. Optional
//! request fields are `["string", "null"]`: serde reads `null` as absent.

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::schema::{
    AdditionalProperties, Discriminator, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat,
    SchemaType, Type,
};
use utoipa::openapi::{KnownFormat, Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::patterns;

pub(crate) fn string_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

pub(crate) fn nullable_string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::Array(vec![Type::String, Type::Null]))
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

/// A request body that is one of several named branches: `oneOf` of
/// `$ref`s, the branches added to `components/schemas` with it.
macro_rules! request_union {
    ($(#[$doc:meta])* $ty:ident, $description:expr, $discriminator:expr, [$($branch:ident),+ $(,)?]) => {
        $(#[$doc])*
        pub struct $ty;

        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                let discriminator: Option<(&str, &[(&str, &str)])> = $discriminator;
                let mut one_of = OneOfBuilder::new().description(Some($description));
                $(one_of = one_of.item(RefOr::Ref(Ref::from_schema_name(stringify!($branch))));)+
                if let Some((property, mapping)) = discriminator {
                    let mut discriminator = Discriminator::new(property);
                    for (value, branch) in mapping {
                        discriminator
                            .mapping
                            .insert(value.to_string(), format!("#/components/schemas/{branch}"));
                    }
                    one_of = one_of.discriminator(Some(discriminator));
                }
                RefOr::T(Schema::OneOf(one_of.build()))
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($ty))
            }

            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                $(schemas.push((stringify!($branch).to_string(), $branch::schema()));)+
            }
        }
    };
}

/// `send` when it may only be `code`. No `default` keyword: generators
/// (openapi-typescript) would make the field required.
fn send_code() -> ObjectBuilder {
    string_schema()
        .enum_values(Some(["code"]))
        .description(Some(
            "`code` (the default when absent): send a one-time code.",
        ))
}

/// An object branch: closed, with its example.
fn branch(description: &str, example: serde_json::Value) -> ObjectBuilder {
    closed_object()
        .description(Some(description))
        .examples([example])
}

hand_schema!(
    /// `POST /login/start` by email, with a one-time code.
    LoginStartByEmail,
    || {
        branch(
            "Send a one-time code to an email address.",
            json!({"email": "jane@example.com", "send": "code"}),
        )
        .property("email", email_schema())
        .required("email")
        .property("send", send_code())
        .property("locale", locale_schema())
        .build()
        .into()
    }
);

hand_schema!(
    /// `POST /login/start` by email, with a magic link.
    LoginStartByEmailLink,
    || {
        branch(
            "Send a magic link to an email address (only when the gateway has \
             `auth0.magic_link_redirect_uri`). The link leads to the app, which posts its \
             `code` to `/login/callback`.",
            json!({"email": "jane@example.com", "send": "link", "state": "af0ifjsldkj"}),
        )
        .property("email", email_schema())
        .required("email")
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
                "Opaque value put into the link (`authParams.state`); the app compares it \
                 when the link comes back.",
                "af0ifjsldkj",
            ),
        )
        .build()
        .into()
    }
);

hand_schema!(
    /// `POST /login/start` by phone: a one-time code by SMS.
    LoginStartBySms,
    || {
        branch(
            "Send a one-time code by SMS.",
            json!({"phone_number": "+14155550100", "locale": "en-US"}),
        )
        .property("phone_number", phone_schema())
        .required("phone_number")
        .property("send", send_code())
        .property("locale", locale_schema())
        .build()
        .into()
    }
);

request_union!(
    /// `POST /login/start`: exactly one of `email` / `phone_number`.
    LoginStartRequest,
    "Exactly one of `email` / `phone_number` (sending both is `400 invalid_request`). \
     `send: \"link\"` (a magic link) only with `email`; `state` only with a link.",
    None,
    [LoginStartByEmail, LoginStartByEmailLink, LoginStartBySms]
);

fn code_schema() -> ObjectBuilder {
    string_schema()
        .pattern(Some(patterns::CODE))
        .description(Some("The one-time code: 4–12 digits."))
        .examples(["123456"])
}

fn audience_schema() -> ObjectBuilder {
    nullable_string()
        .min_length(Some(1))
        .description(Some(
            "API audience for the access token; must be one of the gateway's allowed \
             audiences (`auth0.audience`, `auth0.allowed_audiences`). Default: \
             `auth0.audience`. To manage authenticators (`DELETE /mfa/authenticators/{id}`), \
             ask for the MFA API audience `https://{tenant}/mfa/`.",
        ))
        .examples(["https://api.example.com"])
}

fn login_scope_schema() -> ObjectBuilder {
    scope_schema("Space-separated scopes, each in `auth0.allowed_scopes`. Default: `auth0.scope`.")
}

hand_schema!(
    /// `POST /login/verify` for a code sent by email.
    LoginVerifyByEmail,
    || {
        branch(
            "The email address the code was sent to, and the code.",
            json!({"email": "jane@example.com", "code": "123456"}),
        )
        .property("email", email_schema())
        .required("email")
        .property("code", code_schema())
        .required("code")
        .property("audience", audience_schema())
        .property("scope", login_scope_schema())
        .build()
        .into()
    }
);

hand_schema!(
    /// `POST /login/verify` for a code sent by SMS.
    LoginVerifyBySms,
    || {
        branch(
            "The phone number the code was sent to, and the code.",
            json!({"phone_number": "+14155550100", "code": "123456"}),
        )
        .property("phone_number", phone_schema())
        .required("phone_number")
        .property("code", code_schema())
        .required("code")
        .property("audience", audience_schema())
        .property("scope", login_scope_schema())
        .build()
        .into()
    }
);

request_union!(
    /// `POST /login/verify`: the identifier the code was sent to, and the code.
    LoginVerifyRequest,
    "Exactly one of `email` / `phone_number` (sending both is `400 invalid_request`), \
     and `code`.",
    None,
    [LoginVerifyByEmail, LoginVerifyBySms]
);

/// `factor` of one `/mfa/associate` branch: a single value.
fn factor_schema(factor: &'static str, description: &str) -> ObjectBuilder {
    string_schema()
        .enum_values(Some([factor]))
        .description(Some(description))
}

hand_schema!(
    /// `POST /mfa/associate`: an authenticator app.
    MfaAssociateOtp,
    || {
        branch(
            "Enroll an authenticator app (TOTP): the answer has `secret` and `barcode_uri`; \
             confirm with `POST /mfa/verify` `{\"otp\"}`.",
            json!({"factor": "otp"}),
        )
        .property(
            "factor",
            factor_schema("otp", "`otp`: an authenticator app."),
        )
        .required("factor")
        .build()
        .into()
    }
);

hand_schema!(
    /// `POST /mfa/associate`: Auth0 Guardian push.
    MfaAssociatePush,
    || {
        branch(
            "Enroll Auth0 Guardian (push): the answer's `barcode_uri` is scanned by the \
             app; poll `POST /mfa/verify` `{\"oob_code\"}` until it is approved.",
            json!({"factor": "push"}),
        )
        .property(
            "factor",
            factor_schema("push", "`push`: Auth0 Guardian."),
        )
        .required("factor")
        .build()
        .into()
    }
);

hand_schema!(
    /// `POST /mfa/associate`: codes by text message.
    MfaAssociateSms,
    || {
        branch(
            "Enroll a phone for codes by text message.",
            json!({"factor": "sms", "phone_number": "+14155550100"}),
        )
        .property(
            "factor",
            factor_schema("sms", "`sms`: a code by text message."),
        )
        .required("factor")
        .property("phone_number", phone_schema())
        .required("phone_number")
        .build()
        .into()
    }
);

hand_schema!(
    /// `POST /mfa/associate`: codes by voice call.
    MfaAssociateVoice,
    || {
        branch(
            "Enroll a phone for codes by voice call.",
            json!({"factor": "voice", "phone_number": "+14155550100"}),
        )
        .property(
            "factor",
            factor_schema("voice", "`voice`: a code by voice call."),
        )
        .required("factor")
        .property("phone_number", phone_schema())
        .required("phone_number")
        .build()
        .into()
    }
);

hand_schema!(
    /// `POST /mfa/associate`: codes by email.
    MfaAssociateEmail,
    || {
        branch(
            "Enroll an email address for codes by email.",
            json!({"factor": "email", "email": "jane@example.com"}),
        )
        .property(
            "factor",
            factor_schema("email", "`email`: a code by email."),
        )
        .required("factor")
        .property("email", email_schema())
        .required("email")
        .build()
        .into()
    }
);

request_union!(
    /// `POST /mfa/associate`: the factor to enroll and where to reach it.
    MfaAssociateRequest,
    "The factor to enroll, told apart by `factor`. `sms` and `voice` need \
     `phone_number`; `email` needs `email`; `otp` (an authenticator app) and `push` \
     (Auth0 Guardian) need neither.",
    Some((
        "factor",
        &[
            ("otp", "MfaAssociateOtp"),
            ("push", "MfaAssociatePush"),
            ("sms", "MfaAssociateSms"),
            ("voice", "MfaAssociateVoice"),
            ("email", "MfaAssociateEmail"),
        ]
    )),
    [
        MfaAssociateOtp,
        MfaAssociatePush,
        MfaAssociateSms,
        MfaAssociateVoice,
        MfaAssociateEmail
    ]
);

hand_schema!(
    /// `POST /mfa/challenge` of an authenticator app.
    MfaChallengeOtp,
    || {
        branch(
            "Challenge an authenticator app: nothing is sent; the user reads the code \
             from the app and it goes to `POST /mfa/verify` `{\"otp\"}`.",
            json!({"challenge_type": "otp", "authenticator_id": "totp|dev_Ahx4AKyCdjY3hVnO"}),
        )
        .property(
            "challenge_type",
            factor_schema("otp", "`otp`: a code from an authenticator app."),
        )
        .required("challenge_type")
        .property(
            "authenticator_id",
            nullable_opaque(
                "An `id` from `GET /mfa/authenticators`; default: Auth0 picks the app.",
                "totp|dev_Ahx4AKyCdjY3hVnO",
            ),
        )
        .build()
        .into()
    }
);

hand_schema!(
    /// `POST /mfa/challenge` of an out-of-band factor.
    MfaChallengeOob,
    || {
        branch(
            "Challenge an out-of-band factor: Auth0 sends the text, voice call, email or \
             push of the named authenticator, and the answer's `oob_code` goes to `POST \
             /mfa/verify`.",
            json!({"challenge_type": "oob", "authenticator_id": "sms|dev_NU1Ofuw3Cw0XCt5x"}),
        )
        .property(
            "challenge_type",
            factor_schema("oob", "`oob`: a text, voice call, email or push."),
        )
        .required("challenge_type")
        .property(
            "authenticator_id",
            opaque_schema(
                "An `id` from `GET /mfa/authenticators`; required (without it the answer \
                 is `400 invalid_request`). A text or call (`sms|…`, `voice|…`) spends \
                 that authenticator's `sms_per_phone` budget, the same at every login.",
                "sms|dev_NU1Ofuw3Cw0XCt5x",
            ),
        )
        .required("authenticator_id")
        .build()
        .into()
    }
);

request_union!(
    /// `POST /mfa/challenge`: which kind of challenge, of which authenticator.
    MfaChallengeRequest,
    "Which kind of challenge, told apart by `challenge_type`. An `oob` challenge must \
     name its `authenticator_id`; an `otp` one may.",
    Some((
        "challenge_type",
        &[("otp", "MfaChallengeOtp"), ("oob", "MfaChallengeOob")]
    )),
    [MfaChallengeOtp, MfaChallengeOob]
);

hand_schema!(
    /// `POST /mfa/verify` with a code from an authenticator app.
    MfaVerifyWithOtp,
    || {
        branch(
            "The 6-digit code from the authenticator app.",
            json!({"otp": "123456"}),
        )
        .property(
            "otp",
            string_schema()
                .pattern(Some(patterns::OTP))
                .description(Some("The 6-digit code from the app."))
                .examples(["123456"]),
        )
        .required("otp")
        .build()
        .into()
    }
);

hand_schema!(
    /// `POST /mfa/verify` for an out-of-band challenge (SMS, voice, email, push).
    MfaVerifyWithOobCode,
    || {
        branch(
            "An out-of-band challenge: `oob_code` from `/mfa/challenge` or \
             `/mfa/associate`, and for SMS, voice and email the code the user received.",
            json!({"oob_code": "Fe26.2*ee0f4b4c3f", "binding_code": "482913"}),
        )
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
                     (`binding_method: prompt`). Absent for push: poll until the user \
                     approves (`authorization_pending`).",
                ))
                .examples(["482913"]),
        )
        .build()
        .into()
    }
);

hand_schema!(
    /// `POST /mfa/verify` with a recovery code.
    MfaVerifyWithRecoveryCode,
    || {
        branch(
            "A recovery code from enrollment; the answer carries a new one.",
            json!({"recovery_code": "B3N7ZQ2K8YV4TR6XW9MP5HLD"}),
        )
        .property(
            "recovery_code",
            opaque_schema("A recovery code from enrollment.", "B3N7ZQ2K8YV4TR6XW9MP5HLD"),
        )
        .required("recovery_code")
        .build()
        .into()
    }
);

request_union!(
    /// `POST /mfa/verify`: exactly one proof of the second factor.
    MfaVerifyRequest,
    "Exactly one of: `otp` (authenticator app), `oob_code` with an optional \
     `binding_code` (SMS, voice, email, push), or `recovery_code`.",
    None,
    [MfaVerifyWithOtp, MfaVerifyWithOobCode, MfaVerifyWithRecoveryCode]
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
