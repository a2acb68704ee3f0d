//! What `--demo` changes in the settings' defaults, under any file or
//! environment: limits generous enough to explore every flow from one
//! address (the production ones lock an explorer out after 20 sign-ins an
//! hour), and a shutdown that frees the port at once. The limit walkthrough
//! is then a deliberate step: set one low (`GATEWAY__RATE_LIMIT__…`).
//! Passkeys are on: the demo tenant speaks Auth0's Passkey API, and the
//! example app offers them.

use crate::settings::{QuotaSpec, RateLimitSettings};

/// `(key, value)` layered right above the built-in defaults.
pub const SETTINGS_DEFAULTS: [(&str, &str); 12] = [
    ("rate_limit.per_ip", "1000/minute"),
    ("rate_limit.login_start_per_ip", "1000/hour"),
    ("rate_limit.login_start_per_identifier_ip", "100/hour"),
    ("rate_limit.login_start_per_identifier", "100/hour"),
    ("rate_limit.verify_per_identifier_ip", "100/hour"),
    ("rate_limit.verify_per_identifier", "500/hour"),
    ("rate_limit.mfa_verify_per_token", "100/minute"),
    ("rate_limit.sms_per_phone", "100/hour"),
    // SPEC §11: `/passkey/*` against the tenant's Passkey API (a file or
    // `GATEWAY__PASSKEY__ENABLED=false` turns them off again).
    ("passkey.enabled", "true"),
    ("rate_limit.passkey_register_per_ip", "1000/hour"),
    // No load balancer to tell: Ctrl-C stops at once, so a restart finds
    // the port free.
    ("server.drain_delay_ms", "0"),
    ("server.shutdown_timeout_secs", "2"),
];

pub fn settings_defaults() -> Vec<(String, String)> {
    SETTINGS_DEFAULTS
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

/// The limits in force, for the banner: `per_ip 1000/minute, …`.
pub fn limits_summary(limits: &RateLimitSettings) -> String {
    if !limits.enabled {
        return "off (rate_limit.enabled = false)".to_string();
    }
    [
        ("per_ip", limits.per_ip),
        ("login_start_per_ip", limits.login_start_per_ip),
        (
            "login_start_per_identifier_ip",
            limits.login_start_per_identifier_ip,
        ),
        (
            "login_start_per_identifier",
            limits.login_start_per_identifier,
        ),
        ("verify_per_identifier_ip", limits.verify_per_identifier_ip),
        ("verify_per_identifier", limits.verify_per_identifier),
        ("mfa_verify_per_token", limits.mfa_verify_per_token),
        ("sms_per_phone", limits.sms_per_phone),
        ("sms_global", limits.sms_global),
        ("passkey_register_per_ip", limits.passkey_register_per_ip),
    ]
    .iter()
    .map(|(name, quota)| format!("{name} {}", quota_text(*quota)))
    .collect::<Vec<_>>()
    .join(", ")
}

/// `5/hour`, as the settings spell it.
fn quota_text(quota: QuotaSpec) -> String {
    let unit = match quota.period.as_secs() {
        1 => "second".to_string(),
        60 => "minute".to_string(),
        3600 => "hour".to_string(),
        86400 => "day".to_string(),
        secs => format!("{secs}s"),
    };
    format!("{}/{unit}", quota.count)
}
