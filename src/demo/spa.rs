//! The example single-page app (`examples/spa`), served by `--demo` from a
//! second loopback port. That is another origin than the gateway's, so the
//! browser runs real CORS against `server.cors_allowed_origins`, as it will
//! for a real app.
//!
//! Its one origin is `http://localhost:<port>`, not `127.0.0.1`: WebAuthn
//! refuses IP-address origins (a passkey's relying party is a domain), and
//! browsers treat `localhost` as a secure context over plain http. A request
//! naming the port by another host (`127.0.0.1`) is redirected there.
//!
//! The files are compiled into the binary, so the demo works from any
//! directory. Only `config.js` is made at start: it tells the app the
//! gateway's origin, which the Content-Security-Policy also names as the
//! one place the page may connect to. `index.html` carries that policy in a
//! `<meta>` tag too (so that a copy of the files keeps it); the demo
//! rewrites the tag to its own gateway origin, since the browser enforces
//! both the header and the tag.

use std::ops::Range;
use std::time::Duration;

use std::net::{Ipv4Addr, TcpListener};

use actix_web::dev::ServerHandle;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// One embedded file: the path it is served at, its type, its bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($file:literal, $content_type:expr) => {
        Asset {
            path: concat!("/", $file),
            content_type: $content_type,
            body: include_bytes!(concat!("../../examples/spa/", $file)),
        }
    };
}

/// Every file of `examples/spa` except `config.js` (made at start).
/// `index.html` is served with its policy rewritten ([`Site::new`]).
const ASSETS: &[Asset] = &[
    Asset {
        path: "/index.html",
        content_type: HTML,
        body: INDEX_HTML,
    },
    asset!("app.js", JS),
    asset!("gateway.js", JS),
    asset!("passkey.js", JS),
    asset!("qr.js", JS),
    asset!("style.css", CSS),
    asset!("favicon.svg", SVG),
    asset!("vendor/qrcode-generator.mjs", JS),
];

/// The app's listener, bound before the gateway's settings are final so
/// that its origin can join `server.cors_allowed_origins`.
pub struct SpaListener {
    listener: TcpListener,
    port: u16,
}

impl SpaListener {
    /// Binds `127.0.0.1:<gateway port + 1>`, or an ephemeral port when that
    /// one is taken (or the gateway's port is itself ephemeral).
    pub fn bind_beside(gateway_port: u16) -> std::io::Result<Self> {
        let preferred = gateway_port
            .checked_add(1)
            .filter(|_| gateway_port != 0)
            .and_then(|port| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).ok());
        let listener = match preferred {
            Some(listener) => listener,
            None => TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?,
        };
        let port = listener.local_addr()?.port();
        Ok(Self { listener, port })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://localhost:<port>`, as the browser sends it in `Origin`.
    pub fn origin(&self) -> String {
        super::browser_origin(self.port)
    }

    /// The app's page; magic links come back here with `?code=…&state=…`.
    pub fn url(&self) -> String {
        format!("{}/", self.origin())
    }

    /// Starts serving the app; it calls the gateway at `gateway_origin`,
    /// learns about the demo tenant from `demo` ([`DemoTenantLinks`]), and
    /// that a session ends after `session_idle` without use (`None`: cookie
    /// sessions are off).
    pub fn serve(
        self,
        gateway_origin: &str,
        demo: Option<&DemoTenantLinks>,
        session_idle: Option<Duration>,
    ) -> std::io::Result<SpaServer> {
        let url = self.url();
        let site = web::Data::new(
            Site::with_demo_tenant(gateway_origin, demo, session_idle).served_at(&self.origin()),
        );
        let server = HttpServer::new(move || {
            App::new()
                .wrap(security_headers(&site.csp))
                .app_data(site.clone())
                .default_service(web::to(serve_file))
        })
        .workers(1)
        .disable_signals()
        .listen(self.listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(SpaServer { url, handle })
    }
}

/// What `config.js` tells the demo's app about the fake tenant.
pub struct DemoTenantLinks {
    /// The tenant's origin (`demoTenant`): the page may POST its demo-only
    /// `/demo/end-session`, so the policy lets it connect there too.
    pub origin: String,
    /// Its My Account API audience (`myAccountAudience`): in token mode the
    /// app refreshes for a token of it to add a passkey (SPEC §11).
    pub my_account_audience: String,
}

/// The running app server.
pub struct SpaServer {
    url: String,
    handle: ServerHandle,
}

impl SpaServer {
    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// What the app server needs per gateway.
struct Site {
    config_js: String,
    index_html: String,
    csp: String,
    /// The one origin the app is served from (`http://localhost:<port>`);
    /// `None` serves any `Host` (unit tests).
    origin: Option<String>,
}

impl Site {
    #[cfg(test)]
    fn new(gateway_origin: &str) -> Self {
        Self::with_demo_tenant(gateway_origin, None, None)
    }

