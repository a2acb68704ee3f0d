//! Known networks in this process (SPEC §13): a client network that
//! completed a login for an identifier is exempt from that identifier's
//! all-network ceilings for [`KNOWN_FOR`], so strangers spending a ceiling
//! from elsewhere cannot lock the user out of a network the user already
//! uses. The memory backend's store, and with Redis the fallback (every
//! login is written here too, so a replica still knows the networks it saw
//! while Redis is down).
//!
//! A login is remembered per ceiling, in the form that ceiling keys the
//! identifier on ([`super::identifier_key`]): `login_start_per_identifier`
//! the canonical form (the inbox), `verify_per_identifier` the form Auth0
//! receives (the user). So one login lets its network pass both ceilings
//! for that user, and guesses against `victim+1@` from a network that
//! `victim+1@` logged in from never pass `victim@`'s verify ceiling.
//!
//! Nothing here names anyone: an entry is a keyed hash (this process's
//! SipHash key) of a per-ceiling identifier digest and the network, and an
//! mfa_token's entry holds only those digests. Both maps are capped at
//! `rate_limit.max_keys`; a full map remembers nothing new until expired
//! entries are pruned (a login it cannot remember is limited as before,
//! and a stranger cannot push a remembered network out).

use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use super::{identifier_key, network, PolicyId, CEILINGS};
use crate::domain::Identifier;

/// How long a network stays known after a login completed from it.
pub const KNOWN_FOR: Duration = Duration::from_secs(30 * 86_400);
/// How long an mfa_token's login is remembered: the token's lifetime at
/// Auth0 (the SMS guard remembers its countries as long).
pub const MFA_TOKEN_LIFETIME: Duration = Duration::from_secs(600);

/// A login's identifier, digested once per ceiling (in [`CEILINGS`]
/// order): what a known network is remembered under, and all an
/// mfa_token's entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalLogin([u64; CEILINGS.len()]);

pub struct KnownNetworks {
    hasher: std::hash::RandomState,
    /// Expiry times are whole seconds after this instant (4 bytes an entry).
    origin: Instant,
    max_keys: usize,
    /// Keyed hash of (ceiling digest, network) → expiry.
    networks: DashMap<u64, u32>,
    /// Keyed hash of an mfa_token → the login it finishes, and expiry.
    tokens: DashMap<u64, (LocalLogin, u32)>,
}

impl KnownNetworks {
    pub fn new(max_keys: usize) -> Self {
        Self {
            hasher: std::hash::RandomState::new(),
            origin: Instant::now(),
            max_keys,
            networks: DashMap::new(),
            tokens: DashMap::new(),
        }
    }

    /// The digests a login of `identifier` is remembered under.
    pub fn login(&self, identifier: &Identifier) -> LocalLogin {
        LocalLogin(
            CEILINGS.map(|ceiling| self.digest(ceiling, &identifier_key(ceiling, identifier))),
        )
    }

    /// Whether `ip`'s network completed a login for the identifier that
    /// `ceiling` keys as `key`, within [`KNOWN_FOR`].
    pub fn is_known(&self, ceiling: PolicyId, key: &str, ip: IpAddr) -> bool {
        let entry = self.entry(self.digest(ceiling, key), ip);
        // The clock is read only for a hit: most callers are not known.
        self.networks
            .get(&entry)
            .is_some_and(|expires| *expires > self.secs(Instant::now()))
    }

    /// A login completed from `ip`: its network is known for
    /// [`KNOWN_FOR`] from `now` (again, if it was).
    pub fn remember(&self, login: LocalLogin, ip: IpAddr, now: Instant) {
        let expires = self.secs(now + KNOWN_FOR);
        for digest in login.0 {
            let entry = self.entry(digest, ip);
            if self.networks.len() >= self.max_keys && !self.networks.contains_key(&entry) {
                return;
            }
            self.networks.insert(entry, expires);
        }
    }

    /// `/login/verify` answered `mfa_required`: the token finishes `login`.
    pub fn remember_token(&self, mfa_token: &str, login: LocalLogin, now: Instant) {
        let key = self.token(mfa_token);
        if self.tokens.len() >= self.max_keys && !self.tokens.contains_key(&key) {
            return;
        }
        self.tokens
            .insert(key, (login, self.secs(now + MFA_TOKEN_LIFETIME)));
    }

    /// The login an mfa_token finishes, if `/login/verify` issued it here
    /// within its lifetime.
    pub fn token_login(&self, mfa_token: &str, now: Instant) -> Option<LocalLogin> {
        let now = self.secs(now);
        self.tokens
            .get(&self.token(mfa_token))
            .filter(|entry| entry.1 > now)
            .map(|entry| entry.0)
    }

