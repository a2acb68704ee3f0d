//! The example single-page app (`examples/spa`), served by `--demo` from a
//! second loopback port. That is another origin than the gateway's, so the
//! browser runs real CORS against `server.cors_allowed_origins`, as it will
//! for a real app.
//!
//! The files are compiled into the binary, so the demo works from any
//! directory. Only `config.js` is made at start: it tells the app the
//! gateway's origin, which the Content-Security-Policy also names as the
//! one place the page may connect to.

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
const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("app.js", JS),
    asset!("gateway.js", JS),
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

    /// `http://127.0.0.1:<port>`, as the browser sends it in `Origin`.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The app's page; magic links come back here with `?code=…&state=…`.
    pub fn url(&self) -> String {
        format!("{}/", self.origin())
    }

    /// Starts serving the app; it calls the gateway at `gateway_origin`.
    pub fn serve(self, gateway_origin: &str) -> std::io::Result<SpaServer> {
        let url = self.url();
        let site = web::Data::new(Site::new(gateway_origin));
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
    csp: String,
}

impl Site {
    fn new(gateway_origin: &str) -> Self {
        let config = serde_json::json!({ "gateway": gateway_origin });
        Self {
            config_js: format!(
                "// Made by login-gateway --demo: where this app finds the gateway.\n\
                 export default {config};\n"
            ),
            csp: content_security_policy(gateway_origin),
        }
    }
}

/// Scripts, styles and images from the app's own origin only (no inline
/// code at all), network calls to the gateway only, no framing, no forms
/// posted anywhere (the app submits with `fetch`).
fn content_security_policy(gateway_origin: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src {gateway_origin}; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
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
    let path = match req.path() {
        "/" => "/index.html",
        path => path,
    };
    if path == "/config.js" {
        return HttpResponse::Ok()
            .content_type(JS)
            .body(site.config_js.clone());
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
    use super::*;
    // Not `use actix_web::test`: that would shadow the `#[test]` attribute.
    use actix_web::test as web_test;

    const GATEWAY: &str = "http://127.0.0.1:8080";

    async fn get(method: Method, path: &str) -> (StatusCode, header::HeaderMap, String) {
        let site = web::Data::new(Site::new(GATEWAY));
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
    async fn the_page_and_its_files_are_served_with_their_types_and_strict_headers() {
        for (path, content_type) in [
            ("/", HTML),
            ("/index.html", HTML),
            ("/app.js", JS),
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

    #[actix_web::test]
    async fn config_js_names_the_gateway() {
        let (_, _, body) = get(Method::GET, "/config.js").await;
        assert!(
            body.contains(r#"export default {"gateway":"http://127.0.0.1:8080"};"#),
            "{body}"
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
        // A taken neighbour port also falls back.
        if let Ok(taken) = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)) {
            if let Ok(addr) = taken.local_addr() {
                let listener = SpaListener::bind_beside(addr.port() - 1);
                assert!(listener.is_ok_and(|l| l.port() != addr.port()));
            }
        }
    }
}
