//! Rate-limiter benchmark (not a test): 1,000,000 distinct keys through one
//! policy, reporting ns per check and the process RSS before, at the peak,
//! and after pruning.
//!
//! Run: `cargo bench --bench limiter` (release profile).
//! Targets (issue 5): < 1 µs per check; peak RSS < 150 MB; RSS back near
//! the baseline after pruning.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use login_gateway::rate_limit::Policy;
use login_gateway::settings::QuotaSpec;

const KEYS: u64 = 1_000_000;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() {
    // 10 per second: every key is idle (fully replenished) 1 s after its
    // last use, so pruning after a short pause removes them all.
    let quota = QuotaSpec {
        count: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
        period: Duration::from_secs(1),
    };
    let policy = Policy::new("bench", quota, 2_000_000);
    let before = rss_mib();

    let started = Instant::now();
    let mut allowed = 0u64;
    for key in 0..KEYS {
        // Spread keys like hashes do; the gateway keys by a 64-bit hash.
        let key = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        allowed += u64::from(policy.check(key).is_ok());
    }
    let insert_elapsed = started.elapsed();
    let peak = rss_mib();

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
    let after = rss_mib();

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
}
