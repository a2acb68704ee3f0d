//! The one integration test binary. Over-the-wire tests: a real gateway on
//! 127.0.0.1 (in process, or the real binary as a child), Auth0 played by
//! wiremock (or the built-in demo tenant), a real HTTP client; plus fault
//! injection, the log audit and the OpenAPI contract.
#![allow(clippy::unwrap_used)]

mod api_proxy;
mod backchannel;
mod client_ip;
mod config_reference;
mod demo;
mod demo_console;
mod demo_mfa;
mod demo_passkeys;
mod demo_tenant;
mod errors;
mod faults;
mod hardening;
mod helpers;
mod login_callback;
mod login_start;
mod login_verify;
mod logs;
mod mfa;
mod openapi;
mod passkey;
mod passkey_demo;
mod passkey_enroll;
mod passkey_limits;
mod rate_limit;
mod real_binary;
#[cfg(feature = "redis-tests")]
mod redis_backend;
mod refresh_flight;
mod revocation;
mod session;
mod settings;
mod sms_guard;
mod token;
mod webauthn_authenticator;
