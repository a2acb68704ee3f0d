//! The `/api/{name}/{rest}` proxy core (SPEC §10, cookie sessions): after
//! the route has checked the session and holds an access token, the request
//! goes to the configured API with that token as its bearer, and the API's
//! answer comes back as it is, non-2xx included.
//!
//! What crosses is an allowlist both ways. Upstream: the method, the path
//! below the API's URL, the query string, the body and `Content-Type`,
//! `Accept`, `Accept-Language`, plus the gateway's `Authorization`; never
//! the browser's cookies or its own `Authorization`. Back: status, body and
//! the end-to-end headers except those that act on the gateway's whole
//! origin (`Set-Cookie`, HSTS, `Clear-Site-Data`, policies, …),
//! `Access-Control-*` (CORS is the gateway's) and cache directives.
//!
//! The answer is served from the gateway's origin, where the session
//! cookies live, so it is the gateway's to constrain (SPEC §13): every one
//! carries `Content-Security-Policy: sandbox; default-src 'none'` (an API's
//! HTML runs no script and loads nothing there) and `Cache-Control:
//! private, no-store` (a per-user answer is never cached).
//!
//! Nothing here retries: an API call may not be idempotent.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::Bytes;
use actix_web::HttpResponse;

use unicode_normalization::UnicodeNormalization;

use crate::error::{ApiError, ErrorCode};

/// One upstream API: `session.apis.{name}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTarget {
    /// Requests go to this URL + `/` + the rest of the path. `https://`, or
    /// `http://` to a loopback address only.
    pub url: reqwest::Url,
    /// The access token for this API comes from a refresh with this
    /// audience (the route's concern; the proxy only sends the token).
    pub audience: Option<String>,
}

/// Timeout and size caps of proxied calls.
#[derive(Debug, Clone, Copy)]
pub struct ProxyLimits {
    /// The whole call, connect to last body byte (`session.api_timeout_ms`).
    pub timeout: Duration,
    /// The browser's body (`server.max_body_bytes`).
    pub max_request_bytes: usize,
    /// The API's body, capped like Auth0's (`auth0.max_response_bytes`).
    pub max_response_bytes: usize,
}

impl Default for ProxyLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(10_000),
            max_request_bytes: 16 * 1024,
            max_response_bytes: 64 * 1024,
        }
    }
}

/// The browser's request, as the route received it.
#[derive(Debug)]
pub struct ProxyRequest<'a> {
    /// `{name}`: which API.
    pub name: &'a str,
    /// Everything after `/api/{name}/`, as sent (percent-encoded) or as
    /// actix's match info gives it (partly decoded): both are accepted.
    pub rest: &'a str,
    /// The raw query string, without `?`.
    pub query: Option<&'a str>,
    pub method: Method,
    /// The browser's request headers; only the allowlisted ones are read.
    pub headers: &'a HeaderMap,
    pub body: Bytes,
}

