//! Refresh single-flight (SPEC §10): concurrent refreshes of one refresh
//! token make one Auth0 call and every caller gets its result; a success is
//! then reused for a short window. With refresh-token rotation on, a second
//! call presenting the already-rotated token looks like token theft to
//! Auth0, which answers by revoking the whole token family: the user's two
//! racing tabs would log them out everywhere.
//!
//! In memory, bounded and hashed: entries are found by a keyed hash of the
//! refresh token, never by the token itself, and their number is capped.
//! A refresh that finds the map full runs on its own rather than growing it.
//!
//! With `rate_limit.backend = "redis"` the flight is the fleet's
//! ([`shared`]): the local flight stays first, so one process has one Redis
//! conversation per key, and its leader then reads, or makes and stores,
//! the fleet's result. Successes are then reused through Redis only (a
//! revoke on one replica reaches every other); the local reuse is the
//! fallback for when Redis does not answer.

mod shared;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use hmac::digest::generic_array::GenericArray;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use tokio::sync::watch;
use tracing::Instrument;

use crate::auth0::{TokenSet, UpstreamError};
use crate::redis_store::RedisStore;
use crate::settings::Settings;
pub use shared::SharedFlights;

/// How long a refresh result is reused when nothing else is configured
/// (`session.refresh_reuse_secs`).
pub const DEFAULT_REUSE: Duration = Duration::from_secs(10);

/// At most this many results (in flight or reused) are held. One entry is
/// a few kB of tokens, so the cap bounds the map to some hundred MB even in
/// the worst case; reaching it takes 10 000 successful refreshes a second.
pub const MAX_FLIGHTS: usize = 100_000;

type Digest = [u8; 32];
type Answer = Arc<Result<TokenSet, UpstreamError>>;

/// What a refresh is shared under: a keyed hash of the refresh token, and
/// one of the rest of the request (scope, audience). Made by
/// [`RefreshFlights::key`], which alone knows the hashing key (per process,
/// or the fleet's when the flights are shared through Redis).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlightKey {
    token: Digest,
    request: Digest,
}

impl std::fmt::Debug for FlightKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FlightKey { .. }")
    }
}

/// The shared refreshes of this process. See the module documentation.
pub struct RefreshFlights {
    inner: Arc<Inner>,
}

struct Inner {
    /// HMAC-SHA256 keyed with a per-process random key: the hashes in the
    /// map reveal nothing even to someone who reads the process memory and
    /// can guess candidate tokens. When shared, a key derived from the
    /// fleet's key-hash secret: every replica must find the same flight.
    mac: Hmac<Sha256>,
    reuse: Duration,
    cap: usize,
    flights: Mutex<Flights>,
    /// The fleet's flights in Redis, when `rate_limit.backend = "redis"`.
    shared: Option<Arc<SharedFlights>>,
}

/// Entries grouped by refresh token, so that `forget` finds every scope and
/// audience of one token without a scan.
#[derive(Default)]
struct Flights {
    by_token: HashMap<Digest, HashMap<Digest, Entry>>,
    len: usize,
    next_id: u64,
}

enum Entry {
    /// The upstream call runs in its own task; `id` tells this flight from
    /// a later one under the same key (after a `forget`).
    InFlight {
        id: u64,
        answer: watch::Receiver<Option<Answer>>,
    },
    /// A success, handed to every caller with the same key until `until`.
    Done { tokens: TokenSet, until: Instant },
}

enum Found {
    Reuse(TokenSet),
    Join(watch::Receiver<Option<Answer>>),
    Lead {
        id: u64,
        answer: watch::Sender<Option<Answer>>,
        receiver: watch::Receiver<Option<Answer>>,
    },
    Full,
}

impl RefreshFlights {
    /// Results are reused for `reuse` after they arrive (zero: only callers
    /// that overlap the one call share it).
    pub fn new(reuse: Duration) -> Self {
        Self::with_capacity(reuse, MAX_FLIGHTS)
    }

    /// Like [`Self::new`], holding at most `cap` entries.
    pub fn with_capacity(reuse: Duration, cap: usize) -> Self {
        let mut secret = [0u8; 64];
        rand::thread_rng().fill_bytes(&mut secret);
        let mac = <Hmac<Sha256> as KeyInit>::new(&GenericArray::from(secret));
        Self::build(reuse, cap, mac, None)
    }

