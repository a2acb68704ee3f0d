//! Schemas written by hand, and the blocks they are built from.
//!
//! The request bodies whose fields are either/or live in [`login`]
//! (`/login/start`, `/login/verify`) and [`mfa`] (`/mfa/associate`,
//! `/mfa/challenge`, `/mfa/verify`). Each is a `oneOf` of named component
//! schemas, one closed object per branch (`LoginVerifyByEmail`,
//! `MfaAssociateSms`, …), so every client generator gets one type per
//! branch with a name that says what it is. A field that does not belong
//! to a branch is simply absent from it (`additionalProperties: false`);
//! "send only one of" is in the descriptions and enforced by the gateway.
//!
//! This module holds what they share (the field schemas, [`hand_schema`],
//! `request_union`) and the small answer schemas (`Channel`,
//! `HealthState`, `TokenRevokeResponse`); `routes::passkey::schemas` and
//! the `openapi` module build on the same blocks.
//!
//! The Rust structs that deserialise the requests stay plain (their rules
//! are checked in the handlers through `domain`); the patterns published
//! here are `domain::patterns`, the ones the gateway enforces. Optional
//! request fields are `["string", "null"]`: serde reads `null` as absent.

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::schema::{
    AdditionalProperties, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{KnownFormat, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::patterns;

mod login;
mod mfa;

pub use login::{LoginStartRequest, LoginVerifyRequest};
pub use mfa::{MfaAssociateRequest, MfaChallengeRequest, MfaVerifyRequest};

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
use request_union;

/// An object branch: closed, with its example.
fn branch(description: &str, example: serde_json::Value) -> ObjectBuilder {
    closed_object()
        .description(Some(description))
        .examples([example])
}

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