    /// `session_idle` becomes config.js's `sessionIdleSecs`: the gateway's
    /// `session.idle_secs`, which no answer of the gateway carries, so that
    /// the app can tell when an unused cookie session ends (not only its
    /// absolute end, `expires_at`).
    fn with_demo_tenant(
        gateway_origin: &str,
        demo: Option<&DemoTenantLinks>,
        session_idle: Option<Duration>,
    ) -> Self {
        let mut config = serde_json::json!({ "gateway": gateway_origin });
        if let Some(idle) = session_idle {
            config["sessionIdleSecs"] = serde_json::json!(idle.as_secs());
        }
        let mut connect = gateway_origin.to_string();
        if let Some(tenant) = demo {
            config["demoTenant"] = serde_json::json!(tenant.origin);
            config["myAccountAudience"] = serde_json::json!(tenant.my_account_audience);
            connect = format!("{gateway_origin} {}", tenant.origin);
        }
        let page = String::from_utf8_lossy(INDEX_HTML);
        Self {
            config_js: format!(
                "// Made by login-gateway --demo: where this app finds the gateway.\n\
                 export default {config};\n"
            ),
            // The shipped page names the default gateway; a test makes sure
            // it has the tag, so the page is never served without it.
            index_html: with_meta_policy(&page, &meta_content_security_policy(&connect))
                .unwrap_or_else(|| page.into_owned()),
            csp: content_security_policy(&connect),
            origin: None,
        }
    }

    fn served_at(mut self, origin: &str) -> Self {
        self.origin = Some(origin.to_string());
        self
    }

