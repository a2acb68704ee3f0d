//! The shared Redis (or Valkey) of SPEC §9: one connection manager for the
//! process, keyed-hash key names, a deadline on every call, and what a
//! caller does while it does not answer.
//!
//! - **Keys** are `{key_prefix}{kind}:{HMAC-SHA256(key_hash_secret, …)}`
//!   (128 bits, hex): equal on every replica, and never an address, number,
//!   email or token.
//! - **Deadline**: each call gets `rate_limit.redis.timeout_ms`; a slow or
//!   dead Redis costs a request at most that.
//! - **Outage**: the first failure logs one `warn` event
//!   (`rate_limit_store_unavailable`) and for [`RETRY_AFTER_FAILURE`] calls
//!   go straight to the fallback instead of waiting on a dead server; then
//!   one is tried again, and the first success logs
//!   `rate_limit_store_recovered`. `/metrics`:
//!   `gateway_rate_limit_store_up`, `gateway_rate_limit_store_errors_total`,
//!   `gateway_rate_limit_store_fallbacks_total`.
//! - **Connecting** happens on the housekeeping timer, never on a request:
//!   the gateway starts and serves while Redis is down.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

use crate::settings::{OnStoreError, RedisSettings};

/// How long calls skip a Redis that just failed before one tries again.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(500);

/// Redis did not answer in time, refused, or is not connected yet.
#[derive(Debug, Clone, Copy)]
pub struct StoreUnavailable;

pub struct RedisStore {
    client: redis::Client,
    connection: RwLock<Option<ConnectionManager>>,
    prefix: String,
    key_hash_secret: SecretString,
    timeout: Duration,
    on_error: OnStoreError,
    origin: Instant,
    /// Not answering (or not connected yet).
    down: AtomicBool,
    /// This outage has been logged: one warn per outage.
    announced_down: AtomicBool,
    /// Milliseconds after `origin` before which calls skip Redis.
    retry_at_ms: AtomicU64,
}

impl RedisStore {
    /// Parses the URL; does not connect (see [`Self::ensure_connected`]).
    pub fn new(settings: &RedisSettings) -> Result<Self, String> {
        let client = redis::Client::open(settings.url.expose_secret())
            .map_err(|_| "rate_limit.redis.url is not a valid Redis URL".to_string())?;
        Ok(Self {
            client,
            connection: RwLock::new(None),
            prefix: settings.key_prefix.clone(),
            key_hash_secret: settings.key_hash_secret.clone(),
            timeout: settings.timeout,
            on_error: settings.on_error,
            origin: Instant::now(),
            // Down until the first connection: calls use the fallback.
            down: AtomicBool::new(true),
            announced_down: AtomicBool::new(false),
            retry_at_ms: AtomicU64::new(0),
        })
    }

    pub fn on_error(&self) -> OnStoreError {
        self.on_error
    }

    /// A key that names no one (the fleet's paused countries, …).
    pub fn plain_key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A key name: the prefix, the kind (a policy name, `sms`, …) and the
    /// keyed hash of the parts.
    pub fn key(&self, kind: &str, parts: &[&[u8]]) -> String {
        let mut mac =
            match Hmac::<Sha256>::new_from_slice(self.key_hash_secret.expose_secret().as_bytes()) {
                Ok(mac) => mac,
                // HMAC takes keys of any length; this cannot happen.
                Err(_) => return format!("{}{kind}:invalid", self.prefix),
            };
        mac.update(kind.as_bytes());
        for part in parts {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        let digest = mac.finalize().into_bytes();
        let mut key = String::with_capacity(self.prefix.len() + kind.len() + 33);
        key.push_str(&self.prefix);
        key.push_str(kind);
        key.push(':');
        for byte in &digest[..16] {
            key.push_str(&format!("{byte:02x}"));
        }
        key
    }

    /// Runs a script within the deadline. `Err` means: use the fallback.
    pub async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreUnavailable> {
        if self.skipping() {
            metrics::counter!("gateway_rate_limit_store_fallbacks_total").increment(1);
            return Err(StoreUnavailable);
        }
        let connection = self.connection.read().ok().and_then(|c| c.clone());
        let Some(mut connection) = connection else {
            self.failed("not_connected");
            metrics::counter!("gateway_rate_limit_store_fallbacks_total").increment(1);
            return Err(StoreUnavailable);
        };
        let failure = match tokio::time::timeout(
            self.timeout,
            invocation.invoke_async(&mut connection),
        )
        .await
        {
            Ok(Ok(value)) => {
                self.answered();
                return Ok(value);
            }
            Ok(Err(error)) if error.is_timeout() => "timeout",
            Ok(Err(_)) => "error",
            Err(_) => "timeout",
        };
        self.failed(failure);
        metrics::counter!("gateway_rate_limit_store_fallbacks_total").increment(1);
        Err(StoreUnavailable)
    }

    /// Connects once (afterwards the connection manager reconnects by
    /// itself), then pings, so an outage and the recovery are seen (and
    /// `/readyz` and the gauge follow) without waiting for traffic. Called
    /// before serving and on the housekeeping timer.
    pub async fn ensure_connected(&self) {
        let connection = self.connection.read().ok().and_then(|c| c.clone());
        if let Some(mut connection) = connection {
            let ping = redis::cmd("PING");
            match tokio::time::timeout(self.timeout, ping.query_async::<()>(&mut connection)).await
            {
                Ok(Ok(())) => self.answered(),
                Ok(Err(_)) => self.failed("error"),
                Err(_) => self.failed("timeout"),
            }
            return;
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let attempt = tokio::time::timeout(
            Duration::from_secs(2),
            self.client.get_connection_manager_with_config(config),
        )
        .await;
        match attempt {
            Ok(Ok(manager)) => {
                if let Ok(mut slot) = self.connection.write() {
                    *slot = Some(manager);
                }
                // Let the next call try at once.
                self.retry_at_ms.store(0, Ordering::Relaxed);
            }
            _ => self.failed("connect"),
        }
    }

    /// Not answering right now (or never connected yet).
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }

    fn skipping(&self) -> bool {
        self.down.load(Ordering::Relaxed)
            && self.now_ms() < self.retry_at_ms.load(Ordering::Relaxed)
    }

    fn answered(&self) {
        self.down.store(false, Ordering::Relaxed);
        if self.announced_down.swap(false, Ordering::Relaxed) {
            tracing::info!(
                event = "rate_limit_store_recovered",
                "the shared rate-limit store answers again: limits are fleet-wide again"
            );
        }
        metrics::gauge!("gateway_rate_limit_store_up").set(1.0);
    }

    fn failed(&self, reason: &'static str) {
        metrics::counter!("gateway_rate_limit_store_errors_total", "reason" => reason).increment(1);
        metrics::gauge!("gateway_rate_limit_store_up").set(0.0);
        self.retry_at_ms.store(
            self.now_ms() + RETRY_AFTER_FAILURE.as_millis() as u64,
            Ordering::Relaxed,
        );
        self.down.store(true, Ordering::Relaxed);
        if !self.announced_down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                event = "rate_limit_store_unavailable",
                reason,
                on_error = ?self.on_error,
                "the shared rate-limit store does not answer: using the on_error policy"
            );
        }
    }
}
