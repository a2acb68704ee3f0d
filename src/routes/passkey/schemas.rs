//! Schemas written by hand for `/passkey/*`: the WebAuthn options Auth0
//! sends (passed on as they are, so open objects: Auth0 may add options a
//! newer browser understands) and the challenge's empty body.

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::routes::schemas::{closed_object, hand_schema, string_schema};

use super::credential::BASE64URL;

fn base64url(description: &str) -> ObjectBuilder {
    string_schema()
        .pattern(Some(BASE64URL))
        .description(Some(description))
}

fn integer(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .description(Some(description))
}

fn credential_descriptors(description: &str) -> ArrayBuilder {
    ArrayBuilder::new().description(Some(description)).items(
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("type", string_schema().examples(["public-key"]))
            .property("id", base64url("A credential id, base64url."))
            .property("transports", ArrayBuilder::new().items(string_schema())),
    )
}

hand_schema!(
    /// WebAuthn `PublicKeyCredentialCreationOptions` in JSON form.
    PasskeyCreationOptions,
    || {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Auth0's `authn_params_public_key`, as Auth0 sent it: WebAuthn \
                 `PublicKeyCredentialCreationOptions` with binary fields in base64url. A \
                 browser decodes `challenge` and `user.id` (and `excludeCredentials[].id`) to \
                 bytes for `navigator.credentials.create({publicKey})`; Android's Credential \
                 Manager (`CreatePublicKeyCredentialRequest`) takes this JSON as is; iOS \
                 (`ASAuthorizationPlatformPublicKeyCredentialProvider`) takes the decoded \
                 `challenge`, `user.id`, `user.name` and `rp.id`. Fields Auth0 adds are \
                 passed on.",
            ))
            .property("challenge", base64url("The challenge to sign, base64url."))
            .required("challenge")
            .property(
                "rp",
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property("id", string_schema().description(Some("Auth0's custom domain.")))
                    .property("name", string_schema()),
            )
            .property(
                "user",
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property("id", base64url("The user handle, base64url."))
                    .property("name", string_schema())
                    .property("displayName", string_schema()),
            )
            .property(
                "pubKeyCredParams",
                ArrayBuilder::new().items(
                    ObjectBuilder::new()
                        .schema_type(Type::Object)
                        .property("type", string_schema().examples(["public-key"]))
                        .property("alg", integer("A COSE algorithm, e.g. -7 (ES256).")),
                ),
            )
            .property("timeout", integer("Milliseconds the ceremony (and `auth_session`) lasts."))
            .property(
                "authenticatorSelection",
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property("residentKey", string_schema())
                    .property("userVerification", string_schema())
                    .property("authenticatorAttachment", string_schema()),
            )
            .property(
                "excludeCredentials",
                credential_descriptors("Passkeys the user has already: not to create again."),
            )
            .property("attestation", string_schema())
            .examples([json!({
                "challenge": "y2bN0e9Hq0mIYtWGo4a2nA",
                "timeout": 60000,
                "rp": {"id": "login.example.com", "name": "Example"},
                "user": {"id": "dXNlci02YzNmMWE", "name": "jane@example.com", "displayName": "Jane Doe"},
                "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
                "authenticatorSelection": {"residentKey": "required", "userVerification": "preferred"}
            })])
            .build()
            .into()
    }
);

hand_schema!(
    /// WebAuthn `PublicKeyCredentialRequestOptions` in JSON form.
    PasskeyRequestOptions,
    || {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Auth0's `authn_params_public_key`, as Auth0 sent it: WebAuthn \
                 `PublicKeyCredentialRequestOptions` with binary fields in base64url. A \
                 browser decodes `challenge` (and `allowCredentials[].id`) to bytes for \
                 `navigator.credentials.get({publicKey})` (with `mediation: \"conditional\"` \
                 for autofill); Android's Credential Manager (`GetPublicKeyCredentialOption`) \
                 takes this JSON as is; iOS takes the decoded `challenge` and `rpId`. Fields \
                 Auth0 adds are passed on.",
            ))
            .property("challenge", base64url("The challenge to sign, base64url."))
            .required("challenge")
            .property("rpId", string_schema().description(Some("Auth0's custom domain.")))
            .property("timeout", integer("Milliseconds the ceremony (and `auth_session`) lasts."))
            .property("userVerification", string_schema())
            .property(
                "allowCredentials",
                credential_descriptors("Empty or absent: any passkey of the connection."),
            )
            .examples([json!({
                "challenge": "V3G9nqWm2Kx0yZ8aTQp4hA",
                "timeout": 60000,
                "rpId": "login.example.com",
                "userVerification": "preferred"
            })])
            .build()
            .into()
    }
);

hand_schema!(
    /// The body of `POST /passkey/challenge`: `{}`, or none at all.
    PasskeyChallengeRequest,
    || {
        closed_object()
            .description(Some(
                "Nothing to send: `{}`, or an empty body. The connection is the \
                 gateway's (`passkey.connection`).",
            ))
            .examples([json!({})])
            .build()
            .into()
    }
);
