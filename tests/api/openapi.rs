//! The OpenAPI contract: the committed `openapi/openapi.json` is the
//! generated document; the document and the routes actix serves are the
//! same set (paths and methods); `/openapi.json`, `--print-openapi` and
//! `/docs` serve what they promise.

use std::collections::{BTreeMap, BTreeSet};

use login_gateway::openapi::{
    document, document_json, error_codes, ERROR_RESPONSES, GATEWAY_ERROR_CODES,
    MFA_REQUIRED_OPERATIONS, UNDOCUMENTED_ROUTES,
};
use login_gateway::routes::ROUTES;
use serde_json::Value;

use crate::helpers::{
    assert_committed_file_is_current, repo_path, spawn_app_with, RefusedPort, TestApp, REDIRECT_URI,
};

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

/// The documented operations: path → methods.
fn documented_operations() -> BTreeMap<String, BTreeSet<String>> {
    let paths = document()["paths"].as_object().unwrap();
    paths
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| METHODS.contains(&k.as_str()))
                .cloned()
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

#[test]
fn committed_document_is_current() {
    assert_committed_file_is_current(
        "openapi/openapi.json",
        document_json(),
        "UPDATE_OPENAPI",
        "UPDATE_OPENAPI=1 cargo test --test api openapi::committed_document_is_current\n    \
         (or `cargo run -q -- --print-openapi > openapi/openapi.json`)",
    );
}

#[test]
fn print_openapi_needs_no_configuration() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_login-gateway"))
        .arg("--print-openapi")
        .env_clear()
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8(output.stdout).unwrap(), document_json());
}

/// Each object's keys in the order the text writes them, read through
/// serde's visitor (whatever map type `serde_json::Value` uses, sorted or
/// in insertion order, this sees the text's own order).
struct KeyOrder(Vec<String>);

impl<'de> serde::Deserialize<'de> for KeyOrder {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(KeyOrderVisitor(String::new()))
            .map(KeyOrder)
    }
}

/// Collects, for the value at `.0`, every object whose keys are out of
/// order (as "path: key after key").
struct KeyOrderVisitor(String);

impl<'de> serde::de::DeserializeSeed<'de> for KeyOrderVisitor {
    type Value = Vec<String>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<String>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeyOrderVisitor {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }
    fn visit_str<E>(self, _: &str) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }
    fn visit_unit<E>(self) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut unsorted = Vec::new();
        let mut i = 0;
        while let Some(found) = seq.next_element_seed(KeyOrderVisitor(format!("{}/{i}", self.0)))? {
            unsorted.extend(found);
            i += 1;
        }
        Ok(unsorted)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
        let mut unsorted = Vec::new();
        let mut previous: Option<String> = None;
        while let Some(key) = map.next_key::<String>()? {
            if let Some(previous) = previous.as_ref().filter(|p| **p >= key) {
                unsorted.push(format!("{}: {key:?} after {previous:?}", self.0));
            }
            unsorted.extend(map.next_value_seed(KeyOrderVisitor(format!("{}/{key}", self.0)))?);
            previous = Some(key);
        }
        Ok(unsorted)
    }
}

