//! `/passkey/*` (SPEC §11): Auth0's native Passkey API for apps that draw
//! their own UI. Registered only while `passkey.enabled` is on, so that
//! while it is off every route here is the plain 404 of an unknown path.

pub mod credential;
pub mod enroll;
pub mod login;
pub mod schemas;
pub mod signup;

use actix_web::web;

/// Every route here sits under this scope (and its per-IP guard).
pub const SCOPE: &str = "/passkey";

pub fn configure(cfg: &mut web::ServiceConfig) {
    login::configure(cfg);
    enroll::configure(cfg);
}
