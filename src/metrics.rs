//! Prometheus metrics. Label values are route templates, endpoint names,
//! outcomes, status codes and policy names only: never a path, an address,
//! an identifier or a token, so cardinality stays bounded.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds: the gateway's own work is sub-millisecond,
/// Auth0 answers in tens to hundreds of milliseconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once; later calls return the same
/// handle (tests start many applications in one process).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(LATENCY_BUCKETS).ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(error) => {
                    tracing::warn!(error = %error, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

/// The metrics listener's app (`server.metrics_bind`): `GET /metrics` and
/// nothing else, never on the public port, so an attacker cannot read which
/// limits are biting.
pub fn configure_listener(cfg: &mut actix_web::web::ServiceConfig) {
    use actix_web::{web, HttpResponse};
    cfg.route(
        "/metrics",
        web::get().to(|handle: web::Data<Option<PrometheusHandle>>| async move {
            let body = handle.as_ref().as_ref().map(PrometheusHandle::render);
            HttpResponse::Ok()
                .content_type("text/plain; version=0.0.4; charset=utf-8")
                .body(body.unwrap_or_default())
        }),
    );
}

/// Per-thread caches of metric handles. Registering a handle builds a label
/// set and looks it up in the recorder's registry: cheap once, but visible
/// in the profile when done four times per request. The label values are all
/// `&'static str`, so each cache holds at most (routes × statuses) entries.
struct Handles {
    counters: HashMap<(&'static str, &'static str, &'static str), Counter>,
    histograms: HashMap<(&'static str, &'static str), Histogram>,
}

thread_local! {
    static HANDLES: RefCell<Handles> = RefCell::new(Handles {
        counters: HashMap::new(),
        histograms: HashMap::new(),
    });
}

/// One or two labels (the cache key holds their values).
fn count(name: &'static str, labels: &[(&'static str, &'static str)]) {
    let value = |i: usize| labels.get(i).map_or("", |label| label.1);
    HANDLES.with_borrow_mut(|handles| {
        handles
            .counters
            .entry((name, value(0), value(1)))
            .or_insert_with(|| metrics::counter!(name, labels))
            .increment(1)
    });
}

fn observe(name: &'static str, label: (&'static str, &'static str), seconds: f64) {
    HANDLES.with_borrow_mut(|handles| {
        handles
            .histograms
            .entry((name, label.1))
            .or_insert_with(|| metrics::histogram!(name, &[label]))
            .record(seconds)
    });
}

pub fn record_upstream(endpoint: &'static str, outcome: &'static str, elapsed: Duration) {
    count(
        "gateway_upstream_requests_total",
        &[("endpoint", endpoint), ("outcome", outcome)],
    );
    observe(
        "gateway_upstream_duration_seconds",
        ("endpoint", endpoint),
        elapsed.as_secs_f64(),
    );
}

pub fn record_request(route: &'static str, status: u16, elapsed: Duration) {
    count(
        "gateway_http_requests_total",
        &[("route", route), ("status", status_label(status))],
    );
    observe(
        "gateway_http_request_duration_seconds",
        ("route", route),
        elapsed.as_secs_f64(),
    );
}

pub fn record_rejection(policy: &'static str) {
    count("gateway_rate_limit_rejections_total", &[("policy", policy)]);
}

/// A sign-out that marked sessions as ended (SPEC §12); `reason`:
/// `logout`, `everywhere` or `backchannel`.
/// One `POST /session/backchannel-logout`, by outcome (`ok`, `invalid`,
/// `jwks_unavailable`, `store_unavailable`).
pub fn record_backchannel_logout(outcome: &'static str) {
    count("gateway_backchannel_logout_total", &[("outcome", outcome)]);
}

pub fn record_session_revocation(reason: &'static str) {
    count("gateway_session_revocations_total", &[("reason", reason)]);
}

/// Revocation markers held in this process's memory.
pub fn record_revocation_markers(markers: usize) {
    metrics::gauge!("gateway_session_revocation_markers").set(markers as f64);
}

pub fn record_limiter_keys(policy: &'static str, keys: usize) {
    metrics::gauge!("gateway_rate_limit_keys", "policy" => policy).set(keys as f64);
}

/// Status codes as static strings: no allocation per request.
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        204 => "204",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        413 => "413",
        415 => "415",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        other => match other / 100 {
            1 => "1xx",
            2 => "2xx",
            3 => "3xx",
            4 => "4xx",
            _ => "5xx",
        },
    }
}