/// The API's answer, ready to be sent back.
#[derive(Debug)]
pub struct ProxiedAnswer {
    pub status: StatusCode,
    /// End-to-end headers minus the origin-wide ones, `Access-Control-*`,
    /// cache directives and `Content-Length` (recomputed from the body);
    /// plus the sandbox CSP and `Cache-Control: private, no-store`.
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ProxiedAnswer {
    pub fn into_response(self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        for (name, value) in self.headers.iter() {
            response.append_header((name.clone(), value.clone()));
        }
        response.body(self.body)
    }
}

/// Why a call was not proxied or its answer not passed back.
#[derive(Debug, thiserror::Error)]
pub enum ApiProxyError {
    /// No API of that name (404 `not_found`, as an unknown route).
    #[error("no API of that name")]
    UnknownApi,
    /// A `.` or `..` segment, however it is hidden (400 `invalid_request`).
    #[error("the path has a `.` or `..` segment")]
    DotSegment,
    /// The path or query does not form a URL below the API's (400).
    #[error("the path does not form a URL below the API's")]
    BadPath,
    /// The browser's body is over `server.max_body_bytes` (413).
    #[error("request body larger than {limit} bytes")]
    RequestTooLarge { limit: usize },
    /// The API did not answer within the timeout (504 `upstream_timeout`).
    #[error("the API did not answer in time")]
    Timeout,
    /// Connection refused, DNS, TLS (502 `upstream_error`).
    #[error("the API could not be reached: {reason}")]
    Unreachable { reason: &'static str },
    /// The API's body is over the cap, or its answer is unusable (502).
    #[error("the API gave an unusable answer: {reason}")]
    BadAnswer { reason: &'static str },
}

impl From<ApiProxyError> for ApiError {
    fn from(error: ApiProxyError) -> Self {
        match error {
            ApiProxyError::UnknownApi => ApiError::not_found(),
            ApiProxyError::DotSegment => {
                ApiError::invalid_request("the API path must not have `.` or `..` segments")
            }
            ApiProxyError::BadPath => {
                ApiError::invalid_request("the API path or query string is not valid")
            }
            ApiProxyError::RequestTooLarge { limit } => ApiError::payload_too_large(limit),
            ApiProxyError::Timeout => {
                ApiError::new(ErrorCode::UpstreamTimeout, "the API did not answer in time")
            }
            ApiProxyError::Unreachable { .. } | ApiProxyError::BadAnswer { .. } => ApiError::new(
                ErrorCode::UpstreamError,
                "the API could not be reached or gave an unusable answer",
            ),
        }
    }
}

/// A `session.apis` entry the proxy cannot use; names the setting, never a
/// secret.
#[derive(Debug, thiserror::Error)]
#[error("session.apis.{api}.url {reason}")]
pub struct ApiProxyConfigError {
    pub api: String,
    pub reason: &'static str,
}

/// The configured APIs and the client that calls them.
#[derive(Debug)]
pub struct ApiProxy {
    apis: BTreeMap<String, ApiTarget>,
    http: reqwest::Client,
    limits: ProxyLimits,
}

impl ApiProxy {
    /// Checks every URL (`https://`, or `http://` to loopback; no query,
    /// fragment or credentials) and builds the client.
    pub fn new(
        apis: BTreeMap<String, ApiTarget>,
        limits: ProxyLimits,
    ) -> Result<Self, ApiProxyConfigError> {
        for (name, target) in &apis {
            crate::settings::check_api_url(&target.url).map_err(|reason| ApiProxyConfigError {
                api: name.clone(),
                reason,
            })?;
        }
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(limits.timeout)
            .connect_timeout(limits.timeout)
            // A redirect would leave the API (and take the bearer along).
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .user_agent(concat!("login-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| ApiProxyConfigError {
                api: String::new(),
                reason: "could not get an HTTP client (TLS setup failed)",
            })?;
        Ok(Self { apis, http, limits })
    }

    /// The API called `name`; `None` answers `404` (check it before
    /// getting an access token for it).
    pub fn target(&self, name: &str) -> Option<&ApiTarget> {
        self.apis.get(name)
    }

    /// Sends `request` to its API with `access_token` as the bearer and
    /// reads the answer under the size cap and the timeout.
    #[tracing::instrument(skip_all, fields(api = request.name))]
    pub async fn forward(
        &self,
        request: ProxyRequest<'_>,
        access_token: &str,
    ) -> Result<ProxiedAnswer, ApiProxyError> {
        let target = self.target(request.name).ok_or(ApiProxyError::UnknownApi)?;
        if request.body.len() > self.limits.max_request_bytes {
            return Err(ApiProxyError::RequestTooLarge {
                limit: self.limits.max_request_bytes,
            });
        }
        let url = join(&target.url, request.rest, request.query)?;
        let method = reqwest::Method::from_bytes(request.method.as_str().as_bytes())
            .map_err(|_| ApiProxyError::BadPath)?;
        let headers = outgoing_headers(request.headers, access_token)?;
        let mut call = self.http.request(method, url).headers(headers);
        if !request.body.is_empty() {
            call = call.body(request.body);
        }
        let started = Instant::now();
        let result = self.exchange(call).await;
        if let Err(error) = &result {
            let request_id = crate::request_id::current();
            tracing::warn!(
                request_id = request_id.as_deref().unwrap_or(""),
                api = request.name,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "{error}"
            );
        }
        result
    }

    async fn exchange(
        &self,
        call: reqwest::RequestBuilder,
    ) -> Result<ProxiedAnswer, ApiProxyError> {
        let mut response = call.send().await.map_err(transport_error)?;
        let status = StatusCode::from_u16(response.status().as_u16()).map_err(|_| {
            ApiProxyError::BadAnswer {
                reason: "invalid status",
            }
        })?;
        let headers = answer_headers(response.headers());
        let body =
            crate::upstream_body::read_capped_answer(&mut response, self.limits.max_response_bytes)
                .await
                .map_err(transport_error)?
                .ok_or(ApiProxyError::BadAnswer {
                    reason: "answer larger than the size cap",
                })?;
        Ok(ProxiedAnswer {
            status,
            headers,
            body: Bytes::from(body),
        })
    }
}

fn transport_error(error: reqwest::Error) -> ApiProxyError {
    // reqwest's text can hold the URL; only the kind is kept.
    if error.is_timeout() {
        ApiProxyError::Timeout
    } else if error.is_connect() {
        ApiProxyError::Unreachable {
            reason: "connection failed",
        }
    } else if error.is_body() || error.is_decode() {
        ApiProxyError::BadAnswer {
            reason: "answer body could not be read",
        }
    } else {
        ApiProxyError::Unreachable {
            reason: "request failed",
        }
    }
}

/// Bytes kept as they are in a path segment (RFC 3986 `pchar` minus `%`):
/// unreserved, sub-delims, `:` and `@`.
fn is_pchar(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
        )
}

/// Copies `text` into `out`, keeping `%XX` escapes and the bytes `keep`
/// allows, and percent-encoding everything else (a lone `%` included).
fn encode_into(out: &mut String, text: &str, keep: impl Fn(u8) -> bool) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        let escape = byte == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        if escape {
            out.push_str(&text[i..i + 3]);
            i += 3;
            continue;
        }
        if byte != b'%' && keep(byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
        i += 1;
    }
}

/// Whether a segment is `.` or `..` to some server on the way (SPEC §13),
/// which would move the call out of the API's path: once percent-decoded,
/// however often it was encoded (`%2e%2e`, `%252e%252e`); once NFKC
/// normalises compatibility forms (fullwidth `．．`, the one dot leader
/// `․`, the two dot leader `‥`); whatever separators decoding reveals
/// (`..%2f..`, fullwidth `／`); and once `;parameters` are cut off (Tomcat
/// and Jetty read `..;x` as `..`).
fn is_dot_segment(segment: &str) -> bool {
    let mut text = segment.to_string();
    for _ in 0..4 {
        let normalised: String = text.nfkc().collect();
        let dots = normalised
            .split(['/', '\\'])
            .map(|part| part.split_once(';').map_or(part, |(name, _)| name))
            .any(|part| part == "." || part == "..");
        if dots {
            return true;
        }
        let decoded = percent_encoding::percent_decode_str(&normalised)
            .decode_utf8_lossy()
            .into_owned();
        if decoded == normalised {
            return false;
        }
        text = decoded;
    }
    // Still changing after four rounds: not a path anyone should send.
    true
}

/// `base` + `/` + `rest` (+ `?` + `query`), staying below `base`.
pub fn join(
    base: &reqwest::Url,
    rest: &str,
    query: Option<&str>,
) -> Result<reqwest::Url, ApiProxyError> {
    if rest.split('/').any(is_dot_segment) {
        return Err(ApiProxyError::DotSegment);
    }
    let prefix = base.as_str().trim_end_matches('/');
    let mut url = String::with_capacity(prefix.len() + rest.len() + 2);
    url.push_str(prefix);
    url.push('/');
    encode_into(&mut url, rest, |b| b == b'/' || is_pchar(b));
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        url.push('?');
        encode_into(&mut url, query, |b| b == b'/' || b == b'?' || is_pchar(b));
    }
    let joined = reqwest::Url::parse(&url).map_err(|_| ApiProxyError::BadPath)?;
    let base_path = format!("{}/", base.path().trim_end_matches('/'));
    let below = joined.origin() == base.origin()
        && joined.username() == base.username()
        && joined.path().starts_with(&base_path);
    if !below {
        return Err(ApiProxyError::BadPath);
    }
    Ok(joined)
}

