//! Rate limits (SPEC §4, §9): every policy is checked before Auth0 is
//! called. Each call names its buckets, narrow ones first, as
//! `(policy, subject)` pairs; the backend takes a cell from each:
//! - [`memory`]: governor's keyed GCRA in this process (the default);
//! - [`redis`]: one server-side script on a Redis the whole fleet shares,
//!   with this process's memory limits, no limit, or a 503 while it does
//!   not answer (`rate_limit.redis.on_error`).

pub mod memory;
pub mod redis;

use std::net::IpAddr;
use std::sync::Arc;

pub use memory::{ceil_secs, Policy, PRUNE_INTERVAL};

use crate::domain::Identifier;
use crate::redis_store::RedisStore;
use crate::settings::{OnStoreError, QuotaSpec, RateLimitSettings};
use memory::LocalLimits;
use redis::RedisLimits;

/// A call a policy refused: what the 429's IETF headers describe.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub policy: &'static str,
    pub quota: QuotaSpec,
    /// Seconds until the call would be allowed, rounded up.
    pub retry_after: u64,
}

/// Why a call does not go ahead.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// `429 too_many_requests`.
    Limited(Rejection),
    /// `503 rate_limit_unavailable`: the shared store did not answer and
    /// `rate_limit.redis.on_error = "closed"`.
    StoreUnavailable,
}

impl From<Rejection> for Refusal {
    fn from(rejection: Rejection) -> Self {
        Self::Limited(rejection)
    }
}

/// The policies of SPEC §4, in the order of `memory::LocalLimits`' stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyId {
    PerIp,
    LoginStartPerIp,
    LoginStartPerIdentifierIp,
    LoginStartPerIdentifier,
    VerifyPerIdentifierIp,
    VerifyPerIdentifier,
    MfaVerifyPerToken,
    SmsPerPhone,
    SmsGlobal,
}

impl PolicyId {
    pub const ALL: [Self; 9] = [
        Self::PerIp,
        Self::LoginStartPerIp,
        Self::LoginStartPerIdentifierIp,
        Self::LoginStartPerIdentifier,
        Self::VerifyPerIdentifierIp,
        Self::VerifyPerIdentifier,
        Self::MfaVerifyPerToken,
        Self::SmsPerPhone,
        Self::SmsGlobal,
    ];

    /// The settings key, the `RateLimit-Policy` name and the metrics label.
    pub const fn name(self) -> &'static str {
        match self {
            Self::PerIp => "per_ip",
            Self::LoginStartPerIp => "login_start_per_ip",
            Self::LoginStartPerIdentifierIp => "login_start_per_identifier_ip",
            Self::LoginStartPerIdentifier => "login_start_per_identifier",
            Self::VerifyPerIdentifierIp => "verify_per_identifier_ip",
            Self::VerifyPerIdentifier => "verify_per_identifier",
            Self::MfaVerifyPerToken => "mfa_verify_per_token",
            Self::SmsPerPhone => "sms_per_phone",
            Self::SmsGlobal => "sms_global",
        }
    }

    pub fn quota(self, settings: &RateLimitSettings) -> QuotaSpec {
        match self {
            Self::PerIp => settings.per_ip,
            Self::LoginStartPerIp => settings.login_start_per_ip,
            Self::LoginStartPerIdentifierIp => settings.login_start_per_identifier_ip,
            Self::LoginStartPerIdentifier => settings.login_start_per_identifier,
            Self::VerifyPerIdentifierIp => settings.verify_per_identifier_ip,
            Self::VerifyPerIdentifier => settings.verify_per_identifier,
            Self::MfaVerifyPerToken => settings.mfa_verify_per_token,
            Self::SmsPerPhone => settings.sms_per_phone,
            Self::SmsGlobal => settings.sms_global,
        }
    }
}

