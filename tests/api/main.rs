//! Over-the-wire tests: a real gateway on 127.0.0.1, Auth0 played by
//! wiremock (or the built-in demo tenant), a real HTTP client.
#![allow(clippy::unwrap_used)]

mod client_ip;
mod demo;
mod demo_mfa;
mod errors;
mod hardening;
mod helpers;
mod login_callback;
mod login_start;
mod login_verify;
mod mfa;
mod rate_limit;
mod real_binary;
mod settings;
mod token;
