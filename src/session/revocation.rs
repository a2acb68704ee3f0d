//! The revocation list (SPEC §12): what keeps a stateless cookie from
//! outliving its sign-out. The gateway never stores sessions, only small
//! **markers** that end them:
//!
//! - *session id*: this one session, every copy of its cookie
//!   (`POST /session/logout`);
//! - *sid*: every session born of that Auth0 session (back-channel logout);
//! - *sub + time*: every session of that user whose login time, in whole
//!   seconds, is at or before the marker's time (sign out everywhere, or a
//!   back-channel logout without `sid`).
//!
//! Whole seconds and "at or before" on purpose: a login time is known to
//! the second, so a session that began in the marker's own second may
//! predate it and must end; the price is that a new login in that same
//! second ends too, which a passwordless login (an OTP round trip) never
//! reaches in practice. Back-channel `iat`s are whole seconds as well.
//!
//! A marker lives `session.max_age_secs` (a `sub` marker from its time on):
//! no session it could match lives longer. Markers are keyed hashes, never
//! the id, `sid` or `sub` themselves.
//!
//! **In memory** (always; the only store with the memory backend): two
//! maps keyed by 64-bit keyed hashes (this process's SipHash key), each
//! capped at `rate_limit.max_keys` and pruned on the housekeeping timer. A
//! marker that arrives while its map is full must still take effect: when
//! no Redis holds it, it goes into a fixed-size overflow table (allocated
//! on first use, [`OVERFLOW_SLOTS`] slots of 8 bytes). Each marker sets two
//! slots to the larger of what they held, Bloom-filter style, so the table
//! can only err by ending a session early (sign in again), never by keeping
//! a revoked one alive, and its entries expire by themselves. The share of
//! unrelated sessions it ends grows with what it holds (about one in ten
//! at 100,000 markers, nearly all at 1,000,000: `benches/revocation.rs`):
//! a flood of sign-outs past the cap costs availability, never a victim's
//! sign-out. `rate_limit.max_keys` should exceed the sign-outs of one
//! `session.max_age_secs`; the table's 8 MiB stay once allocated. With Redis the fleet's copy is the one that
//! counts and a full map just remembers nothing new (the overflow table
//! then takes only markers Redis did not).
//!
//! **In Redis** (`rate_limit.backend = "redis"`, SPEC §9): the same markers
//! as `{prefix}revoked_session|revoked_sid|revoked_sub:{HMAC}` with a TTL;
//! a check is one script call for all three markers, bounded by
//! `rate_limit.redis.timeout_ms`. Markers are written to this replica's
//! memory too and memory is checked first (no round trip when it already
//! knows). When Redis does not answer, `rate_limit.redis.on_error` decides:
//! `local` and `open` go on with what this replica knows (for `open` too:
//! a marker this replica wrote itself is never ignored), `closed` answers
//! `503 session_store_unavailable`.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dashmap::DashMap;
use redis::Script;

use super::{unix_now, SessionData};
use crate::error::ApiError;
use crate::redis_store::RedisStore;
use crate::settings::OnStoreError;

/// Slots of the overflow table (8 bytes each: 8 MiB once allocated).
pub const OVERFLOW_SLOTS: usize = 1 << 20;
const SLOT_MASK: u64 = OVERFLOW_SLOTS as u64 - 1;
/// In an overflow slot, the time of a marker that ends by existing (a
/// session id or a `sid`): later than any login.
const ENDS_ALL: u32 = u32::MAX;

/// What to mark as ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker<'a> {
    /// One session (the gateway's own id, [`SessionData::id`]).
    SessionId(&'a str),
    /// Every session born of this Auth0 session (the id_token's `sid`).
    Sid(&'a str),
    /// Every session of this user that began at or before `at` (unix
    /// seconds).
    Sub { sub: &'a str, at: u64 },
}

/// Why: the `reason` label of `gateway_session_revocations_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `POST /session/logout`.
    Logout,
    /// `POST /session/logout` with `{"everywhere": true}`.
    Everywhere,
    /// `POST /session/backchannel-logout`.
    Backchannel,
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Everywhere => "everywhere",
            Self::Backchannel => "backchannel",
        }
    }
}