/// The request headers an API gets: the allowlisted ones and the bearer.
fn outgoing_headers(
    browser: &HeaderMap,
    access_token: &str,
) -> Result<reqwest::header::HeaderMap, ApiProxyError> {
    const FORWARDED: [header::HeaderName; 3] = [
        header::CONTENT_TYPE,
        header::ACCEPT,
        header::ACCEPT_LANGUAGE,
    ];
    let mut headers = reqwest::header::HeaderMap::with_capacity(4);
    for name in FORWARDED {
        for value in browser.get_all(&name) {
            if let (Ok(name), Ok(value)) = (
                reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()),
                reqwest::header::HeaderValue::from_bytes(value.as_bytes()),
            ) {
                headers.append(name, value);
            }
        }
    }
    let bearer = reqwest::header::HeaderValue::from_str(&format!("Bearer {access_token}"))
        .map_err(|_| ApiProxyError::BadAnswer {
            reason: "the access token cannot be sent in a header",
        })?;
    headers.insert(reqwest::header::AUTHORIZATION, bearer);
    Ok(headers)
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and the older ones proxies drop.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers by which an answer acts on the gateway's whole origin rather
/// than on itself (SPEC §13): pinning HSTS or moving the origin to another
/// endpoint (`Alt-Svc`), wiping its cookies and storage, redirecting or
/// preloading into it, reporting on it (`NEL`, `Report-To`), replacing or
/// loosening its policies. An API's answer is served from the gateway's
/// origin, so none of these may come through.
const ORIGIN_WIDE: [&str; 10] = [
    "strict-transport-security",
    "clear-site-data",
    "refresh",
    "link",
    "alt-svc",
    "permissions-policy",
    "feature-policy",
    "nel",
    "report-to",
    "reporting-endpoints",
];

