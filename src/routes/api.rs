//! `/api/{name}/{rest}` (SPEC §10): a cookie-mode app calls its own APIs
//! through the gateway, which attaches the session's access token
//! (refreshed when needed, or one for the API's own audience) and never
//! passes the browser's cookies on. [`crate::api_proxy`] does the
//! forwarding; this route finds the token.

use actix_web::{web, HttpRequest, HttpResponse};

use super::paths;
use super::session::{api_token, current, sessions, with_cookies};
use crate::api_proxy::ProxyRequest;
use crate::body::RawBody;
use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::state::AppState;

pub const SCOPE: &str = "/api";

/// Every method an API may take.
const METHODS: &str = "GET, POST, PUT, PATCH, DELETE";

pub fn configure(cfg: &mut web::ServiceConfig) {
    let resource = super::scoped_resource(SCOPE, paths::API, METHODS);
    cfg.service(
        resource
            .route(web::get().to(proxy))
            .route(web::post().to(proxy))
            .route(web::put().to(proxy))
            .route(web::patch().to(proxy))
            .route(web::delete().to(proxy)),
    );
}

/// Call an API through the session
///
/// Forwards the call to `session.apis.{name}.url` + `/{rest}` with its
/// query string, body and `Content-Type`/`Accept`/`Accept-Language`, plus
/// `Authorization: Bearer <the session's access token>` (refreshed when
/// needed; for an API with its own `audience`, a token for that audience).
/// The browser's cookies never reach the API. The API's answer comes back
/// as it is (status, body, headers without hop-by-hop ones), errors
/// included: the one exception to the JSON error rule. It is served from
/// the gateway's origin, so it is sandboxed: it always carries
/// `Content-Security-Policy: sandbox; default-src 'none'` and
/// `Cache-Control: private, no-store`, and the API's `Set-Cookie`,
/// `Strict-Transport-Security`, `Clear-Site-Data`, `Refresh`, `Link`,
/// `Alt-Svc`, `Content-Security-Policy*` and `Permissions-Policy` are
/// dropped. A `.` or `..` segment in `rest` (after `;parameters`,
/// percent-decoding and NFKC) is `400 invalid_request`.
#[utoipa::path(
    method(get, post, put, patch, delete),
    path = paths::API,
    tag = "session",
    operation_id = "apiProxy",
    security(("session_cookie" = [])),
    params(
        ("name" = String, Path, description = "A key of `session.apis`: letters, digits, `-` and `_` (the settings refuse anything else), never percent-encoded (SPEC §13: an escape outside `{rest}` is `400 invalid_request`).", pattern = r"^[A-Za-z0-9_-]+$", example = "orders"),
        ("rest" = String, Path, description = "The rest of the path, slashes included; `.` and `..` segments are refused, also behind `;parameters`, percent-encoding or NFKC forms such as fullwidth dots.", example = "v1/orders"),
        ("X-Lgw-Session" = Option<String>, Header, description = "Exactly `1` whenever the call carries the session cookie: the CSRF proof (SPEC §10); without it such a call is `403 csrf_failed`.", example = "1"),
    ),
    responses(
        (status = 200, description = "The API's answer, passed through: its status, body and `Content-Type` (any status, not only 200)."),
    ),
)]
async fn proxy(
    state: web::Data<AppState>,
    ip: ClientIp,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: RawBody,
) -> Result<HttpResponse, ApiError> {
    let sessions = sessions(&state)?;
    // No session: 401 before anything says which API names exist.
    let mut data = current(&state, sessions, &req).await?;
    let proxy = state.api_proxy.as_ref().ok_or_else(ApiError::not_found)?;
    let (name, rest) = path.into_inner();
    let target = proxy.target(&name).ok_or_else(ApiError::not_found)?;
    let audience = target.audience.clone();
    let (token, cookies) =
        api_token(&state, sessions, &req, ip, &mut data, audience.as_deref()).await?;
    let answer = proxy
        .forward(
            ProxyRequest {
                name: &name,
                rest: &rest,
                query: (!req.query_string().is_empty()).then(|| req.query_string()),
                method: req.method().clone(),
                headers: req.headers(),
                body: body.0,
            },
            &token,
        )
        .await?;
    Ok(with_cookies(answer.into_response(), cookies))
}