/// What the markers say about a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No marker matches.
    Live,
    /// A marker matches: `401 session_expired`, cookies cleared.
    Revoked,
    /// The fleet's markers cannot be read and `on_error = "closed"`:
    /// `503 session_store_unavailable`.
    Unavailable,
}

/// The markers: this process's, and the fleet's in Redis when configured.
pub struct Revocations {
    local: LocalMarkers,
    shared: Option<SharedMarkers>,
    max_age_secs: u64,
}

impl Revocations {
    /// `max_keys`: `rate_limit.max_keys`; `max_age`: `session.max_age_secs`;
    /// `store`: the shared Redis with `rate_limit.backend = "redis"`.
    pub fn new(max_keys: usize, max_age: Duration, store: Option<Arc<RedisStore>>) -> Self {
        Self {
            local: LocalMarkers::new(max_keys),
            shared: store.map(SharedMarkers::new),
            max_age_secs: max_age.as_secs().max(1),
        }
    }

    /// Marks one session, Auth0 session or user as ended; see
    /// [`Self::mark_all`].
    pub async fn mark(&self, marker: Marker<'_>, reason: Reason) -> Result<(), ApiError> {
        self.mark_all(&[marker], reason).await
    }

    /// Marks as ended, counted once under `reason` in
    /// `gateway_session_revocations_total`. Always written to this
    /// replica's memory; with Redis, to Redis too (one round trip). `Err`
    /// (`503 session_store_unavailable`) only when Redis did not take them
    /// and `on_error = "closed"`: the markers then hold on this replica
    /// only, and the caller decides whether that is an answer
    /// (`POST /session/logout` still answers 204; the back-channel route
    /// answers 503 so that Auth0 tries again).
    pub async fn mark_all(&self, markers: &[Marker<'_>], reason: Reason) -> Result<(), ApiError> {
        crate::metrics::record_session_revocation(reason.label());
        let now = unix_now();
        let Some(shared) = &self.shared else {
            for marker in markers {
                self.local.mark(*marker, now, self.max_age_secs, true);
            }
            return Ok(());
        };
        let unheld: Vec<Marker<'_>> = markers
            .iter()
            .copied()
            .filter(|marker| !self.local.mark(*marker, now, self.max_age_secs, false))
            .collect();
        let Err(on_error) = shared.mark(markers, now, self.max_age_secs).await else {
            return Ok(());
        };
        // Neither Redis nor a full map holds these: the overflow table must.
        for marker in unheld {
            self.local.mark(marker, now, self.max_age_secs, true);
        }
        match on_error {
            OnStoreError::Closed => Err(ApiError::session_store_unavailable()),
            OnStoreError::Local | OnStoreError::Open => Ok(()),
        }
    }

    /// Whether a marker ends `session`: this replica's first, then (one
    /// round trip) the fleet's.
    pub async fn check(&self, session: &SessionData) -> Verdict {
        let probe = Probe::of(session);
        if self.local.matches(&probe, unix_now()) {
            return Verdict::Revoked;
        }
        let Some(shared) = &self.shared else {
            return Verdict::Live;
        };
        match shared.matches(&probe).await {
            Ok(true) => Verdict::Revoked,
            Ok(false) => Verdict::Live,
            Err(OnStoreError::Closed) => Verdict::Unavailable,
            Err(OnStoreError::Local | OnStoreError::Open) => Verdict::Live,
        }
    }

    /// Drops expired markers from memory and gives the memory back.
    pub fn prune(&self) {
        self.local.prune(unix_now());
        crate::metrics::record_revocation_markers(self.local.len());
    }

    /// Markers held in this process's maps (the overflow table not
    /// counted).
    pub fn len(&self) -> usize {
        self.local.len()
    }

    pub fn is_empty(&self) -> bool {
        self.local.len() == 0
    }

    /// Whether the overflow table is in use.
    pub fn overflowed(&self) -> bool {
        self.local.overflow.get().is_some()
    }
}

/// What a session can be matched by.
struct Probe<'a> {
    id: Option<&'a str>,
    sid: Option<&'a str>,
    sub: Option<&'a str>,
    login_at: u64,
}