    /// Where a request for another host name of this port (`127.0.0.1`)
    /// belongs: the app runs on one origin only, the one magic links lead
    /// back to and whose storage holds the sign-in's `state`, and the one a
    /// passkey can be made for (never an IP address). Opened at `127.0.0.1`,
    /// the link (at `localhost`) would find no `state` there.
    fn canonical_location(&self, req: &HttpRequest) -> Option<String> {
        let origin = self.origin.as_deref()?;
        let host = req.headers().get(header::HOST)?.to_str().ok()?;
        let canonical_host = origin.strip_prefix("http://")?;
        if host.eq_ignore_ascii_case(canonical_host) {
            return None;
        }
        let path = req.uri().path_and_query().map_or("/", |path| path.as_str());
        Some(format!("{origin}{path}"))
    }
}

const INDEX_HTML: &[u8] = include_bytes!("../../examples/spa/index.html");

/// Scripts, styles and images from the app's own origin only (no inline
/// code at all), network calls to `connect` only (the gateway; in the demo
/// also the tenant), no framing, no forms posted anywhere (the app submits
/// with `fetch`).
fn content_security_policy(connect: &str) -> String {
    format!(
        "{}; frame-ancestors 'none'",
        meta_content_security_policy(connect)
    )
}

/// The same policy minus what a `<meta>` tag cannot carry (browsers ignore
/// `frame-ancestors` there).
fn meta_content_security_policy(connect: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src {connect}; base-uri 'none'; form-action 'none'"
    )
}

const META_CSP: &str = r#"<meta http-equiv="Content-Security-Policy" content=""#;

/// Where the policy of the page's CSP `<meta>` tag is (the attribute value,
/// without its quotes).
fn meta_policy_range(html: &str) -> Option<Range<usize>> {
    let start = html.find(META_CSP)? + META_CSP.len();
    let len = html[start..].find('"')?;
    Some(start..start + len)
}

/// `html` with the policy of its CSP `<meta>` tag replaced; `None` when it
/// has no such tag.
fn with_meta_policy(html: &str, policy: &str) -> Option<String> {
    let range = meta_policy_range(html)?;
    let escaped = policy
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    Some(format!(
        "{}{escaped}{}",
        &html[..range.start],
        &html[range.end..]
    ))
}

fn security_headers(csp: &str) -> DefaultHeaders {
    let csp = HeaderValue::from_str(csp)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, csp))
        .add((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .add((
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        // The page URL briefly holds a magic-link code.
        .add((
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .add((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
}

async fn serve_file(req: HttpRequest, site: web::Data<Site>) -> HttpResponse {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "GET, HEAD"))
            .content_type(mime::TEXT_PLAIN_UTF_8)
            .body("method not allowed\n");
    }
    if let Some(location) = site.canonical_location(&req) {
        return HttpResponse::PermanentRedirect()
            .insert_header((header::LOCATION, location))
            .finish();
    }
    let path = match req.path() {
        "/" => "/index.html",
        path => path,
    };
    if path == "/config.js" {
        return HttpResponse::Ok()
            .content_type(JS)
            .body(site.config_js.clone());
    }
    if path == "/index.html" {
        return HttpResponse::Ok()
            .content_type(HTML)
            .body(site.index_html.clone());
    }
    match ASSETS.iter().find(|asset| asset.path == path) {
        Some(asset) => HttpResponse::Ok()
            .content_type(asset.content_type)
            .body(asset.body),
        None => HttpResponse::build(StatusCode::NOT_FOUND)
            .content_type(mime::TEXT_PLAIN_UTF_8)
            .body("not found\n"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    // Not `use actix_web::test`: that would shadow the `#[test]` attribute.
    use actix_web::test as web_test;

    const GATEWAY: &str = "http://localhost:8080";

    async fn get(method: Method, path: &str) -> (StatusCode, header::HeaderMap, String) {
        get_for(GATEWAY, method, path).await
    }

    async fn get_for(
        gateway: &str,
        method: Method,
        path: &str,
    ) -> (StatusCode, header::HeaderMap, String) {
        let site = web::Data::new(Site::new(gateway));
        let app = web_test::init_service(
            App::new()
                .wrap(security_headers(&site.csp))
                .app_data(site.clone())
                .default_service(web::to(serve_file)),
        )
        .await;
        let response = web_test::call_service(
            &app,
            web_test::TestRequest::default()
                .method(method)
                .uri(path)
                .to_request(),
        )
        .await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = web_test::read_body(response).await;
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    fn header_of(headers: &header::HeaderMap, name: header::HeaderName) -> &str {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[actix_web::test]
    async fn the_loopback_address_of_the_port_is_sent_to_localhost() {
        let site = web::Data::new(Site::new(GATEWAY).served_at("http://localhost:5000"));
        let app = web_test::init_service(
            App::new()
                .app_data(site.clone())
                .default_service(web::to(serve_file)),
        )
        .await;
        let call = |host: &'static str| {
            web_test::TestRequest::get()
                .uri("/?code=abc&state=xyz")
                .insert_header((header::HOST, host))
                .to_request()
        };
        for other in ["127.0.0.1:5000", "[::1]:5000"] {
            let moved = web_test::call_service(&app, call(other)).await;
            assert_eq!(moved.status(), StatusCode::PERMANENT_REDIRECT, "{other}");
            assert_eq!(
                header_of(moved.headers(), header::LOCATION),
                "http://localhost:5000/?code=abc&state=xyz"
            );
        }
        for canonical in ["localhost:5000", "LocalHost:5000"] {
            let served = web_test::call_service(&app, call(canonical)).await;
            assert_eq!(served.status(), StatusCode::OK, "{canonical}");
        }
    }

    #[actix_web::test]
    async fn the_page_and_its_files_are_served_with_their_types_and_strict_headers() {
        for (path, content_type) in [
            ("/", HTML),
            ("/index.html", HTML),
            ("/app.js", JS),
            ("/passkey.js", JS),
            ("/vendor/qrcode-generator.mjs", JS),
            ("/style.css", CSS),
            ("/favicon.svg", SVG),
            ("/config.js", JS),
        ] {
            let (status, headers, _) = get(Method::GET, path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            assert_eq!(
                header_of(&headers, header::CONTENT_TYPE),
                content_type,
                "{path}"
            );
            assert_eq!(header_of(&headers, header::CACHE_CONTROL), "no-store");
            assert_eq!(
                header_of(&headers, header::X_CONTENT_TYPE_OPTIONS),
                "nosniff"
            );
            let csp = header_of(&headers, header::CONTENT_SECURITY_POLICY);
            assert!(csp.contains("script-src 'self';"), "{csp}");
            assert!(csp.contains(&format!("connect-src {GATEWAY};")), "{csp}");
            assert!(!csp.contains("unsafe"), "{csp}");
        }
    }

    fn meta_policy(html: &str) -> &str {
        meta_policy_range(html).map_or("", |range| &html[range])
    }

    /// The gateway origin of the shipped `config.js`.
    fn shipped_gateway() -> String {
        let config = include_str!("../../examples/spa/config.js");
        let start = config
            .find("gateway: '")
            .expect("config.js names a gateway")
            + 10;
        let len = config[start..].find('\'').expect("a quoted origin");
        config[start..start + len].to_string()
    }

    /// A copy of `examples/spa` (what people take) enforces the policy the
    /// demo sends, for the gateway its `config.js` names, from the page's
    /// first load on.
    #[test]
    fn the_shipped_page_carries_the_policy_for_the_gateway_of_config_js() {
        let page = std::str::from_utf8(INDEX_HTML).expect("index.html is UTF-8");
        let gateway = shipped_gateway();
        assert_eq!(gateway, GATEWAY);
        assert_eq!(meta_policy(page), meta_content_security_policy(&gateway));
        assert_eq!(
            format!("{}; frame-ancestors 'none'", meta_policy(page)),
            content_security_policy(&gateway)
        );
        let tag = page.find(META_CSP).expect("the CSP meta tag");
        for loads in ["<script", "<link", "<style", "<img"] {
            if let Some(at) = page.find(loads) {
                assert!(tag < at, "the CSP meta tag comes after {loads}");
            }
        }
        assert_eq!(page.matches("Content-Security-Policy").count(), 1);
    }

    /// The demo's gateway is on another port than config.js says: the page
    /// it serves names that one, and agrees with the header it sends.
    #[actix_web::test]
    async fn the_page_is_served_with_its_meta_policy_naming_the_real_gateway() {
        let real = "http://localhost:18080";
        let shipped = std::str::from_utf8(INDEX_HTML).expect("index.html is UTF-8");
        for path in ["/", "/index.html"] {
            let (status, headers, body) = get_for(real, Method::GET, path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            let policy = meta_policy(&body);
            assert!(policy.contains(&format!("connect-src {real};")), "{policy}");
            assert!(!body.contains(GATEWAY), "{path} still names {GATEWAY}");
            assert_eq!(
                format!("{policy}; frame-ancestors 'none'"),
                header_of(&headers, header::CONTENT_SECURITY_POLICY)
            );
            // Nothing else of the page changes.
            assert_eq!(body.replace(real, GATEWAY), shipped, "{path}");
        }
    }

    #[test]
    fn the_meta_policy_is_escaped_and_a_page_without_the_tag_is_left_alone() {
        let page = format!(r#"<head>{META_CSP}old"><title>t</title>"#);
        assert_eq!(
            with_meta_policy(&page, r#"connect-src "x" <&>"#).as_deref(),
            Some(
                r#"<head><meta http-equiv="Content-Security-Policy" content="connect-src &quot;x&quot; &lt;&amp;&gt;"><title>t</title>"#
            )
        );
        assert_eq!(with_meta_policy("<head><title>t</title>", "x"), None);
    }

    #[actix_web::test]
    async fn config_js_names_the_gateway() {
        let (_, _, body) = get(Method::GET, "/config.js").await;
        assert!(
            body.contains(r#"export default {"gateway":"http://localhost:8080"};"#),
            "{body}"
        );
    }

    /// The demo's app may also reach the tenant (its `/demo/end-session`),
    /// and `config.js` says where it is and what its My Account API's
    /// audience is; nothing else widens.
    #[actix_web::test]
    async fn the_demo_names_the_tenant_in_config_js_and_lets_the_page_reach_it() {
        let tenant = "http://127.0.0.1:18090";
        let links = DemoTenantLinks {
            origin: tenant.to_string(),
            my_account_audience: format!("{tenant}/me/"),
        };
        let site = web::Data::new(Site::with_demo_tenant(GATEWAY, Some(&links), None));
        assert!(
            site.config_js.contains(
                r#"{"demoTenant":"http://127.0.0.1:18090","gateway":"http://localhost:8080","myAccountAudience":"http://127.0.0.1:18090/me/"}"#
            ),
            "{}",
            site.config_js
        );
        assert!(site
            .csp
            .contains(&format!("connect-src {GATEWAY} {tenant}; base-uri")));
        assert_eq!(
            format!("{}; frame-ancestors 'none'", meta_policy(&site.index_html)),
            site.csp
        );
    }

    /// The app shows when an unused cookie session ends from config.js's
    /// `sessionIdleSecs` (no gateway answer says); without cookie
    /// sessions there is no key, and the app says it cannot know.
    #[actix_web::test]
    async fn config_js_names_the_session_idle_time_when_sessions_are_on() {
        let with = Site::with_demo_tenant(GATEWAY, None, Some(Duration::from_secs(90)));
        assert!(
            with.config_js.contains(
                r#"export default {"gateway":"http://localhost:8080","sessionIdleSecs":90};"#
            ),
            "{}",
            with.config_js
        );
        let without = Site::with_demo_tenant(GATEWAY, None, None);
        assert!(
            !without.config_js.contains("sessionIdleSecs"),
            "{}",
            without.config_js
        );
        // What the browser gets is the same file.
        let app = web_test::init_service(
            App::new()
                .app_data(web::Data::new(with))
                .default_service(web::to(serve_file)),
        )
        .await;
        let body = web_test::call_and_read_body(
            &app,
            web_test::TestRequest::get().uri("/config.js").to_request(),
        )
        .await;
        assert!(
            String::from_utf8_lossy(&body).contains(r#""sessionIdleSecs":90"#),
            "{body:?}"
        );
    }

    #[actix_web::test]
    async fn unknown_paths_and_methods_are_refused() {
        let (status, headers, _) = get(Method::GET, "/../Cargo.toml").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            header_of(&headers, header::X_CONTENT_TYPE_OPTIONS),
            "nosniff"
        );
        assert_eq!(get(Method::GET, "/nope.js").await.0, StatusCode::NOT_FOUND);
        assert_eq!(
            get(Method::POST, "/").await.0,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    /// A file added to `examples/spa` but not to `ASSETS` would be missing
    /// from the demo (a 404 in the browser only).
    #[test]
    fn every_file_of_the_example_is_embedded() {
        fn walk(dir: &std::path::Path, root: &std::path::Path, found: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, root, found);
                } else if let Ok(relative) = path.strip_prefix(root) {
                    found.push(format!(
                        "/{}",
                        relative.to_string_lossy().replace('\\', "/")
                    ));
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/spa");
        let mut files = Vec::new();
        walk(&root, &root, &mut files);
        assert!(
            files.len() > 3,
            "examples/spa not found at {}",
            root.display()
        );
        for file in files
            .iter()
            .filter(|f| *f != "/config.js" && !f.ends_with(".md"))
        {
            assert!(
                ASSETS.iter().any(|a| a.path == file),
                "{file} is not embedded"
            );
        }
    }

    #[test]
    fn the_listener_prefers_the_port_after_the_gateway() {
        // Port 0 (ephemeral gateway) and 65535 (no port after it) both fall
        // back to an ephemeral port.
        for gateway_port in [0, u16::MAX] {
            let listener = SpaListener::bind_beside(gateway_port);
            assert!(listener.is_ok_and(|l| l.port() != 0));
        }
        // The port after a free one: the listener takes exactly it.
        let (gateway, beside) = gateway_and_next_port();
        let gateway_port = gateway.local_addr().unwrap().port();
        drop(beside);
        let listener = SpaListener::bind_beside(gateway_port).unwrap();
        assert_eq!(listener.port(), gateway_port + 1, "the preferred port");
        assert_eq!(
            listener.listener.local_addr().unwrap().port(),
            listener.port()
        );

        // The port after taken: an ephemeral one, neither of the two.
        let (gateway, taken) = gateway_and_next_port();
        let gateway_port = gateway.local_addr().unwrap().port();
        let listener = SpaListener::bind_beside(gateway_port).unwrap();
        assert_ne!(listener.port(), taken.local_addr().unwrap().port());
        assert_ne!(listener.port(), gateway_port);
        assert_ne!(listener.port(), 0);
    }

    /// A bound "gateway" listener and one on the port right after it, both
    /// held: a bounded search for an ephemeral port whose neighbour is free.
    fn gateway_and_next_port() -> (TcpListener, TcpListener) {
        for _ in 0..100 {
            let gateway = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            let port = gateway.local_addr().unwrap().port();
            let Some(next) = port.checked_add(1) else {
                continue;
            };
            if let Ok(beside) = TcpListener::bind((Ipv4Addr::LOCALHOST, next)) {
                return (gateway, beside);
            }
        }
        panic!("no free port pair on 127.0.0.1 in 100 tries");
    }
}
