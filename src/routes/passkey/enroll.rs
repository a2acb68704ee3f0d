//! (being built for issue 28)

use actix_web::web;

pub fn configure(_cfg: &mut web::ServiceConfig) {}