impl<'a> Probe<'a> {
    fn of(session: &'a SessionData) -> Self {
        Self {
            id: session.id.as_deref(),
            sid: session.sid.as_deref(),
            sub: session.sub(),
            login_at: session.login_at,
        }
    }
}

/// The kinds of marker, as hashed and as named in Redis keys.
const SESSION_KIND: &str = "revoked_session";
const SID_KIND: &str = "revoked_sid";
const SUB_KIND: &str = "revoked_sub";

/// This process's markers.
struct LocalMarkers {
    hasher: std::hash::RandomState,
    max_keys: usize,
    /// Keyed hash of a session id or `sid` → expiry (unix seconds).
    ended: DashMap<u64, u64>,
    /// Keyed hash of a `sub` → (the marker's time, expiry).
    subs: DashMap<u64, (u64, u64)>,
    /// Markers that came while their map was full.
    overflow: OnceLock<Box<[AtomicU64]>>,
}

impl LocalMarkers {
    fn new(max_keys: usize) -> Self {
        Self {
            hasher: std::hash::RandomState::new(),
            max_keys,
            ended: DashMap::new(),
            subs: DashMap::new(),
            overflow: OnceLock::new(),
        }
    }

    fn hash(&self, kind: &str, value: &str) -> u64 {
        self.hasher.hash_one((kind, value))
    }

    /// Whether the marker is held: in its map, or (`overflow`) in the
    /// overflow table when the map is full.
    fn mark(&self, marker: Marker<'_>, now: u64, max_age: u64, overflow: bool) -> bool {
        match marker {
            Marker::SessionId(value) | Marker::Sid(value) => {
                let kind = if matches!(marker, Marker::SessionId(_)) {
                    SESSION_KIND
                } else {
                    SID_KIND
                };
                let key = self.hash(kind, value);
                let expires = now + max_age;
                if self.ended.len() >= self.max_keys && !self.ended.contains_key(&key) {
                    if overflow {
                        self.overflow_mark(key, ENDS_ALL, expires);
                    }
                    return overflow;
                }
                self.ended
                    .entry(key)
                    .and_modify(|kept| *kept = (*kept).max(expires))
                    .or_insert(expires);
            }
            Marker::Sub { sub, at } => {
                let key = self.hash(SUB_KIND, sub);
                let expires = sub_expiry(at, now, max_age);
                if self.subs.len() >= self.max_keys && !self.subs.contains_key(&key) {
                    if overflow {
                        let at = u32::try_from(at).unwrap_or(ENDS_ALL - 1);
                        self.overflow_mark(key, at, expires);
                    }
                    return overflow;
                }
                self.subs
                    .entry(key)
                    .and_modify(|(kept_at, kept_expires)| {
                        *kept_at = (*kept_at).max(at);
                        *kept_expires = (*kept_expires).max(expires);
                    })
                    .or_insert((at, expires));
            }
        }
        true
    }

    fn matches(&self, probe: &Probe<'_>, now: u64) -> bool {
        let live = |expires: u64| expires > now;
        for (kind, value) in [(SESSION_KIND, probe.id), (SID_KIND, probe.sid)] {
            let Some(value) = value else { continue };
            let key = self.hash(kind, value);
            if self.ended.get(&key).is_some_and(|expires| live(*expires))
                || self.overflow_matches(key, ENDS_ALL, now)
            {
                return true;
            }
        }
        let Some(sub) = probe.sub else {
            return false;
        };
        let key = self.hash(SUB_KIND, sub);
        self.subs
            .get(&key)
            .is_some_and(|entry| entry.0 >= probe.login_at && live(entry.1))
            || self.overflow_matches(
                key,
                u32::try_from(probe.login_at).unwrap_or(ENDS_ALL - 1),
                now,
            )
    }

    /// Sets the key's two slots to at least (`at`, `expires`).
    fn overflow_mark(&self, key: u64, at: u32, expires: u64) {
        let table = self.overflow.get_or_init(|| {
            tracing::warn!(
                event = "session_revocations_overflow",
                max_keys = self.max_keys,
                "the revocation list is full (rate_limit.max_keys): further markers go to the \
                 overflow table, which may end unrelated sessions early"
            );
            (0..OVERFLOW_SLOTS).map(|_| AtomicU64::new(0)).collect()
        });
        metrics::counter!("gateway_session_revocation_overflow_total").increment(1);
        let expires = u32::try_from(expires).unwrap_or(u32::MAX);
        for slot in slots(key) {
            // `fetch_update` retries until no other thread raced it; the
            // closure always returns `Some`, so the result is always `Ok`.
            let _ = table[slot].fetch_update(Ordering::AcqRel, Ordering::Acquire, |packed| {
                let (kept_at, kept_expires) = unpack(packed);
                Some(pack(kept_at.max(at), kept_expires.max(expires)))
            });
        }
    }

