//! Response headers every operation shares: `X-Request-Id` on every
//! response, and the `required` flag on each documented header, which
//! utoipa's `Header` cannot express and so is added to the JSON.

use serde_json::{json, Value};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::RefOr;
use utoipa::Modify;

use crate::routes::schemas::string_schema;

/// `X-Request-Id` on every response, success and error alike; and an
/// explicit `security: []` on the operations that need no credentials.
pub(super) struct RequestIdHeader;

impl Modify for RequestIdHeader {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let header = || {
            HeaderBuilder::new()
                .schema(
                    string_schema()
                        .pattern(Some(r"^[\x21-\x7E]{1,128}$"))
                        .examples(["3f2a9c81d0e4-0000002a"]),
                )
                .description(Some(
                    "The request id: the client's `X-Request-Id` when it sent one of at most \
                     128 visible ASCII characters, else a new one. Also in error bodies and logs.",
                ))
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.patch.as_mut(),
                item.delete.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                operation.security.get_or_insert_with(Vec::new);
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response.headers.insert("X-Request-Id".into(), header());
                    }
                }
            }
        }
        if let Some(components) = openapi.components.as_mut() {
            for response in components.responses.values_mut() {
                if let RefOr::T(response) = response {
                    response.headers.insert("X-Request-Id".into(), header());
                }
            }
        }
    }
}

/// Whether a documented response header is always sent. utoipa's `Header`
/// has no `required`, so the flag is added to the JSON.
fn header_required(name: &str, status: &str) -> bool {
    match name {
        // Only the gateway's own limits name a policy.
        "RateLimit-Policy" | "RateLimit" => false,
        // On a 403 only with `mfa_required`.
        "Cache-Control" | "Pragma" => !status.starts_with('4'),
        _ => true,
    }
}

/// Adds `required` to every response header, as [`header_required`] says.
pub(super) fn mark_required_headers(document: &mut Value) {
    let mark = |status: &str, response: &mut Value| {
        if let Some(headers) = response.get_mut("headers").and_then(Value::as_object_mut) {
            for (name, header) in headers.iter_mut() {
                if let Some(header) = header.as_object_mut() {
                    header.insert("required".into(), json!(header_required(name, status)));
                }
            }
        }
    };
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in item.values_mut() {
                let Some(responses) = operation
                    .get_mut("responses")
                    .and_then(Value::as_object_mut)
                else {
                    continue;
                };
                for (status, response) in responses.iter_mut() {
                    mark(status, response);
                }
            }
        }
    }
    if let Some(responses) = document
        .pointer_mut("/components/responses")
        .and_then(Value::as_object_mut)
    {
        for (name, response) in responses.iter_mut() {
            let status = match name.as_str() {
                "Forbidden" => "403",
                "TooManyRequests" => "429",
                _ => "4xx",
            };
            mark(status, response);
        }
    }
}
