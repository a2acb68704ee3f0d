//! The fleet-wide half of the refresh single-flight (SPEC §9, §10), when
//! `rate_limit.backend = "redis"`: the process-local flight stays first (one
//! Redis conversation per key per process); its leader then asks Redis.
//!
//! - **Result** under `refresh_result:<keyed hash>`: a live success is
//!   used as it is; an error (or a success while
//!   `session.refresh_reuse_secs = 0`) only by callers that waited for the
//!   flight that made it (shared, never reused).
//! - **Lock** under `refresh_lock:<keyed hash>` (`SET NX PX`, about the
//!   Auth0 timeout): its owner calls Auth0 and stores the answer (a success
//!   for the reuse window, an error for [`ERROR_WINDOW`]) only while it
//!   still holds the lock, so a flight that a revoke dropped mid-call, or
//!   whose lock ran out, writes nothing. The others poll for the result;
//!   a lock that disappears without one is taken over.
//! - **Index** under `refresh_token:<keyed hash of the token's hash>`: the
//!   results and locks of one refresh token, so a revoke drops all of them
//!   in one script, without `KEYS` or `SCAN`.
//!
//! Key names are the store's keyed hashes of the flight's keyed hashes:
//! never the token. Values are sealed (XChaCha20-Poly1305, the key name as
//! associated data), so Redis, its backups and replicas never see a token.
//!
//! Redis slow or down never fails a refresh: the caller falls back to the
//! local flight alone (counted like every store call, in
//! `gateway_rate_limit_store_errors_total` and `…_fallbacks_total`),
//! whatever `rate_limit.redis.on_error` says — that policy is about limits.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use hmac::{Hmac, Mac};
use rand::RngCore;
use redis::Script;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{Digest, FlightKey};
use crate::auth0::{TokenSet, UpstreamError};
use crate::redis_store::RedisStore;
use crate::session::seal::Sealer;
use crate::session::unix_now;
use crate::settings::{RedisSettings, SessionKey};

/// How long an error stays in Redis: long enough for the replicas waiting
/// on its flight to read it, short enough not to matter as a cache.
pub const ERROR_WINDOW: Duration = Duration::from_secs(2);

/// How long a success stays when `session.refresh_reuse_secs = 0`: the
/// waiters of the flight still need to read it (no one else does).
pub const SHARE_WINDOW: Duration = Duration::from_secs(2);

/// Added to the Auth0 timeout for the lock's lifetime: the leader's call
/// may end at the timeout and still has to store its answer.
const LOCK_MARGIN: Duration = Duration::from_millis(500);

/// How often a replica that found the lock held asks for the result.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// KEYS: result, lock, index; ARGV: owner, lock ms, waited (`1`): a value
/// tagged `t.` is for everyone, any other (an error, a success while
/// nothing is reused) only for a caller that waited on its flight.
/// Returns `{1, value, pttl}` for a usable result, `{2, false, 0}` when
/// the caller took the lock (and leads the fleet's flight), `{3, false,
/// lock pttl}` when another owner holds it.
const ACQUIRE: &str = r#"
local value = redis.call('GET', KEYS[1])
if value and (ARGV[3] == '1' or string.sub(value, 1, 2) == 't.') then
  return {1, value, redis.call('PTTL', KEYS[1])}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if value then redis.call('DEL', KEYS[1]) end
  redis.call('SADD', KEYS[3], KEYS[2])
  if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[3], ARGV[2])
  end
  return {2, false, 0}
end
return {3, false, redis.call('PTTL', KEYS[2])}
"#;

/// KEYS: result, lock, index; ARGV: owner, value (empty: release only),
/// ms to keep it. Only the lock's owner writes: returns 1 if it did.
const STORE: &str = r#"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], KEYS[2])
if ARGV[2] == '' then return 1 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[3], KEYS[1])
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
end
return 1
"#;