    /// Both of the key's slots hold a time at or after `at` and are live.
    fn overflow_matches(&self, key: u64, at: u32, now: u64) -> bool {
        let Some(table) = self.overflow.get() else {
            return false;
        };
        slots(key).iter().all(|slot| {
            let (kept_at, expires) = unpack(table[*slot].load(Ordering::Acquire));
            kept_at >= at && u64::from(expires) > now
        })
    }

    fn prune(&self, now: u64) {
        self.ended.retain(|_, expires| *expires > now);
        self.ended.shrink_to_fit();
        self.subs.retain(|_, (_, expires)| *expires > now);
        self.subs.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.ended.len() + self.subs.len()
    }
}

/// A `sub` marker must outlive every session that began at or before its
/// time: until `at + max_age` (at least `max_age` from now).
fn sub_expiry(at: u64, now: u64, max_age: u64) -> u64 {
    at.max(now) + max_age
}

fn slots(key: u64) -> [usize; 2] {
    [
        (key & SLOT_MASK) as usize,
        ((key >> 40) & SLOT_MASK) as usize,
    ]
}

fn pack(at: u32, expires: u32) -> u64 {
    (u64::from(at) << 32) | u64::from(expires)
}

fn unpack(packed: u64) -> (u32, u32) {
    ((packed >> 32) as u32, packed as u32)
}

