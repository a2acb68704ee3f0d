//! Application wiring. Tests and `main` start exactly the same thing:
//! `Application::build` binds its own listener (port 0 in tests) and
//! `run_until_stopped` serves until SIGTERM/SIGINT, then drains.

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{web, App, HttpServer};

use crate::auth0::Auth0Client;
use crate::body::{BodyDeadline, BodyLimits};
use crate::client_ip::ClientIpConfig;
use crate::cors::Cors;
use crate::error::{path_error_handler, query_error_handler};
use crate::middleware::FrontDoor;
use crate::rate_limit::{Limits, PRUNE_INTERVAL};
use crate::redis_store::RedisStore;
use crate::refresh_flight::RefreshFlights;
use crate::routes;
use crate::session::revocation::Revocations;
use crate::settings::Settings;
use crate::sms::SmsGuard;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot build the HTTP client for Auth0: {0}")]
    HttpClient(String),
    #[error("cannot start the server: {0}")]
    Server(std::io::Error),
    #[error("cannot set up the shared rate-limit store: {0}")]
    RateLimitStore(String),
    #[error("invalid configuration: {0}")]
    ApiProxy(String),
}

pub struct Application {
    port: u16,
    server: Server,
    /// The `/metrics` listener's port and server, when `server.metrics_bind` is set.
    metrics_port: Option<u16>,
    metrics_server: Option<Server>,
    state: web::Data<AppState>,
}

impl Application {
    /// Binds `server.bind` and prepares the server (not yet running).
    pub fn build(settings: Settings) -> Result<Self, StartupError> {
        let addr = settings.server.bind;
        let listener = TcpListener::bind(addr).map_err(|source| StartupError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        Self::build_with_listener(settings, listener)
    }

    pub fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
    ) -> Result<Self, StartupError> {
        let port = listener.local_addr().map_err(StartupError::Server)?.port();
        let metrics = crate::metrics::install();
        let auth0 = Auth0Client::new(&settings.auth0)
            .map_err(|e| StartupError::HttpClient(e.to_string()))?;
        let store = match &settings.rate_limit.redis {
            Some(redis) => Some(Arc::new(
                RedisStore::new(redis).map_err(StartupError::RateLimitStore)?,
            )),
            None => None,
        };
        let backchannel = match settings.session.enabled && settings.session.backchannel_logout {
            true => Some(
                crate::session::logout_token::LogoutTokens::from_settings(&settings.auth0)
                    .map_err(StartupError::HttpClient)?,
            ),
            false => None,
        };
        let api_proxy = match settings.session.enabled {
            true => Some(api_proxy(&settings)?),
            false => None,
        };
        let state = web::Data::new(AppState {
            api_proxy,
            backchannel,
            limits: Limits::new(&settings.rate_limit, store.clone()),
            sms: SmsGuard::new(&settings.sms, settings.rate_limit.max_keys, store.clone()),
            refresh_flights: RefreshFlights::from_settings(&settings, store.clone()),
            sessions: crate::session::Sessions::new(&settings.session),
            revocations: Revocations::new(
                settings.rate_limit.max_keys,
                settings.session.max_age,
                store.clone(),
            ),
            store,
            auth0,
            ready: AtomicBool::new(true),
            metrics,
            settings,
        });
        let (metrics_port, metrics_server) = match state.settings.server.metrics_bind {
            Some(addr) => {
                let listener = TcpListener::bind(addr).map_err(|source| StartupError::Bind {
                    addr: addr.to_string(),
                    source,
                })?;
                let port = listener.local_addr().map_err(StartupError::Server)?.port();
                let handle = state.metrics.clone();
                (Some(port), Some(run_metrics(handle, listener)?))
            }
            None => (None, None),
        };
        let server = run(state.clone(), listener)?;
        Ok(Self {
            port,
            server,
            metrics_port,
            metrics_server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the `/metrics` listener, if there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGTERM or SIGINT, then: readiness off at once, keep
    /// serving for `drain_delay` so load balancers notice, stop accepting,
    /// and give in-flight requests up to `shutdown_timeout_secs`.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // Connect to the shared store before the first request is read
        // (bounded): a Redis that is down does not stop the start.
        if let Some(store) = &self.state.store {
            store.ensure_connected().await;
        }
        let handle = self.server.handle();
        let metrics_handle = self.metrics_server.as_ref().map(Server::handle);
        let state = self.state.clone();
        let drain_delay = state.settings.server.drain_delay;
        tokio::spawn(async move {
            let signal = wait_for_shutdown_signal().await;
            state.ready.store(false, Ordering::SeqCst);
            tracing::info!(
                event = "shutdown_started",
                signal,
                drain_delay_ms = drain_delay.as_millis() as u64,
                "shutdown signal received; readiness is now 503"
            );
            tokio::time::sleep(drain_delay).await;
            tracing::info!(
                event = "listener_closing",
                "drain delay over; no new connections, finishing in-flight requests"
            );
            handle.stop(true).await;
            if let Some(metrics) = metrics_handle {
                metrics.stop(true).await;
            }
        });
        let housekeeping = spawn_housekeeping(self.state.clone());
        let metrics = self.metrics_server.map(tokio::spawn);
        let result = self.server.await;
        housekeeping.abort();
        if let Some(metrics) = metrics {
            // Stopped by the shutdown task; only a panic could fail it.
            let _ = metrics.await;
        }
        tracing::info!(event = "stopped", "gateway stopped");
        result
    }
}

/// `session.apis` as the `/api` proxy sees them (SPEC §10).
fn api_proxy(settings: &Settings) -> Result<crate::api_proxy::ApiProxy, StartupError> {
    use crate::api_proxy::{ApiProxy, ApiTarget, ProxyLimits};
    let apis = settings
        .session
        .apis
        .iter()
        .map(|(name, api)| {
            let target = ApiTarget {
                url: api.url.clone(),
                audience: api.audience.clone(),
            };
            (name.clone(), target)
        })
        .collect();
    let limits = ProxyLimits {
        timeout: settings.session.api_timeout,
        max_request_bytes: settings.server.max_body_bytes,
        max_response_bytes: settings.auth0.max_response_bytes,
    };
    ApiProxy::new(apis, limits).map_err(|error| StartupError::ApiProxy(error.to_string()))
}

fn run(state: web::Data<AppState>, listener: TcpListener) -> Result<Server, StartupError> {
    let server_settings = &state.settings.server;
    let body_limits = BodyLimits {
        max_bytes: server_settings.max_body_bytes,
        timeout: server_settings.client_body_timeout,
    };
    let client_ip = ClientIpConfig {
        trusted_proxies: server_settings.trusted_proxies.clone(),
        header: server_settings.client_ip_header,
    };
    let cors = Cors::new(
        &server_settings.cors_allowed_origins,
        state.sessions.is_some(),
    );
    let workers = server_settings.workers;
    let request_timeout = server_settings.client_request_timeout;
    let shutdown_timeout = server_settings.shutdown_timeout.as_secs();
    let app_state = state.clone();
    let passkeys = state.settings.passkey.enabled;
    let api_document = web::Data::new(routes::docs::ApiDocument(crate::openapi::document_json()));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(app_state.clone())
            .app_data(api_document.clone())
            .app_data(body_limits)
            .app_data(web::PathConfig::default().error_handler(path_error_handler))
            .app_data(web::QueryConfig::default().error_handler(query_error_handler))
            .app_data(client_ip.clone())
            .wrap(FrontDoor::new(client_ip.clone(), cors.clone()))
            // Outermost: it also sees the answers the front door gives
            // without calling a route (415 for an encoded body).
            .wrap(BodyDeadline::new(body_limits))
            .configure(|cfg| routes::configure(cfg, passkeys))
            .default_service(web::to(routes::not_found))
    })
    .workers(workers)
    .max_connections(connections_per_worker(
        server_settings.max_connections,
        workers,
    ))
    .client_request_timeout(request_timeout)
    // After an answer that closes the connection over an unread body,
    // actix keeps reading and dropping for this long, so the answer is not
    // lost to a TCP reset; it bounds how long such a connection outlives
    // `client_body_timeout_ms` (actix's default, pinned: the book's security page, docs/src/security.md, states it).
    .client_disconnect_timeout(LINGER_AFTER_CLOSE)
    .shutdown_timeout(shutdown_timeout)
    // Signals are ours: readiness must turn 503 before the listener closes.
    .disable_signals()
    .listen(listener)
    .map_err(StartupError::Server)?
    .run();
    Ok(server)
}