    /// A token that completed its login works no more.
    pub fn forget_token(&self, mfa_token: &str) {
        self.tokens.remove(&self.token(mfa_token));
    }

    /// Drops expired entries and gives the memory back.
    pub fn prune(&self, now: Instant) {
        let now = self.secs(now);
        self.networks.retain(|_, expires| *expires > now);
        self.networks.shrink_to_fit();
        self.tokens.retain(|_, (_, expires)| *expires > now);
        self.tokens.shrink_to_fit();
    }

    /// Known (network, ceiling) entries.
    pub fn len(&self) -> usize {
        self.networks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// Remembered mfa_tokens.
    pub fn tokens_len(&self) -> usize {
        self.tokens.len()
    }

    fn digest(&self, ceiling: PolicyId, key: &str) -> u64 {
        self.hasher
            .hash_one(("known_identifier", ceiling.name(), key))
    }

    fn entry(&self, digest: u64, ip: IpAddr) -> u64 {
        self.hasher.hash_one(("known_network", digest, network(ip)))
    }

    fn token(&self, mfa_token: &str) -> u64 {
        self.hasher
            .hash_one(("known_token", crate::domain::mfa_token_key(mfa_token)))
    }

    fn secs(&self, at: Instant) -> u32 {
        let secs = at.saturating_duration_since(self.origin).as_secs();
        u32::try_from(secs).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0; 4]))
    }

    fn email(text: &str) -> Identifier {
        Identifier::parse(Some(text), None).unwrap_or_else(|_| {
            Identifier::parse(Some("fallback@example.com"), None).expect("valid")
        })
    }

    const START: PolicyId = PolicyId::LoginStartPerIdentifier;
    const VERIFY: PolicyId = PolicyId::VerifyPerIdentifier;

    #[test]
    fn a_login_makes_its_network_known_for_both_ceilings_of_that_user() {
        let known = KnownNetworks::new(100);
        let login = known.login(&email("Victim+news@Example.com"));
        known.remember(login, ip("198.51.100.20"), Instant::now());
        // Start keys are canonical (the inbox), verify keys the address
        // Auth0 received (the user).
        assert!(known.is_known(START, "victim@example.com", ip("198.51.100.20")));
        assert!(known.is_known(VERIFY, "victim+news@example.com", ip("198.51.100.20")));
        assert!(!known.is_known(VERIFY, "victim@example.com", ip("198.51.100.20")));
        // Only that network; an IPv6 /64 is one network.
        assert!(!known.is_known(START, "victim@example.com", ip("198.51.100.21")));
        known.remember(login, ip("2001:db8:1:2::1"), Instant::now());
        assert!(known.is_known(START, "victim@example.com", ip("2001:db8:1:2::ffff")));
        assert!(!known.is_known(START, "victim@example.com", ip("2001:db8:1:3::1")));
    }

    #[test]
    fn a_known_network_expires_after_thirty_days() {
        let known = KnownNetworks::new(100);
        let login = known.login(&email("victim@example.com"));
        let long_ago = Instant::now()
            .checked_sub(KNOWN_FOR)
            .unwrap_or_else(Instant::now);
        known.remember(login, ip("198.51.100.20"), long_ago);
        assert!(!known.is_known(START, "victim@example.com", ip("198.51.100.20")));
        known.prune(Instant::now());
        assert!(known.is_empty());
    }

    #[test]
    fn an_mfa_token_remembers_its_login_for_its_lifetime() {
        let known = KnownNetworks::new(100);
        let login = known.login(&email("victim@example.com"));
        let t = Instant::now();
        known.remember_token("tok", login, t);
        assert_eq!(known.token_login("tok==", t), Some(login));
        assert_eq!(known.token_login("tok", t + MFA_TOKEN_LIFETIME), None);
        known.forget_token("tok=");
        assert_eq!(known.token_login("tok", t), None);
    }

    #[test]
    fn a_full_store_keeps_what_it_knows_and_remembers_nothing_new() {
        let known = KnownNetworks::new(10);
        let t = Instant::now();
        let victim = known.login(&email("victim@example.com"));
        known.remember(victim, ip("198.51.100.20"), t);
        for n in 0..100u8 {
            let stranger = known.login(&email(&format!("stranger{n}@example.com")));
            known.remember(stranger, ip("203.0.113.1"), t);
            known.remember_token(&format!("tok-{n}"), stranger, t);
        }
        assert_eq!(known.len(), 10);
        assert_eq!(known.tokens_len(), 10);
        assert!(known.is_known(START, "victim@example.com", ip("198.51.100.20")));
        // The victim logging in again still refreshes the entries it has.
        known.remember(victim, ip("198.51.100.20"), t);
        assert_eq!(known.len(), 10);
    }
}