/// The sandbox every proxied answer gets: an API's HTML or SVG rendered at
/// the gateway's origin runs no script, has an opaque origin (so no access
/// to the session routes with the user's cookies) and loads nothing.
const SANDBOX: &str = "sandbox; default-src 'none'";

/// Per-user answers: never stored by the browser or by a shared cache in
/// front of the gateway, whatever the API said.
const NO_STORE: &str = "private, no-store";

/// Whether the gateway, not the API, decides this header (cache directives
/// for the browser or for a CDN, including `CDN-Cache-Control` and its
/// vendor forms, which a CDN reads before `Cache-Control`).
fn is_gateways_own(name: &str) -> bool {
    ORIGIN_WIDE.contains(&name)
        || name == "set-cookie"
        || name.starts_with("content-security-policy")
        || name.starts_with("access-control-")
        || name == "cache-control"
        || name.ends_with("cdn-cache-control")
        || name == "surrogate-control"
}

/// The API's headers the browser gets, then the sandbox and no-store. The
/// front door leaves a present `Cache-Control` as it is.
fn answer_headers(api: &reqwest::header::HeaderMap) -> HeaderMap {
    // Headers named in `Connection` are hop-by-hop too.
    let listed: Vec<String> = api
        .get_all(reqwest::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    let mut headers = HeaderMap::new();
    for (name, value) in api {
        let lower = name.as_str();
        let dropped = HOP_BY_HOP.contains(&lower)
            || lower.starts_with("proxy-")
            || lower == "content-length"
            || is_gateways_own(lower)
            || listed.iter().any(|l| l == lower);
        if dropped {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(lower.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SANDBOX),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> reqwest::Url {
        reqwest::Url::parse(text).expect("a URL")
    }

    #[test]
    fn the_path_and_query_go_below_the_api_url() {
        let cases: &[(&str, &str, Option<&str>, &str)] = &[
            (
                "https://api.example.com",
                "v1/me",
                None,
                "https://api.example.com/v1/me",
            ),
            (
                "https://api.example.com/",
                "me",
                Some("a=1&b=2"),
                "https://api.example.com/me?a=1&b=2",
            ),
            (
                "https://api.example.com/base",
                "me",
                None,
                "https://api.example.com/base/me",
            ),
            (
                "https://api.example.com/base/",
                "me/",
                None,
                "https://api.example.com/base/me/",
            ),
            (
                "https://api.example.com/base",
                "",
                None,
                "https://api.example.com/base/",
            ),
            (
                "http://127.0.0.1:8080/x",
                "a%2Fb",
                None,
                "http://127.0.0.1:8080/x/a%2Fb",
            ),
            // actix's match info decodes `%3F`, `%23` and spaces: re-encoded.
            (
                "https://api.example.com",
                "a?b#c d",
                None,
                "https://api.example.com/a%3Fb%23c%20d",
            ),
            (
                "https://api.example.com",
                "caf\u{e9}",
                None,
                "https://api.example.com/caf%C3%A9",
            ),
            (
                "https://api.example.com",
                "100%",
                None,
                "https://api.example.com/100%25",
            ),
            (
                "https://api.example.com",
                "a\\b",
                None,
                "https://api.example.com/a%5Cb",
            ),
            (
                "https://api.example.com",
                "a",
                Some(""),
                "https://api.example.com/a",
            ),
            (
                "https://api.example.com",
                "a",
                Some("q=a b#x"),
                "https://api.example.com/a?q=a%20b%23x",
            ),
            // A leading slash stays a path: the host cannot change.
            (
                "https://api.example.com",
                "/evil.example/x",
                None,
                "https://api.example.com//evil.example/x",
            ),
            (
                "https://api.example.com/b",
                "//evil.example/x",
                None,
                "https://api.example.com/b///evil.example/x",
            ),
        ];
        for (base, rest, query, expected) in cases {
            let joined = join(&url(base), rest, *query).map(|u| u.to_string());
            assert_eq!(joined.as_deref().ok(), Some(*expected), "{base} + {rest}");
        }
    }

    #[test]
    fn dot_segments_are_refused_however_they_are_hidden() {
        let base = url("https://api.example.com/v1");
        for rest in [
            "..",
            "../admin",
            "a/../../admin",
            "a/..",
            "%2e%2e/admin",
            "%2E%2e/admin",
            ".%2e/admin",
            "%2e./admin",
            "%252e%252e/admin",
            "a/..%2fadmin",
            "a/..%5cadmin",
            "a/%2e%2e%2fadmin",
            ".",
            "./a",
            "a/./b",
            "%2e",
            "..;/admin",
            "..;jsessionid=x/admin",
            ".;x",
            "%2E%2e;/admin",
            "..%3bx/admin",
            "\u{ff0e}\u{ff0e}/admin",
            "%EF%BC%8E%EF%BC%8E/admin",
            "%25EF%25BC%258E%25EF%25BC%258E/admin",
            "\u{2024}\u{2024}/admin",
            "\u{2025}/admin",
            "\u{fe52}/admin",
            "\u{ff0e}\u{ff0e}\u{ff0f}admin",
            "%EF%BC%85%EF%BC%92%EF%BD%85%EF%BC%85%EF%BC%92%EF%BD%85/admin",
        ] {
            assert!(
                matches!(join(&base, rest, None), Err(ApiProxyError::DotSegment)),
                "{rest}"
            );
        }
        for rest in [
            "...",
            "a..b",
            "..a",
            ".well-known/x",
            "...;x",
            "a;b/c;d=e",
            ";x",
            "\u{ff0e}\u{ff0e}\u{ff0e}",
            "caf\u{e9}",
        ] {
            assert!(join(&base, rest, None).is_ok(), "{rest}");
        }
    }

    #[test]
    fn only_https_or_loopback_http_apis_are_accepted() {
        let target = |u: &str| ApiTarget {
            url: url(u),
            audience: None,
        };
        let build = |u: &str| {
            let apis = BTreeMap::from([("orders".to_string(), target(u))]);
            ApiProxy::new(apis, ProxyLimits::default())
        };
        for ok in [
            "https://api.example.com",
            "https://api.example.com/v1/",
            "http://127.0.0.1:8080",
            "http://[::1]:8080/x",
            "http://localhost:3000",
        ] {
            assert!(build(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.example.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "https://api.example.com/?a=1",
            "https://api.example.com/#x",
            "https://user:pass@api.example.com",
        ] {
            let error = build(bad).expect_err(bad);
            assert_eq!(error.api, "orders");
            assert!(error.to_string().starts_with("session.apis.orders.url "));
        }
    }

    #[test]
    fn only_allowlisted_request_headers_and_the_bearer_go_upstream() {
        let mut browser = HeaderMap::new();
        for (name, value) in [
            ("content-type", "application/json"),
            ("accept", "application/json"),
            ("accept-language", "fr"),
            ("cookie", "__Host-lgw=sealed"),
            ("authorization", "Bearer browser"),
            ("x-lgw-session", "1"),
            ("origin", "https://app.example.com"),
            ("x-forwarded-for", "1.2.3.4"),
        ] {
            browser.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let headers = outgoing_headers(&browser, "at-123").expect("headers");
        let mut names: Vec<&str> = headers.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["accept", "accept-language", "authorization", "content-type"]
        );
        assert_eq!(headers["authorization"], "Bearer at-123");
        assert!(outgoing_headers(&browser, "bad\ntoken").is_err());
    }

    #[test]
    fn hop_by_hop_origin_wide_cors_and_cache_headers_are_not_passed_back() {
        let mut api = reqwest::header::HeaderMap::new();
        for (name, value) in [
            ("content-type", "application/json"),
            ("cache-control", "max-age=60"),
            ("etag", "\"1\""),
            ("x-custom", "a"),
            ("x-custom", "b"),
            ("set-cookie", "s=1"),
            ("connection", "close, x-private"),
            ("x-private", "p"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("proxy-authenticate", "Basic"),
            ("upgrade", "h2c"),
            ("te", "trailers"),
            ("trailer", "x"),
            ("content-length", "12"),
            ("access-control-allow-origin", "*"),
            ("strict-transport-security", "max-age=600"),
            ("content-security-policy", "script-src *"),
            ("content-security-policy-report-only", "default-src *"),
            ("cdn-cache-control", "max-age=600"),
            ("cloudflare-cdn-cache-control", "max-age=600"),
            ("surrogate-control", "max-age=600"),
            ("nel", "{\"max_age\": 600}"),
        ] {
            api.append(
                reqwest::header::HeaderName::from_static(name),
                reqwest::header::HeaderValue::from_static(value),
            );
        }
        let headers = answer_headers(&api);
        let mut names: Vec<&str> = headers.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names,
            [
                "cache-control",
                "content-security-policy",
                "content-type",
                "etag",
                "x-custom"
            ]
        );
        assert_eq!(headers.get_all("x-custom").count(), 2);
        assert_eq!(
            headers.get("cache-control").map(|v| v.as_bytes()),
            Some(NO_STORE.as_bytes())
        );
        assert_eq!(
            headers.get("content-security-policy").map(|v| v.as_bytes()),
            Some(SANDBOX.as_bytes())
        );
    }
}
