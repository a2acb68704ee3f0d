//! Liveness and readiness for load balancers and orchestrators.

use std::sync::atomic::Ordering;

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::resource;
use crate::startup::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz", "GET").route(web::get().to(healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(readyz)))
        .service(resource("/metrics", "GET").route(web::get().to(metrics)));
}

#[derive(Serialize)]
pub struct Status {
    pub status: &'static str,
}

/// 200 while the process serves.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Status { status: "ok" })
}

/// 200 while accepting traffic; 503 as soon as a shutdown begins, so load
/// balancers stop sending before the listener closes.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.ready.load(Ordering::Relaxed) {
        HttpResponse::Ok().json(Status { status: "ready" })
    } else {
        HttpResponse::ServiceUnavailable().json(Status {
            status: "shutting_down",
        })
    }
}

/// Prometheus text format. Limiter sizes are read now so the gauges are
/// current at every scrape, not only after the last prune.
async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    for policy in state.limits.policies() {
        crate::metrics::record_limiter_keys(policy.name(), policy.len());
    }
    let body = state
        .metrics
        .as_ref()
        .map(|handle| handle.render())
        .unwrap_or_default();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body)
}
