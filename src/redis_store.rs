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
//! - **One connection per worker thread**: a multiplexed connection's I/O
//!   runs on the thread that opened it, so with one connection for the
//!   process every check crossed threads twice, and under load the wait
//!   for the busy thread alone could pass the deadline. A worker's first
//!   check uses the process's connection and opens the worker's own in the
//!   background.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use secrecy::ExposeSecret;
use sha2::Sha256;

use crate::settings::{OnStoreError, RedisSettings};

/// How long calls skip a Redis that just failed before one tries again.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_millis(500);

/// The most a connection attempt may take.
const CONNECT_DEADLINE: Duration = Duration::from_secs(2);

static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(0);

/// A thread's own connection: `None` while it is being opened.
type ThreadSlot = Arc<Mutex<Option<Result<ConnectionManager, ()>>>>;

thread_local! {
    /// Per store: the outage generation it was opened in, and the slot.
    static THREAD_CONNECTIONS: RefCell<HashMap<u64, (u64, ThreadSlot)>> =
        RefCell::new(HashMap::new());
}

/// Appends `bytes` in lowercase hex.
pub fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(HEX[usize::from(byte >> 4)] as char);
        out.push(HEX[usize::from(byte & 0x0f)] as char);
    }
}

/// Redis did not answer in time, refused, or is not connected yet.
#[derive(Debug, Clone, Copy)]
pub struct StoreUnavailable;

pub struct RedisStore {
    client: redis::Client,
    /// The process's connection, opened by [`Self::ensure_connected`].
    connection: RwLock<Option<ConnectionManager>>,
    /// Tells this store's thread-local connections from another store's
    /// (tests run several gateways in one process).
    instance: u64,
    prefix: String,
    /// HMAC-SHA256 already keyed with `key_hash_secret`: cloned per key.
    keyed_mac: Hmac<Sha256>,
    timeout: Duration,
    on_error: OnStoreError,
    origin: Instant,
    /// Not answering (or not connected yet).
    down: AtomicBool,
    /// This outage has been logged: one warn per outage.
    announced_down: AtomicBool,
    /// Counts recoveries: thread connections from an earlier generation
    /// are not used again.
    generation: AtomicU64,
    /// Microseconds after `origin` of the last failure.
    failed_at_us: AtomicU64,
    /// Milliseconds after `origin` before which calls skip Redis.
    retry_at_ms: AtomicU64,
}