/// What a bucket is keyed by. Backends hash every subject with a secret
/// key, in its own domain, so an email can never share a bucket with an
/// address or a token, and no store holds any of them.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// The client network: the IPv4 address or the IPv6 /64.
    Network(IpAddr),
    /// The identifier in its limit form (`Identifier::limit_key`).
    Identifier(&'a str),
    /// The identifier from one client network.
    IdentifierNetwork(&'a str, IpAddr),
    /// An mfa_token (its padding is ignored).
    MfaToken(&'a str),
    /// A destination phone number (E.164).
    Phone(&'a str),
    /// An Auth0 authenticator id (`sms|dev_…`): the enrolled number a
    /// challenge texts, the same across logins (SPEC §13).
    Authenticator(&'a str),
    /// One bucket for all callers.
    Everyone,
}

/// The client network: an IPv4 address, or an IPv6 /64 (one subscriber
/// usually owns a whole /64, so per-address keys would let one host rotate
/// through 2^64 of them). Tagged so an IPv4 address never equals a prefix.
pub fn network(ip: IpAddr) -> (u8, u64) {
    match ip {
        IpAddr::V4(v4) => (4, u64::from(u32::from(v4))),
        IpAddr::V6(v6) => (6, (u128::from(v6) >> 64) as u64),
    }
}

/// Where a text or call goes, for `sms_per_phone`: the number when the
/// request names it, else the enrolled authenticator a challenge names.
/// Never the mfa_token: every login brings a new one (SPEC §13).
#[derive(Debug, Clone, Copy)]
pub enum SmsDestination<'a> {
    Number(&'a str),
    Authenticator(&'a str),
}

/// The limits every route asks before Auth0 is called.
pub struct Limits {
    enabled: bool,
    local: LocalLimits,
    shared: Option<RedisLimits>,
}

impl Limits {
    /// `store`: the shared Redis when `rate_limit.backend = "redis"`.
    pub fn new(settings: &RateLimitSettings, store: Option<Arc<RedisStore>>) -> Self {
        Self {
            enabled: settings.enabled,
            local: LocalLimits::new(settings),
            shared: store.map(|store| RedisLimits::new(store, settings)),
        }
    }

    /// The in-memory stores (this process's; the fallback with Redis).
    pub fn local_policies(&self) -> &[Policy] {
        self.local.policies()
    }

    /// Every `/login`, `/mfa`, `/token` call: the scope guard's check,
    /// made before the body is read, except on the routes that charge
    /// `per_ip` with their own buckets (see [`Self::per_ip_joins_route`]).
    pub async fn check_ip(&self, ip: IpAddr) -> Result<(), Refusal> {
        self.charge(&[(PolicyId::PerIp, Subject::Network(ip))])
            .await
    }

    /// With a shared store, the routes that have buckets of their own
    /// charge `per_ip` in the same script (one round trip per call, SPEC
    /// §9) and the scope guard leaves it to them. In memory the guard
    /// charges it first, before the body is read: a local check costs less
    /// than the parse it saves, a Redis round trip more.
    pub fn per_ip_joins_route(&self) -> bool {
        self.enabled && self.shared.is_some()
    }

    /// The `per_ip` charge the scope guard left to a route that, this
    /// time, has no bucket of its own to charge with it (an MFA enrollment
    /// or challenge that texts no one). Nothing in memory, where the guard
    /// made it.
    pub async fn check_ip_left_to_route(&self, ip: IpAddr) -> Result<(), Refusal> {
        self.charge_with_ip(ip, &[]).await
    }

    /// `/login/start`: per network, per identifier from that network, per
    /// identifier from all networks, and for a phone number the text's
    /// budgets (`sms_per_phone`, `sms_global`), all in one charge (with
    /// `per_ip` when it [joins the route](Self::per_ip_joins_route)).
    pub async fn check_login_start(
        &self,
        ip: IpAddr,
        identifier: &Identifier,
    ) -> Result<(), Refusal> {
        let key = identifier.limit_key();
        let key = key.as_ref();
        let login = [
            (PolicyId::LoginStartPerIp, Subject::Network(ip)),
            (
                PolicyId::LoginStartPerIdentifierIp,
                Subject::IdentifierNetwork(key, ip),
            ),
            (PolicyId::LoginStartPerIdentifier, Subject::Identifier(key)),
        ];
        match identifier {
            Identifier::Email(_) => self.charge_with_ip(ip, &login).await,
            Identifier::Phone(phone) => {
                let [a, b, c] = login;
                self.charge_with_ip(
                    ip,
                    &[
                        a,
                        b,
                        c,
                        (PolicyId::SmsPerPhone, Subject::Phone(phone.as_str())),
                        (PolicyId::SmsGlobal, Subject::Everyone),
                    ],
                )
                .await
            }
        }
    }

    /// `/login/verify`: code guessing, per identifier from one network,
    /// then across all networks.
    pub async fn check_verify(&self, ip: IpAddr, identifier: &Identifier) -> Result<(), Refusal> {
        let identifier = identifier.limit_key();
        let identifier = identifier.as_ref();
        self.charge_with_ip(
            ip,
            &[
                (
                    PolicyId::VerifyPerIdentifierIp,
                    Subject::IdentifierNetwork(identifier, ip),
                ),
                (
                    PolicyId::VerifyPerIdentifier,
                    Subject::Identifier(identifier),
                ),
            ],
        )
        .await
    }

    /// `/mfa/verify`: second-factor guessing, per mfa_token.
    pub async fn check_mfa_verify(&self, ip: IpAddr, mfa_token: &str) -> Result<(), Refusal> {
        self.charge_with_ip(
            ip,
            &[(PolicyId::MfaVerifyPerToken, Subject::MfaToken(mfa_token))],
        )
        .await
    }

    /// Every call that makes Auth0 text or phone someone.
    pub async fn check_sms_send(
        &self,
        ip: IpAddr,
        destination: SmsDestination<'_>,
    ) -> Result<(), Refusal> {
        let per_phone = match destination {
            SmsDestination::Number(number) => Subject::Phone(number),
            SmsDestination::Authenticator(id) => Subject::Authenticator(id),
        };
        self.charge_with_ip(
            ip,
            &[
                (PolicyId::SmsPerPhone, per_phone),
                (PolicyId::SmsGlobal, Subject::Everyone),
            ],
        )
        .await
    }

    /// A route's buckets, after `per_ip` when it [joins the
    /// route](Self::per_ip_joins_route); first, so that a refusal names it
    /// as the scope guard's would have.
    async fn charge_with_ip(
        &self,
        ip: IpAddr,
        buckets: &[(PolicyId, Subject<'_>)],
    ) -> Result<(), Refusal> {
        if !self.per_ip_joins_route() {
            return match buckets {
                [] => Ok(()),
                _ => self.charge(buckets).await,
            };
        }
        let mut joined = Vec::with_capacity(buckets.len() + 1);
        joined.push((PolicyId::PerIp, Subject::Network(ip)));
        joined.extend_from_slice(buckets);
        self.charge(&joined).await
    }

    /// The shared store when there is one and it answers; else what
    /// `on_error` says.
    async fn charge(&self, buckets: &[(PolicyId, Subject<'_>)]) -> Result<(), Refusal> {
        if !self.enabled {
            return Ok(());
        }
        let Some(shared) = &self.shared else {
            return Ok(self.local.charge(buckets)?);
        };
        match shared.charge(buckets).await {
            Ok(outcome) => outcome.map_err(Refusal::Limited),
            Err(on_error) => match on_error {
                OnStoreError::Local => Ok(self.local.charge(buckets)?),
                OnStoreError::Open => Ok(()),
                OnStoreError::Closed => Err(Refusal::StoreUnavailable),
            },
        }
    }

    /// Prunes the in-memory stores (they are the fallback with Redis).
    pub fn prune(&self) {
        self.local.prune();
    }
}
