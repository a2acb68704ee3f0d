//! The one way a client's request body is read (SPEC §1): strict media
//! type, a size cap checked while reading, a deadline from the end of the
//! head to the end of the body, and parse errors that name the field and the
//! rule, never the value the client sent. What no handler read is dropped
//! here too, under the same limits ([`BodyDeadline`], SPEC §13).
//!
//! `Content-Encoding` is refused earlier, by the front door, so nothing here
//! ever inflates a body. actix's own `web::Json` is not used: it accepts
//! `text/json` and any `+json` type, has no body deadline, and its
//! deserialisation errors quote the client's values.

use std::cell::RefCell;
use std::future::{ready, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::error::{InternalError, PayloadError};
use actix_web::http::{header, ConnectionType};
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::error::ApiError;

/// Size cap and deadline for request bodies; app data set by `startup`.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    pub max_bytes: usize,
    /// From the end of the request head to the last body byte.
    pub timeout: Duration,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            max_bytes: 16 * 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

/// A JSON request body, read under [`BodyLimits`] and deserialised into `T`.
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for JsonBody<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let media_type_ok = is_json_media_type(req);
        let body = read_limited(req, payload);
        Box::pin(async move {
            // Refused before a byte of the body is read.
            if !media_type_ok {
                return Err(ApiError::unsupported_media_type());
            }
            parse(&body.await?).map(JsonBody)
        })
    }
}

/// A JSON body a route may also be sent without: none, or an empty one, is
/// `T::default()`; anything else is read exactly as [`JsonBody`] reads
/// (`application/json` or `415`, the same caps and deadline, `400` on an
/// unknown field). `POST /session/logout` takes one.
pub struct OptionalJsonBody<T>(pub T);

impl<T> OptionalJsonBody<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + Default + 'static> FromRequest for OptionalJsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let media_type_ok = is_json_media_type(req);
        let body = read_limited(req, payload);
        Box::pin(async move {
            let body = body.await?;
            if body.is_empty() {
                return Ok(OptionalJsonBody(T::default()));
            }
            if !media_type_ok {
                return Err(ApiError::unsupported_media_type());
            }
            parse(&body).map(OptionalJsonBody)
        })
    }
}

/// The body under [`BodyLimits`]: `413` when the announced or the read
/// length is over the cap, `408` when it is not all there in time. Nothing
/// is read until the future is polled.
fn read_limited(
    req: &HttpRequest,
    payload: &mut Payload,
) -> LocalBoxFuture<'static, Result<Vec<u8>, ApiError>> {
    let limits = req.app_data::<BodyLimits>().copied().unwrap_or_default();
    let declared_length = declared_length(req);
    let payload = payload.take();
    Box::pin(async move {
        if declared_length.is_some_and(|length| length > limits.max_bytes) {
            return Err(ApiError::payload_too_large(limits.max_bytes));
        }
        tokio::time::timeout(limits.timeout, read_capped(payload, limits.max_bytes))
            .await
            .map_err(|_| ApiError::request_timeout())?
    })
}

/// A request body of any type, read under [`BodyLimits`] and not parsed:
/// what `/api/{name}/…` passes on to an API (SPEC §10).
pub struct RawBody(pub actix_web::web::Bytes);

impl FromRequest for RawBody {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_limited(req, payload);
        Box::pin(async move { Ok(RawBody(body.await?.into())) })
    }
}

/// The `Content-Length` the client announced, if it is a number.
fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
}

