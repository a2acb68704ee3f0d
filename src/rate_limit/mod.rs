//! Rate limits (SPEC §4, §9): every policy is checked before Auth0 is
//! called. Each call names its buckets, narrow ones first, as
//! `(policy, subject)` pairs; the backend takes a cell from each:
//! - [`memory`]: governor's keyed GCRA in this process (the default);
//! - [`redis`]: one server-side script on a Redis the whole fleet shares,
//!   with this process's memory limits, no limit, or a 503 while it does
//!   not answer (`rate_limit.redis.on_error`).
//!
//! A network that completed a login for an identifier is exempt from that
//! identifier's all-network ceilings ([`known`], SPEC §13): each backend
//! skips a ceiling bucket whose caller it knows, in the same check.

pub mod known;
pub mod memory;
pub mod redis;

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

pub use memory::{ceil_secs, Policy, PRUNE_INTERVAL};

use crate::domain::Identifier;
use crate::redis_store::RedisStore;
use crate::settings::{OnStoreError, QuotaSpec, RateLimitSettings};
use known::LocalLogin;
use memory::LocalLimits;
use redis::{RedisLimits, SharedLogin};

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
    PasskeyRegisterPerIp,
}

impl PolicyId {
    pub const ALL: [Self; 10] = [
        Self::PerIp,
        Self::LoginStartPerIp,
        Self::LoginStartPerIdentifierIp,
        Self::LoginStartPerIdentifier,
        Self::VerifyPerIdentifierIp,
        Self::VerifyPerIdentifier,
        Self::MfaVerifyPerToken,
        Self::SmsPerPhone,
        Self::SmsGlobal,
        Self::PasskeyRegisterPerIp,
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
            Self::PasskeyRegisterPerIp => "passkey_register_per_ip",
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
            Self::PasskeyRegisterPerIp => settings.passkey_register_per_ip,
        }
    }
}

/// The all-network ceilings a known network is exempt from (SPEC §13).
pub const CEILINGS: [PolicyId; 2] = [
    PolicyId::LoginStartPerIdentifier,
    PolicyId::VerifyPerIdentifier,
];

/// The form of the identifier a policy keys on (SPEC §4, §13). `/login/start`
/// protects the inbox: every spelling that reaches it (`jane+x@`, Gmail's
/// dots) is one key. `/login/verify` protects an Auth0 user, who is the
/// address as Auth0 receives it: guesses against `victim+1@` are guesses
/// against another user and do not spend `victim@`'s budget.
pub fn identifier_key(policy: PolicyId, identifier: &Identifier) -> Cow<'_, str> {
    match policy {
        PolicyId::LoginStartPerIdentifierIp | PolicyId::LoginStartPerIdentifier => {
            identifier.limit_key()
        }
        _ => Cow::Borrowed(identifier.as_str()),
    }
}