impl RedisStore {
    /// Parses the URL; does not connect (see [`Self::ensure_connected`]).
    pub fn new(settings: &RedisSettings) -> Result<Self, String> {
        let client = redis::Client::open(settings.url.expose_secret())
            .map_err(|_| "rate_limit.redis.url is not a valid Redis URL".to_string())?;
        let keyed_mac =
            Hmac::<Sha256>::new_from_slice(settings.key_hash_secret.expose_secret().as_bytes())
                .map_err(|_| "rate_limit.redis.key_hash_secret is not a valid HMAC key")?;
        Ok(Self {
            client,
            connection: RwLock::new(None),
            instance: NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed),
            prefix: settings.key_prefix.clone(),
            keyed_mac,
            timeout: settings.timeout,
            on_error: settings.on_error,
            origin: Instant::now(),
            // Down until the first connection: calls use the fallback.
            down: AtomicBool::new(true),
            announced_down: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            failed_at_us: AtomicU64::new(0),
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
        let digest = self.digest(kind, parts);
        let mut key = String::with_capacity(self.prefix.len() + kind.len() + 33);
        key.push_str(&self.prefix);
        key.push_str(kind);
        key.push(':');
        push_hex(&mut key, &digest);
        key
    }

    /// The keyed hash of `kind` and the parts (128 bits): what [`Self::key`]
    /// names a key by, and a value that may be stored where a name may not.
    pub fn digest(&self, kind: &str, parts: &[&[u8]]) -> [u8; 16] {
        let mut mac = self.keyed_mac.clone();
        mac.update(kind.as_bytes());
        for part in parts {
            // Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        let full = mac.finalize().into_bytes();
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&full[..16]);
        digest
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
        let Some(mut connection) = self.connection_for_this_thread() else {
            self.failed("not_connected");
            metrics::counter!("gateway_rate_limit_store_fallbacks_total").increment(1);
            return Err(StoreUnavailable);
        };
        let started = self.now_us();
        let failure = match tokio::time::timeout(
            self.timeout,
            invocation.invoke_async(&mut connection),
        )
        .await
        {
            Ok(Ok(value)) => {
                self.answered(started);
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

    /// This worker thread's connection; until it is open, the process's
    /// (and this call starts opening it, in the background).
    fn connection_for_this_thread(&self) -> Option<ConnectionManager> {
        let generation = self.generation.load(Ordering::Relaxed);
        let own = THREAD_CONNECTIONS.with_borrow_mut(|map| {
            let (opened_in, slot) = map.get(&self.instance)?;
            if *opened_in != generation {
                // Opened before the last outage: its socket may be dead and
                // would fail once more before reconnecting. Open a new one.
                map.remove(&self.instance);
                return None;
            }
            let opened = slot.lock().ok()?.clone();
            match opened {
                Some(Ok(connection)) => Some(Some(connection)),
                Some(Err(())) => {
                    // That attempt failed: the next call tries again.
                    map.remove(&self.instance);
                    Some(None)
                }
                None => Some(None),
            }
        });
        match own {
            Some(Some(connection)) => return Some(connection),
            Some(None) => {}
            None => self.open_thread_connection(),
        }
        self.connection.read().ok().and_then(|c| c.clone())
    }

    /// Opens this thread's connection on this thread's runtime (a worker's
    /// runtime is single-threaded), so its I/O stays here. Only while the
    /// process's connection works: a Redis that is down is retried by the
    /// housekeeping timer, not by every worker.
    fn open_thread_connection(&self) {
        if self.is_down() || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let slot: ThreadSlot = Arc::new(Mutex::new(None));
        let generation = self.generation.load(Ordering::Relaxed);
        THREAD_CONNECTIONS
            .with_borrow_mut(|map| map.insert(self.instance, (generation, slot.clone())));
        let client = self.client.clone();
        let config = self.manager_config();
        tokio::spawn(async move {
            let attempt = tokio::time::timeout(
                CONNECT_DEADLINE,
                client.get_connection_manager_with_config(config),
            )
            .await;
            let opened = match attempt {
                Ok(Ok(connection)) => Ok(connection),
                _ => Err(()),
            };
            if let Ok(mut slot) = slot.lock() {
                *slot = Some(opened);
            }
        });
    }

    fn manager_config(&self) -> ConnectionManagerConfig {
        ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500))
    }

    /// Connects once (afterwards the connection manager reconnects by
    /// itself), then pings, so an outage and the recovery are seen (and
    /// `/readyz` and the gauge follow) without waiting for traffic. Called
    /// before serving and on the housekeeping timer.
    pub async fn ensure_connected(&self) {
        let connection = self.connection.read().ok().and_then(|c| c.clone());
        if let Some(mut connection) = connection {
            let started = self.now_us();
            let ping = redis::cmd("PING");
            match tokio::time::timeout(self.timeout, ping.query_async::<()>(&mut connection)).await
            {
                Ok(Ok(())) => self.answered(started),
                Ok(Err(_)) => self.failed("error"),
                Err(_) => self.failed("timeout"),
            }
            return;
        }
        let attempt = tokio::time::timeout(
            CONNECT_DEADLINE,
            self.client
                .get_connection_manager_with_config(self.manager_config()),
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

    fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }

    fn skipping(&self) -> bool {
        self.down.load(Ordering::Relaxed)
            && self.now_ms() < self.retry_at_ms.load(Ordering::Relaxed)
    }

    /// A call that started at `started_us` got its answer. Only a call that
    /// started after the last failure says Redis is back: under load, calls
    /// sent before a timeout still come back after it, and counting them
    /// would log an outage and a recovery for every late answer.
    fn answered(&self, started_us: u64) {
        if started_us < self.failed_at_us.load(Ordering::Relaxed) {
            return;
        }
        if self.down.swap(false, Ordering::Relaxed) {
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
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
        self.failed_at_us.store(self.now_us(), Ordering::Relaxed);
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
