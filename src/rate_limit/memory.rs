//! The in-memory backend of the limits (SPEC §4): a thin layer of our own on
//! governor's keyed GCRA limiters, one store per policy.
//!
//! Keys are 64-bit keyed hashes (a per-process random SipHash key) of the
//! client IP, the normalised identifier or the mfa_token, so no address,
//! email or token is ever held as a map key, and every entry is small.
//! IPv6 clients are keyed by their /64: one subscriber usually owns a whole
//! /64, so per-address keys would let one host rotate through 2^64 keys.
//!
//! Memory stays bounded: idle keys are pruned on a timer, and each store is
//! capped at `rate_limit.max_keys`. A new key that arrives while a store is
//! full is not refused and not given a fresh unlimited bucket: it is limited
//! through one of [`OVERFLOW_BUCKETS`] shared buckets chosen by its hash. A
//! flood of spoofed keys can therefore neither grow memory nor lock out
//! everyone (it would have to drain all overflow buckets), and keys that were
//! already tracked keep their own buckets.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock};
use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::{InMemoryState, StateStore};
use governor::{Quota, RateLimiter};

use super::known::KnownNetworks;
use super::{network, PolicyId, Rejection, Subject};
use crate::settings::{QuotaSpec, RateLimitSettings};

/// Shared buckets for new keys while a store is full.
pub const OVERFLOW_BUCKETS: u64 = 65_536;

/// governor's dashmap store behind an `Arc`, so the policy can ask whether
/// a key is already tracked (governor's limiter does not expose its store).
#[derive(Clone, Default)]
struct SharedStore(Arc<DashMap<u64, InMemoryState>>);

impl StateStore for SharedStore {
    type Key = u64;

