//! The Redis backend of the limits (SPEC §9): all of a call's buckets are
//! checked and charged in one server-side script, atomically, on Redis'
//! own clock (replicas' clocks do not matter). GCRA, the algorithm governor
//! uses in memory: a bucket is its "theoretical arrival time" (TAT); a call
//! is allowed when TAT − burst × interval ≤ now, and moves TAT one interval
//! on. Every key expires when its bucket is full again (TAT = now), so Redis
//! holds only live buckets.
//!
//! Known networks (SPEC §13) ride in the same script: a ceiling bucket
//! names a `known_network` key, and the script skips the bucket when that
//! key exists, so the lookup costs no round trip of its own. A known key is
//! `HMAC(identifier digest, network)` with a 30-day TTL; the identifier
//! digest is `HMAC(ceiling, identifier form)`, which is also all that an
//! mfa_token's `known_token` entry holds, so that `/mfa/verify` can make
//! its caller's network known without Redis ever holding an identifier.

use std::net::IpAddr;
use std::sync::Arc;

use redis::Script;

use super::known::{KNOWN_FOR, MFA_TOKEN_LIFETIME};
use super::{identifier_key, network, PolicyId, Rejection, Subject, CEILINGS};
use crate::domain::Identifier;
use crate::redis_store::{push_hex, RedisStore};
use crate::settings::{OnStoreError, QuotaSpec, RateLimitSettings};

/// KEYS: the buckets, then the keys ARGV points at. ARGV: per bucket, the
/// emission interval and the burst (microseconds, cells) and the index in
/// KEYS of a known-network key whose existence exempts the bucket (0:
/// none); last, the index in KEYS of a key whose value the answer carries
/// (0: none). Returns `{0, 0, value}` when every bucket not exempt had a
/// cell (and takes one from each), else `{i, wait_us, ''}` for the first
/// bucket that had none (and takes nothing).
const GCRA: &str = r#"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local buckets = (#ARGV - 1) / 3
local tats = {}
for i = 1, buckets do
  local interval = tonumber(ARGV[3 * i - 2])
  local burst = tonumber(ARGV[3 * i - 1])
  local known = tonumber(ARGV[3 * i])
  if known > 0 and redis.call('EXISTS', KEYS[known]) == 1 then
    tats[i] = false
  else
    local tat = tonumber(redis.call('GET', KEYS[i]) or now)
    if tat < now then tat = now end
    local next_tat = tat + interval
    local allowed_at = next_tat - burst * interval
    if allowed_at > now then
      return {i, allowed_at - now, ''}
    end
    tats[i] = next_tat
  end
end
for i = 1, buckets do
  if tats[i] then
    local ttl_ms = math.ceil((tats[i] - now) / 1000)
    redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', ttl_ms)
  end
