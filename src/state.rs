//! What every handler shares: settings, the Auth0 client, the limiter and
//! the readiness flag. Its own module so that routes and startup both
//! depend on it without depending on each other.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::api_proxy::ApiProxy;
use crate::auth0::Auth0Client;
use crate::rate_limit::Limits;
use crate::redis_store::RedisStore;
use crate::refresh_flight::RefreshFlights;
use crate::session::logout_token::LogoutTokens;
use crate::session::revocation::Revocations;
use crate::session::Sessions;
use crate::settings::Settings;
use crate::sms::SmsGuard;

/// What every handler shares.
pub struct AppState {
    pub settings: Settings,
    pub auth0: Auth0Client,
    pub limits: Limits,
    /// The shared Redis when `rate_limit.backend = "redis"` (SPEC §9).
    pub store: Option<Arc<RedisStore>>,
    /// Allowed countries and the SMS fraud guard (SPEC §8).
    pub sms: SmsGuard,
    /// Concurrent refreshes of one refresh token share one Auth0 call (SPEC §10).
    pub refresh_flights: RefreshFlights,
    /// Cookie sessions (SPEC §10); `None` while `session.enabled = false`.
    pub sessions: Option<Sessions>,
    /// The revocation list (SPEC §12): markers that end cookie sessions
    /// (`revocations.mark(Marker::…, Reason::…)`); empty while sessions
    /// are off.
    pub revocations: Revocations,
    /// Checks Auth0's logout tokens (SPEC §12); `None` unless
    /// `session.backchannel_logout = true`.
    pub backchannel: Option<LogoutTokens>,
    /// `/api/{name}/…` (`session.apis`); `None` while sessions are off.
    pub api_proxy: Option<ApiProxy>,
    /// False from the first shutdown signal on: `/readyz` answers 503.
    pub ready: AtomicBool,
    /// Renders `/metrics`; `None` if another recorder owns the process.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}
