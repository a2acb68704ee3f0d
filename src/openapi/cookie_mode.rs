//! Edits to the generated JSON for what utoipa's attributes cannot say:
//! cookie mode (SPEC §10) on the login-completing calls and `/mfa/*`, the
//! `LoginAnswer` union, the request bodies that may be left out, and one
//! operation id per method of the `/api` proxy.

use serde_json::{json, Value};

/// The operations that complete a login and so answer a `SessionInfo` and
/// the session cookie instead of tokens when sent `X-Lgw-Session: 1`.
const LOGIN_COMPLETING_OPERATIONS: &[(&str, &str)] = &[
    ("/login/verify", "post"),
    ("/login/callback", "post"),
    ("/mfa/verify", "post"),
    ("/passkey/verify", "post"),
];

/// Cookie mode (SPEC §10) where utoipa's attributes cannot say it: the
/// login-completing calls take the optional `X-Lgw-Session` header and
/// answer `oneOf` tokens / `SessionInfo`; `/mfa/*` accept the bearer or the
/// sealed mfa cookie.
pub(super) fn document_cookie_mode(document: &mut Value) {
    for (route, method) in LOGIN_COMPLETING_OPERATIONS {
        let pointer = format!("/paths/{}/{method}", route.replace('/', "~1"));
        let Some(operation) = document.pointer_mut(&pointer) else {
            continue;
        };
        let header = json!({
            "name": "X-Lgw-Session",
            "in": "header",
            "required": false,
            "description": "`1`: cookie mode (SPEC §10, with `session.enabled`). The 200 is then a \
                `SessionInfo` and a `Set-Cookie` of the sealed session instead of tokens, and a \
                `403 mfa_required` leaves the `mfa_token` out of its body and seals it into the \
                `__Host-lgw-mfa` cookie. Ignored while sessions are off.",
            "schema": {"type": "string", "enum": ["1"]},
        });
        if let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        {
            parameters.push(header);
        } else if let Some(map) = operation.as_object_mut() {
            map.insert("parameters".into(), json!([header]));
        }
        if let Some(ok) = operation.pointer_mut("/responses/200") {
            if let Some(schema) = ok.pointer_mut("/content/application~1json/schema") {
                *schema = json!({"$ref": "#/components/schemas/LoginAnswer"});
            }
            if let Some(headers) = ok.get_mut("headers").and_then(Value::as_object_mut) {
                headers.insert(
                    "Set-Cookie".into(),
                    json!({
                        "description": "Cookie mode: the sealed session (`HttpOnly; Secure; \
                            SameSite=Strict; Path=/`), chunked as `name.0`, `name.1`, … past 4000 bytes.",
                        "schema": {"type": "string"},
                    }),
                );
            }
        }
    }
    // Sign-out, the passkey challenge and starting a passkey enrollment
    // take a body or none (utoipa makes a body optional only as
    // `Option<T>`, whose schema would be a nullable union).
    for route in [
        "~1session~1logout",
        "~1passkey~1challenge",
        "~1passkey~1enroll",
    ] {
        if let Some(body) = document
            .pointer_mut(&format!("/paths/{route}/post/requestBody"))
            .and_then(Value::as_object_mut)
        {
            body.insert("required".into(), Value::Bool(false));
        }
    }
    // Named, so generators call the union by its name, not after one of
    // its operations.
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.insert(
            "LoginAnswer".into(),
            json!({
                "description": "What a login-completing call answers: the tokens (`TokenSet`), \
                    or, sent with `X-Lgw-Session: 1` while cookie sessions are on, a \
                    `SessionInfo` (the tokens stay in the sealed cookie). Tell them apart by \
                    `access_token`.",
                "oneOf": [
                    {"$ref": "#/components/schemas/TokenSet"},
                    {"$ref": "#/components/schemas/SessionInfo"},
                ],
            }),
        );
    }
    // One handler serves every method of `/api/{name}/{rest}`; each
    // operation gets its own id (`apiProxyGet`, …).
    if let Some(item) = document
        .pointer_mut("/paths/~1api~1{name}~1{rest}")
        .and_then(Value::as_object_mut)
    {
        for (method, operation) in item.iter_mut() {
            let mut id = String::from("apiProxy");
            let mut letters = method.chars();
            id.extend(letters.next().map(|c| c.to_ascii_uppercase()));
            id.push_str(letters.as_str());
            if let Some(map) = operation.as_object_mut() {
                map.insert("operationId".into(), json!(id));
            }
        }
    }
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        for (route, item) in paths.iter_mut() {
            if !route.starts_with("/mfa/") {
                continue;
            }
            for operation in item
                .as_object_mut()
                .into_iter()
                .flat_map(|m| m.values_mut())
            {
                if let Some(security) = operation.get_mut("security").and_then(Value::as_array_mut)
                {
                    if security.iter().any(|s| s.get("bearer").is_some()) {
                        security.push(json!({"session_mfa_cookie": []}));
                    }
                }
            }
        }
    }
}
