//! The demo tenant's MFA API routes (`/mfa/authenticators`,
//! `/mfa/associate`, `/mfa/challenge`): the bearer they need and how their
//! bodies become calls to the rules in [`crate::demo::mfa`]. Apart from the
//! Authentication API's routes because only these take a bearer.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::fields::{Api, Fields};
use super::{answer, failure, header, no_store};
use crate::demo::tenant::{Tenant, TenantError, TenantResult};

/// The bearer of an MFA API call, or Auth0's 401.
fn bearer(req: &HttpRequest) -> Result<&str, TenantError> {
    header(req, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            TenantError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "Authorization header is required",
            )
        })
}

pub(super) async fn list_authenticators(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
) -> HttpResponse {
    answer(bearer(&req).and_then(|token| tenant.list_authenticators(token)))
}

pub(super) async fn associate(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let fields = match Fields::read(&req, payload, Api::OAuth).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let associate = || -> TenantResult {
        let types = fields
            .list("authenticator_types")?
            .ok_or_else(|| Api::OAuth.missing("authenticator_types"))?;
        fields.check_client(&req)?;
        let token = bearer(&req)?;
        let channels = fields.list("oob_channels")?;
        tenant.associate(
            token,
            types.first().copied().unwrap_or(""),
            channels.as_ref().and_then(|c| c.first().copied()),
            fields.get("phone_number")?,
            fields.get("email")?,
        )
    };
    // The answer may carry a TOTP secret and a recovery code.
    no_store(answer(associate()))
}

pub(super) async fn challenge(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let fields = match Fields::read(&req, payload, Api::OAuth).await {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let challenge = || -> TenantResult {
        let mfa_token = fields.require("mfa_token")?;
        let challenge_type = fields.require("challenge_type")?;
        fields.check_client(&req)?;
        tenant.challenge(mfa_token, challenge_type, fields.get("authenticator_id")?)
    };
    answer(challenge())
}

pub(super) async fn delete_authenticator(
    tenant: web::Data<Tenant>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    match bearer(&req).and_then(|token| tenant.delete_authenticator(token, &path)) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(error) => failure(error),
    }
}