/// `application/json`, with or without parameters (`charset=utf-8`); not
/// `text/json`, not `application/problem+json`, not a missing header.
fn is_json_media_type(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// How long a refused call's body may take to arrive before its connection
/// is closed instead: a client's small JSON body comes with the head.
const DISCARD_DEADLINE: Duration = Duration::from_millis(250);

/// Reads and drops the body of a call answered without it (a refusal), so
/// the connection can serve the client's next request: actix closes a
/// connection whose body was left unread. Nothing is copied or parsed.
/// `false` when the body is over `max_bytes` (declared or seen), fails, or
/// is not all there within [`DISCARD_DEADLINE`]: then the caller closes the
/// connection rather than wait for it.
pub async fn discard(req: &HttpRequest, mut payload: Payload) -> bool {
    let limits = req.app_data::<BodyLimits>().copied().unwrap_or_default();
    if declared_length(req).is_some_and(|length| length > limits.max_bytes) {
        return false;
    }
    let deadline = Instant::now() + DISCARD_DEADLINE.min(limits.timeout);
    drain(&mut payload, limits.max_bytes, deadline).await
}

/// Reads `payload` to its end and drops it: `false` when it passes
/// `budget` bytes, fails, or has not ended by `deadline`.
async fn drain<P>(payload: &mut P, budget: usize, deadline: Instant) -> bool
where
    P: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    let read = async {
        let mut seen = 0usize;
        while let Some(chunk) = payload.next().await {
            let Ok(chunk) = chunk else { return false };
            seen += chunk.len();
            if seen > budget {
                return false;
            }
        }
        true
    };
    tokio::time::timeout_at(deadline, read)
        .await
        .unwrap_or(false)
}

/// The one decision for a body no handler read to its end (SPEC §13 "No
/// body without a deadline"): a route that reads none (`/healthz`, a 404,
/// a 405, `/docs`), an answer given before the body (a refusal, the front
/// door's 415), a handler that stopped at 408 or 413. Once the answer is
/// ready, what is left is read and dropped under the same
/// [`BodyLimits`] as any body, counted from the end of the head; past
/// either limit the answer says `Connection: close` and actix closes the
/// connection after writing it.
///
/// Without this, actix 3.20 keeps reading a chunked body whose reader is
/// gone, with no deadline, so one stalled connection per descriptor
/// exhausted the process. A body that ends in time keeps the connection.
pub struct BodyDeadline {
    limits: BodyLimits,
}

impl BodyDeadline {
    pub fn new(limits: BodyLimits) -> Self {
        Self { limits }
    }
}

impl<S> Transform<S, ServiceRequest> for BodyDeadline
where
    S: Service<ServiceRequest, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>
        + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Transform = BodyDeadlineService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(BodyDeadlineService {
            service: Rc::new(service),
            limits: self.limits,
        }))
    }
}

pub struct BodyDeadlineService<S> {
    service: Rc<S>,
    limits: BodyLimits,
}

impl<S> Service<ServiceRequest> for BodyDeadlineService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>
        + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let payload = req.take_payload();
        if matches!(payload, Payload::None) {
            // No body announced: nothing to wait for.
            return Box::pin(self.service.call(req));
        }
        let deadline = Instant::now() + self.limits.timeout;
        let max_bytes = self.limits.max_bytes;
        let declared_over = declared_length(req.request()).is_some_and(|length| length > max_bytes);
        let body = Rc::new(RefCell::new(WatchedBody {
            payload,
            seen: 0,
            ended: false,
        }));
        req.set_payload(Payload::Stream {
            payload: Box::pin(Watched(body.clone())),
        });
        let service = self.service.clone();
        Box::pin(async move {
            let outcome = service.call(req).await;
            let (ended, seen) = {
                let body = body.borrow();
                (body.ended, body.seen)
            };
            let closing = match &outcome {
                Ok(answer) => answer.response().head().connection_type() == ConnectionType::Close,
                Err(_) => false,
            };
            let keep_alive = ended
                || (!closing
                    && !declared_over
                    && drain(
                        &mut Watched(body.clone()),
                        max_bytes.saturating_sub(seen),
                        deadline,
                    )
                    .await);
            if keep_alive {
                return outcome;
            }
            match outcome {
                Ok(answer) => Ok(answer.map_body(|head, answer_body| {
                    head.set_connection_type(ConnectionType::Close);
                    BoxBody::new(HoldingBody {
                        answer_body,
                        _body: body,
                    })
                })),
                Err(error) => {
                    let mut answer = error.error_response();
                    answer.head_mut().set_connection_type(ConnectionType::Close);
                    let answer = answer.map_body(|_, answer_body| {
                        BoxBody::new(HoldingBody {
                            answer_body,
                            _body: body,
                        })
                    });
                    Err(InternalError::from_response(error, answer).into())
                }
            }
        })
    }
}

