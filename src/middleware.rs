//! The front door every request passes: request id, client IP, CORS, the
//! security headers every answer carries, one log event and the request
//! metrics. One middleware instead of several keeps the per-request cost to
//! one allocation-light pass.
//!
//! Logging is one JSON line per request, written when the answer is ready:
//! `request_id`, `method`, `route` (template), `status`, `latency_ms`,
//! `client_ip`, and the masked `identifier` when a handler noted one. A
//! per-request span would cost a formatted copy of its fields on every
//! request for the rare events logged inside it; those events (upstream
//! faults) carry `request_id` themselves.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::time::Instant;

use actix_web::body::BoxBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpMessage, ResponseError};

use crate::client_ip::{ClientIp, ClientIpConfig};
use crate::cors::Cors;
use crate::error::ApiError;
use crate::request_id;
use crate::routes::ROUTES;
use crate::telemetry::LoggedIdentifier;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

pub struct FrontDoor {
    client_ip: Rc<ClientIpConfig>,
    cors: Rc<Cors>,
}

impl FrontDoor {
    pub fn new(client_ip: ClientIpConfig, cors: Cors) -> Self {
        Self {
            client_ip: Rc::new(client_ip),
            cors: Rc::new(cors),
        }
    }
}

impl<S> Transform<S, ServiceRequest> for FrontDoor
where
    S: Service<ServiceRequest, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>
        + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Transform = FrontDoorService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(FrontDoorService {
            service: Rc::new(service),
            client_ip: self.client_ip.clone(),
            cors: self.cors.clone(),
        }))
    }
}

pub struct FrontDoorService<S> {
    service: Rc<S>,
    client_ip: Rc<ClientIpConfig>,
    cors: Rc<Cors>,
}

impl<S> Service<ServiceRequest> for FrontDoorService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>
        + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let request_id = req
            .headers()
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| request_id::is_sane(v))
            .map(str::to_string)
            .unwrap_or_else(request_id::generate);
        let client_ip = self.client_ip.resolve_request(req.request());
        req.extensions_mut().insert(ClientIp(client_ip));
        let service = self.service.clone();
        let header_id = HeaderValue::from_str(&request_id).ok();
        let method = req.method().clone();
        let cors_origin = self.cors.allowed_origin(req.headers());
        let credentials = self.cors.credentials();
        let preflight = cors_origin.is_some() && Cors::is_preflight(req.method(), req.headers());
        let encoded_body = has_content_encoding(req.headers());
        let encoded_path = crate::routes::encoded_fixed_segment(req.path());
        Box::pin(async move {
            let mut response = match (&cors_origin, preflight) {
                (Some(origin), true) => {
                    req.into_response(Cors::preflight(origin.clone(), credentials))
                }
                // Refused before anything reads the body: the gateway never
                // inflates what a client sends (a 16 KB gzip body can be
                // 16 MiB inflated).
                _ if encoded_body => {
                    let answer = request_id::scope(request_id.clone(), async {
                        ApiError::content_encoding().error_response()
                    })
                    .await;
                    req.into_response(answer)
                }
                // One reading of the path for every rule (SPEC §13): a
                // fixed segment spelled with percent-escapes never reaches
                // the router, which would decode it.
                _ if encoded_path => {
                    let error = ApiError::invalid_request(
                        "the path must not percent-encode a character of a fixed segment",
                    );
                    request_id::scope(request_id.clone(), crate::routes::refuse(req, error)).await
                }
                // Handlers, extractors and the 404/405 defaults all turn
                // their errors into responses inside this scope, so error
                // bodies carry the request id. (Holding a clone of the
                // request here is not possible: routing needs it unshared.)
                _ => request_id::scope(request_id.clone(), service.call(req)).await?,
            };
            let route = route_label(response.request());
            let status = response.status();
            let headers = response.headers_mut();
            if let Some(id) = header_id {
                headers.insert(HeaderName::from_static(REQUEST_ID_HEADER), id);
            }
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            headers.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            if !headers.contains_key(header::CACHE_CONTROL) {
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            if let (Some(origin), false) = (cors_origin, preflight) {
                Cors::decorate(headers, origin, credentials);
            }
            let elapsed = started.elapsed();
            crate::metrics::record_request(route, status.as_u16(), elapsed);
            let extensions = response.request().extensions();
            let identifier = extensions
                .get::<LoggedIdentifier>()
                .map(LoggedIdentifier::as_str);
            tracing::info!(
                request_id = request_id.as_str(),
                method = method.as_str(),
                route,
                status = status.as_u16(),
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                client_ip = %client_ip,
                identifier,
                "request completed"
            );
            drop(extensions);
            Ok(response)
        })
    }
}

/// Whether the request declares a `Content-Encoding` other than `identity`.
fn has_content_encoding(headers: &header::HeaderMap) -> bool {
    headers.get_all(header::CONTENT_ENCODING).any(|value| {
        value.to_str().map_or(true, |text| {
            text.split(',')
                .map(str::trim)
                .any(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("identity"))
        })
    })
}

/// The route template of a matched request, or `unmatched`: label
/// cardinality stays bounded whatever paths clients invent. Resources are
/// named by their template (`routes::resource`).
fn route_label(req: &actix_web::HttpRequest) -> &'static str {
    req.match_name()
        .and_then(|name| ROUTES.iter().find(|r| **r == name).copied())
        .unwrap_or("unmatched")
}