    /// The gateway's flights: `session.refresh_reuse_secs`, and fleet-wide
    /// through `store` when `rate_limit.backend = "redis"`.
    pub fn from_settings(settings: &Settings, store: Option<Arc<RedisStore>>) -> Self {
        let reuse = settings.session.refresh_reuse;
        let (Some(store), Some(redis)) = (store, &settings.rate_limit.redis) else {
            return Self::new(reuse);
        };
        let hash_key = SharedFlights::flight_hash_key(redis);
        let shared =
            SharedFlights::new(store, redis, &settings.session.keys, settings.auth0.timeout);
        match (hash_key, shared) {
            (Some(hash_key), Some(shared)) => Self::shared(reuse, hash_key, shared),
            _ => {
                tracing::warn!(
                    event = "refresh_flight_not_shared",
                    "the refresh single-flight cannot use the shared store; it stays per process"
                );
                Self::new(reuse)
            }
        }
    }

    /// Flights shared through Redis; `hash_key` is the fleet's
    /// ([`SharedFlights::flight_hash_key`]).
    pub fn shared(reuse: Duration, hash_key: [u8; 32], shared: SharedFlights) -> Self {
        // A 32-byte HMAC key is zero-padded to the block size anyway.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&hash_key);
        let mac = <Hmac<Sha256> as KeyInit>::new(&GenericArray::from(block));
        Self::build(reuse, MAX_FLIGHTS, mac, Some(Arc::new(shared)))
    }