/// The request body as the handler reads it, and what it has read so far.
struct WatchedBody {
    payload: Payload,
    seen: usize,
    ended: bool,
}

/// The handler's view of a [`WatchedBody`]; the middleware keeps its own.
/// The borrow lasts one `poll_next` on one thread, so two views never
/// overlap.
struct Watched(Rc<RefCell<WatchedBody>>);

impl Stream for Watched {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut body = self.0.borrow_mut();
        let next = Pin::new(&mut body.payload).poll_next(cx);
        match &next {
            Poll::Ready(Some(Ok(chunk))) => body.seen = body.seen.saturating_add(chunk.len()),
            Poll::Ready(None) => body.ended = true,
            _ => {}
        }
        next
    }
}

/// An answer's body that keeps the unread request body alive until it is
/// written: actix decides at that moment whether the request body was
/// left unread (then it closes the connection, after a short lingering
/// read so the answer is not lost to a reset) or was dropped (then it
/// would read on with no deadline).
struct HoldingBody {
    answer_body: BoxBody,
    _body: Rc<RefCell<WatchedBody>>,
}

impl MessageBody for HoldingBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.answer_body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.answer_body).poll_next(cx)
    }
}

/// Reads the whole body, refusing it as soon as it passes `max_bytes`.
async fn read_capped(mut payload: Payload, max_bytes: usize) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|_| ApiError::invalid_request("request body could not be read"))?;
        if body.len() + chunk.len() > max_bytes {
            return Err(ApiError::payload_too_large(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Deserialises, turning serde's message into one that names the field and
/// the rule it broke.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde reads a struct from an array of its fields in order too (and
    // `{}`'s empty struct from `[]`); every body is an object (SPEC §1).
    let first = bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first.is_some_and(|b| *b != b'{') {
        return Err(ApiError::invalid_request(
            "the request body must be a JSON object",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| ApiError::invalid_request(describe(&error, "")))?;
    deserializer
        .end()
        .map_err(|_| ApiError::invalid_request("request body is not valid JSON"))?;
    Ok(value)
}

/// For a field the document does not mark nullable: `null` is refused, not
/// read as absent (`"phone_number": null` beside an `email` is invalid).
pub fn not_null<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    <String as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// For a nullable field only some branches of a body have: `Some` when it is
/// there, `null` too, so a branch without it refuses it. Both with
/// `#[serde(default, deserialize_with = "…")]`.
pub fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    <Option<String> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// [`parse`] for a part of a body that was read as JSON and is kept as it
/// came (a WebAuthn credential goes to Auth0 unchanged): the same
/// value-free descriptions, each naming its place under `field`.
pub fn parse_part<T: DeserializeOwned>(
    field: &str,
    value: &serde_json::Value,
) -> Result<T, ApiError> {
    require_object(field, value)?;
    serde_path_to_error::deserialize(value)
        .map_err(|error| ApiError::invalid_request(describe(&error, field)))
}

/// A part kept as it came must be the object its type reads: serde would
/// also read a struct from an array of its fields, which would then travel
/// on as an array.
pub fn require_object(field: &str, value: &serde_json::Value) -> Result<(), ApiError> {
    if value.is_array() {
        return Err(ApiError::invalid_request(format!(
            "{field} must be a JSON object"
        )));
    }
    Ok(())
}

/// Fields that only the gateway sets (SPEC §6); naming them gives the client
/// a clearer answer than "unknown field".
const GATEWAY_OWNED_FIELDS: &[&str] = &[
    "client_id",
    "client_secret",
    "grant_type",
    "connection",
    "realm",
    "mfa_token",
    "redirect_uri",
];

/// Longest unknown field name the answer repeats; longer ones, or ones with
/// other characters than a field name has, are not repeated at all.
const MAX_NAMED_FIELD: usize = 64;

/// serde's message rebuilt from its parts that come from our own types
/// (field names, expected types, allowed variants); the part that describes
/// the client's value is dropped. `within`: where in the body the value
/// deserialised sits (empty for the whole body).
fn describe(error: &serde_path_to_error::Error<serde_json::Error>, within: &str) -> String {
    let inner = error.inner();
    if matches!(
        inner.classify(),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof
    ) {
        return "request body is not valid JSON".to_string();
    }
    let message = inner.to_string();
    let message = message.split(" at line ").next().unwrap_or("");
    let path = error.path().to_string();
    let subject = match (within, path.as_str()) {
        ("", ".") => "request body".to_string(),
        ("", path) => path.to_string(),
        (within, ".") => within.to_string(),
        (within, path) => format!("{within}.{path}"),
    };
    // Inside a part, say where: the part's own field names repeat
    // (`id` of the body, `id` of a credential).
    let place = |rule: String| {
        if within.is_empty() {
            rule
        } else {
            format!("{subject}: {rule}")
        }
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or("");
        // The path ends at the unknown key itself: name the object it is in.
        let in_object = subject
            .strip_suffix(field)
            .and_then(|parent| parent.strip_suffix('.'))
            .unwrap_or(&subject)
            .to_string();
        let place = |rule: String| {
            if within.is_empty() {
                rule
            } else {
                format!("{in_object}: {rule}")
            }
        };
        if GATEWAY_OWNED_FIELDS.contains(&field) {
            return place(format!("{field} is set by the gateway and may not be sent"));
        }
        let plain = !field.is_empty()
            && field.len() <= MAX_NAMED_FIELD
            && field
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        return place(if plain {
            format!("unknown field {field}")
        } else {
            "unknown field".to_string()
        });
    }
    if message.starts_with("missing field `") {
        return place(message.to_string());
    }
    // "invalid type: integer `42`, expected a string": keep "expected …",
    // which our type wrote, and drop the value.
    match message.rsplit_once(", expected ") {
        Some((_, expected)) if message.starts_with("unknown variant") => {
            format!("{subject} must be one of {expected}")
        }
        Some((_, expected)) => format!("{subject}: expected {expected}"),
        None => format!("{subject} is invalid"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        email: String,
        #[serde(default)]
        send: Option<Kind>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Code,
    }

    fn describe_json(json: &str) -> String {
        match parse::<Probe>(json.as_bytes()) {
            Ok(_) => "ok".to_string(),
            Err(e) => e.description.to_string(),
        }
    }

    #[test]
    fn errors_name_the_field_and_rule_never_the_value() {
        #[rustfmt::skip]
        let cases = [
            ("{", "request body is not valid JSON"),
            (r#"{"email":"a@b.c"} trailing"#, "request body is not valid JSON"),
            (r#"{"email":"a@b.c","client_secret":"x"}"#, "client_secret is set by the gateway and may not be sent"),
            (r#"{"email":"a@b.c","nope":1}"#, "unknown field nope"),
            (r#"{"email":"a@b.c","has space 918273645":1}"#, "unknown field"),
            (r#"{}"#, "missing field `email`"),
            (r#"{"email":918273645}"#, "email: expected a string"),
            (r#"{"email":"a@b.c","send":"918273645"}"#, "send must be one of `code`"),
            (r#"[918273645]"#, "the request body must be a JSON object"),
            (r#"["a@b.c"]"#, "the request body must be a JSON object"),
            (r#""918273645""#, "the request body must be a JSON object"),
        ];
        for (json, expected) in cases {
            let described = describe_json(json);
            assert_eq!(described, expected, "{json}");
            assert!(!described.contains("918273645"), "{described}");
        }
    }
}
