//! Liveness and readiness for load balancers and orchestrators.

use std::sync::atomic::Ordering;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::{paths, resource};
use crate::error::ApiError;
use crate::rate_limit::Refusal;
use crate::settings::OnStoreError;
use crate::state::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(paths::HEALTHZ, "GET").route(web::get().to(healthz)))
        .service(resource(paths::READYZ, "GET").route(web::get().to(readyz)));
}

/// Liveness or readiness.
#[derive(Serialize, ToSchema)]
#[schema(as = HealthStatus, examples(json!({"status": "ok"})))]
pub struct Status {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    #[schema(value_type = super::schemas::HealthState)]
    pub status: &'static str,
}

/// Liveness
///
/// 200 while the process serves.
#[utoipa::path(
    get,
    path = paths::HEALTHZ,
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
/// balancers stop sending before the listener closes, and while the shared
/// rate-limit store is down with `rate_limit.redis.on_error = "closed"`
/// (every limited call would be a 503 then; with `local` or `open` the
/// gateway keeps serving and stays ready).
#[utoipa::path(
    get,
    path = paths::READYZ,
    tag = "operations",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Configuration loaded; accepting traffic.", body = Status, example = json!({"status": "ready"})),
    ),
)]
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if !state.ready.load(Ordering::Relaxed) {
        // Every non-2xx answer has the one error shape (SPEC §2).
        return Err(ApiError::shutting_down());
    }
    let closed_and_down = state
        .store
        .as_deref()
        .is_some_and(|store| store.on_error() == OnStoreError::Closed && store.is_down());
    if closed_and_down {
        return Err(ApiError::from(Refusal::StoreUnavailable));
    }
    Ok(HttpResponse::Ok().json(Status { status: "ready" }))
}
