//! HTTP handlers, one module per area, each with its own `configure`.

pub mod api;
pub mod backchannel;
pub mod docs;
pub mod login;
pub mod mfa;
pub mod ops;
pub mod passkey;
pub mod schemas;
pub mod session;
pub mod token;

use actix_web::body::BoxBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

use crate::auth0::Caller;
use crate::client_ip::{ClientIp, ClientIpConfig};
use crate::error::ApiError;
use crate::state::AppState;

/// Every public path, written once: registration, the `route` metric label
/// and the OpenAPI document (`#[utoipa::path(path = …)]`) use these.
pub mod paths {
    pub const LOGIN_START: &str = "/login/start";
    pub const LOGIN_VERIFY: &str = "/login/verify";
    pub const LOGIN_CALLBACK: &str = "/login/callback";
    pub const MFA_AUTHENTICATORS: &str = "/mfa/authenticators";
    pub const MFA_AUTHENTICATOR: &str = "/mfa/authenticators/{id}";
    pub const MFA_ASSOCIATE: &str = "/mfa/associate";
    pub const MFA_CHALLENGE: &str = "/mfa/challenge";
    pub const MFA_VERIFY: &str = "/mfa/verify";
    pub const TOKEN_REFRESH: &str = "/token/refresh";
    pub const TOKEN_REVOKE: &str = "/token/revoke";
    pub const SESSION: &str = "/session";
    pub const SESSION_REFRESH: &str = "/session/refresh";
    pub const SESSION_LOGOUT: &str = "/session/logout";
    pub const SESSION_TOKEN: &str = "/session/token";
    pub const SESSION_BACKCHANNEL_LOGOUT: &str = "/session/backchannel-logout";
    pub const PASSKEY_REGISTER: &str = "/passkey/register";
    pub const PASSKEY_CHALLENGE: &str = "/passkey/challenge";
    pub const PASSKEY_VERIFY: &str = "/passkey/verify";
    pub const PASSKEY_ENROLL: &str = "/passkey/enroll";
    pub const PASSKEY_ENROLL_VERIFY: &str = "/passkey/enroll/verify";
    /// `{rest}` takes the rest of the path, slashes included.
    pub const API: &str = "/api/{name}/{rest}";
    pub const HEALTHZ: &str = "/healthz";
    pub const READYZ: &str = "/readyz";
    pub const OPENAPI_JSON: &str = "/openapi.json";
    pub const DOCS: &str = "/docs";
    pub const DOCS_INDEX: &str = "/docs/";
    pub const DOCS_FILE: &str = "/docs/{file}";
}

/// Every route template the public listener serves: resource names, and
/// the only values the `route` metric label can take besides `unmatched`.
pub const ROUTES: &[&str] = &[
    paths::LOGIN_START,
    paths::LOGIN_VERIFY,
    paths::LOGIN_CALLBACK,
    paths::MFA_AUTHENTICATORS,
    paths::MFA_AUTHENTICATOR,
    paths::MFA_ASSOCIATE,
    paths::MFA_CHALLENGE,
    paths::MFA_VERIFY,
    paths::TOKEN_REFRESH,
    paths::TOKEN_REVOKE,
    paths::SESSION,
    paths::SESSION_REFRESH,
    paths::SESSION_LOGOUT,
    paths::SESSION_TOKEN,
    paths::SESSION_BACKCHANNEL_LOGOUT,
    paths::PASSKEY_REGISTER,
    paths::PASSKEY_CHALLENGE,
    paths::PASSKEY_VERIFY,
    paths::PASSKEY_ENROLL,
    paths::PASSKEY_ENROLL_VERIFY,
    paths::API,
    paths::HEALTHZ,
    paths::READYZ,
    paths::OPENAPI_JSON,
    paths::DOCS,
    paths::DOCS_INDEX,
    paths::DOCS_FILE,
];

/// Registers one scope's routes.
type ConfigureScope = fn(&mut web::ServiceConfig);

/// The scopes whose every call spends the caller's `per_ip` budget (SPEC
/// §4). The guard runs once per scope, before any body is read, so a
/// refused call costs no parsing (with Redis, see [`PER_IP_JOINS_ROUTE`]).
pub const LIMITED_SCOPES: [(&str, ConfigureScope); 5] = [
    (login::SCOPE, login::configure),
    (mfa::SCOPE, mfa::configure),
    (token::SCOPE, token::configure),
    (session::SCOPE, session::configure),
    (api::SCOPE, api::configure),
];

