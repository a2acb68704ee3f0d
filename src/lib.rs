//! login-gateway: a backend-for-frontend for Auth0 passwordless login and
//! MFA. `main.rs` only parses the command line; everything else lives here
//! so tests start exactly what production starts.

pub mod api_proxy;
pub mod auth0;
pub mod body;
pub mod cli;
pub mod client_ip;
pub mod cors;
pub mod demo;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod rate_limit;
pub mod redis_store;
pub mod refresh_flight;
pub mod request_id;
pub mod routes;
pub mod secret;
pub mod session;
pub mod settings;
pub mod sms;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod upstream_body;