/// The committed file itself (not the generated document, which
/// `committed_document_is_current` compares it with): its keys sorted at
/// every level in the text's own order, and its text exactly serde_json's
/// two-space pretty print of itself with a final newline.
#[test]
fn the_committed_file_is_pretty_printed_with_sorted_keys() {
    let text = std::fs::read_to_string(repo_path("openapi/openapi.json")).unwrap();
    let KeyOrder(unsorted) = serde_json::from_str(&text).unwrap();
    assert!(unsorted.is_empty(), "keys out of order: {unsorted:#?}");
    let parsed: Value = serde_json::from_str(&text).unwrap();
    let pretty = serde_json::to_string_pretty(&parsed).unwrap() + "\n";
    if let Some((line, (committed, expected))) = text
        .lines()
        .zip(pretty.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
    {
        panic!(
            "openapi/openapi.json is not pretty-printed at line {}:\n  committed: {committed:?}\n  expected:  {expected:?}",
            line + 1
        );
    }
    assert_eq!(
        text, pretty,
        "openapi/openapi.json: the lines match but not the text (length, final newline)"
    );
}

#[test]
fn documented_paths_are_the_gateway_routes() {
    let documented: BTreeSet<&str> = document()["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let exceptions: BTreeSet<&str> = UNDOCUMENTED_ROUTES.iter().map(|(r, _)| *r).collect();
    for (route, reason) in UNDOCUMENTED_ROUTES {
        assert!(ROUTES.contains(route), "exception {route} is not a route");
        assert!(!reason.is_empty());
    }
    let served: BTreeSet<&str> = ROUTES
        .iter()
        .copied()
        .filter(|r| !exceptions.contains(r))
        .collect();
    assert_eq!(
        documented, served,
        "the document's paths and ROUTES (minus UNDOCUMENTED_ROUTES) must be the same set"
    );
}

/// Paths are written once, in `routes::paths`: no registration in
/// src/routes/ or src/startup.rs names a path literally, and only the
/// `routes::resource` helpers (which name each resource by its template, so
/// the metric label and the document agree) call `web::resource`.
#[test]
fn registrations_use_the_route_table() {
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(repo_path("src/routes")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            sources.push(path);
        }
    }
    sources.push(repo_path("src/startup.rs"));
    for path in sources {
        let text = std::fs::read_to_string(&path).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        for (i, _) in text.match_indices("web::resource(") {
            let line = text[..i].lines().count();
            assert!(
                file == "mod.rs" && text[i..].starts_with("web::resource(relative)"),
                "{file}:{line}: register routes with routes::resource(), not web::resource()"
            );
        }
        if let Some((i, _)) = text.match_indices("resource(\"/").next() {
            let line = text[..i].lines().count();
            panic!("{file}:{line}: name the path through routes::paths, not a literal");
        }
    }
}

/// Each ROUTES entry is the name of a resource in the real route table.
#[actix_web::test]
async fn every_route_name_resolves_in_actix() {
    use actix_web::{test, web, App, HttpRequest, HttpResponse};

    async fn probe(req: HttpRequest) -> HttpResponse {
        let missing: Vec<&str> = ROUTES
            .iter()
            .copied()
            .filter(|name| {
                let segments = vec!["x"; name.matches('{').count()];
                req.url_for(name, segments).is_err()
            })
            .collect();
        HttpResponse::Ok().json(missing)
    }

    let app = test::init_service(
        App::new()
            .configure(|cfg| login_gateway::routes::configure(cfg, true))
            .route("/__probe", web::get().to(probe)),
    )
    .await;
    let missing: Vec<String> =
        test::call_and_read_body_json(&app, test::TestRequest::get().uri("/__probe").to_request())
            .await;
    assert!(missing.is_empty(), "not registered in actix: {missing:?}");
}

/// A real gateway whose Auth0 refuses connections: calls that reach "Auth0"
/// answer 502, which every such operation documents. Keep the returned
/// guard alive as long as the gateway is used.
async fn spawn_gateway() -> (TestApp, RefusedPort) {
    let refused = RefusedPort::bind();
    // Cookie sessions on, so the /session routes are served (SPEC §10);
    // an obviously fake key: the bytes 0, 1, …, 31 (one byte repeated is
    // refused, SPEC §13).
    let app = spawn_app_with(&[
        ("GATEWAY__AUTH0__DOMAIN", &refused.url()),
        ("GATEWAY__AUTH0__MAGIC_LINK_REDIRECT_URI", REDIRECT_URI),
        ("GATEWAY__SESSION__ENABLED", "true"),
        ("GATEWAY__SESSION__BACKCHANNEL_LOGOUT", "true"),
        // The /passkey routes are served only while passkeys are on.
        ("GATEWAY__PASSKEY__ENABLED", "true"),
        (
            "GATEWAY__SESSION__KEYS",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ),
    ])
    .await;
    (app, refused)
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "totp%7Cdev_probe")
        .replace("{file}", "index.css")
        .replace("{name}", "probe")
        .replace("{rest}", "v1/items")
}

