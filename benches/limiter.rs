//! Rate-limiter benchmark (not a test): 1,000,000 distinct keys through one
//! policy, reporting ns per check and the process RSS before, at the peak,
//! and after pruning; then the known-network lookup (SPEC §13) that
//! `/login/start` and `/login/verify` add per call, and what a remembered
//! login costs in memory.
//!
//! Run: `cargo bench --bench limiter` (release profile).
//! Targets (issue 5): < 1 µs per check; peak RSS < 150 MB; RSS back near
//! the baseline after pruning.

mod common;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use login_gateway::domain::Identifier;
use login_gateway::rate_limit::known::KnownNetworks;
use login_gateway::rate_limit::{identifier_key, Policy, PolicyId};
use login_gateway::settings::QuotaSpec;

const KEYS: u64 = 1_000_000;

fn main() {
    // 10 per second: every key is idle (fully replenished) 1 s after its
    // last use, so pruning after a short pause removes them all.
    let quota = QuotaSpec {
        count: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
        period: Duration::from_secs(1),
    };
    let policy = Policy::new("bench", quota, 2_000_000);
    let before = common::rss_mib();

    let started = Instant::now();
    let mut allowed = 0u64;
    for key in 0..KEYS {
        // Spread keys like hashes do; the gateway keys by a 64-bit hash.
        let key = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        allowed += u64::from(policy.check(key).is_ok());
    }
    let insert_elapsed = started.elapsed();
    let peak = common::rss_mib();

    // Second pass: every key already tracked (the steady-state path).
    let started = Instant::now();
    for key in 0..KEYS {
        let key = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        allowed += u64::from(policy.check(key).is_ok());
    }
    let hit_elapsed = started.elapsed();
    let tracked = policy.len();

    std::thread::sleep(Duration::from_millis(1200));
    let started = Instant::now();
    policy.prune();
    let prune_elapsed = started.elapsed();
    let after = common::rss_mib();

    let ns = |d: Duration| d.as_nanos() as f64 / KEYS as f64;
    println!("limiter benchmark: {KEYS} distinct keys, one policy");
    println!(
        "  check, new key        {:>8.0} ns/check",
        ns(insert_elapsed)
    );
    println!("  check, tracked key    {:>8.0} ns/check", ns(hit_elapsed));
    println!("  allowed               {allowed} of {}", 2 * KEYS);
    println!("  keys tracked at peak  {tracked}");
    println!(
        "  keys after prune      {} (prune took {:.0} ms)",
        policy.len(),
        prune_elapsed.as_secs_f64() * 1000.0
    );
    println!("  RSS before            {before:>8.1} MiB");
    println!("  RSS at peak           {peak:>8.1} MiB");
    println!("  RSS after prune       {after:>8.1} MiB");
    drop(policy);

    known_networks();
}

/// The known-network lookup a `/login/verify` (or `/login/start`) makes
/// for its all-network ceiling: in a small store (cache-resident) and in
/// one of a million remembered logins (two entries each, one per ceiling),
/// for a stranger's network (the common case: a miss) and for the user's
/// own (a hit). The identifier's key form is made before the clock starts,
/// as the route has it already.
fn known_networks() {
    for logins in [10_000u32, 1_000_000] {
        known_networks_of(logins);
    }
}

fn known_networks_of(logins: u32) {
    let ip = |n: u32| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | n));
    let identifiers: Vec<Identifier> = (0..logins)
        .filter_map(|n| Identifier::parse(Some(&format!("user{n}@example.com")), None).ok())
        .collect();
    let keys: Vec<String> = identifiers
        .iter()
        .map(|id| identifier_key(PolicyId::VerifyPerIdentifier, id).into_owned())
        .collect();

    let known = KnownNetworks::new(4 * logins as usize);
    let before = common::rss_mib();
    let now = Instant::now();
    let started = Instant::now();
    for (n, identifier) in (0u32..).zip(&identifiers) {
        known.remember(known.login(identifier), ip(n), now);
    }
    let remember_elapsed = started.elapsed();
    let after = common::rss_mib();
    let entries = known.len();

    // At least a million lookups whatever the store's size.
    let passes = (1_000_000 / logins).max(1);
    let lookups = |from: &dyn Fn(u32) -> IpAddr| {
        let started = Instant::now();
        let mut hits = 0u32;
        for _ in 0..passes {
            for (n, key) in (0u32..).zip(&keys) {
                let ip = from(n);
                hits +=
                    u32::from(known.is_known(PolicyId::VerifyPerIdentifier, black_box(key), ip));
            }
        }
        (started.elapsed(), hits)
    };
    let (miss_elapsed, miss_hits) = lookups(&|n| ip(n ^ 0x5555));
    let (hit_elapsed, hits) = lookups(&ip);

    let per_lookup = |d: Duration| d.as_nanos() as f64 / f64::from(logins * passes);
    println!("known-network benchmark: {logins} logins remembered ({entries} entries)");
    println!(
        "  lookup, stranger's network (miss)  {:>6.0} ns/call ({miss_hits} hits)",
        per_lookup(miss_elapsed)
    );
    println!(
        "  lookup, the user's network (hit)   {:>6.0} ns/call ({hits} hits)",
        per_lookup(hit_elapsed)
    );
    println!(
        "  remember a login (both ceilings)   {:>6.0} ns/login",
        remember_elapsed.as_nanos() as f64 / f64::from(logins)
    );
    if logins >= 1_000_000 {
        println!(
            "  memory                             {:>6.1} MiB ({:.0} bytes/entry)",
            after - before,
            (after - before) * 1024.0 * 1024.0 / entries as f64
        );
    }
}
