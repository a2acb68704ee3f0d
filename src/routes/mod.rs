//! HTTP handlers, one module per area, each with its own `configure`.

pub mod docs;
pub mod login;
pub mod mfa;
pub mod ops;
pub mod token;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::auth0::Caller;
use crate::client_ip::ClientIp;
use crate::error::ApiError;

/// Every route template the gateway serves: resource names, and the only
/// values the `route` metric label can take besides `unmatched`.
pub const ROUTES: &[&str] = &[
    "/login/start",
    "/login/verify",
    "/login/callback",
    "/mfa/authenticators",
    "/mfa/authenticators/{id}",
    "/mfa/associate",
    "/mfa/challenge",
    "/mfa/verify",
    "/token/refresh",
    "/token/revoke",
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/docs",
    "/docs/",
    "/docs/{file}",
];

/// The route template of a matched request, or `unmatched`: label
/// cardinality stays bounded whatever paths clients invent.
pub fn route_label(req: &HttpRequest) -> &'static str {
    req.match_name()
        .and_then(|name| ROUTES.iter().find(|r| **r == name).copied())
        .unwrap_or("unmatched")
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    login::configure(cfg);
    mfa::configure(cfg);
    token::configure(cfg);
    ops::configure(cfg);
    docs::configure(cfg);
}

/// A resource named by its template, answering 405 (with `Allow`) for
/// methods it does not serve.
pub fn resource(path: &'static str, allow: &'static str) -> actix_web::Resource {
    web::resource(path)
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