/// The routes that charge `per_ip` together with their own buckets when
/// the limits are shared (see `Limits::per_ip_joins_route`): with Redis
/// the scope guard leaves it to them, so a call is one round trip.
const PER_IP_JOINS_ROUTE: [&str; 6] = [
    paths::LOGIN_START,
    paths::PASSKEY_REGISTER,
    paths::LOGIN_VERIFY,
    paths::MFA_ASSOCIATE,
    paths::MFA_CHALLENGE,
    paths::MFA_VERIFY,
];

/// `passkeys`: `passkey.enabled`; while off, `/passkey/*` is not routed
/// at all (SPEC §11: 404, and no `per_ip` spent on it).
pub fn configure(cfg: &mut web::ServiceConfig, passkeys: bool) {
    let passkey_scope = (passkey::SCOPE, passkey::configure as ConfigureScope);
    let optional = passkeys.then_some(passkey_scope);
    for (prefix, configure_scope) in LIMITED_SCOPES.into_iter().chain(optional) {
        cfg.service(
            web::scope(prefix)
                .wrap(from_fn(per_ip_limit))
                .configure(configure_scope),
        );
    }
    ops::configure(cfg);
    docs::configure(cfg);
}

/// `rate_limit.per_ip` for every call in a [`LIMITED_SCOPES`] scope.
async fn per_ip_limit(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // The front door resolved the client IP already; the extractor reuses
    // it (and resolves it itself otherwise), so the guard never fails open.
    let ip = ClientIp::extract(req.request()).await?;
    if let Some(state) = req.app_data::<web::Data<AppState>>() {
        // Every rule reads the path the router matches (SPEC §13), never
        // the raw one: a spelling the router decodes cannot step around it.
        let path = req.match_info().as_str();
        // Cookie mode (SPEC §10): a call that carries the session cookie
        // without the CSRF proof is refused before anything else.
        if let Some(sessions) = state.sessions.as_ref() {
            if csrf_applies(req.method(), path) {
                let own_origin = req
                    .app_data::<ClientIpConfig>()
                    .and_then(|config| config.own_origin(req.request()));
                let allowed = &state.settings.server.cors_allowed_origins;
                if !sessions.csrf_ok(req.request(), allowed, own_origin.as_deref()) {
                    return Ok(refuse(req, ApiError::csrf_failed()).await);
                }
            }
        }
        let left_to_route = state.limits.per_ip_joins_route() && PER_IP_JOINS_ROUTE.contains(&path);
        if left_to_route {
            return next.call(req).await;
        }
        let checked = if path == paths::SESSION_LOGOUT && req.method() == Method::POST {
            state.limits.check_ip_for_sign_out(ip.0).await
        } else {
            state.limits.check_ip(ip.0).await
        };
        if let Err(refusal) = checked {
            return Ok(refuse(req, ApiError::from(refusal)).await);
        }
    }
    next.call(req).await
}

