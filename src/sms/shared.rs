//! The §8 state in the fleet's Redis (SPEC §9), when
//! `rate_limit.backend = "redis"`: per country a hash of time-slot
//! counters (`s<step>` sends, `v<step>` verifications) on Redis' clock,
//! expiring with the window; the fleet's pauses in one sorted set
//! (country → end, in ms); each mfa_token's country under a keyed hash of
//! the token, expiring with it. Every operation is one script, one round
//! trip, atomic; replicas mirror the pauses on their housekeeping tick so
//! `check_paused` costs no round trip.

use std::sync::Arc;
use std::time::Duration;

use redis::Script;

use super::{Country, TOKEN_LIFETIME};
use crate::redis_store::{RedisStore, StoreUnavailable};
use crate::settings::FraudGuardSettings;

/// Slots per window, as in memory ([`super::fraud_guard`]).
const SLOTS: u64 = 60;

/// KEYS: window hash, pauses, and the mfa_token's key when the send was
/// for one; ARGV: country, step µs, slots, min_sends, min_conversion,
/// pause ms, the token's lifetime in s. Remembers the token's country,
/// then returns
/// `{pause_left_ms, tripped, sends, verifications}`; a paused country's
/// send is not counted.
const RECORD_SEND: &str = r#"
if KEYS[3] then redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[7]) end
local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])
local now_ms = math.floor(now_us / 1000)
local paused_until = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]) or 0)
if paused_until > now_ms then return {paused_until - now_ms, 0, 0, 0} end
if paused_until > 0 then redis.call('ZREM', KEYS[2], ARGV[1]) end
local step_us = tonumber(ARGV[2])
local slots = tonumber(ARGV[3])
local step = math.floor(now_us / step_us)
redis.call('HINCRBY', KEYS[1], 's' .. step, 1)
redis.call('PEXPIRE', KEYS[1], math.ceil(step_us * slots / 1000))
local fields = redis.call('HGETALL', KEYS[1])
local sends, verified = 0, 0
for i = 1, #fields, 2 do
  local field = fields[i]
  if tonumber(string.sub(field, 2)) + slots > step then
    if string.sub(field, 1, 1) == 's' then
      sends = sends + tonumber(fields[i + 1])
    else
      verified = verified + tonumber(fields[i + 1])
    end
  else
    redis.call('HDEL', KEYS[1], field)
  end
end
if sends < tonumber(ARGV[4]) or verified >= tonumber(ARGV[5]) * sends then
  return {0, 0, sends, verified}
end
local pause_ms = tonumber(ARGV[6])
redis.call('DEL', KEYS[1])
redis.call('ZADD', KEYS[2], now_ms + pause_ms, ARGV[1])
if redis.call('PTTL', KEYS[2]) < pause_ms then redis.call('PEXPIRE', KEYS[2], pause_ms) end
return {pause_ms, 1, sends, verified}
"#;

/// KEYS: window hash, pauses, the token's key; ARGV: country, step µs,
/// slots. Forgets the token (it works no more) and counts the
/// verification unless the country is paused.
const RECORD_VERIFICATION: &str = r#"
redis.call('DEL', KEYS[3])
local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])
local paused_until = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]) or 0)
if paused_until > math.floor(now_us / 1000) then return 0 end
local step_us = tonumber(ARGV[2])
redis.call('HINCRBY', KEYS[1], 'v' .. math.floor(now_us / step_us), 1)
redis.call('PEXPIRE', KEYS[1], math.ceil(step_us * tonumber(ARGV[3]) / 1000))
return 1
"#;

