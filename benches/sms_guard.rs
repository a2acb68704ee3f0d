//! SMS guard benchmark (not a test, issue 15): what SPEC §8 adds to a
//! `/login/start` with a phone number, and the memory a flood of distinct
//! numbers costs.
//!
//! Run: `cargo bench --bench sms_guard` (release profile).
//! Targets: < 2 µs added per `/login/start` (country lookup, allowed list,
//! fraud guard, the two SMS buckets); memory bounded under 1,000,000
//! distinct numbers (the guard's state is per country; the per-number
//! bucket store is capped by `rate_limit.max_keys`).

mod common;

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use login_gateway::rate_limit::memory::LocalLimits;
use login_gateway::rate_limit::{PolicyId, Subject};
use login_gateway::settings::{FraudGuardSettings, QuotaSpec, RateLimitSettings, SmsSettings};
use login_gateway::sms::{Country, SmsGuard};

const NUMBERS: u64 = 1_000_000;

fn quota(count: u32, secs: u64) -> QuotaSpec {
    QuotaSpec {
        count: NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN),
        period: Duration::from_secs(secs),
    }
}

/// Distinct, valid numbers in several countries (shared calling codes
/// included: +1 needs the area code, +44 the national ranges).
fn number(i: u64) -> String {
    let tail = i % 1_000_000;
    match i % 6 {
        0 => format!("+1415{:07}", 2_000_000 + tail),
        1 => format!("+1613{:07}", 5_000_000 + tail % 5_000_000),
        2 => format!("+3361{:07}", tail),
        3 => format!("+447400{:06}", tail),
        4 => format!("+4915{:09}", 100_000_000 + tail),
        _ => format!("+23480{:08}", 30_000_000 + tail),
    }
}

fn main() {
    let numbers: Vec<String> = (0..NUMBERS).map(number).collect();

    let before_tables = common::status_mib("VmRSS:");
    let started = Instant::now();
    let first = Country::of_number("+14155550100");
    let first_lookup = started.elapsed();
    let tables_mib = common::status_mib("VmRSS:") - before_tables;

    let settings = SmsSettings {
        allowed_countries: vec![],
        fraud_guard: FraudGuardSettings {
            enabled: true,
            window: Duration::from_secs(3600),
            // Never trips during the run: the work measured is the
            // steady-state path every send takes.
            min_sends: u64::MAX,
            min_conversion: 0.2,
            pause: Duration::from_secs(900),
        },
    };
    let guard = SmsGuard::new(&settings, 1_000_000, None);
    // The in-memory backend's own entry point: what `Limits` runs for the
    // two SMS buckets without Redis (the async wrapper adds nothing here).
    let limits = LocalLimits::new(&RateLimitSettings {
        enabled: true,
        max_keys: 1_000_000,
        redis: None,
        per_ip: quota(120, 60),
        login_start_per_ip: quota(20, 3600),
        login_start_per_identifier_ip: quota(5, 3600),
        login_start_per_identifier: quota(20, 3600),
        verify_per_identifier_ip: quota(10, 3600),
        verify_per_identifier: quota(50, 3600),
        mfa_verify_per_token: quota(10, 60),
        sms_per_phone: quota(5, 3600),
        sms_global: quota(u32::MAX, 1),
        passkey_register_per_ip: quota(10, 3600),
    });
    let before = common::status_mib("VmRSS:");

    // Country lookup alone.
    let started = Instant::now();
    let mut unknown = 0u64;
    for n in &numbers {
        unknown += u64::from(Country::of_number(n) == Country::Unknown);
    }
    let lookup = started.elapsed();

    // What a phone /login/start adds: lookup, allowed list, pause check,
    // the two SMS buckets, and the send recorded after Auth0 accepted.
    // `record_send` is async (it may go to Redis); in memory it is ready
    // at once, so one current-thread runtime drives the whole loop.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let started = Instant::now();
    let mut refused = 0u64;
    runtime.block_on(async {
        for n in &numbers {
            let country = Country::of_number(n);
            let admitted = guard.check_allowed(country, true).is_ok()
                && guard.check_paused(country).await.is_ok()
                && limits
                    .charge(&[
                        (PolicyId::SmsPerPhone, Subject::Phone(n)),
                        (PolicyId::SmsGlobal, Subject::Everyone),
                    ])
                    .is_ok();
            if admitted {
                guard.record_send(country, None).await;
            } else {
                refused += 1;
            }
        }
    });
    let per_start = started.elapsed();
    let peak = common::status_mib("VmHWM:");
    let after_flood = common::status_mib("VmRSS:");

    let ns = |d: Duration| d.as_nanos() as f64 / NUMBERS as f64;
    println!("sms guard benchmark: {NUMBERS} distinct numbers in 6 countries");
    println!(
        "  first lookup (loads libphonenumber metadata) {:>8.1} ms ({}), +{tables_mib:.1} MiB RSS",
        first_lookup.as_secs_f64() * 1000.0,
        first.as_str()
    );
    println!(
        "  country lookup           {:>8.0} ns/number ({unknown} unknown)",
        ns(lookup)
    );
    println!(
        "  added per /login/start   {:>8.0} ns (lookup + allowed + pause + 2 buckets + record; {refused} refused)",
        ns(per_start)
    );
    let per_phone_keys = limits
        .policies()
        .iter()
        .find(|p| p.name() == "sms_per_phone")
        .map_or(0, |p| p.len());
    println!("  sms_per_phone keys       {per_phone_keys:>8} (capped by rate_limit.max_keys; the guard itself keeps one window per country)");
    println!("  RSS before flood         {before:>8.1} MiB");
    println!("  RSS after flood          {after_flood:>8.1} MiB (peak {peak:.1} MiB, includes the {NUMBERS} test numbers themselves)");
}