/// What a bucket is keyed by. Backends hash every subject with a secret
/// key, in its own domain, so an email can never share a bucket with an
/// address or a token, and no store holds any of them.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// The client network: the IPv4 address or the IPv6 /64.
    Network(IpAddr),
    /// The identifier from all networks (keyed by the identifier alone,
    /// in its [`identifier_key`] form), except the caller's network when
    /// it is known for the identifier under this policy: then the bucket
    /// is neither checked nor charged.
    IdentifierCeiling(&'a str, IpAddr),
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
/// A translated IPv6 address is the IPv4 client it carries (SPEC §13): a
/// NAT64 gateway puts every IPv4 host behind one /64, and 6to4 gives each
/// IPv4 address its own /48.
pub fn network(ip: IpAddr) -> (u8, u64) {
    match embedded_ipv4(ip) {
        Some(v4) => (4, u64::from(u32::from(v4))),
        None => match ip {
            IpAddr::V4(v4) => (4, u64::from(u32::from(v4))),
            IpAddr::V6(v6) => (6, (u128::from(v6) >> 64) as u64),
        },
    }
}

/// The IPv4 address a translated IPv6 address carries: NAT64's
/// well-known `64:ff9b::/96` (RFC 6052) and local-use `64:ff9b:1::/48`
/// (RFC 8215) in their last 32 bits, 6to4's `2002::/16` (RFC 3056) in
/// bits 16–47.
fn embedded_ipv4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else {
        return None;
    };
    let bits = u128::from(v6);
    let nat64 = bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 || bits >> 80 == 0x0064_ff9b_0001;
    if nat64 {
        return Some(Ipv4Addr::from(bits as u32));
    }
    if bits >> 112 == 0x2002 {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    None
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

/// What an `/mfa/verify` check learned of the login its mfa_token
/// finishes (the token `/login/verify` issued for an identifier), to make
/// the network known if the second factor passes. Empty for a token the
/// gateway did not issue, or no longer remembers.
#[derive(Debug, Default)]
pub struct MfaLogin {
    local: Option<LocalLogin>,
    shared: Option<SharedLogin>,
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
        self.charge(&[(PolicyId::PerIp, Subject::Network(ip))], None)
            .await
            .map(drop)
    }

    /// `per_ip` for `POST /session/logout`, which an outage never refuses
    /// (SPEC §12: sign-out answers 204 while Redis is down): under
    /// `on_error = "closed"` this replica's memory decides, as under
    /// `local`.
    pub async fn check_ip_for_sign_out(&self, ip: IpAddr) -> Result<(), Refusal> {
        match self.check_ip(ip).await {
            Err(Refusal::StoreUnavailable) => Ok(self
                .local
                .charge(&[(PolicyId::PerIp, Subject::Network(ip))])?),
            decided => decided,
        }
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
        self.charge_with_ip(ip, &[], None).await.map(drop)
    }

    /// `/login/start`: per network, per identifier from that network, per
    /// identifier from all networks (unless this network is known for it),
    /// and for a phone number the text's budgets (`sms_per_phone`,
    /// `sms_global`), all in one charge (with `per_ip` when it [joins the
    /// route](Self::per_ip_joins_route)).
    pub async fn check_login_start(
        &self,
        ip: IpAddr,
        identifier: &Identifier,
    ) -> Result<(), Refusal> {
        let key = identifier_key(PolicyId::LoginStartPerIdentifier, identifier);
        let key = key.as_ref();
        let login = [
            (PolicyId::LoginStartPerIp, Subject::Network(ip)),
            (
                PolicyId::LoginStartPerIdentifierIp,
                Subject::IdentifierNetwork(key, ip),
            ),
            (
                PolicyId::LoginStartPerIdentifier,
                Subject::IdentifierCeiling(key, ip),
            ),
        ];
        let charged = match identifier {
            Identifier::Email(_) => self.charge_with_ip(ip, &login, None).await,
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
                    None,
                )
                .await
            }
        };
        charged.map(drop)
    }

    /// `/passkey/register`: sign-ups from one client network (each
    /// creates a user), and for a phone number, which Auth0 may text, the
    /// text's budgets (`sms_per_phone` keyed by the number, `sms_global`),
    /// in one charge (with `per_ip` when it [joins the
    /// route](Self::per_ip_joins_route)).
    pub async fn check_passkey_register(
        &self,
        ip: IpAddr,
        phone_number: Option<&str>,
    ) -> Result<(), Refusal> {
        let sign_up = (PolicyId::PasskeyRegisterPerIp, Subject::Network(ip));
        let charged = match phone_number {
            None => self.charge_with_ip(ip, &[sign_up], None).await,
            Some(number) => {
                self.charge_with_ip(
                    ip,
                    &[
                        sign_up,
                        (PolicyId::SmsPerPhone, Subject::Phone(number)),
                        (PolicyId::SmsGlobal, Subject::Everyone),
                    ],
                    None,
                )
                .await
            }
        };
        charged.map(drop)
    }

    /// `/login/verify`: code guessing against one Auth0 user, per network,
    /// then across all networks (unless this network is known for it).
    pub async fn check_verify(&self, ip: IpAddr, identifier: &Identifier) -> Result<(), Refusal> {
        let key = identifier_key(PolicyId::VerifyPerIdentifier, identifier);
        let key = key.as_ref();
        self.charge_with_ip(
            ip,
            &[
                (
                    PolicyId::VerifyPerIdentifierIp,
                    Subject::IdentifierNetwork(key, ip),
                ),
                (
                    PolicyId::VerifyPerIdentifier,
                    Subject::IdentifierCeiling(key, ip),
                ),
            ],
            None,
        )
        .await
        .map(drop)
    }

    /// `/mfa/verify`: second-factor guessing, per mfa_token. Also reads
    /// (in the same charge, with Redis) the login the token finishes.
    pub async fn check_mfa_verify(&self, ip: IpAddr, mfa_token: &str) -> Result<MfaLogin, Refusal> {
        let shared = self
            .charge_with_ip(
                ip,
                &[(PolicyId::MfaVerifyPerToken, Subject::MfaToken(mfa_token))],
                Some(mfa_token),
            )
            .await?;
        if !self.enabled {
            return Ok(MfaLogin::default());
        }
        Ok(MfaLogin {
            local: self.local.known().token_login(mfa_token, Instant::now()),
            shared,
        })
    }

    /// `/login/verify` answered `200` for `identifier`: the caller's
    /// network is known for it from now on (SPEC §13). Written to this
    /// process too with Redis: the fallback then knows it.
    pub async fn login_completed(&self, ip: IpAddr, identifier: &Identifier) {
        if !self.enabled {
            return;
        }
        let known = self.local.known();
        known.remember(known.login(identifier), ip, Instant::now());
        if let Some(shared) = &self.shared {
            shared.remember_login(shared.login(identifier), ip).await;
        }
    }

    /// `/login/verify` answered `mfa_required` for `identifier`: its
    /// mfa_token finishes that login, for the token's lifetime.
    pub async fn login_awaits_mfa(&self, mfa_token: &str, identifier: &Identifier) {
        if !self.enabled {
            return;
        }
        let known = self.local.known();
        known.remember_token(mfa_token, known.login(identifier), Instant::now());
        if let Some(shared) = &self.shared {
            shared
                .remember_token(mfa_token, shared.login(identifier))
                .await;
        }
    }

    /// `/mfa/verify` answered `200` on a token [`Self::check_mfa_verify`]
    /// read: the caller's network is known for the token's login.
    pub async fn mfa_login_completed(&self, ip: IpAddr, mfa_token: &str, login: MfaLogin) {
        if let Some(local) = login.local {
            let known = self.local.known();
            known.remember(local, ip, Instant::now());
            known.forget_token(mfa_token);
        }
        if let (Some(shared), Some(login)) = (&self.shared, login.shared) {
            shared.remember_login(login, ip).await;
        }
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
            None,
        )
        .await
        .map(drop)
    }

    /// A route's buckets, after `per_ip` when it [joins the
    /// route](Self::per_ip_joins_route); first, so that a refusal names it
    /// as the scope guard's would have.
    async fn charge_with_ip(
        &self,
        ip: IpAddr,
        buckets: &[(PolicyId, Subject<'_>)],
        mfa_login_of: Option<&str>,
    ) -> Result<Option<SharedLogin>, Refusal> {
        if !self.per_ip_joins_route() {
            return match buckets {
                [] => Ok(None),
                _ => self.charge(buckets, mfa_login_of).await,
            };
        }
        let mut joined = Vec::with_capacity(buckets.len() + 1);
        joined.push((PolicyId::PerIp, Subject::Network(ip)));
        joined.extend_from_slice(buckets);
        self.charge(&joined, mfa_login_of).await
    }

    /// The shared store when there is one and it answers; else what
    /// `on_error` says. `mfa_login_of`: an mfa_token whose login the
    /// shared store reads in the same script.
    async fn charge(
        &self,
        buckets: &[(PolicyId, Subject<'_>)],
        mfa_login_of: Option<&str>,
    ) -> Result<Option<SharedLogin>, Refusal> {
        if !self.enabled {
            return Ok(None);
        }
        let Some(shared) = &self.shared else {
            self.local.charge(buckets)?;
            return Ok(None);
        };
        match shared.charge(buckets, mfa_login_of).await {
            Ok(outcome) => outcome.map_err(Refusal::Limited),
            Err(on_error) => match on_error {
                OnStoreError::Local => {
                    self.local.charge(buckets)?;
                    Ok(None)
                }
                OnStoreError::Open => Ok(None),
                OnStoreError::Closed => Err(Refusal::StoreUnavailable),
            },
        }
    }

    /// Prunes the in-memory stores (they are the fallback with Redis).
    pub fn prune(&self) {
        self.local.prune();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translated_ipv6_addresses_are_the_ipv4_client_they_carry() {
        let v4 = |text: &str| network(IpAddr::V4(text.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)));
        let v6 = |text: &str| network(text.parse().unwrap_or(IpAddr::from([0u16; 8])));
        #[rustfmt::skip]
        let cases = [
            // (why, address, the network it is)
            ("NAT64 well-known /96", "64:ff9b::c633:6401", v4("198.51.100.1")),
            ("NAT64, dotted", "64:ff9b::198.51.100.2", v4("198.51.100.2")),
            ("NAT64 local-use /48", "64:ff9b:1::c633:6403", v4("198.51.100.3")),
            ("NAT64 local-use, other bits set", "64:ff9b:1:abcd::c633:6403", v4("198.51.100.3")),
            ("6to4: bits 16-47", "2002:c633:6404::1", v4("198.51.100.4")),
            ("6to4, another host of that /48", "2002:c633:6404:ffff::2", v4("198.51.100.4")),
            ("outside the NAT64 /96", "64:ff9b:0:0:1::c633:6401", (6, 0x0064_ff9b_0000_0000)),
            ("a plain /64", "2001:db8:1:2::c633:6401", v6("2001:db8:1:2::")),
            ("next to 6to4", "2003:c633:6404::1", v6("2003:c633:6404::")),
            ("IPv4 itself", "198.51.100.1", v4("198.51.100.1")),
        ];
        for (why, address, expected) in cases {
            let ip: IpAddr = address.parse().unwrap_or(IpAddr::from([0u8; 4]));
            assert_eq!(network(ip), expected, "{why}: {address}");
        }
        // Two NAT64 clients are two networks; a NAT64 client is not a /64.
        assert_ne!(v6("64:ff9b::c633:6401"), v6("64:ff9b::c633:6402"));
        assert_ne!(v6("64:ff9b:0:0:1::1").0, 4);
    }

    #[test]
    fn start_keys_are_the_inbox_and_verify_keys_the_auth0_user() {
        let id = Identifier::parse(Some(" V.ictim+News@GMail.com "), None);
        let Ok(id) = id else {
            panic!("a valid address");
        };
        for (policy, key) in [
            (PolicyId::LoginStartPerIdentifierIp, "victim@gmail.com"),
            (PolicyId::LoginStartPerIdentifier, "victim@gmail.com"),
            (PolicyId::VerifyPerIdentifierIp, "v.ictim+news@gmail.com"),
            (PolicyId::VerifyPerIdentifier, "v.ictim+news@gmail.com"),
        ] {
            assert_eq!(identifier_key(policy, &id), key, "{}", policy.name());
        }
    }
}
