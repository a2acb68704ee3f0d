//! The either/or request bodies of `/login/start` (an email with a code or
//! a link, or a phone number) and `/login/verify` (the identifier the code
//! went to, and the code), one named branch each.

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::schema::{Discriminator, ObjectBuilder, OneOfBuilder, Schema};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use crate::domain::patterns;

use super::{
    branch, email_schema, hand_schema, locale_schema, nullable_opaque, nullable_string,
    phone_schema, request_union, scope_schema, string_schema,
};

/// `send` when it may only be `code`. No `default` keyword: generators
/// (openapi-typescript) would make the field required.
fn send_code() -> ObjectBuilder {
    string_schema()
        .enum_values(Some(["code"]))
        .description(Some(
            "`code` (the default when absent): send a one-time code.",
        ))
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
