//! The Redis backend of the limits (SPEC §9): all of a call's buckets are
//! checked and charged in one server-side script, atomically, on Redis'
//! own clock (replicas' clocks do not matter). GCRA, the algorithm governor
//! uses in memory: a bucket is its "theoretical arrival time" (TAT); a call
//! is allowed when TAT − burst × interval ≤ now, and moves TAT one interval
//! on. Every key expires when its bucket is full again (TAT = now), so Redis
//! holds only live buckets.

use std::sync::Arc;

use redis::Script;

use super::{network, PolicyId, Rejection, Subject};
use crate::redis_store::RedisStore;
use crate::settings::{OnStoreError, QuotaSpec, RateLimitSettings};

/// KEYS: the buckets; ARGV: per bucket, the emission interval and the
/// burst, in microseconds and cells. Returns `{0, 0}` when every bucket
/// had a cell (and takes one from each), else `{i, wait_us}` for the first
/// bucket that had none (and takes nothing).
const GCRA: &str = r#"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tats = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local next_tat = tat + interval
  local allowed_at = next_tat - burst * interval
  if allowed_at > now then
    return {i, allowed_at - now}
  end
  tats[i] = next_tat
end
for i = 1, #KEYS do
  local ttl_ms = math.ceil((tats[i] - now) / 1000)
  redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', ttl_ms)
end
return {0, 0}
"#;

pub struct RedisLimits {
    store: Arc<RedisStore>,
    script: Script,
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
            quotas,
        }
    }

    /// `Ok(outcome)`: Redis decided. `Err(on_error)`: it did not answer.
    pub async fn charge(
        &self,
        buckets: &[(PolicyId, Subject<'_>)],
    ) -> Result<Result<(), Rejection>, OnStoreError> {
        let mut invocation = self.script.prepare_invoke();
        for (id, subject) in buckets {
            let (_, interval, burst) = self.quotas[*id as usize];
            invocation
                .key(self.key(*id, *subject))
                .arg(interval)
                .arg(burst);
        }
        let (index, wait_us): (usize, u64) = self
            .store
            .run(&invocation)
            .await
            .map_err(|_| self.store.on_error())?;
        if index == 0 {
            return Ok(Ok(()));
        }
        let Some((id, _)) = buckets.get(index - 1) else {
            return Ok(Ok(()));
        };
        let (quota, _, _) = self.quotas[*id as usize];
        Ok(Err(Rejection {
            policy: id.name(),
            quota,
            retry_after: wait_us.div_ceil(1_000_000).max(1),
        }))
    }

    /// `{prefix}{policy}:{HMAC(subject)}`.
    fn key(&self, id: PolicyId, subject: Subject<'_>) -> String {
        let net = |ip| {
            let (family, bits) = network(ip);
            let mut bytes = [0u8; 9];
            bytes[0] = family;
            bytes[1..].copy_from_slice(&bits.to_be_bytes());
            bytes
        };
        match subject {
            Subject::Network(ip) => self.store.key(id.name(), &[b"network", &net(ip)]),
            Subject::Identifier(identifier) => self
                .store
                .key(id.name(), &[b"identifier", identifier.as_bytes()]),
            Subject::IdentifierNetwork(identifier, ip) => self.store.key(
                id.name(),
                &[b"identifier_network", identifier.as_bytes(), &net(ip)],
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