/// See `client_disconnect_timeout` in [`run`].
const LINGER_AFTER_CLOSE: Duration = Duration::from_secs(1);

/// actix caps connections per worker; `server.max_connections` is for the
/// process. Rounded down, so the process never holds more than the setting
/// (up to `workers - 1` fewer), but at least one per worker: with fewer
/// connections than workers allowed, each worker still takes one.
fn connections_per_worker(max_connections: usize, workers: usize) -> usize {
    (max_connections / workers.max(1)).max(1)
}

/// The `/metrics` listener: one worker, one route, never the public port.
fn run_metrics(
    handle: Option<metrics_exporter_prometheus::PrometheusHandle>,
    listener: TcpListener,
) -> Result<Server, StartupError> {
    let handle = web::Data::new(handle);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(handle.clone())
            .wrap(
                actix_web::middleware::DefaultHeaders::new()
                    .add((actix_web::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff")),
            )
            .configure(crate::metrics::configure_listener)
            .default_service(web::to(routes::not_found))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .map_err(StartupError::Server)?
    .run();
    Ok(server)
}

/// Periodic upkeep that keeps memory bounded: prunes idle rate-limit keys
/// and expired revocation markers (and refreshes their gauges), and drains the metrics recorder's
/// histogram samples, which otherwise pile up until the next scrape (or
/// forever, where nobody scrapes `/metrics`).
fn spawn_housekeeping(state: web::Data<AppState>) -> tokio::task::JoinHandle<()> {
    let state: Arc<AppState> = state.into_inner();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PRUNE_INTERVAL);
        loop {
            tick.tick().await;
            state.limits.prune();
            state.refresh_flights.prune();
            state.revocations.prune();
            if let Some(store) = &state.store {
                store.ensure_connected().await;
            }
            state.sms.prune().await;
            if let Some(metrics) = &state.metrics {
                metrics.run_upkeep();
            }
        }
    })
}

/// Resolves with the name of the first SIGTERM or SIGINT.
async fn wait_for_shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

#[cfg(test)]
mod tests {
    use super::connections_per_worker;

    #[test]
    fn the_process_total_never_passes_max_connections_and_no_worker_gets_zero() {
        #[rustfmt::skip]
        let cases = [
            // (max_connections, workers, per worker)
            (10_000, 1, 10_000),
            (10_000, 2, 5_000),
            (10_000, 3, 3_333),
            (4, 2, 2),
            (5, 2, 2),
            (1, 4, 1),
            (10, 0, 10),
        ];
        for (max_connections, workers, expected) in cases {
            assert_eq!(
                connections_per_worker(max_connections, workers),
                expected,
                "{max_connections} over {workers} workers"
            );
        }
    }
}