/// KEYS: the markers that end a session by existing (its id, its `sid`),
/// then its user's `sub` marker when ARGV[1] is not empty; ARGV[1]: the
/// session's login time. Returns 1 when one matches.
const CHECK: &str = r#"
local subs = 0
if ARGV[1] ~= '' then subs = 1 end
for i = 1, #KEYS - subs do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 1 end
end
if subs == 1 then
  local at = redis.call('GET', KEYS[#KEYS])
  if at and tonumber(at) >= tonumber(ARGV[1]) then return 1 end
end
return 0
"#;

/// KEYS[i]: a marker. ARGV[2i - 1]: '' for one that ends by existing, or a
/// `sub` marker's time (kept when it is later than the stored one);
/// ARGV[2i]: its TTL in milliseconds.
const MARK: &str = r#"
for i = 1, #KEYS do
  local at = ARGV[2 * i - 1]
  local ttl = ARGV[2 * i]
  if at == '' then
    redis.call('SET', KEYS[i], '1', 'PX', ttl)
  else
    local kept = redis.call('GET', KEYS[i])
    if not kept or tonumber(kept) < tonumber(at) then
      redis.call('SET', KEYS[i], at, 'PX', ttl)
    end
  end
end
return 0
"#;

/// The fleet's markers in Redis.
struct SharedMarkers {
    store: Arc<RedisStore>,
    check: Script,
    mark: Script,
}

impl SharedMarkers {
    fn new(store: Arc<RedisStore>) -> Self {
        Self {
            store,
            check: Script::new(CHECK),
            mark: Script::new(MARK),
        }
    }

    fn key(&self, kind: &str, value: &str) -> String {
        self.store.key(kind, &[value.as_bytes()])
    }

    /// One script call for every marker that could match; `Err(on_error)`
    /// when Redis did not answer within the timeout.
    async fn matches(&self, probe: &Probe<'_>) -> Result<bool, OnStoreError> {
        let mut invocation = self.check.prepare_invoke();
        let mut keys = 0;
        for (kind, value) in [(SESSION_KIND, probe.id), (SID_KIND, probe.sid)] {
            if let Some(value) = value {
                invocation.key(self.key(kind, value));
                keys += 1;
            }
        }
        match probe.sub {
            Some(sub) => {
                invocation.key(self.key(SUB_KIND, sub)).arg(probe.login_at);
                keys += 1;
            }
            None => {
                invocation.arg("");
            }
        }
        if keys == 0 {
            return Ok(false);
        }
        let matched: i64 = self
            .store
            .run(&invocation)
            .await
            .map_err(|_| self.store.on_error())?;
        Ok(matched == 1)
    }

    async fn mark(
        &self,
        markers: &[Marker<'_>],
        now: u64,
        max_age: u64,
    ) -> Result<(), OnStoreError> {
        if markers.is_empty() {
            return Ok(());
        }
        let mut invocation = self.mark.prepare_invoke();
        for marker in markers {
            match *marker {
                Marker::SessionId(id) => {
                    invocation
                        .key(self.key(SESSION_KIND, id))
                        .arg("")
                        .arg(max_age * 1000);
                }
                Marker::Sid(sid) => {
                    invocation
                        .key(self.key(SID_KIND, sid))
                        .arg("")
                        .arg(max_age * 1000);
                }
                Marker::Sub { sub, at } => {
                    let ttl = sub_expiry(at, now, max_age) - now;
                    invocation
                        .key(self.key(SUB_KIND, sub))
                        .arg(at)
                        .arg(ttl * 1000);
                }
            }
        }
        self.store
            .run::<i64>(&invocation)
            .await
            .map(|_| ())
            .map_err(|_| self.store.on_error())
    }
}

/// A `sub` as the logs may show it: the connection prefix and the last
/// four characters (`email|***e5f6`).
pub fn masked_sub(sub: &str) -> String {
    let (connection, id) = sub.rsplit_once('|').unwrap_or(("", sub));
    let chars: Vec<char> = id.chars().collect();
    let tail: String = if chars.len() >= 12 {
        chars[chars.len() - 4..].iter().collect()
    } else {
        String::new()
    };
    match connection {
        "" => format!("***{tail}"),
        connection => format!("{connection}|***{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(
        id: Option<&str>,
        sid: Option<&str>,
        sub: Option<&str>,
        login_at: u64,
    ) -> SessionData {
        let mut user = serde_json::Map::new();
        if let Some(sub) = sub {
            user.insert("sub".into(), sub.into());
        }
        SessionData {
            refresh_token: None,
            access_token: String::new(),
            access_expires_at: 0,
            scope: None,
            user,
            expires_at: 0,
            used_at: 0,
            api_tokens: Default::default(),
            id: id.map(str::to_owned),
            sid: sid.map(str::to_owned),
            login_at,
        }
    }

    const DAY: u64 = 86_400;
    const NOW: u64 = 1_800_000_000;

    #[test]
    fn each_kind_of_marker_ends_what_it_names_and_nothing_else() {
        let markers = LocalMarkers::new(100);
        markers.mark(Marker::SessionId("s1"), NOW, DAY, true);
        markers.mark(Marker::Sid("auth0-a"), NOW, DAY, true);
        markers.mark(
            Marker::Sub {
                sub: "email|jane",
                at: NOW,
            },
            NOW,
            DAY,
            true,
        );
        let ended = |id, sid, sub, login_at| {
            markers.matches(&Probe::of(&session(id, sid, sub, login_at)), NOW + 1)
        };
        assert!(ended(Some("s1"), None, None, NOW));
        assert!(!ended(Some("s2"), None, None, NOW));
        assert!(ended(Some("s2"), Some("auth0-a"), None, NOW));
        assert!(!ended(Some("s2"), Some("auth0-b"), None, NOW));
        // sub + time: at or before the marker's second ends, after does not.
        assert!(ended(Some("s2"), None, Some("email|jane"), NOW - 100));
        assert!(ended(Some("s2"), None, Some("email|jane"), NOW));
        assert!(!ended(Some("s2"), None, Some("email|jane"), NOW + 1));
        assert!(!ended(Some("s2"), None, Some("email|john"), NOW - 100));
        // A cookie sealed before revocation existed: no id, login time 0.
        assert!(ended(None, None, Some("email|jane"), 0));
        assert!(!ended(None, None, Some("email|john"), 0));
        // A marker's own kind only: a sid equal to a revoked session id is
        // another thing.
        assert!(!ended(Some("auth0-a"), None, None, NOW));
    }

    #[test]
    fn markers_expire_after_max_age_and_prune_frees_them() {
        let markers = LocalMarkers::new(100);
        markers.mark(Marker::SessionId("s1"), NOW, DAY, true);
        markers.mark(
            Marker::Sub {
                sub: "email|jane",
                at: NOW,
            },
            NOW,
            DAY,
            true,
        );
        let probe = session(Some("s1"), None, Some("email|jane"), NOW);
        assert!(markers.matches(&Probe::of(&probe), NOW + DAY - 1));
        assert!(!markers.matches(&Probe::of(&probe), NOW + DAY));
        markers.prune(NOW + DAY - 1);
        assert_eq!(markers.len(), 2);
        markers.prune(NOW + DAY);
        assert_eq!(markers.len(), 0);
    }

    #[test]
    fn a_later_sub_marker_moves_the_time_on_and_an_earlier_one_keeps_it() {
        let markers = LocalMarkers::new(100);
        markers.mark(Marker::Sub { sub: "u", at: NOW }, NOW, DAY, true);
        markers.mark(
            Marker::Sub {
                sub: "u",
                at: NOW - 50,
            },
            NOW,
            DAY,
            true,
        );
        let ended =
            |login_at| markers.matches(&Probe::of(&session(None, None, Some("u"), login_at)), NOW);
        assert!(ended(NOW));
        markers.mark(
            Marker::Sub {
                sub: "u",
                at: NOW + 10,
            },
            NOW + 10,
            DAY,
            true,
        );
        assert!(ended(NOW + 10));
        assert!(!ended(NOW + 11));
    }

    #[test]
    fn a_full_map_still_ends_what_is_marked_through_the_overflow_table() {
        let markers = LocalMarkers::new(10);
        for n in 0..1_000 {
            markers.mark(Marker::SessionId(&format!("s{n}")), NOW, DAY, true);
            markers.mark(
                Marker::Sub {
                    sub: &format!("u{n}"),
                    at: NOW,
                },
                NOW,
                DAY,
                true,
            );
        }
        assert_eq!(markers.len(), 20, "each map holds max_keys");
        for n in 0..1_000 {
            let revoked = session(Some(&format!("s{n}")), None, None, NOW);
            assert!(markers.matches(&Probe::of(&revoked), NOW + 1), "s{n}");
            let user = session(Some("live"), None, Some(&format!("u{n}")), NOW);
            assert!(markers.matches(&Probe::of(&user), NOW + 1), "u{n}");
        }
        // A later login of an overflowed user survives, and so do (with a
        // table this empty) sessions nobody marked.
        let later = session(Some("live"), None, Some("u7"), NOW + 1);
        assert!(!markers.matches(&Probe::of(&later), NOW + 1));
        let stranger = session(Some("other"), Some("sid"), Some("nobody"), NOW);
        assert!(!markers.matches(&Probe::of(&stranger), NOW + 1));
        // Overflow entries expire by themselves.
        let revoked = session(Some("s1"), None, None, NOW);
        assert!(!markers.matches(&Probe::of(&revoked), NOW + DAY));
    }

    #[test]
    fn without_overflow_a_full_map_says_it_did_not_hold_the_marker() {
        let markers = LocalMarkers::new(1);
        assert!(markers.mark(Marker::SessionId("s1"), NOW, DAY, false));
        assert!(
            markers.mark(Marker::SessionId("s1"), NOW, DAY, false),
            "known"
        );
        assert!(!markers.mark(Marker::SessionId("s2"), NOW, DAY, false));
        let s2 = session(Some("s2"), None, None, NOW);
        assert!(!markers.matches(&Probe::of(&s2), NOW));
        assert!(markers.overflow.get().is_none(), "nothing allocated");
        assert!(markers.mark(Marker::SessionId("s2"), NOW, DAY, true));
        assert!(markers.matches(&Probe::of(&s2), NOW));
    }

    #[test]
    fn a_sub_is_masked_in_logs() {
        assert_eq!(
            masked_sub("email|64d2b0c1e9f3a1b2c3d4e5f6"),
            "email|***e5f6"
        );
        assert_eq!(masked_sub("auth0|short"), "auth0|***");
        assert_eq!(masked_sub("no-connection-0123456789"), "***6789");
    }
}