end
local read = tonumber(ARGV[#ARGV])
local value = ''
if read > 0 then
  value = redis.call('GET', KEYS[read]) or ''
end
return {0, 0, value}
"#;

/// KEYS[i] is set to ARGV[2i - 1], expiring in ARGV[2i] milliseconds.
const REMEMBER: &str = r#"
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[2 * i - 1], 'PX', ARGV[2 * i])
end
return 0
"#;

/// A login's identifier digested per ceiling (in [`CEILINGS`] order), with
/// the fleet's key: what its known networks are keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedLogin([[u8; 16]; CEILINGS.len()]);

impl SharedLogin {
    /// The hex a `known_token` entry holds.
    fn to_hex(self) -> String {
        let mut hex = String::with_capacity(32 * CEILINGS.len());
        for digest in &self.0 {
            push_hex(&mut hex, digest);
        }
        hex
    }

    fn from_hex(hex: &str) -> Option<Self> {
        let bytes = hex.as_bytes();
        if bytes.len() != 32 * CEILINGS.len() {
            return None;
        }
        let nibble = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
        let mut digests = [[0u8; 16]; CEILINGS.len()];
        for (digest, chunk) in digests.iter_mut().zip(bytes.chunks(32)) {
            for (byte, pair) in digest.iter_mut().zip(chunk.chunks(2)) {
                *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
            }
        }
        Some(Self(digests))
    }
}

pub struct RedisLimits {
    store: Arc<RedisStore>,
    script: Script,
    remember: Script,
    /// Per [`PolicyId`]: the quota, its interval (µs) and burst.
    quotas: Vec<(QuotaSpec, u64, u64)>,
}

impl RedisLimits {
    pub fn new(store: Arc<RedisStore>, settings: &RateLimitSettings) -> Self {
        let quotas = PolicyId::ALL
            .iter()
            .map(|id| {
                let quota = id.quota(settings);
                let burst = u64::from(quota.count.get());
                let interval = (quota.period.as_micros() as u64 / burst).max(1);
                (quota, interval, burst)
            })
            .collect();
        Self {
            store,
            script: Script::new(GCRA),
            remember: Script::new(REMEMBER),
            quotas,
        }
    }

    /// `Ok(outcome)`: Redis decided; an allowed call carries the login
    /// `mfa_login_of` finishes, when that token names one. `Err(on_error)`:
    /// it did not answer.
    pub async fn charge(
        &self,
        buckets: &[(PolicyId, Subject<'_>)],
        mfa_login_of: Option<&str>,
    ) -> Result<Result<Option<SharedLogin>, Rejection>, OnStoreError> {
        let mut invocation = self.script.prepare_invoke();
        // Keys after the buckets, and their 1-based index in KEYS.
        let mut extra_keys = Vec::new();
        let mut extra = |key: String| {
            extra_keys.push(key);
            buckets.len() + extra_keys.len()
        };
        for (id, subject) in buckets {
            let (_, interval, burst) = self.quotas[*id as usize];
            let known = match subject {
                Subject::IdentifierCeiling(key, ip) => {
                    extra(self.known_key(self.digest(*id, key), *ip))
                }
                _ => 0,
            };
            invocation
                .key(self.key(*id, *subject))
                .arg(interval)
                .arg(burst)
                .arg(known);
        }
        let read = mfa_login_of.map_or(0, |token| extra(self.token_key(token)));
        for key in extra_keys {
            invocation.key(key);
        }
        invocation.arg(read);
        let (index, wait_us, value): (usize, u64, String) = self
            .store
            .run(&invocation)
            .await
            .map_err(|_| self.store.on_error())?;
        if index == 0 {
            return Ok(Ok(SharedLogin::from_hex(&value)));
        }
        let Some((id, _)) = buckets.get(index - 1) else {
            return Ok(Ok(None));
        };
        let (quota, _, _) = self.quotas[*id as usize];
        Ok(Err(Rejection {
            policy: id.name(),
            quota,
            retry_after: wait_us.div_ceil(1_000_000).max(1),
        }))
    }

    /// The digests a login of `identifier` is remembered under.
    pub fn login(&self, identifier: &Identifier) -> SharedLogin {
        SharedLogin(
            CEILINGS.map(|ceiling| self.digest(ceiling, &identifier_key(ceiling, identifier))),
        )
    }

    /// The login's network is known for [`KNOWN_FOR`]. A Redis that does
    /// not answer leaves it to this process's memory (written too).
    pub async fn remember_login(&self, login: SharedLogin, ip: IpAddr) {
        let mut invocation = self.remember.prepare_invoke();
        for digest in login.0 {
            invocation
                .key(self.known_key(digest, ip))
                .arg("1")
                .arg(KNOWN_FOR.as_millis() as u64);
        }
        let _: Result<i64, _> = self.store.run(&invocation).await;
    }

    /// `mfa_token` finishes `login`, for the token's lifetime.
    pub async fn remember_token(&self, mfa_token: &str, login: SharedLogin) {
        let mut invocation = self.remember.prepare_invoke();
        invocation
            .key(self.token_key(mfa_token))
            .arg(login.to_hex())
            .arg(MFA_TOKEN_LIFETIME.as_millis() as u64);
        let _: Result<i64, _> = self.store.run(&invocation).await;
    }

    fn digest(&self, ceiling: PolicyId, key: &str) -> [u8; 16] {
        self.store.digest(
            "known_identifier",
            &[ceiling.name().as_bytes(), key.as_bytes()],
        )
    }

    /// `{prefix}known_network:{HMAC(identifier digest, network)}`.
    fn known_key(&self, digest: [u8; 16], ip: IpAddr) -> String {
        self.store
            .key("known_network", &[&digest, &network_bytes(ip)])
    }

    /// `{prefix}known_token:{HMAC(mfa_token)}`.
    fn token_key(&self, mfa_token: &str) -> String {
        self.store.key(
            "known_token",
            &[crate::domain::mfa_token_key(mfa_token).as_bytes()],
        )
    }

    /// `{prefix}{policy}:{HMAC(subject)}`.
    fn key(&self, id: PolicyId, subject: Subject<'_>) -> String {
        match subject {
            Subject::Network(ip) => self.store.key(id.name(), &[b"network", &network_bytes(ip)]),
            Subject::IdentifierCeiling(identifier, _) => self
                .store
                .key(id.name(), &[b"identifier", identifier.as_bytes()]),
            Subject::IdentifierNetwork(identifier, ip) => self.store.key(
                id.name(),
                &[
                    b"identifier_network",
                    identifier.as_bytes(),
                    &network_bytes(ip),
                ],
            ),
            Subject::MfaToken(token) => self.store.key(
                id.name(),
                &[b"mfa_token", crate::domain::mfa_token_key(token).as_bytes()],
            ),
            Subject::Phone(number) => self.store.key(id.name(), &[b"phone", number.as_bytes()]),
            Subject::Authenticator(authenticator) => self
                .store
                .key(id.name(), &[b"authenticator", authenticator.as_bytes()]),
            Subject::Everyone => self.store.key(id.name(), &[b"everyone"]),
        }
    }
}

/// The client network as key bytes: its family, then its bits.
fn network_bytes(ip: IpAddr) -> [u8; 9] {
    let (family, bits) = network(ip);
    let mut bytes = [0u8; 9];
    bytes[0] = family;
    bytes[1..].copy_from_slice(&bits.to_be_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_entry_round_trips_its_digests_only() {
        let login = SharedLogin([[0xab; 16], [0x01; 16]]);
        let hex = login.to_hex();
        assert_eq!(hex.len(), 64);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(SharedLogin::from_hex(&hex), Some(login));
        assert_eq!(SharedLogin::from_hex(""), None, "no entry");
        assert_eq!(SharedLogin::from_hex(&hex[1..]), None);
        assert_eq!(SharedLogin::from_hex(&"zz".repeat(32)), None);
    }
}