fn documented_statuses(path: &str, method: &str) -> BTreeSet<u16> {
    document()["paths"][path][method]["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(|s| s.parse().unwrap())
        .collect()
}

/// Every documented operation is served (no 404/405, and a documented
/// status); every other method on those paths is a 405 whose `Allow` lists
/// exactly the documented methods. Together with the path-set tests this
/// makes the document and actix's routes the same set of operations.
#[tokio::test]
async fn documented_operations_and_served_operations_are_the_same() {
    let (gateway, _refused) = spawn_gateway().await;
    let operations = documented_operations();
    let mut paths: Vec<(String, BTreeSet<String>)> = operations.into_iter().collect();
    for (route, _) in UNDOCUMENTED_ROUTES {
        paths.push((route.to_string(), BTreeSet::from(["get".to_string()])));
    }
    for (path, methods) in paths {
        let url = gateway.url(&concrete(&path));
        for method in METHODS {
            let request = gateway
                .client
                .request(method.to_uppercase().parse().unwrap(), &url);
            let request = if *method == "post" {
                request.json(&serde_json::json!({}))
            } else {
                request
            };
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            if methods.contains(*method) {
                assert!(
                    status != 404 && status != 405,
                    "{} {path} is documented but answered {status}",
                    method.to_uppercase()
                );
                if document()["paths"].get(&path).is_some() {
                    assert!(
                        documented_statuses(&path, method).contains(&status),
                        "{} {path} answered {status}, which it does not document",
                        method.to_uppercase()
                    );
                }
            } else {
                assert_eq!(
                    status,
                    405,
                    "{} {path} is not documented but answered {status}",
                    method.to_uppercase()
                );
                let allow: BTreeSet<String> = response
                    .headers()
                    .get("allow")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .split(',')
                    .map(|m| m.trim().to_lowercase())
                    .filter(|m| !m.is_empty())
                    .collect();
                assert_eq!(allow, methods, "Allow of {path}");
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"], "method_not_allowed");
            }
        }
    }
}

#[tokio::test]
async fn openapi_json_serves_the_document() {
    let (gateway, _refused) = spawn_gateway().await;
    let response = gateway
        .client
        .get(gateway.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    assert_eq!(response.text().await.unwrap(), document_json());
}

/// Swagger UI at `/docs` and `/docs/`, every asset it loads served from the
/// binary, nothing from a CDN.
#[tokio::test]
async fn docs_serve_swagger_ui_from_the_binary() {
    let (gateway, _refused) = spawn_gateway().await;
    let get = |path: &str| gateway.client.get(gateway.url(path)).send();
    for page in ["/docs", "/docs/"] {
        let response = get(page).await.unwrap();
        assert_eq!(response.status(), 200, "{page}");
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let html = response.text().await.unwrap();
        assert!(html.contains(r#"<div id="swagger-ui">"#), "{page}");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no CDN"
        );
        // `/docs` resolves the page's relative links under `/docs/`.
        assert_eq!(html.contains(r#"<base href="docs/">"#), page == "/docs");
        let mut assets = Vec::new();
        for attribute in ["src=\"", "href=\""] {
            for (i, _) in html.match_indices(attribute) {
                let rest = &html[i + attribute.len()..];
                let target = &rest[..rest.find('"').unwrap()];
                if target != "docs/" {
                    assets.push(target.trim_start_matches("./").to_string());
                }
            }
        }
        for expected in [
            "swagger-ui.css",
            "swagger-ui-bundle.js",
            "swagger-ui-standalone-preset.js",
            "swagger-initializer.js",
        ] {
            assert!(
                assets.iter().any(|a| a == expected),
                "{page} loads {expected}"
            );
        }
        for asset in assets {
            let response = get(&format!("/docs/{asset}")).await.unwrap();
            assert_eq!(response.status(), 200, "/docs/{asset}");
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_string();
            let expected = match asset.rsplit('.').next() {
                Some("js") => "javascript",
                Some("css") => "text/css",
                Some("png") => "image/png",
                _ => "",
            };
            assert!(content_type.contains(expected), "{asset}: {content_type}");
            assert!(!response.bytes().await.unwrap().is_empty(), "{asset}");
        }
    }
    let initializer = get("/docs/swagger-initializer.js")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        initializer.contains(r#""url": "../openapi.json""#),
        "{initializer}"
    );
    assert!(
        initializer.contains(r#""validatorUrl": "none""#),
        "{initializer}"
    );
    // "Try it out" calls the gateway serving the page, not the document's
    // default origin: the plugin that replaces the servers is registered
    // and defined (the browser E2E executes it).
    assert!(
        initializer.contains("plugins: [\n      TryItOutHere,")
            && initializer.contains("function TryItOutHere()")
            && initializer.contains(r#"new URL("..", document.baseURI)"#),
        "{initializer}"
    );

    let missing = get("/docs/no-such-file.js").await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}

#[test]
fn error_body_names_every_code() {
    use login_gateway::error::ApiError;

    let schemas = &document()["components"]["schemas"];
    // `error` is open to codes a newer gateway adds: the known ones as an
    // enum, or any string.
    assert_eq!(
        schemas["ErrorBody"]["properties"]["error"]["anyOf"],
        serde_json::json!([{"$ref": "#/components/schemas/ErrorCode"}, {"type": "string"}])
    );
    let listed: Vec<&str> = schemas["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(listed, error_codes());
    for error in [
        ApiError::invalid_request(""),
        ApiError::unauthorized(""),
        ApiError::not_found(),
        ApiError::method_not_allowed("GET"),
        ApiError::payload_too_large(1),
        ApiError::unsupported_media_type(),
        ApiError::too_many_requests(1),
        ApiError::upstream_error(),
        ApiError::upstream_timeout(),
    ] {
        assert!(
            GATEWAY_ERROR_CODES.contains(&error.code.as_ref()),
            "{} is not in GATEWAY_ERROR_CODES",
            error.code
        );
    }
}

/// The shape rules of the document: ids, tags, summaries, security, and
/// the error responses every operation must carry.
#[test]
fn every_operation_is_fully_described() {
    let tags = ["login", "mfa", "token", "session", "passkey", "operations"];
    let mut operation_ids = BTreeSet::new();
    let error_table: BTreeMap<(&str, &str), &[u16]> = ERROR_RESPONSES
        .iter()
        .map(|(path, method, statuses)| ((*path, *method), *statuses))
        .collect();
    for (path, methods) in documented_operations() {
        for method in methods {
            let operation = &document()["paths"][&path][&method];
            let label = format!("{} {path}", method.to_uppercase());
            let id = operation["operationId"].as_str().unwrap();
            assert!(
                operation_ids.insert(id.to_string()),
                "{label}: duplicate id"
            );
            assert!(
                !operation["summary"].as_str().unwrap_or("").is_empty(),
                "{label}: summary"
            );
            let tag = operation["tags"][0].as_str().unwrap();
            assert!(tags.contains(&tag), "{label}: tag {tag}");
            let responses = operation["responses"].as_object().unwrap();
            let has_body = operation.get("requestBody").is_some();
            let mfa = path.starts_with("/mfa/");
            assert_eq!(tag == "mfa", mfa, "{label}: tag");
            let session = path.starts_with("/session") || path.starts_with("/api/");
            if mfa {
                // The bearer, or in cookie mode the sealed mfa_token.
                assert_eq!(
                    operation["security"],
                    serde_json::json!([{"bearer": []}, {"session_mfa_cookie": []}]),
                    "{label}: security"
                );
                assert!(responses.contains_key("401"), "{label}: 401");
            } else if path.starts_with("/passkey/enroll") {
                // The My Account token: the app's bearer, or the
                // session's (cookie mode, with the CSRF proof).
                assert_eq!(
                    operation["security"],
                    serde_json::json!([{"bearer": []}, {"session_cookie": []}]),
                    "{label}: security"
                );
                for status in ["401", "403"] {
                    assert!(responses.contains_key(status), "{label}: {status}");
                }
            } else if session {
                // Sign-out works without a session too (always 204);
                // Auth0's back-channel call carries no cookie at all.
                let security = if path == "/session/logout" {
                    serde_json::json!([{"session_cookie": []}, {}])
                } else if path == "/session/backchannel-logout" {
                    serde_json::json!([{}])
                } else {
                    serde_json::json!([{"session_cookie": []}])
                };
                assert_eq!(operation["security"], security, "{label}: security");
                assert_eq!(tag, "session", "{label}: tag");
            } else {
                assert_eq!(
                    operation["security"],
                    serde_json::json!([]),
                    "{label}: security"
                );
                assert!(
                    !responses.contains_key("401"),
                    "{label}: 401 without a bearer"
                );
            }
            if path.starts_with("/api/") {
                // A pass-through: whatever body the API takes (413 over the
                // cap), undeclared so generators do not force a type on it.
                assert!(!has_body, "{label}: the API's body is the API's contract");
                assert!(responses.contains_key("413"), "{label}: 413");
            } else if path == "/session/backchannel-logout" {
                // Auth0 posts a form (OIDC Back-Channel Logout §2.5); any
                // other body is 400 (SPEC §12), a broken key set 502.
                assert_eq!(
                    operation["requestBody"]["content"]
                        .as_object()
                        .unwrap()
                        .keys()
                        .collect::<Vec<_>>(),
                    ["application/x-www-form-urlencoded"],
                    "{label}"
                );
                for status in ["400", "404", "413", "429", "502", "503"] {
                    assert!(responses.contains_key(status), "{label}: {status}");
                }
            } else if has_body {
                assert_eq!(
                    operation["requestBody"]["content"]
                        .as_object()
                        .unwrap()
                        .keys()
                        .collect::<Vec<_>>(),
                    ["application/json"],
                    "{label}"
                );
                for status in ["400", "413", "415", "429"] {
                    assert!(responses.contains_key(status), "{label}: {status}");
                }
                // Sign-out always answers 204 whatever Auth0 says; every
                // other body goes to Auth0.
                if path != "/session/logout" {
                    for status in ["502", "504"] {
                        assert!(responses.contains_key(status), "{label}: {status}");
                    }
                }
            } else {
                assert!(
                    !responses.contains_key("413"),
                    "{label}: 413 without a body"
                );
                assert!(
                    !responses.contains_key("415"),
                    "{label}: 415 without a body"
                );
            }
            let documented_errors: Vec<u16> = responses
                .keys()
                .map(|s| s.parse::<u16>().unwrap())
                .filter(|s| *s >= 400)
                .collect();
            match error_table.get(&(path.as_str(), method.as_str())) {
                Some(statuses) => assert_eq!(documented_errors, statuses.to_vec(), "{label}"),
                None => assert!(
                    documented_errors.iter().all(|s| *s == 503) && path == "/readyz"
                        || documented_errors.is_empty(),
                    "{label}: errors outside ERROR_RESPONSES"
                ),
            }
            for (status, response) in responses {
                assert_eq!(
                    response["headers"]["X-Request-Id"]["required"].as_bool(),
                    if response.get("$ref").is_some() {
                        None
                    } else {
                        Some(true)
                    },
                    "{label} {status}: X-Request-Id"
                );
                if let Some(reference) = response.get("$ref").and_then(Value::as_str) {
                    let name = reference.trim_start_matches("#/components/responses/");
                    let component = &document()["components"]["responses"][name];
                    let schema = &component["content"]["application/json"]["schema"];
                    let mfa_required = MFA_REQUIRED_OPERATIONS
                        .contains(&(path.as_str(), method.as_str()))
                        && status == "403";
                    if mfa_required {
                        assert_eq!(
                            schema["oneOf"],
                            serde_json::json!([
                                {"$ref": "#/components/schemas/MfaRequired"},
                                {"$ref": "#/components/schemas/MfaRequiredSealed"},
                                {"$ref": "#/components/schemas/ErrorBody"},
                            ]),
                            "{label} {status}"
                        );
                    } else {
                        assert_eq!(
                            schema["$ref"], "#/components/schemas/ErrorBody",
                            "{label} {status}"
                        );
                    }
                    assert_eq!(component["headers"]["X-Request-Id"]["required"], true);
                }
            }
        }
    }
    let operations = documented_operations();
    for (path, method, _) in ERROR_RESPONSES {
        assert!(
            operations.get(*path).is_some_and(|m| m.contains(*method)),
            "ERROR_RESPONSES names {method} {path}, which is not documented"
        );
    }
    let too_many = &document()["components"]["responses"]["TooManyRequests"]["headers"];
    assert_eq!(too_many["Retry-After"]["required"], true);
    assert_eq!(too_many["RateLimit-Policy"]["required"], false);
    assert_eq!(too_many["RateLimit"]["required"], false);
    assert_eq!(
        document()["components"]["responses"]["Unauthorized"]["headers"]["WWW-Authenticate"]
            ["required"],
        true
    );
    assert_eq!(document()["openapi"], "3.1.0");
    assert_eq!(document()["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(document()["info"]["license"]["identifier"], "Apache-2.0");
    // A usable base URL outside a browser: `{origin}`, the demo's by default.
    let servers = document()["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0]["url"], "{origin}");
    assert_eq!(
        servers[0]["variables"]["origin"]["default"],
        "http://127.0.0.1:8080"
    );
}

/// Every schema in the document, with where it sits.
fn all_schemas<'a>(value: &'a Value, at: String, found: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(map) => {
            if map.contains_key("type") || map.contains_key("oneOf") || map.contains_key("$ref") {
                found.push((at.clone(), value));
            }
            for (key, child) in map {
                all_schemas(child, format!("{at}/{key}"), found);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                all_schemas(child, format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

/// What broke client generators: null-only properties (openapi-generator
/// made `Null` types of them), unnamed or same-titled `oneOf` branches
/// (openapi-python-client dropped an operation). Every union is a `oneOf`
/// of `$ref`s to named, closed object schemas.
#[test]
fn request_unions_are_named_branches_every_generator_reads() {
    let document = document();
    let mut schemas = Vec::new();
    all_schemas(document, String::new(), &mut schemas);
    for (at, schema) in &schemas {
        assert_ne!(schema["type"], "null", "{at}: a null-only schema");
        assert!(
            schema.get("title").is_none(),
            "{at}: titles become type names"
        );
        if let Some(branches) = schema["oneOf"].as_array() {
            for branch in branches {
                let reference = branch["$ref"].as_str();
                assert!(reference.is_some(), "{at}: an unnamed oneOf branch");
            }
        }
    }
    let components = &document["components"]["schemas"];
    let unions = [
        (
            "LoginStartRequest",
            vec![
                "LoginStartByEmail",
                "LoginStartByEmailLink",
                "LoginStartBySms",
            ],
        ),
        (
            "LoginVerifyRequest",
            vec!["LoginVerifyByEmail", "LoginVerifyBySms"],
        ),
        (
            "MfaAssociateRequest",
            vec![
                "MfaAssociateOtp",
                "MfaAssociatePush",
                "MfaAssociateSms",
                "MfaAssociateVoice",
                "MfaAssociateEmail",
            ],
        ),
        (
            "MfaChallengeRequest",
            vec!["MfaChallengeOtp", "MfaChallengeOob"],
        ),
        (
            "MfaVerifyRequest",
            vec![
                "MfaVerifyWithOtp",
                "MfaVerifyWithOobCode",
                "MfaVerifyWithRecoveryCode",
            ],
        ),
    ];
    for (union, branches) in unions {
        let listed: Vec<String> = components[union]["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                b["$ref"]
                    .as_str()
                    .unwrap()
                    .replace("#/components/schemas/", "")
            })
            .collect();
        assert_eq!(listed, branches, "{union}");
        for branch in branches {
            let schema = &components[branch];
            assert_eq!(schema["type"], "object", "{branch}");
            assert_eq!(schema["additionalProperties"], false, "{branch}");
            assert!(
                !schema["required"].as_array().unwrap().is_empty(),
                "{branch}"
            );
        }
    }
    // SPEC §13: an out-of-band challenge names its authenticator.
    assert_eq!(
        components["MfaChallengeOob"]["required"],
        serde_json::json!(["challenge_type", "authenticator_id"])
    );
    assert_eq!(
        components["MfaChallengeOtp"]["required"],
        serde_json::json!(["challenge_type"])
    );
    let discriminator = &components["MfaChallengeRequest"]["discriminator"];
    assert_eq!(discriminator["propertyName"], "challenge_type");
    assert_eq!(
        discriminator["mapping"]["oob"],
        "#/components/schemas/MfaChallengeOob"
    );
    // `factor` tells the associate branches apart: one value per branch.
    let discriminator = &components["MfaAssociateRequest"]["discriminator"];
    assert_eq!(discriminator["propertyName"], "factor");
    let mapping = discriminator["mapping"].as_object().unwrap();
    assert_eq!(mapping.len(), 5);
    for (factor, target) in mapping {
        let name = target
            .as_str()
            .unwrap()
            .replace("#/components/schemas/", "");
        assert_eq!(
            components[&name]["properties"]["factor"]["enum"],
            serde_json::json!([factor]),
            "{name}"
        );
    }
}

/// `403 mfa_required` is a type of its own: constant `error`, required
/// `mfa_token` and `mfa_requirements` with enum factor types.
#[test]
fn mfa_required_is_its_own_schema() {
    let schemas = &document()["components"]["schemas"];
    let mfa_required = &schemas["MfaRequired"];
    assert_eq!(
        mfa_required["properties"]["error"]["enum"],
        serde_json::json!(["mfa_required"])
    );
    assert_eq!(
        mfa_required["required"],
        serde_json::json!([
            "error",
            "error_description",
            "request_id",
            "mfa_token",
            "mfa_requirements"
        ])
    );
    assert_eq!(mfa_required["additionalProperties"], false);
    assert!(mfa_required["properties"]["mfa_token"]["description"]
        .as_str()
        .unwrap()
        .contains("stops working once `POST /mfa/verify` has succeeded"));
    assert!(schemas["ErrorBody"]["properties"]
        .get("mfa_token")
        .is_none());
    assert_eq!(schemas["ErrorBody"]["additionalProperties"], false);
    assert_eq!(
        schemas["MfaFactorType"]["enum"],
        serde_json::json!([
            "otp",
            "phone",
            "email",
            "push-notification",
            "recovery-code"
        ])
    );
    // The value sets a client switches on are enums.
    for (schema, values) in [
        ("AuthenticatorType", vec!["otp", "oob", "recovery-code"]),
        ("OobChannel", vec!["sms", "voice", "email", "auth0"]),
        ("BindingMethod", vec!["prompt"]),
        ("MfaChallengeType", vec!["otp", "oob"]),
    ] {
        assert_eq!(
            schemas[schema]["enum"],
            serde_json::json!(values),
            "{schema}"
        );
    }
    for (schema, property, target) in [
        ("Authenticator", "authenticator_type", "AuthenticatorType"),
        ("Authenticator", "oob_channel", "OobChannel"),
        (
            "MfaAssociateResponse",
            "authenticator_type",
            "AuthenticatorType",
        ),
        ("MfaAssociateResponse", "oob_channel", "OobChannel"),
        ("MfaAssociateResponse", "binding_method", "BindingMethod"),
        ("MfaChallengeResponse", "challenge_type", "MfaChallengeType"),
        ("MfaChallengeResponse", "binding_method", "BindingMethod"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][property]["$ref"],
            format!("#/components/schemas/{target}"),
            "{schema}.{property}"
        );
    }
}

/// A request union's branches forbid each other's fields
/// (`additionalProperties: false`), `null` included: each branch's example
/// with a field only another branch has, set to `null`, is refused with 400
/// before Auth0 is asked (found by schemathesis: `"state": null` on a code
/// start was taken as no state).
#[tokio::test]
async fn a_field_of_another_branch_is_refused_even_as_null() {
    let (gateway, _refused) = spawn_gateway().await;
    let document = document();
    let schemas = &document["components"]["schemas"];
    let resolve = |schema: &Value| match schema["$ref"].as_str() {
        Some(reference) => schemas[reference.trim_start_matches("#/components/schemas/")].clone(),
        None => schema.clone(),
    };
    let mut cases = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        let Some(body) = item["post"]["requestBody"]["content"]["application/json"]["schema"]
            .as_object()
            .map(|schema| resolve(&Value::Object(schema.clone())))
        else {
            continue;
        };
        let Some(branches) = body["oneOf"].as_array() else {
            continue;
        };
        let branches: Vec<Value> = branches.iter().map(resolve).collect();
        let fields = |branch: &Value| -> BTreeSet<String> {
            branch["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect()
        };
        let every_field: BTreeSet<String> = branches.iter().flat_map(fields).collect();
        for branch in &branches {
            let example = &branch["examples"][0];
            for other in every_field.difference(&fields(branch)) {
                let mut probe = example.clone();
                probe[other.as_str()] = Value::Null;
                let response = gateway
                    .client
                    .post(gateway.url(path))
                    .bearer_auth("fake-mfa-token")
                    .json(&probe)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 400, "POST {path} {probe}");
                cases += 1;
            }
        }
    }
    // The unions of /login/start, /login/verify, /mfa/associate, /mfa/verify.
    assert!(cases >= 20, "only {cases} cases: the unions were not found");
}