/// KEYS: pauses. Drops ended pauses; returns `{country, ms left, …}`.
const PAUSES: &str = r#"
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #entries, 2 do
  out[#out + 1] = entries[i]
  out[#out + 1] = tostring(tonumber(entries[i + 1]) - now_ms)
end
return out
"#;

/// KEYS: pauses; ARGV: country. Returns the ms left of its pause, or 0.
const PAUSE_LEFT: &str = r#"
local paused_until = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or 0)
local time = redis.call('TIME')
local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if paused_until > now_ms then return paused_until - now_ms end
return 0
"#;

const GET: &str = "return redis.call('GET', KEYS[1])";

/// What Redis said of a send.
pub struct SendOutcome {
    /// The country is paused (just now, or already) for this long.
    pub paused_for: Option<Duration>,
    /// This send paused it: `(sends, verifications)` in the window.
    pub tripped: Option<(u64, u64)>,
}

pub struct SharedSms {
    store: Arc<RedisStore>,
    settings: FraudGuardSettings,
    step_us: u64,
    pauses_key: String,
    record_send: Script,
    record_verification: Script,
    pauses: Script,
    pause_left: Script,
    get: Script,
}

impl SharedSms {
    pub fn new(store: Arc<RedisStore>, settings: FraudGuardSettings) -> Self {
        let step_us = (settings.window.as_micros() as u64 / SLOTS).max(1_000);
        Self {
            pauses_key: store.plain_key("sms_paused"),
            store,
            settings,
            step_us,
            record_send: Script::new(RECORD_SEND),
            record_verification: Script::new(RECORD_VERIFICATION),
            pauses: Script::new(PAUSES),
            pause_left: Script::new(PAUSE_LEFT),
            get: Script::new(GET),
        }
    }

    pub fn store(&self) -> &RedisStore {
        &self.store
    }

    fn window_key(&self, country: Country) -> String {
        self.store.key("sms_window", &[country.as_str().as_bytes()])
    }

    fn token_key(&self, mfa_token: &str) -> String {
        self.store.key(
            "sms_token",
            &[crate::domain::mfa_token_key(mfa_token).as_bytes()],
        )
    }

    /// Counts a send Auth0 accepted, and remembers the country of the
    /// mfa_token it was for.
    pub async fn record_send(
        &self,
        country: Country,
        mfa_token: Option<&str>,
    ) -> Result<SendOutcome, StoreUnavailable> {
        let mut invocation = self.record_send.prepare_invoke();
        invocation
            .key(self.window_key(country))
            .key(&self.pauses_key);
        if let Some(token) = mfa_token {
            invocation.key(self.token_key(token));
        }
        invocation
            .arg(country.as_str())
            .arg(self.step_us)
            .arg(SLOTS)
            .arg(self.settings.min_sends)
            .arg(self.settings.min_conversion)
            .arg(self.settings.pause.as_millis() as u64)
            .arg(TOKEN_LIFETIME.as_secs());
        let (paused_ms, tripped, sends, verifications): (u64, u8, u64, u64) =
            self.store.run(&invocation).await?;
        Ok(SendOutcome {
            paused_for: (paused_ms > 0).then(|| Duration::from_millis(paused_ms)),
            tripped: (tripped == 1).then_some((sends, verifications)),
        })
    }

    /// Counts a verification for `country` and forgets the token.
    pub async fn record_verification(
        &self,
        country: Country,
        mfa_token: Option<&str>,
    ) -> Result<(), StoreUnavailable> {
        let mut invocation = self.record_verification.prepare_invoke();
        invocation
            .key(self.window_key(country))
            .key(&self.pauses_key)
            .key(match mfa_token {
                Some(token) => self.token_key(token),
                // A key no one writes: nothing to forget.
                None => self.store.plain_key("sms_token:none"),
            })
            .arg(country.as_str())
            .arg(self.step_us)
            .arg(SLOTS);
        self.store.run::<i64>(&invocation).await.map(drop)
    }

    /// How long the fleet has `country` paused, if it has.
    pub async fn pause_left(&self, country: Country) -> Result<Option<Duration>, StoreUnavailable> {
        let mut invocation = self.pause_left.prepare_invoke();
        invocation.key(&self.pauses_key).arg(country.as_str());
        let left_ms: u64 = self.store.run(&invocation).await?;
        Ok((left_ms > 0).then(|| Duration::from_millis(left_ms)))
    }

    /// The fleet's paused countries and the time each has left.
    pub async fn pauses(&self) -> Result<Vec<(Country, Duration)>, StoreUnavailable> {
        let mut invocation = self.pauses.prepare_invoke();
        invocation.key(&self.pauses_key);
        let flat: Vec<String> = self.store.run(&invocation).await?;
        Ok(flat
            .chunks_exact(2)
            .filter_map(|pair| {
                let country = Country::from_label(&pair[0])?;
                let left = pair[1].parse::<u64>().ok()?;
                Some((country, Duration::from_millis(left)))
            })
            .collect())
    }

    /// `Ok(None)`: Redis does not know the token.
    pub async fn token_country(
        &self,
        mfa_token: &str,
    ) -> Result<Option<Country>, StoreUnavailable> {
        let mut invocation = self.get.prepare_invoke();
        invocation.key(self.token_key(mfa_token));
        let code: Option<String> = self.store.run(&invocation).await?;
        Ok(code.map(|label| Country::from_label(&label).unwrap_or(Country::Unknown)))
    }
}
