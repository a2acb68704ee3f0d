//! The document's `info` (title, version, licence and the long description
//! a reader meets first) and its security schemes: the bearer and the two
//! cookie-mode cookies. Prose about the whole API, not about one operation.

use utoipa::openapi::info::{InfoBuilder, LicenseBuilder};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::Modify;

/// `info` and the security schemes.
pub(super) struct Metadata;

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
