//! Revocation-list benchmark (not a test; SPEC §12): 1,000,000 sign-outs
//! (distinct session ids) into a list capped at `rate_limit.max_keys` =
//! 1,000,000, then 1,000,000 back-channel `sid`s on top of the full list,
//! reporting ns per mark and per check (the cost every cookie call pays in
//! memory), the process RSS at each step and after the markers expire and
//! are pruned, and how many unrelated sessions the overflow table ends
//! (each holds an id, a `sid` and a `sub`: three lookups) once it holds
//! 100,000 and 1,000,000 markers.
//!
//! Run: `cargo bench --bench revocation` (release profile).

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use login_gateway::session::revocation::{Marker, Reason, Revocations, Verdict};
use login_gateway::session::SessionData;

const MAX_KEYS: usize = 1_000_000;
const MARKS: u32 = 1_000_000;
/// Markers live this long here (a session's `max_age`): longer than the
/// marking and checking take, short enough to wait for their expiry
/// before pruning.
const MAX_AGE: Duration = Duration::from_secs(30);

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A session as a cookie call opens it: an id, Auth0's `sid`, a `sub`.
fn session(id: String, sid: String, login_at: u64) -> SessionData {
    let mut user = serde_json::Map::new();
    user.insert("sub".into(), format!("email|{id}").into());
    SessionData {
        refresh_token: None,
        access_token: String::new(),
        access_expires_at: 0,
        scope: None,
        user,
        expires_at: 0,
        used_at: 0,
        api_tokens: Default::default(),
        id: Some(id),
        sid: Some(sid),
        login_at,
    }
}

fn main() {
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("no runtime: {error}");
            return;
        }
    };
    let list = Revocations::new(MAX_KEYS, MAX_AGE, None);
    let ids: Vec<String> = (0..MARKS).map(|n| format!("session-{n:016x}")).collect();
    let sids: Vec<String> = (0..MARKS).map(|n| format!("auth0-sid-{n:016x}")).collect();
    // What the checks present, made before the first RSS reading.
    let now = unix_now();
    let live: Vec<SessionData> = (0..100_000u32)
        .map(|n| session(format!("live-{n}"), format!("live-sid-{n}"), now))
        .collect();
    let revoked: Vec<SessionData> = ids
        .iter()
        .take(100_000)
        .map(|id| session(id.clone(), "sid".into(), now))
        .collect();
    let late: Vec<SessionData> = sids
        .iter()
        .take(100_000)
        .map(|sid| session("someone".into(), sid.clone(), now))
        .collect();
    let before = common::rss_mib();

    let started = Instant::now();
    runtime.block_on(async {
        for id in &ids {
            let _ = list.mark(Marker::SessionId(id), Reason::Logout).await;
        }
    });
    let mark_elapsed = started.elapsed();
    let full = common::rss_mib();
    let held = list.len();

    // Checks against a full list: sessions nobody signed out (the common
    // case), and copies of signed-out ones.
    let checks = |sessions: &[SessionData]| {
        let started = Instant::now();
        let mut ended = 0u32;
        runtime.block_on(async {
            for session in sessions {
                ended += u32::from(list.check(black_box(session)).await == Verdict::Revoked);
            }
        });
        (started.elapsed(), ended)
    };
    let (live_elapsed, live_ended) = checks(&live);
    let (revoked_elapsed, revoked_ended) = checks(&revoked);

    // A million more, now past max_keys: into the overflow table.
    let (first, rest) = sids.split_at(sids.len() / 10);
    let started = Instant::now();
    runtime.block_on(async {
        for sid in first {
            let _ = list.mark(Marker::Sid(sid), Reason::Backchannel).await;
        }
    });
    let mut overflow_elapsed = started.elapsed();
    let (_, tenth_false_ends) = checks(&live);
    let started = Instant::now();
    runtime.block_on(async {
        for sid in rest {
            let _ = list.mark(Marker::Sid(sid), Reason::Backchannel).await;
        }
    });
    overflow_elapsed += started.elapsed();
    let overflowed = common::rss_mib();
    let held_after_overflow = list.len();
    let (overflow_check_elapsed, overflow_false_ends) = checks(&live);
    let (_, late_ended) = checks(&late);

    // Every marker has expired one second after the last was made.
    let expired_at = unix_now() + MAX_AGE.as_secs() + 1;
    while unix_now() <= expired_at {
        std::thread::sleep(Duration::from_millis(200));
    }
    let started = Instant::now();
    list.prune();
    let prune_elapsed = started.elapsed();
    let after = common::rss_mib();

    let per = |d: Duration, n: usize| d.as_nanos() as f64 / n as f64;
    println!("revocation benchmark: max_keys {MAX_KEYS}");
    println!(
        "  mark a session id (list filling)   {:>6.0} ns/mark",
        per(mark_elapsed, ids.len())
    );
    println!(
        "  mark a sid (list full: overflow)   {:>6.0} ns/mark",
        per(overflow_elapsed, sids.len())
    );
    println!(
        "  check, live session, full list     {:>6.0} ns/check ({live_ended} of {} ended)",
        per(live_elapsed, live.len()),
        live.len()
    );
    println!(
        "  check, signed-out copy             {:>6.0} ns/check ({revoked_ended} of {} ended)",
        per(revoked_elapsed, revoked.len()),
        revoked.len()
    );
    println!(
        "  check, live session, +1M overflow  {:>6.0} ns/check",
        per(overflow_check_elapsed, live.len())
    );
    println!("  markers held after {MARKS} marks   {held}");
    println!(
        "  markers held after {} marks   {held_after_overflow} (+ the overflow table)",
        2 * MARKS
    );
    println!(
        "  overflowed sids that end sessions  {late_ended} of {} (all must)",
        late.len()
    );
    println!(
        "  unrelated sessions it ends        {tenth_false_ends} of {} with {} markers in it",
        live.len(),
        first.len()
    );
    println!(
        "                                    {overflow_false_ends} of {} with {} markers in it",
        live.len(),
        sids.len()
    );
    println!(
        "  markers after prune                {} (prune took {:.0} ms)",
        list.len(),
        prune_elapsed.as_secs_f64() * 1000.0
    );
    println!("  RSS before                         {before:>6.1} MiB");
    println!(
        "  RSS, 1M markers (list full)        {full:>6.1} MiB ({:.0} bytes/marker)",
        (full - before) * 1024.0 * 1024.0 / held.max(1) as f64
    );
    println!("  RSS, +1M in the overflow table     {overflowed:>6.1} MiB");
    println!("  RSS after prune                    {after:>6.1} MiB");
}