    fn build(
        reuse: Duration,
        cap: usize,
        mac: Hmac<Sha256>,
        shared: Option<Arc<SharedFlights>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                mac,
                reuse,
                cap,
                flights: Mutex::new(Flights::default()),
                shared,
            }),
        }
    }

    /// The key of a refresh of `refresh_token` with this scope and audience
    /// (`None` and an empty string are different requests).
    pub fn key(
        &self,
        refresh_token: &str,
        scope: Option<&str>,
        audience: Option<&str>,
    ) -> FlightKey {
        let mut request = self.inner.mac.clone();
        request.update(b"request\0");
        for field in [scope, audience] {
            match field {
                None => request.update(&[0]),
                Some(value) => {
                    request.update(&[1]);
                    request.update(&(value.len() as u64).to_be_bytes());
                    request.update(value.as_bytes());
                }
            }
        }
        FlightKey {
            token: self.token_digest(refresh_token),
            request: request.finalize().into_bytes().into(),
        }
    }

    fn token_digest(&self, refresh_token: &str) -> Digest {
        let mut mac = self.inner.mac.clone();
        mac.update(b"refresh_token\0");
        mac.update(refresh_token.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The answer of `call` for `key`, shared: a caller that finds a
    /// success from the last `reuse` gets it without calling; one that
    /// finds a call in flight waits for its answer (success or error);
    /// otherwise `call` runs in a task of its own, so a caller that goes
    /// away does not cancel it for the others (nor lose a rotated token
    /// that a retry can still pick up). When shared, that task asks Redis
    /// first and awaits `call`'s future only if the fleet has no answer.
    pub async fn refresh<F, Fut>(&self, key: FlightKey, call: F) -> Result<TokenSet, UpstreamError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<TokenSet, UpstreamError>> + Send + 'static,
    {
        let found = self.inner.find(key, Instant::now());
        match found {
            Found::Reuse(tokens) => Ok(tokens),
            Found::Join(receiver) => wait(receiver).await,
            Found::Full => self.inner.upstream(key, call()).await.0,
            Found::Lead {
                id,
                answer,
                receiver,
            } => {
                let landing = Landing {
                    inner: Arc::clone(&self.inner),
                    key,
                    id,
                    answer: Some(answer),
                };
                let upstream = call();
                tokio::spawn(
                    async move {
                        let (result, reuse) = landing.inner.upstream(key, upstream).await;
                        landing.land(result, reuse);
                    }
                    .instrument(tracing::Span::current()),
                );
                wait(receiver).await
            }
        }
    }

    /// Drops every result of `refresh_token` (all scopes and audiences),
    /// reused or in flight: after a revoke no one gets tokens from before.
    /// Callers already waiting still get their answer. When shared, the
    /// fleet's results and locks go too (in the background: one Redis
    /// round trip, sent before the caller's answer is).
    pub async fn forget(&self, refresh_token: &str) {
        let token = self.token_digest(refresh_token);
        {
            let mut flights = self.inner.lock();
            if let Some(entries) = flights.by_token.remove(&token) {
                flights.len -= entries.len();
            }
        }
        if let Some(shared) = &self.inner.shared {
            shared.forget(&token).await;
        }
    }

    /// Drops expired results; called by the housekeeping tick.
    pub fn prune(&self) {
        self.inner.lock().prune(Instant::now());
    }

    /// Entries held (in flight or reused).
    pub fn len(&self) -> usize {
        self.inner.lock().len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    /// The answer for `key` from the fleet or from `upstream`, and how long
    /// this process may reuse a success.
    async fn upstream<Fut>(
        &self,
        key: FlightKey,
        upstream: Fut,
    ) -> (Result<TokenSet, UpstreamError>, Duration)
    where
        Fut: Future<Output = Result<TokenSet, UpstreamError>>,
    {
        match &self.shared {
            Some(shared) => shared.refresh(key, upstream, self.reuse).await,
            None => (upstream.await, self.reuse),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Flights> {
        // Nothing panics while the lock is held; if something did, the map
        // is still consistent enough to go on with.
        self.flights.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn find(&self, key: FlightKey, now: Instant) -> Found {
        let mut flights = self.lock();
        let entries = flights.by_token.get(&key.token);
        match entries.and_then(|entries| entries.get(&key.request)) {
            Some(Entry::Done { tokens, until }) if *until > now => {
                return Found::Reuse(tokens.clone())
            }
            Some(Entry::InFlight { answer, .. }) => return Found::Join(answer.clone()),
            Some(Entry::Done { .. }) => flights.remove(&key),
            None => {}
        }
        if flights.len >= self.cap {
            flights.prune(now);
            if flights.len >= self.cap {
                return Found::Full;
            }
        }
        let id = flights.next_id;
        flights.next_id = flights.next_id.wrapping_add(1);
        let (answer, receiver) = watch::channel(None);
        flights.insert(
            key,
            Entry::InFlight {
                id,
                answer: receiver.clone(),
            },
        );
        Found::Lead {
            id,
            answer,
            receiver,
        }
    }
}

impl Flights {
    fn insert(&mut self, key: FlightKey, entry: Entry) {
        let entries = self.by_token.entry(key.token).or_default();
        if entries.insert(key.request, entry).is_none() {
            self.len += 1;
        }
    }

    fn remove(&mut self, key: &FlightKey) {
        let Some(entries) = self.by_token.get_mut(&key.token) else {
            return;
        };
        if entries.remove(&key.request).is_some() {
            self.len -= 1;
        }
        if entries.is_empty() {
            self.by_token.remove(&key.token);
        }
    }

    /// Whether `key` still holds the flight `id` (and not a later one).
    fn holds(&self, key: &FlightKey, id: u64) -> bool {
        matches!(
            self.by_token.get(&key.token).and_then(|e| e.get(&key.request)),
            Some(Entry::InFlight { id: held, .. }) if *held == id
        )
    }

    fn prune(&mut self, now: Instant) {
        let mut removed = 0;
        self.by_token.retain(|_, entries| {
            let before = entries.len();
            entries.retain(|_, entry| match entry {
                Entry::Done { until, .. } => *until > now,
                Entry::InFlight { .. } => true,
            });
            removed += before - entries.len();
            !entries.is_empty()
        });
        self.len -= removed;
    }
}

/// Where a flight's answer goes; if the task ends without one (the runtime
/// shuts down, the call panics), dropping this clears the in-flight entry
/// and the waiters learn that no answer is coming.
struct Landing {
    inner: Arc<Inner>,
    key: FlightKey,
    id: u64,
    answer: Option<watch::Sender<Option<Answer>>>,
}

impl Landing {
    /// `reuse`: how long this process keeps a success for later callers.
    fn land(mut self, result: Result<TokenSet, UpstreamError>, reuse: Duration) {
        {
            let mut flights = self.inner.lock();
            if flights.holds(&self.key, self.id) {
                match &result {
                    Ok(tokens) if !reuse.is_zero() => flights.insert(
                        self.key,
                        Entry::Done {
                            tokens: tokens.clone(),
                            until: Instant::now() + reuse,
                        },
                    ),
                    // Errors are shared with the callers already waiting, never reused.
                    _ => flights.remove(&self.key),
                }
            }
        }
        if let Some(answer) = self.answer.take() {
            answer.send_replace(Some(Arc::new(result)));
        }
    }
}

impl Drop for Landing {
    fn drop(&mut self) {
        if self.answer.is_some() {
            let mut flights = self.inner.lock();
            if flights.holds(&self.key, self.id) {
                flights.remove(&self.key);
            }
        }
    }
}

async fn wait(mut receiver: watch::Receiver<Option<Answer>>) -> Result<TokenSet, UpstreamError> {
    let answer = match receiver.wait_for(Option::is_some).await {
        Ok(answer) => answer.clone(),
        Err(_) => None,
    };
    match answer.as_deref() {
        Some(Ok(tokens)) => Ok(tokens.clone()),
        Some(Err(error)) => Err(error.clone()),
        None => Err(UpstreamError::bad_answer(
            "the shared refresh ended without an answer",
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use actix_web::http::StatusCode;
    use tokio::sync::oneshot;

    use super::*;
    use crate::secret::Sensitive;

    fn tokens(access: &str) -> TokenSet {
        TokenSet {
            access_token: Sensitive::new(access),
            token_type: "Bearer".to_string(),
            expires_in: 60,
            id_token: None,
            refresh_token: None,
            scope: None,
            recovery_code: None,
        }
    }

    fn access(result: &Result<TokenSet, UpstreamError>) -> &str {
        match result {
            Ok(tokens) => tokens.access_token.expose(),
            Err(error) => panic!("unexpected error {error:?}"),
        }
    }

    /// A refresh that counts its upstream calls and answers `access` at once.
    async fn refresh_counted(
        flights: &RefreshFlights,
        key: FlightKey,
        calls: &Arc<AtomicUsize>,
        access_token: &str,
    ) -> Result<TokenSet, UpstreamError> {
        let calls = Arc::clone(calls);
        let answer = tokens(access_token);
        flights
            .refresh(key, move || {
                calls.fetch_add(1, Ordering::SeqCst);
                async move { Ok(answer) }
            })
            .await
    }

    #[tokio::test]
    async fn a_success_is_reused_and_another_scope_or_audience_is_another_flight() {
        let flights = RefreshFlights::new(Duration::from_secs(60));
        let calls = Arc::new(AtomicUsize::new(0));
        let plain = flights.key("rt-1", None, None);
        let first = refresh_counted(&flights, plain, &calls, "at-1").await;
        let again = refresh_counted(&flights, plain, &calls, "at-2").await;
        assert_eq!((access(&first), access(&again)), ("at-1", "at-1"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        for key in [
            flights.key("rt-1", Some(""), None),
            flights.key("rt-1", Some("openid"), None),
            flights.key("rt-1", None, Some("openid")),
            flights.key("rt-2", None, None),
        ] {
            assert!(key != plain);
            let other = refresh_counted(&flights, key, &calls, "at-other").await;
            assert_eq!(access(&other), "at-other");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 5);
        assert_eq!(flights.len(), 5);
    }

    #[tokio::test]
    async fn the_key_is_keyed_and_unambiguous() {
        let one = RefreshFlights::new(DEFAULT_REUSE);
        let other = RefreshFlights::new(DEFAULT_REUSE);
        assert!(one.key("rt", None, None) != other.key("rt", None, None));
        assert!(one.key("rt", Some("a"), Some("b")) != one.key("rt", Some("ab"), None));
        assert!(one.key("rt", Some("a"), None) != one.key("rt", None, Some("a")));
        assert_eq!(
            format!("{:?}", one.key("rt", None, None)),
            "FlightKey { .. }"
        );
    }

    /// A refresh whose upstream call has started and waits for `release`
    /// before answering `answer`.
    async fn held_leader(
        flights: &Arc<RefreshFlights>,
        key: FlightKey,
        calls: &Arc<AtomicUsize>,
        answer: Result<TokenSet, UpstreamError>,
    ) -> (
        tokio::task::JoinHandle<Result<TokenSet, UpstreamError>>,
        oneshot::Sender<()>,
    ) {
        let (release, released) = oneshot::channel::<()>();
        let leader = {
            let (flights, calls) = (Arc::clone(flights), Arc::clone(calls));
            tokio::spawn(async move {
                flights
                    .refresh(key, move || {
                        calls.fetch_add(1, Ordering::SeqCst);
                        async move {
                            let _ = released.await;
                            answer
                        }
                    })
                    .await
            })
        };
        while calls.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        (leader, release)
    }

    /// A second caller of `key`, whose own call would answer "own".
    fn follower(
        flights: &Arc<RefreshFlights>,
        key: FlightKey,
        calls: &Arc<AtomicUsize>,
    ) -> tokio::task::JoinHandle<Result<TokenSet, UpstreamError>> {
        let (flights, calls) = (Arc::clone(flights), Arc::clone(calls));
        tokio::spawn(async move { refresh_counted(&flights, key, &calls, "own").await })
    }

    /// Polls `future` once: whether it is still waiting.
    async fn still_waiting<F: Future>(mut future: std::pin::Pin<&mut F>) -> bool {
        std::future::poll_fn(|cx| std::task::Poll::Ready(future.as_mut().poll(cx).is_pending()))
            .await
    }

    #[tokio::test]
    async fn overlapping_callers_share_one_call() {
        // No reuse window: the follower can get the leader's answer only by
        // joining the call in flight, not from a result kept afterwards.
        let flights = RefreshFlights::new(Duration::ZERO);
        let key = flights.key("rt", None, None);
        let calls = Arc::new(AtomicUsize::new(0));
        let (release, released) = oneshot::channel::<()>();
        let leader = {
            let calls = Arc::clone(&calls);
            flights.refresh(key, move || {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    let _ = released.await;
                    Ok(tokens("shared"))
                }
            })
        };
        let mut leader = std::pin::pin!(leader);
        // One poll each, in order, on this task: the leader has started its
        // call, and the follower has found it, before the upstream answers.
        assert!(
            still_waiting(leader.as_mut()).await,
            "the upstream holds its answer"
        );
        let mut follower = std::pin::pin!(refresh_counted(&flights, key, &calls, "own"));
        assert!(
            still_waiting(follower.as_mut()).await,
            "the follower waits for the call in flight"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        release.send(()).unwrap();
        assert_eq!(access(&leader.await), "shared");
        assert_eq!(access(&follower.await), "shared");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(flights.is_empty(), "a zero window keeps nothing");
    }

    #[tokio::test]
    async fn a_leader_that_goes_away_does_not_strand_the_others() {
        let flights = Arc::new(RefreshFlights::new(Duration::from_secs(60)));
        let key = flights.key("rt", None, None);
        let calls = Arc::new(AtomicUsize::new(0));
        let (leader, release) = held_leader(&flights, key, &calls, Ok(tokens("survives"))).await;
        leader.abort();
        assert!(leader.await.unwrap_err().is_cancelled());
        let follower = follower(&flights, key, &calls);
        tokio::task::yield_now().await;
        release.send(()).unwrap();
        assert_eq!(access(&follower.await.unwrap()), "survives");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_call_that_ends_without_an_answer_frees_its_key_and_its_waiters() {
        let flights = RefreshFlights::new(Duration::from_secs(60));
        let key = flights.key("rt", None, None);
        let result = flights
            .refresh(key, || async {
                // Stands in for any way the task can end early: a panic, or
                // the runtime shutting down mid-call.
                let answer: Result<TokenSet, UpstreamError> = Err(UpstreamError::Timeout);
                if answer.is_err() {
                    panic!("the upstream call panics");
                }
                answer
            })
            .await;
        assert!(
            matches!(result, Err(UpstreamError::BadAnswer { .. })),
            "{result:?}"
        );
        assert!(flights.is_empty());
    }

    #[tokio::test]
    async fn an_error_is_shared_by_overlapping_callers_but_never_reused() {
        let flights = Arc::new(RefreshFlights::new(Duration::from_secs(60)));
        let key = flights.key("rt", None, None);
        let calls = Arc::new(AtomicUsize::new(0));
        let (leader, release) = held_leader(
            &flights,
            key,
            &calls,
            Err(UpstreamError::Rejected {
                status: StatusCode::FORBIDDEN,
                code: "invalid_grant".to_string(),
                description: "Unknown or invalid refresh token.".to_string(),
                retry_after: None,
            }),
        )
        .await;
        let follower = follower(&flights, key, &calls);
        tokio::task::yield_now().await;
        release.send(()).unwrap();
        for result in [leader.await.unwrap(), follower.await.unwrap()] {
            assert!(
                matches!(&result, Err(UpstreamError::Rejected { code, .. }) if code == "invalid_grant"),
                "{result:?}"
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(flights.is_empty());
        let after = refresh_counted(&flights, key, &calls, "new").await;
        assert_eq!(access(&after), "new");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_cap_is_respected_and_a_refresh_beyond_it_runs_unshared() {
        let flights = RefreshFlights::with_capacity(Duration::from_secs(60), 2);
        let calls = Arc::new(AtomicUsize::new(0));
        for token in ["rt-1", "rt-2"] {
            let key = flights.key(token, None, None);
            refresh_counted(&flights, key, &calls, token).await.unwrap();
        }
        assert_eq!(flights.len(), 2);
        let third = flights.key("rt-3", None, None);
        for _ in 0..2 {
            let result = refresh_counted(&flights, third, &calls, "rt-3").await;
            assert_eq!(access(&result), "rt-3");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 4, "rt-3 is not held");
        assert_eq!(flights.len(), 2);
        // The held ones are still reused.
        let first = flights.key("rt-1", None, None);
        refresh_counted(&flights, first, &calls, "x").await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_full_map_drops_expired_results_first() {
        let flights = RefreshFlights::with_capacity(Duration::from_millis(30), 2);
        let calls = Arc::new(AtomicUsize::new(0));
        for token in ["rt-1", "rt-2"] {
            let key = flights.key(token, None, None);
            refresh_counted(&flights, key, &calls, token).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        let third = flights.key("rt-3", None, None);
        refresh_counted(&flights, third, &calls, "rt-3")
            .await
            .unwrap();
        assert_eq!(flights.len(), 1, "the expired two made room for rt-3");
        refresh_counted(&flights, third, &calls, "again")
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3, "rt-3 is held and reused");
    }

    #[tokio::test]
    async fn prune_drops_expired_results_only() {
        let flights = RefreshFlights::new(Duration::from_millis(30));
        let calls = Arc::new(AtomicUsize::new(0));
        for token in ["rt-1", "rt-2"] {
            let key = flights.key(token, None, None);
            refresh_counted(&flights, key, &calls, token).await.unwrap();
        }
        flights.prune();
        assert_eq!(flights.len(), 2, "not expired yet");
        tokio::time::sleep(Duration::from_millis(60)).await;
        flights.prune();
        assert!(flights.is_empty());
        let expired = flights.key("rt-1", None, None);
        refresh_counted(&flights, expired, &calls, "new")
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_expired_result_is_not_reused() {
        let flights = RefreshFlights::new(Duration::from_millis(30));
        let calls = Arc::new(AtomicUsize::new(0));
        let key = flights.key("rt", None, None);
        refresh_counted(&flights, key, &calls, "old").await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        let fresh = refresh_counted(&flights, key, &calls, "new").await;
        assert_eq!(access(&fresh), "new");
        assert_eq!(flights.len(), 1);
    }

    #[tokio::test]
    async fn a_zero_window_shares_but_keeps_nothing() {
        let flights = RefreshFlights::new(Duration::ZERO);
        let calls = Arc::new(AtomicUsize::new(0));
        let key = flights.key("rt", None, None);
        refresh_counted(&flights, key, &calls, "one").await.unwrap();
        assert!(flights.is_empty());
        let second = refresh_counted(&flights, key, &calls, "two").await;
        assert_eq!(access(&second), "two");
    }

    #[tokio::test]
    async fn forget_drops_every_scope_and_audience_of_one_token_only() {
        let flights = RefreshFlights::new(Duration::from_secs(60));
        let calls = Arc::new(AtomicUsize::new(0));
        let revoked = [
            flights.key("rt-1", None, None),
            flights.key("rt-1", Some("openid"), None),
            flights.key("rt-1", None, Some("https://api.example.com")),
        ];
        let kept = flights.key("rt-2", None, None);
        for key in revoked.iter().chain([&kept]) {
            refresh_counted(&flights, *key, &calls, "old")
                .await
                .unwrap();
        }
        assert_eq!(flights.len(), 4);
        flights.forget("rt-1").await;
        assert_eq!(flights.len(), 1);
        for key in revoked {
            let fresh = refresh_counted(&flights, key, &calls, "new").await;
            assert_eq!(access(&fresh), "new");
        }
        let still = refresh_counted(&flights, kept, &calls, "new").await;
        assert_eq!(access(&still), "old");
        assert_eq!(calls.load(Ordering::SeqCst), 7);
    }

    #[tokio::test]
    async fn a_flight_forgotten_mid_call_answers_its_waiters_but_is_not_kept() {
        let flights = Arc::new(RefreshFlights::new(Duration::from_secs(60)));
        let key = flights.key("rt", None, None);
        let calls = Arc::new(AtomicUsize::new(0));
        let (leader, release) =
            held_leader(&flights, key, &calls, Ok(tokens("before revoke"))).await;
        flights.forget("rt").await;
        release.send(()).unwrap();
        assert_eq!(access(&leader.await.unwrap()), "before revoke");
        assert!(flights.is_empty());
    }
}