    fn measure_and_replace<T, F, E>(&self, key: &u64, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
}

impl ShrinkableKeyedStateStore<u64> for SharedStore {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&*self.0, drop_below)
    }

    fn shrink_to_fit(&self) {
        self.0.shrink_to_fit()
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

type KeyedLimiter<C> =
    RateLimiter<u64, SharedStore, C, governor::middleware::NoOpMiddleware<<C as Clock>::Instant>>;

/// One named policy: its quota, its keyed store and its overflow buckets.
/// The clock is governor's real one, or a fake one in tests (no sleeping).
pub struct Policy<C: Clock = DefaultClock> {
    name: &'static str,
    quota: QuotaSpec,
    store: SharedStore,
    limiter: KeyedLimiter<C>,
    overflow: KeyedLimiter<C>,
    max_keys: usize,
    clock: C,
    /// The last prune dropped at least half of the keys: they are short
    /// lived, so a large store is still worth walking every tick.
    keys_short_lived: AtomicBool,
}

impl Policy {
    pub fn new(name: &'static str, quota: QuotaSpec, max_keys: usize) -> Self {
        Self::with_clock(name, quota, max_keys, DefaultClock::default())
    }
}

impl<C: Clock + Clone> Policy<C> {
    pub fn with_clock(name: &'static str, quota: QuotaSpec, max_keys: usize, clock: C) -> Self {
        let governor_quota = governor_quota(quota);
        let store = SharedStore::default();
        Self {
            name,
            quota,
            limiter: RateLimiter::new(governor_quota, store.clone(), clock.clone()),
            store,
            overflow: RateLimiter::new(governor_quota, SharedStore::default(), clock.clone()),
            max_keys,
            clock,
            keys_short_lived: AtomicBool::new(false),
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Takes one cell for `key`, or says how long to wait.
    pub fn check(&self, key: u64) -> Result<(), Rejection> {
        // Whether the key is tracked matters only in a full store; below the
        // cap the limiter's own lookup is the only one.
        let outcome = if self.store.0.len() < self.max_keys || self.store.0.contains_key(&key) {
            self.limiter.check_key(&key)
        } else {
            self.overflow.check_key(&(key % OVERFLOW_BUCKETS))
        };
        outcome.map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            Rejection {
                policy: self.name,
                quota: self.quota,
                retry_after: ceil_secs(wait),
            }
        })
    }

    /// Drops keys whose bucket is full again (indistinguishable from a new
    /// key) and gives the memory back.
    pub fn prune(&self) {
        let before = self.limiter.len();
        for limiter in [&self.limiter, &self.overflow] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let dropped = before.saturating_sub(self.limiter.len());
        self.keys_short_lived
            .store(before > 0 && dropped * 2 >= before, Ordering::Relaxed);
    }

    /// Whether prune tick `tick` should walk this store: a small one
    /// always; one of [`LARGE_STORE_KEYS`] or more every
    /// [`LARGE_STORE_PRUNE_EVERY`] ticks (its keys are mostly live, long
    /// quota windows, and each walk costs), unless its last prune dropped
    /// most of its keys (a high quota and many distinct identifiers: the
    /// store would otherwise grow ten ticks' worth of dead keys).
    pub fn prune_due(&self, tick: u64) -> bool {
        self.len() < LARGE_STORE_KEYS
            || self.keys_short_lived.load(Ordering::Relaxed)
            || tick % LARGE_STORE_PRUNE_EVERY == 0
    }

    /// Tracked keys, overflow buckets included.
    pub fn len(&self) -> usize {
        self.limiter.len() + self.overflow.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Burst N, one cell back every unit/N.
fn governor_quota(spec: QuotaSpec) -> Quota {
    let period = spec.period / spec.count.get();
    Quota::with_period(period.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_second(spec.count))
        .allow_burst(spec.count)
}

/// Seconds to wait, rounded up, at least 1 (`Retry-After`).
pub fn ceil_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// Every policy of SPEC §4 in this process, indexed by [`PolicyId`], and
/// the networks known for an identifier (SPEC §13).
pub struct LocalLimits {
    prune_ticks: AtomicU64,
    hasher: std::hash::RandomState,
    policies: Vec<Policy>,
    known: KnownNetworks,
}

impl LocalLimits {
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            prune_ticks: AtomicU64::new(0),
            hasher: std::hash::RandomState::new(),
            policies: PolicyId::ALL
                .iter()
                .map(|id| Policy::new(id.name(), id.quota(settings), settings.max_keys))
                .collect(),
            known: KnownNetworks::new(settings.max_keys),
        }
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    pub fn known(&self) -> &KnownNetworks {
        &self.known
    }

    /// Takes a cell from each bucket in order; the first that is empty
    /// refuses the call. A ceiling whose caller is a known network is
    /// skipped (SPEC §13).
    pub fn charge(&self, buckets: &[(PolicyId, Subject<'_>)]) -> Result<(), Rejection> {
        for (id, subject) in buckets {
            if let Subject::IdentifierCeiling(key, ip) = subject {
                if self.known.is_known(*id, key, *ip) {
                    continue;
                }
            }
            if let Some(policy) = self.policies.get(*id as usize) {
                policy.check(self.key(*subject))?;
            }
        }
        Ok(())
    }

    /// Prunes idle keys and exports the store sizes; called every
    /// [`PRUNE_INTERVAL`], each store when [`Policy::prune_due`], the
    /// known networks every [`KNOWN_PRUNE_EVERY`] ticks (they live 30
    /// days: a minute of expired entries costs little, walking them every
    /// second would cost more).
    pub fn prune(&self) {
        let tick = self.prune_ticks.fetch_add(1, Ordering::Relaxed);
        for policy in &self.policies {
            if policy.prune_due(tick) {
                policy.prune();
            }
            crate::metrics::record_limiter_keys(policy.name(), policy.len());
        }
        if tick % KNOWN_PRUNE_EVERY == 0 {
            self.known.prune(Instant::now());
        }
        crate::metrics::record_limiter_keys("known_networks", self.known.len());
        crate::metrics::record_limiter_keys("known_mfa_tokens", self.known.tokens_len());
    }

    /// A 64-bit keyed hash of the subject (SipHash, per-process key).
    fn key(&self, subject: Subject<'_>) -> u64 {
        match subject {
            Subject::Network(ip) => self.hasher.hash_one(("network", network(ip))),
            Subject::IdentifierCeiling(identifier, _) => {
                self.hasher.hash_one(("identifier", identifier))
            }
            Subject::IdentifierNetwork(identifier, ip) => {
                self.hasher
                    .hash_one(("identifier_network", identifier, network(ip)))
            }
            Subject::MfaToken(token) => self
                .hasher
                .hash_one(("mfa_token", crate::domain::mfa_token_key(token))),
            Subject::Phone(number) => self.hasher.hash_one(("phone", number)),
            Subject::Authenticator(id) => self.hasher.hash_one(("authenticator", id)),
            Subject::Everyone => 0,
        }
    }
}

/// How often idle keys are pruned. Short, because a store holds every key
/// seen since the last prune: at 35k requests/s with distinct identifiers
/// (`scripts/bench`) a 30 s interval meant a million keys (~40 MB) between
/// prunes; 1 s keeps RSS under 30 MB. Pruning 35k keys takes well under a
/// millisecond, one shard lock at a time.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(1);
/// From this size on a store is pruned less often ...
pub const LARGE_STORE_KEYS: usize = 100_000;
/// ... every this many intervals (a million keys take ~15 ms to walk).
pub const LARGE_STORE_PRUNE_EVERY: u64 = 10;
/// The known networks are pruned every this many intervals.
pub const KNOWN_PRUNE_EVERY: u64 = 60;

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    fn quota(count: u32, secs: u64) -> QuotaSpec {
        QuotaSpec {
            count: NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN),
            period: Duration::from_secs(secs),
        }
    }

    #[test]
    fn a_policy_allows_its_burst_then_names_itself() {
        let policy = Policy::new("login_start_per_identifier", quota(5, 3600), 100);
        for _ in 0..5 {
            assert!(policy.check(42).is_ok());
        }
        let rejection = policy.check(42).err();
        let rejection = rejection.as_ref();
        assert_eq!(
            rejection.map(|r| r.policy),
            Some("login_start_per_identifier")
        );
        // One cell comes back every 720 s.
        let wait = rejection.map(|r| r.retry_after).unwrap_or(0);
        assert!((719..=720).contains(&wait), "{wait}");
        assert!(policy.check(43).is_ok(), "other keys are independent");
    }

    #[test]
    fn a_full_store_sends_new_keys_to_overflow_buckets() {
        let policy = Policy::new("per_ip", quota(1, 3600), 2);
        assert!(policy.check(1).is_ok());
        assert!(policy.check(2).is_ok());
        // Store full: key 3 is limited through its overflow bucket, not refused.
        assert!(policy.check(3).is_ok());
        assert!(policy.check(3).is_err());
        // Tracked keys keep their own bucket.
        assert!(policy.check(1).is_err());
        assert_eq!(policy.limiter.len(), 2);
        assert!(policy.check(4).is_ok(), "a different overflow bucket");
    }

    #[test]
    fn pruning_drops_idle_keys() {
        let clock = governor::clock::FakeRelativeClock::default();
        let policy = Policy::with_clock("per_ip", quota(1000, 1), 1_000_000, clock.clone());
        for key in 0..1000 {
            assert!(policy.check(key).is_ok());
        }
        assert_eq!(policy.len(), 1000);
        policy.prune();
        assert_eq!(policy.len(), 1000, "buckets not yet full again are kept");
        clock.advance(Duration::from_millis(1100));
        policy.prune();
        assert_eq!(policy.len(), 0);
    }

    #[test]
    fn a_large_store_of_short_lived_keys_is_pruned_every_tick() {
        let clock = governor::clock::FakeRelativeClock::default();
        let long = Policy::with_clock("long", quota(5, 3600), 1_000_000, clock.clone());
        let short = Policy::with_clock("short", quota(1000, 1), 1_000_000, clock.clone());
        let keys = LARGE_STORE_KEYS as u64;
        for key in 0..keys {
            assert!(long.check(key).is_ok() && short.check(key).is_ok());
        }
        // Both large; nothing known of their keys yet: every 10th tick.
        assert!(long.prune_due(0) && short.prune_due(0));
        assert!(!long.prune_due(1) && !short.prune_due(1));
        clock.advance(Duration::from_millis(1100));
        long.prune();
        short.prune();
        // The short-lived store was emptied; refill it and it is still due
        // on every tick, while the long one (all keys live) waits.
        assert_eq!(short.len(), 0);
        assert_eq!(long.len(), LARGE_STORE_KEYS);
        for key in 0..keys {
            assert!(short.check(key).is_ok());
        }
        assert!(short.prune_due(1), "dead keys are dropped at once");
        assert!(!long.prune_due(1), "live keys are not walked every tick");
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let q = quota(1, 60);
        let limits = LocalLimits::new(&RateLimitSettings {
            enabled: true,
            max_keys: 100,
            redis: None,
            per_ip: q,
            login_start_per_ip: q,
            login_start_per_identifier_ip: q,
            login_start_per_identifier: q,
            verify_per_identifier_ip: q,
            verify_per_identifier: q,
            mfa_verify_per_token: q,
            sms_per_phone: q,
            sms_global: q,
            passkey_register_per_ip: q,
        });
        let ip = |text: &str| text.parse().unwrap_or(std::net::IpAddr::from([0; 4]));
        let check = |text: &str| limits.charge(&[(PolicyId::PerIp, Subject::Network(ip(text)))]);
        assert!(check("2001:db8:1:2::1").is_ok());
        assert!(check("2001:db8:1:2::ffff").is_err());
        assert!(check("2001:db8:1:3::1").is_ok());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_millis(1500)), 2);
        assert_eq!(ceil_secs(Duration::from_secs(720)), 720);
        assert_eq!(ceil_secs(Duration::ZERO), 1);
    }
}