/// KEYS: a token's index; ARGV: the key prefix. Deletes every result and
/// lock it names (ours only), then the index; returns how many names.
const FORGET: &str = r#"
local names = redis.call('SMEMBERS', KEYS[1])
for _, name in ipairs(names) do
  if string.sub(name, 1, #ARGV[1]) == ARGV[1] then redis.call('DEL', name) end
end
redis.call('DEL', KEYS[1])
return #names
"#;

/// What a leader gets from Redis before calling Auth0.
enum Acquired {
    /// A result: the sealed value and how long it still lives.
    Result { value: String, ttl: Duration },
    /// This caller holds the lock.
    Lead,
    /// Another replica does, for this much longer.
    Held { ttl: Duration },
}

/// The Redis names of one flight.
struct Names {
    result: String,
    lock: String,
    index: String,
}

/// The answer as it is sealed into Redis.
#[derive(Serialize, Deserialize)]
enum SharedAnswer {
    Tokens(TokenSet),
    Error(SharedError),
}

/// [`UpstreamError`] without `MfaRequired` (a refresh grant does not ask
/// for MFA; should Auth0 ever say so, that flight's answer is not shared).
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
enum SharedError {
    Rejected {
        status: u16,
        code: String,
        description: String,
        retry_after: Option<u64>,
    },
    RateLimited {
        retry_after: u64,
    },
    Misconfigured {
        code: String,
    },
    BadAnswer {
        reason: String,
    },
    Unreachable {
        reason: String,
    },
    Timeout,
}

impl SharedError {
    fn from_error(error: &UpstreamError) -> Option<Self> {
        Some(match error {
            UpstreamError::Rejected {
                status,
                code,
                description,
                retry_after,
            } => Self::Rejected {
                status: status.as_u16(),
                code: code.clone(),
                description: description.clone(),
                retry_after: *retry_after,
            },
            // Never the answer to a refresh.
            UpstreamError::MfaRequired(_)
            | UpstreamError::SignUpRefused { .. }
            | UpstreamError::PasskeyRetry(_) => return None,
            UpstreamError::RateLimited { retry_after } => Self::RateLimited {
                retry_after: *retry_after,
            },
            UpstreamError::Misconfigured { code } => Self::Misconfigured { code: code.clone() },
            UpstreamError::BadAnswer { reason } => Self::BadAnswer {
                reason: reason.clone(),
            },
            UpstreamError::Unreachable { reason } => Self::Unreachable {
                reason: reason.clone(),
            },
            UpstreamError::Timeout => Self::Timeout,
        })
    }

    fn into_error(self) -> UpstreamError {
        match self {
            Self::Rejected {
                status,
                code,
                description,
                retry_after,
            } => match StatusCode::from_u16(status) {
                Ok(status) => UpstreamError::Rejected {
                    status,
                    code,
                    description,
                    retry_after,
                },
                Err(_) => UpstreamError::bad_answer("a shared refresh error had no valid status"),
            },
            Self::RateLimited { retry_after } => UpstreamError::RateLimited { retry_after },
            Self::Misconfigured { code } => UpstreamError::Misconfigured { code },
            Self::BadAnswer { reason } => UpstreamError::BadAnswer { reason },
            Self::Unreachable { reason } => UpstreamError::Unreachable { reason },
            Self::Timeout => UpstreamError::Timeout,
        }
    }
}

/// The fleet's flights in Redis. See the module documentation.
pub struct SharedFlights {
    store: Arc<RedisStore>,
    sealer: Sealer,
    /// The lock's lifetime: the Auth0 timeout and [`LOCK_MARGIN`].
    lock_for: Duration,
    acquire: Script,
    store_result: Script,
    forget: Script,
}

impl SharedFlights {
    /// `session_keys`: the session keys (empty while sessions are off);
    /// `auth0_timeout`: how long a leader's call may take.
    pub fn new(
        store: Arc<RedisStore>,
        redis: &RedisSettings,
        session_keys: &[SessionKey],
        auth0_timeout: Duration,
    ) -> Option<Self> {
        // SPEC §10 seals shared results with the session keys (the first
        // seals, all open: rotation works as for cookies). Token mode on
        // Redis has no session keys, yet its results hold live tokens that
        // must not sit readable in Redis, its backups or a MONITOR. The one
        // secret every replica already shares there is the key-hash secret,
        // so the sealing key comes from it, under a label of its own so it
        // is never the key of the key-name hashes.
        let derived;
        let keys = if session_keys.is_empty() {
            derived = [SessionKey(derive(redis, b"refresh-flight-seal")?)];
            &derived[..]
        } else {
            session_keys
        };
        Some(Self {
            store,
            sealer: Sealer::new(keys)?,
            lock_for: auth0_timeout + LOCK_MARGIN,
            acquire: Script::new(ACQUIRE),
            store_result: Script::new(STORE),
            forget: Script::new(FORGET),
        })
    }

    /// The key the flight hashes are made with: shared by the fleet (the
    /// same refresh must meet the same Redis keys on every replica), and
    /// not the key-hash secret itself.
    pub fn flight_hash_key(redis: &RedisSettings) -> Option<[u8; 32]> {
        derive(redis, b"refresh-flight-key")
    }

    fn names(&self, key: &FlightKey) -> Names {
        Names {
            result: self
                .store
                .key("refresh_result", &[&key.token, &key.request]),
            lock: self.store.key("refresh_lock", &[&key.token, &key.request]),
            index: self.index(&key.token),
        }
    }

    fn index(&self, token: &Digest) -> String {
        self.store.key("refresh_token", &[token])
    }

    /// The answer of `upstream` for `key`, shared with the fleet; and how
    /// long this process may reuse a success itself: zero when Redis holds
    /// it (the next local caller asks Redis, so a revoke on another
    /// replica reaches it), the full `reuse` when Redis did not answer.
    pub async fn refresh<Fut>(
        &self,
        key: FlightKey,
        upstream: Fut,
        reuse: Duration,
    ) -> (Result<TokenSet, UpstreamError>, Duration)
    where
        Fut: Future<Output = Result<TokenSet, UpstreamError>>,
    {
        let names = self.names(&key);
        let owner = owner();
        // Set once another replica's lock was found: the end of the wait.
        let mut deadline: Option<Instant> = None;
        loop {
            let acquired = match self.acquire(&names, &owner, deadline.is_some()).await {
                Ok(acquired) => acquired,
                Err(()) => return (upstream.await, reuse),
            };
            match acquired {
                Acquired::Result { value, ttl } => match self.open(&names, &value) {
                    Some(SharedAnswer::Tokens(tokens)) => {
                        tracing::debug!(
                            event = "refresh_flight_shared",
                            ttl_ms = ttl.as_millis() as u64
                        );
                        return (Ok(tokens), Duration::ZERO);
                    }
                    Some(SharedAnswer::Error(error)) => {
                        return (Err(error.into_error()), Duration::ZERO)
                    }
                    // Not ours to trust: decide on our own.
                    None => return (upstream.await, reuse),
                },
                Acquired::Lead => {
                    let result = upstream.await;
                    let stored = self.store(&names, &owner, &result, reuse).await;
                    return (result, if stored { Duration::ZERO } else { reuse });
                }
                Acquired::Held { ttl } => {
                    let now = Instant::now();
                    // The holder's lock ends by then; past it, this replica
                    // stops waiting on a leader that is gone.
                    let end = *deadline
                        .get_or_insert_with(|| now + ttl.min(self.lock_for) + POLL_INTERVAL);
                    if now >= end {
                        return (upstream.await, reuse);
                    }
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
            }
        }
    }

    async fn acquire(&self, names: &Names, owner: &str, waited: bool) -> Result<Acquired, ()> {
        let mut invocation = self.acquire.prepare_invoke();
        invocation
            .key(&names.result)
            .key(&names.lock)
            .key(&names.index)
            .arg(owner)
            .arg(millis(self.lock_for))
            .arg(if waited { "1" } else { "0" });
        let (kind, value, ttl_ms): (u8, Option<String>, i64) =
            self.store.run(&invocation).await.map_err(drop)?;
        let ttl = Duration::from_millis(ttl_ms.max(0) as u64);
        match (kind, value) {
            (1, Some(value)) => Ok(Acquired::Result { value, ttl }),
            (2, _) => Ok(Acquired::Lead),
            (3, _) => Ok(Acquired::Held {
                ttl: if ttl_ms < 0 { self.lock_for } else { ttl },
            }),
            _ => Err(()),
        }
    }

    /// Stores the leader's answer and releases the lock; whether Redis now
    /// holds it.
    async fn store(
        &self,
        names: &Names,
        owner: &str,
        result: &Result<TokenSet, UpstreamError>,
        reuse: Duration,
    ) -> bool {
        let (kind, keep, answer) = match result {
            // With no reuse window, a success is for the flight's waiters only.
            Ok(tokens) if reuse.is_zero() => (
                "w.",
                SHARE_WINDOW,
                Some(SharedAnswer::Tokens(tokens.clone())),
            ),
            Ok(tokens) => ("t.", reuse, Some(SharedAnswer::Tokens(tokens.clone()))),
            Err(error) => (
                "e.",
                ERROR_WINDOW,
                SharedError::from_error(error).map(SharedAnswer::Error),
            ),
        };
        let value = answer
            .and_then(|answer| self.seal(names, &answer, keep))
            .map(|sealed| format!("{kind}{sealed}"));
        let mut invocation = self.store_result.prepare_invoke();
        invocation
            .key(&names.result)
            .key(&names.lock)
            .key(&names.index)
            .arg(owner)
            .arg(value.as_deref().unwrap_or(""))
            .arg(millis(keep));
        let written: Result<u8, _> = self.store.run(&invocation).await;
        matches!(written, Ok(1)) && value.is_some() && result.is_ok()
    }

    /// Drops every shared result and lock of the token whose flight hash is
    /// `token`, in the background: `forget` is called where no one awaits.
    /// Drops the token's shared results; awaited by the revoke, so no
    /// replica hands out tokens from before it once the revoke answered.
    pub async fn forget(&self, token: &Digest) {
        let index = self.index(token);
        if self.forget_now(&index).await.is_err() {
            tracing::warn!(
                event = "refresh_flight_forget_failed",
                "the shared store did not drop a revoked token's refresh results; \
                 they expire with their reuse window"
            );
        }
    }

    async fn forget_now(&self, index: &str) -> Result<(), ()> {
        let mut invocation = self.forget.prepare_invoke();
        invocation.key(index).arg(self.store.plain_key(""));
        self.store
            .run::<i64>(&invocation)
            .await
            .map(drop)
            .map_err(drop)
    }

    fn seal(&self, names: &Names, answer: &SharedAnswer, keep: Duration) -> Option<String> {
        // The envelope's expiry backs up Redis' own (one or two seconds
        // later: it counts whole seconds).
        let expires_at = unix_now() + keep.as_secs() + 2;
        self.sealer.seal(&names.result, answer, expires_at)
    }

    fn open(&self, names: &Names, value: &str) -> Option<SharedAnswer> {
        let sealed = value.get(2..)?;
        match self.sealer.open(&names.result, sealed, unix_now()) {
            Ok(answer) => Some(answer),
            Err(error) => {
                tracing::warn!(
                    event = "refresh_flight_result_unopened",
                    reason = ?error,
                    "a shared refresh result did not open (another key, tampered or expired); \
                     refreshing without it"
                );
                None
            }
        }
    }
}

/// HMAC-SHA256(key_hash_secret, label). (`None` cannot happen: HMAC takes
/// keys of any length.)
fn derive(redis: &RedisSettings, label: &[u8]) -> Option<[u8; 32]> {
    let secret = redis.key_hash_secret.expose_secret().as_bytes();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).ok()?;
    mac.update(label);
    Some(mac.finalize().into_bytes().into())
}

/// A lock owner's name: random, so a lock is released only by its taker.
fn owner() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn millis(duration: Duration) -> u64 {
    (duration.as_millis() as u64).max(1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use secrecy::SecretString;

    use super::*;
    use crate::auth0::MfaRequired;
    use crate::refresh_flight::RefreshFlights;
    use crate::secret::Sensitive;
    use crate::settings::OnStoreError;

    const SECRET: &str = "unit-test-key-hash-secret-not-real-0123456789";

    /// Settings for a Redis that is not there (nothing listens on port 1).
    fn redis_settings(secret: &str) -> RedisSettings {
        RedisSettings {
            url: SecretString::from("redis://127.0.0.1:1/0".to_string()),
            key_prefix: "lgw-unit:".to_string(),
            key_hash_secret: SecretString::from(secret.to_string()),
            timeout: Duration::from_millis(50),
            on_error: OnStoreError::Local,
        }
    }

    fn shared(secret: &str, session_keys: &[SessionKey]) -> SharedFlights {
        let redis = redis_settings(secret);
        let store = Arc::new(RedisStore::new(&redis).unwrap());
        SharedFlights::new(store, &redis, session_keys, Duration::from_secs(5)).unwrap()
    }

    fn flights(secret: &str) -> RefreshFlights {
        let redis = redis_settings(secret);
        let hash_key = SharedFlights::flight_hash_key(&redis).unwrap();
        RefreshFlights::shared(Duration::from_secs(60), hash_key, shared(secret, &[]))
    }

    fn tokens(access: &str) -> TokenSet {
        TokenSet {
            access_token: Sensitive::new(access),
            token_type: "Bearer".to_string(),
            expires_in: 60,
            id_token: Some(Sensitive::new("id-token")),
            refresh_token: Some(Sensitive::new("rotated-refresh-token")),
            scope: Some("openid offline_access".to_string()),
            recovery_code: None,
        }
    }

    fn names_of(shared: &SharedFlights, flights: &RefreshFlights, token: &str) -> Names {
        shared.names(&flights.key(token, None, None))
    }

    #[test]
    fn replicas_sharing_the_secret_find_the_same_flight_and_others_do_not() {
        let (one, two) = (flights(SECRET), flights(SECRET));
        assert!(one.key("rt", Some("openid"), None) == two.key("rt", Some("openid"), None));
        assert!(one.key("rt", None, None) != two.key("rt", Some("openid"), None));
        let other = flights("another-key-hash-secret-not-real-0123456789");
        assert!(one.key("rt", None, None) != other.key("rt", None, None));
        let local = RefreshFlights::new(Duration::from_secs(60));
        assert!(one.key("rt", None, None) != local.key("rt", None, None));
    }

    #[test]
    fn redis_names_are_keyed_hashes_grouped_by_token() {
        let token = "v1.refresh-token-that-must-not-appear";
        let flights = flights(SECRET);
        let replica = shared(SECRET, &[]);
        let names = names_of(&replica, &flights, token);
        for name in [&names.result, &names.lock, &names.index] {
            assert!(!name.contains(token), "{name}");
            assert!(!name.contains("v1."), "{name}");
        }
        assert!(names.result.starts_with("lgw-unit:refresh_result:"));
        assert!(names.lock.starts_with("lgw-unit:refresh_lock:"));
        assert!(names.index.starts_with("lgw-unit:refresh_token:"));
        assert_ne!(names.result[24..], names.lock[22..]);
        // Every scope and audience of one token shares its index (forget
        // finds them), and another token has its own.
        let scoped = replica.names(&flights.key(token, Some("openid"), Some("https://api")));
        assert_eq!(scoped.index, names.index);
        assert_ne!(scoped.result, names.result);
        assert_ne!(names_of(&replica, &flights, "rt-2").index, names.index);
        // Another replica with the same settings names them alike.
        let again = names_of(&shared(SECRET, &[]), &flights, token);
        assert_eq!(
            (again.result, again.lock, again.index),
            (names.result, names.lock, names.index)
        );
    }

    #[test]
    fn results_are_sealed_for_their_own_key_and_open_on_another_replica() {
        let flights = flights(SECRET);
        let (writer, reader) = (shared(SECRET, &[]), shared(SECRET, &[]));
        let names = names_of(&writer, &flights, "rt");
        let answer = SharedAnswer::Tokens(tokens("at-sealed"));
        let sealed = writer
            .seal(&names, &answer, Duration::from_secs(10))
            .unwrap();
        for secret in ["at-sealed", "id-token", "rotated-refresh-token", "Bearer"] {
            assert!(!sealed.contains(secret), "{secret} in {sealed}");
        }
        let value = format!("t.{sealed}");
        match reader.open(&names, &value) {
            Some(SharedAnswer::Tokens(opened)) => {
                assert_eq!(opened.access_token.expose(), "at-sealed");
                assert_eq!(
                    opened.refresh_token.as_ref().map(Sensitive::expose),
                    Some("rotated-refresh-token")
                );
            }
            _ => panic!("the other replica opens it"),
        }
        // Moved under another flight's name, it does not open.
        let elsewhere = names_of(&writer, &flights, "rt-2");
        assert!(reader.open(&elsewhere, &value).is_none());
        // Nor under another fleet's secret.
        let stranger = shared("another-key-hash-secret-not-real-0123456789", &[]);
        assert!(stranger.open(&names, &value).is_none());
        assert!(reader.open(&names, "t.").is_none());
        assert!(reader.open(&names, "").is_none());
    }

    #[test]
    fn with_sessions_on_the_session_keys_seal() {
        let keys = [SessionKey([7; 32]), SessionKey([9; 32])];
        let flights = flights(SECRET);
        let with_sessions = shared(SECRET, &keys);
        let names = names_of(&with_sessions, &flights, "rt");
        let sealed = with_sessions
            .seal(
                &names,
                &SharedAnswer::Tokens(tokens("at")),
                Duration::from_secs(5),
            )
            .unwrap();
        let session_sealer = Sealer::new(&keys).unwrap();
        let opened: Result<SharedAnswer, _> =
            session_sealer.open(&names.result, &sealed, unix_now());
        assert!(opened.is_ok(), "sealed with the first session key");
        // Not with the key derived for token mode.
        assert!(shared(SECRET, &[])
            .open(&names, &format!("t.{sealed}"))
            .is_none());
        // The rotation's older key alone still opens it after a swap.
        let rotated = shared(SECRET, &[SessionKey([1; 32]), SessionKey([7; 32])]);
        assert!(rotated.open(&names, &format!("t.{sealed}")).is_some());
    }

    #[test]
    fn every_shareable_error_survives_the_trip_and_mfa_required_is_not_shared() {
        let errors = [
            UpstreamError::Rejected {
                status: StatusCode::FORBIDDEN,
                code: "invalid_grant".to_string(),
                description: "Unknown or invalid refresh token.".to_string(),
                retry_after: Some(3),
            },
            UpstreamError::RateLimited { retry_after: 7 },
            UpstreamError::Misconfigured {
                code: "unauthorized_client".to_string(),
            },
            UpstreamError::bad_answer("502"),
            UpstreamError::Unreachable {
                reason: "refused".to_string(),
            },
            UpstreamError::Timeout,
        ];
        let flights = flights(SECRET);
        let shared = shared(SECRET, &[]);
        let names = names_of(&shared, &flights, "rt");
        for error in errors {
            let expected = format!("{error:?}");
            let answer = SharedAnswer::Error(SharedError::from_error(&error).unwrap());
            let sealed = shared.seal(&names, &answer, ERROR_WINDOW).unwrap();
            match shared.open(&names, &format!("e.{sealed}")) {
                Some(SharedAnswer::Error(back)) => {
                    assert_eq!(format!("{:?}", back.into_error()), expected)
                }
                _ => panic!("{expected} did not come back"),
            }
        }
        let mfa = UpstreamError::MfaRequired(MfaRequired {
            mfa_token: Sensitive::new("mfa"),
            mfa_requirements: Default::default(),
        });
        assert!(SharedError::from_error(&mfa).is_none());
        let bogus = SharedError::Rejected {
            status: 42,
            code: String::new(),
            description: String::new(),
            retry_after: None,
        };
        assert!(matches!(
            bogus.into_error(),
            UpstreamError::BadAnswer { .. }
        ));
    }

    /// A refresh that counts its calls and answers after `delay`.
    async fn counted(
        flights: &Arc<RefreshFlights>,
        calls: &Arc<AtomicUsize>,
        access: &'static str,
        delay: Duration,
    ) -> Result<TokenSet, UpstreamError> {
        let key = flights.key("rt", None, None);
        let calls = Arc::clone(calls);
        flights
            .refresh(key, move || {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    tokio::time::sleep(delay).await;
                    Ok(tokens(access))
                }
            })
            .await
    }

    #[tokio::test]
    async fn with_redis_down_the_local_flight_still_shares_and_reuses() {
        let flights = Arc::new(flights(SECRET));
        let calls = Arc::new(AtomicUsize::new(0));
        let racing = (0..5).map(|_| {
            let (flights, calls) = (Arc::clone(&flights), Arc::clone(&calls));
            tokio::spawn(async move {
                counted(&flights, &calls, "local", Duration::from_millis(50)).await
            })
        });
        for racer in racing.collect::<Vec<_>>() {
            let tokens = racer.await.unwrap().unwrap();
            assert_eq!(tokens.access_token.expose(), "local");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let late = counted(&flights, &calls, "late", Duration::ZERO).await;
        assert_eq!(late.unwrap().access_token.expose(), "local");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "reused in this process");
        flights.forget("rt").await;
        let fresh = counted(&flights, &calls, "fresh", Duration::ZERO).await;
        assert_eq!(fresh.unwrap().access_token.expose(), "fresh");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
