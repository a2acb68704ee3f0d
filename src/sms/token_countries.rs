//! Which country an mfa_token's texts went to (SPEC §8), so that an
//! `/mfa/verify` with an `oob_code` counts as a verification for that
//! country, and a later `/mfa/challenge` on the same token is judged by it.
//! Keys are keyed hashes of the token (never the token); entries live 10
//! minutes (an mfa_token's lifetime) and the map holds at most `max_keys`.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::Country;

/// How long an mfa_token works at Auth0.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(600);

pub struct TokenCountries {
    hasher: std::hash::RandomState,
    max_keys: usize,
    entries: Mutex<HashMap<u64, (Country, Instant)>>,
}

impl TokenCountries {
    pub fn new(max_keys: usize) -> Self {
        Self {
            hasher: std::hash::RandomState::new(),
            max_keys,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, mfa_token: &str) -> u64 {
        self.hasher
            .hash_one(crate::domain::mfa_token_key(mfa_token))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (Country, Instant)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers the country; a full map first drops expired entries, and
    /// if it is still full the token is not remembered (its verification
    /// then goes uncounted, which can only delay a pause, never cause one).
    pub fn remember(&self, mfa_token: &str, country: Country, now: Instant) {
        let key = self.key(mfa_token);
        let mut entries = self.lock();
        if entries.len() >= self.max_keys && !entries.contains_key(&key) {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= self.max_keys {
                return;
            }
        }
        entries.insert(key, (country, now + TOKEN_LIFETIME));
    }

    pub fn country(&self, mfa_token: &str, now: Instant) -> Option<Country> {
        let key = self.key(mfa_token);
        self.lock()
            .get(&key)
            .filter(|(_, expires)| *expires > now)
            .map(|(country, _)| *country)
    }

    /// A token that has been verified works no more.
    pub fn forget(&self, mfa_token: &str) {
        let key = self.key(mfa_token);
        self.lock().remove(&key);
    }

    pub fn prune(&self, now: Instant) {
        let mut entries = self.lock();
        entries.retain(|_, (_, expires)| *expires > now);
        entries.shrink_to_fit();
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FR: Country = Country::Known(phonenumber::country::Id::FR);

    #[test]
    fn padding_does_not_make_another_token() {
        let map = TokenCountries::new(10);
        let t = Instant::now();
        map.remember("tok", FR, t);
        assert_eq!(map.country("tok==", t), Some(FR));
        map.forget("tok=");
        assert_eq!(map.country("tok", t), None);
    }

    #[test]
    fn entries_expire_with_the_token() {
        let map = TokenCountries::new(10);
        let t = Instant::now();
        map.remember("tok", FR, t);
        assert_eq!(map.country("tok", t + TOKEN_LIFETIME), None);
        map.prune(t + TOKEN_LIFETIME);
        assert!(map.is_empty());
    }

    #[test]
    fn the_map_never_grows_past_max_keys() {
        let map = TokenCountries::new(100);
        let t = Instant::now();
        for i in 0..10_000 {
            map.remember(&format!("tok-{i}"), FR, t);
        }
        assert_eq!(map.len(), 100);
        // Expired entries make room again.
        map.remember("fresh", FR, t + TOKEN_LIFETIME);
        assert_eq!(map.len(), 1);
    }
}