/// A refusal decided before the handler. The body is dropped unread (not
/// parsed), so the client keeps its connection, as with any other answer;
/// a body too large or too slow to drop closes it instead.
pub async fn refuse(req: ServiceRequest, error: ApiError) -> ServiceResponse<BoxBody> {
    let (request, payload) = req.into_parts();
    let keep_alive = crate::body::discard(&request, payload).await;
    let mut answer = error.error_response();
    if !keep_alive {
        answer
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
    ServiceResponse::new(request, answer)
}

/// Whether a raw request path carries a percent-encoded byte outside the
/// two parameters that may hold one (SPEC §13): `{rest}` of
/// `/api/{name}/{rest}` and `{id}` of `/mfa/authenticators/{id}`. actix
/// routes on the decoded path, so `/%73ession/token` would reach
/// `/session/token`; refusing such spellings at the front door leaves one
/// reading of every fixed segment for routing, CSRF, limits and metrics.
pub fn encoded_fixed_segment(raw_path: &str) -> bool {
    if !raw_path.contains('%') {
        return false;
    }
    let api_prefix = paths::API.trim_end_matches("{name}/{rest}");
    let authenticator_prefix = paths::MFA_AUTHENTICATOR.trim_end_matches("{id}");
    if let Some(after) = raw_path.strip_prefix(api_prefix) {
        // `{name}` is fixed for every rule that looks at it (the proxy
        // target), so only what follows its slash may be encoded.
        let name = after.split_once('/').map_or(after, |(name, _)| name);
        return name.contains('%');
    }
    !raw_path.starts_with(authenticator_prefix)
}

/// Where SPEC §10's CSRF rule applies (when the call carries a session or
/// mfa cookie): `/session/*` except `GET /session`, `/api/*`, `/mfa/*`,
/// the login-completing calls and the passkey calls that start a session
/// or read it (§11). `/login/start`, `/passkey/register`,
/// `/passkey/challenge` and `/token/*` ignore cookies.
fn csrf_applies(method: &actix_web::http::Method, path: &str) -> bool {
    let under = |scope: &str| {
        path.strip_prefix(scope)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    // Auth0's server posts the back-channel logout: no browser, no cookie.
    (under(session::SCOPE)
        && !(path == paths::SESSION && method == actix_web::http::Method::GET)
        && path != paths::SESSION_BACKCHANNEL_LOGOUT)
        || under(api::SCOPE)
        || under(mfa::SCOPE)
        || path == paths::LOGIN_VERIFY
        || path == paths::LOGIN_CALLBACK
        || path == paths::PASSKEY_VERIFY
        || path == paths::PASSKEY_ENROLL
        || path == paths::PASSKEY_ENROLL_VERIFY
}

/// A resource named by its full template, answering 405 (with `Allow`) for
/// methods it does not serve. Inside a scope, pass the scope's prefix: the
/// resource is registered relative to it.
pub fn resource(path: &'static str, allow: &'static str) -> actix_web::Resource {
    scoped_resource("", path, allow)
}

pub fn scoped_resource(
    scope: &str,
    path: &'static str,
    allow: &'static str,
) -> actix_web::Resource {
    // `{rest}` takes the rest of the path, slashes included
    // (`/api/{name}/{rest}`).
    let relative = path
        .strip_prefix(scope)
        .unwrap_or(path)
        .replace("{rest}", "{rest:.*}");
    web::resource(relative)
        .name(path)
        .default_service(web::to(move || async move {
            Err::<HttpResponse, _>(ApiError::method_not_allowed(allow))
        }))
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found())
}

/// Who the upstream call is made for: the resolved client IP and the
/// language for Auth0's messages.
pub fn caller<'a>(ip: ClientIp, locale: Option<&'a str>, req: &'a HttpRequest) -> Caller<'a> {
    Caller {
        ip: ip.0,
        language: locale.or_else(|| accept_language(req)),
    }
}

/// The first tag of `Accept-Language`, when it is a plausible BCP 47 tag.
fn accept_language(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::ACCEPT_LANGUAGE)?.to_str().ok()?;
    let first = value.split(',').next()?.split(';').next()?.trim();
    is_language_tag(first).then_some(first)
}

/// A loose BCP 47 check: alphanumeric subtags of 1–8 chars joined by `-`,
/// starting with letters; at most 35 chars (RFC 5646 §4.4.1).
pub fn is_language_tag(tag: &str) -> bool {
    tag.len() <= 35
        && tag.split('-').enumerate().all(|(i, sub)| {
            (1..=8).contains(&sub.len())
                && sub.bytes().all(|b| b.is_ascii_alphanumeric())
                && (i > 0 || sub.bytes().all(|b| b.is_ascii_alphabetic()))
        })
}

/// A 200 that carries tokens or secrets: never cached (RFC 6749 §5.1).
pub fn no_store_json<T: Serialize>(body: &T) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")))
        .json(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rest_and_the_authenticator_id_may_carry_escapes() {
        for refused in [
            "/%73ession/token",
            "/session/%74oken",
            "/%61pi/orders/x",
            "/api/%6frders/x",
            "/api/orders%2Fx",
            "/api/%2e%2e",
            "/login/%76erify",
            "/mfa/%61uthenticators/x",
            "/%6dfa/authenticators/x",
            "/healthz%00",
            "/nowhere%20",
        ] {
            assert!(encoded_fixed_segment(refused), "{refused}");
        }
        for allowed in [
            "/session/token",
            "/api/orders/a%2Fb/%2e%2e",
            "/api/orders/it%65ms?q=%20",
            "/mfa/authenticators/sms%7Cdev_1",
            "/login/verify",
        ] {
            assert!(!encoded_fixed_segment(allowed), "{allowed}");
        }
    }

    #[test]
    fn language_tags_are_checked_loosely() {
        for good in ["en", "en-US", "fr-CA", "zh-Hant-TW", "es-419"] {
            assert!(is_language_tag(good), "{good}");
        }
        for bad in [
            "",
            "*",
            "en_US",
            "e n",
            "123",
            "en-",
            "toolongsubtag-x",
            "en\r\nx: y",
        ] {
            assert!(!is_language_tag(bad), "{bad:?}");
        }
    }
}
