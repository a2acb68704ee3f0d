//! Ending a user's session the way Auth0 does (SPEC §12), demo only: the
//! tenant signs a `logout_token` for each of the user's Auth0 sessions and
//! posts it, form-encoded, to the gateway's `/session/backchannel-logout`,
//! as Auth0 does when an admin, a password change or another app's logout
//! ends a session.
//!
//! `POST /demo/end-session` with `{"sub": "...", "sid"?: "..."}` on the
//! tenant's listener asks for it. The example app calls it from its own
//! origin (the one [`Tenant::link`] admitted, answered with CORS); any
//! other origin is refused, and the JSON content type it requires keeps a
//! cross-site form from sending it.

use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::tenant::Tenant;

/// The route's path on the tenant's listener.
pub const END_SESSION_PATH: &str = "/demo/end-session";
/// Where a relying party receives logout tokens (SPEC §12).
pub const BACKCHANNEL_LOGOUT_PATH: &str = "/session/backchannel-logout";

/// The gateway gets this long to answer each logout token.
const GATEWAY_TIMEOUT: Duration = Duration::from_secs(5);
/// `{"sub", "sid"}` is small; anything larger is refused unread.
const MAX_BODY_BYTES: usize = 4 * 1024;
/// Auth0's user ids are well under this.
const MAX_ID_CHARS: usize = 512;

/// One logout token sent: which session it ended and what the gateway said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// `None`: a token naming only the user (every earlier session of it).
    pub sid: Option<String>,
    /// The gateway's answer status; `None` when it could not be reached.
    pub gateway_status: Option<u16>,
}

impl Tenant {
    /// Ends `subject`'s Auth0 session `sid`, or every one the tenant knows
    /// of (one logout token each, with `sid` and `sub`, as Auth0 sends
    /// them); a user with none known gets one token naming only the `sub`.
    /// Each is posted to the linked gateway. `None` when no gateway is
    /// linked.
    pub async fn end_session(&self, subject: &str, sid: Option<&str>) -> Option<Vec<Sent>> {
        let gateway = self.gateway()?.to_string();
        let sids = self.end_sessions(subject, sid);
        let tokens: Vec<(Option<String>, String)> = if sids.is_empty() {
            vec![(None, self.logout_token(Some(subject), None))]
        } else {
            sids.into_iter()
                .map(|sid| {
                    let token = self.logout_token(Some(subject), Some(&sid));
                    (Some(sid), token)
                })
                .collect()
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(GATEWAY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .ok();
        let url = format!("{gateway}{BACKCHANNEL_LOGOUT_PATH}");
        let mut sent = Vec::with_capacity(tokens.len());
        for (sid, token) in tokens {
            let gateway_status = match &client {
                Some(client) => post_logout_token(client, &url, &token).await,
                None => None,
            };
            sent.push(Sent {
                sid,
                gateway_status,
            });
        }
        let statuses: Vec<String> = sent
            .iter()
            .map(|s| {
                s.gateway_status
                    .map_or("no answer".into(), |s| s.to_string())
            })
            .collect();
        super::announce(&format!(
            "ended {} Auth0 session(s) of {subject}: logout token(s) posted to {url} \
             (gateway answered {})",
            sent.len(),
            statuses.join(", ")
        ));
        Some(sent)
    }
}

/// `POST <url>` with `logout_token=<JWT>`, form-encoded as Auth0 sends it.
async fn post_logout_token(client: &reqwest::Client, url: &str, token: &str) -> Option<u16> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", token)
        .finish();
    client
        .post(url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await
        .ok()
        .map(|response| response.status().as_u16())
}

/// The route: `POST` does it, `OPTIONS` is the app's CORS preflight.
pub(super) fn resource() -> actix_web::Resource {
    web::resource(END_SESSION_PATH)
        .route(web::post().to(end_session))
        .route(web::method(Method::OPTIONS).to(preflight))
        .default_service(web::to(|| async {
            let mut response = refusal(StatusCode::METHOD_NOT_ALLOWED, "POST only");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
            response
        }))
}

/// Where the call comes from: no `Origin` (curl, a test), the admitted
/// app, or a stranger (refused).
enum Caller {
    Direct,
    App(HeaderValue),
    Stranger,
}

fn caller(tenant: &Tenant, req: &HttpRequest) -> Caller {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return Caller::Direct;
    };
    match tenant.app_origin() {
        Some(app) if origin.as_bytes() == app.as_bytes() => Caller::App(origin.clone()),
        _ => Caller::Stranger,
    }
}

fn allow_origin(mut response: HttpResponse, origin: HeaderValue) -> HttpResponse {
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    response
}

fn refusal(status: StatusCode, description: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"error": "invalid_request", "error_description": description}))
}

async fn preflight(tenant: web::Data<Tenant>, req: HttpRequest) -> HttpResponse {
    match caller(&tenant, &req) {
        Caller::App(origin) => {
            let response = HttpResponse::NoContent()
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "POST"))
                .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type"))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
                .finish();
            allow_origin(response, origin)
        }
        _ => refusal(StatusCode::FORBIDDEN, "origin not allowed"),
    }
}

async fn end_session(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let origin = match caller(&tenant, &req) {
        Caller::Stranger => return refusal(StatusCode::FORBIDDEN, "origin not allowed"),
        Caller::App(origin) => Some(origin),
        Caller::Direct => None,
    };
    let response = answer(&tenant, &req, payload).await;
    match origin {
        Some(origin) => allow_origin(response, origin),
        None => response,
    }
}

async fn answer(tenant: &Tenant, req: &HttpRequest, payload: web::Payload) -> HttpResponse {
    let json_body = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    if !json_body {
        return refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be application/json",
        );
    }
    let body: Value = match payload.to_bytes_limited(MAX_BODY_BYTES).await {
        Ok(Ok(bytes)) => match serde_json::from_slice(&bytes) {
            Ok(body) => body,
            Err(_) => return refusal(StatusCode::BAD_REQUEST, "the body is not JSON"),
        },
        Ok(Err(_)) => return refusal(StatusCode::BAD_REQUEST, "the body could not be read"),
        Err(_) => return refusal(StatusCode::PAYLOAD_TOO_LARGE, "the body is too large"),
    };
    let id = |name: &str| match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if (1..=MAX_ID_CHARS).contains(&id.chars().count()) => {
            Ok(Some(id.as_str()))
        }
        Some(_) => Err(()),
    };
    let (Ok(Some(subject)), Ok(sid)) = (id("sub"), id("sid")) else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "send {\"sub\": \"<user id>\"} (and optionally \"sid\"): non-empty strings",
        );
    };
    let Some(sent) = tenant.end_session(subject, sid).await else {
        return refusal(
            StatusCode::CONFLICT,
            "the demo tenant does not know the gateway's address",
        );
    };
    let sessions: Vec<Value> = sent
        .iter()
        .map(|s| json!({"sid": s.sid, "gateway_status": s.gateway_status}))
        .collect();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({"sub": subject, "sessions": sessions}))
}
