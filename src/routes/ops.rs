//! Liveness and readiness for load balancers and orchestrators.

use std::sync::atomic::Ordering;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::resource;
use crate::error::ApiError;
use crate::startup::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz", "GET").route(web::get().to(healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(readyz)));
}

/// Liveness or readiness.
#[derive(Serialize, ToSchema)]
#[schema(as = HealthStatus, examples(json!({"status": "ok"})))]
pub struct Status {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    #[schema(value_type = crate::openapi::HealthState)]
    pub status: &'static str,
}

/// Liveness
///
/// 200 while the process serves.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    responses(
        (status = 200, description = "The process serves.", body = Status, example = json!({"status": "ok"})),
    ),
)]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// Readiness
///
/// 200 while accepting traffic; 503 as soon as a shutdown begins, so load
/// balancers stop sending before the listener closes.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Configuration loaded; accepting traffic.", body = Status, example = json!({"status": "ready"})),
    ),
)]
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.ready.load(Ordering::Relaxed) {
        Ok(HttpResponse::Ok().json(Status { status: "ready" }))
    } else {
        // Every non-2xx answer has the one error shape (SPEC §2).
        Err(ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the gateway is shutting down; send traffic elsewhere",
        ))
    }
}
