//! The API's own description: `GET /openapi.json` (the OpenAPI 3.1
//! document) and `GET /docs` (Swagger UI, every asset served from the
//! binary: `utoipa-swagger-ui` embeds them at build time, no CDN).

use std::sync::{Arc, OnceLock};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpResponse};

use super::{paths, resource};
use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(paths::OPENAPI_JSON, "GET").route(web::get().to(openapi_json)))
        .service(resource(paths::DOCS, "GET").route(web::get().to(docs_index_no_slash)))
        .service(resource(paths::DOCS_INDEX, "GET").route(web::get().to(docs_index)))
        .service(resource(paths::DOCS_FILE, "GET").route(web::get().to(docs_file)));
}

/// The OpenAPI document
///
/// This document: OpenAPI 3.1, generated from the gateway's code. The same
/// bytes as `login-gateway --print-openapi` and `openapi/openapi.json`.
#[utoipa::path(
    get,
    path = paths::OPENAPI_JSON,
    tag = "operations",
    operation_id = "openapi",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document.", body = Object, content_type = "application/json"),
    ),
)]
async fn openapi_json(document: web::Data<ApiDocument>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(mime::APPLICATION_JSON)
        .body(document.0)
}

/// The document `GET /openapi.json` serves. `startup` hands it over, so the
/// routes never depend on the module that assembles it from them.
pub struct ApiDocument(pub &'static str);

/// Swagger UI's configuration: the document one level up, relative so the
/// page also works behind a path prefix; no calls to the public validator.
fn swagger_config() -> Arc<utoipa_swagger_ui::Config<'static>> {
    static CONFIG: OnceLock<Arc<utoipa_swagger_ui::Config<'static>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            Arc::new(
                utoipa_swagger_ui::Config::new(["../openapi.json"])
                    .validator_url("none")
                    .try_it_out_enabled(true)
                    .persist_authorization(false),
            )
        })
        .clone()
}

/// `/docs/`: the Swagger UI page.
async fn docs_index() -> Result<HttpResponse, ApiError> {
    serve_asset("index.html", None)
}

/// The document's one server is `{origin}` with the demo's URL as its
/// default, for generated clients. In Swagger UI "Try it out" must call the
/// gateway that serves the page, on any port, host or path prefix. Setting
/// the variable after load is not enough: each operation's own Servers
/// block keeps the default (swagger-ui #10111). So a plugin replaces the
/// servers before Swagger UI reads the document: one server, the page's own
/// base (`/docs/`'s parent, so a path prefix is kept), no variable.
const TRY_IT_OUT_HERE: &str = r#"
// login-gateway: "Try it out" calls the gateway that serves this page.
function TryItOutHere() {
  const here = new URL("..", document.baseURI).href.replace(/\/$/, "");
  const servers = [{ url: here, description: "This gateway (the one serving this page)" }];
  return {
    statePlugins: {
      spec: {
        wrapActions: {
          updateSpec: (updateSpec) => (spec) => {
            let parsed;
            try {
              parsed = JSON.parse(spec);
            } catch {
              return updateSpec(spec);
            }
            parsed.servers = servers;
            return updateSpec(JSON.stringify(parsed));
          },
        },
      },
    },
  };
}
"#;

fn with_origin_hook(initializer: &str) -> String {
    let mut script = initializer.replacen("plugins: [", "plugins: [\n      TryItOutHere,", 1);
    script.push_str(TRY_IT_OUT_HERE);
    script
}

/// `/docs`: the same page; `<base href="docs/">` makes its relative asset
/// links resolve under `/docs/` without a redirect.
async fn docs_index_no_slash() -> Result<HttpResponse, ApiError> {
    serve_asset("index.html", Some(with_base))
}

fn with_base(html: &str) -> String {
    html.replacen("<head>", "<head>\n    <base href=\"docs/\">", 1)
}

/// `/docs/{file}`: Swagger UI's scripts, styles and images. They only
/// change with the binary, so browsers may keep them for an hour.
async fn docs_file(file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let edit = (file.as_str() == "swagger-initializer.js").then_some(with_origin_hook as Edit);
    let mut response = serve_asset(&file, edit)?;
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Ok(response)
}

/// A change to a text asset before it is served.
type Edit = fn(&str) -> String;

fn serve_asset(file: &str, edit: Option<Edit>) -> Result<HttpResponse, ApiError> {
    let asset = utoipa_swagger_ui::serve(file, swagger_config())
        .ok()
        .flatten()
        .ok_or_else(ApiError::not_found)?;
    let mut response = HttpResponse::Ok();
    if let Ok(content_type) = HeaderValue::from_str(&asset.content_type) {
        response.insert_header((header::CONTENT_TYPE, content_type));
    }
    match edit {
        Some(edit) => Ok(response.body(edit(&String::from_utf8_lossy(&asset.bytes)))),
        None => Ok(response.body(asset.bytes.into_owned())),
    }
}
