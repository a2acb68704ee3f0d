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

/// The banner's `Limits:` line and the note under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitsSummary {
    /// `per_ip 1000/minute, …`; a limit the file or the environment
    /// changed from the demo's default ends in `(overridden)`.
    pub limits: String,
    /// Whether those are the demo's defaults, or which are not.
    pub note: String,
}

/// The limits in force, for the banner, compared with what `--demo`
/// itself sets ([`SETTINGS_DEFAULTS`] over the built-in defaults): a person
/// who set one low to watch a 429 sees it marked, and the banner never
/// calls an overridden limit a demo default.
pub fn limits_summary(limits: &RateLimitSettings) -> LimitsSummary {
    if !limits.enabled {
        return LimitsSummary {
            limits: "off (rate_limit.enabled = false)".to_string(),
            note: "(overridden: the demo's limits are on by default)".to_string(),
        };
    }
    let in_force = [
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
    ];
    let builtin: Option<toml::Table> = crate::settings::DEFAULTS_TOML.parse().ok();
    let mut overridden = Vec::new();
    let shown: Vec<String> = in_force
        .iter()
        .map(|(name, quota)| {
            let text = format!("{name} {}", quota_text(*quota));
            if demo_default(name, builtin.as_ref()) == Some(*quota) {
                text
            } else {
                overridden.push(*name);
                format!("{text} (overridden)")
            }
        })
        .collect();
    let note = if overridden.is_empty() {
        "(demo defaults; see a 429 with e.g. GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER=2/hour)"
            .to_string()
    } else {
        format!(
            "(overridden by the configuration: {}; the others are the demo defaults)",
            overridden.join(", ")
        )
    };
    LimitsSummary {
        limits: shown.join(", "),
        note,
    }
}

/// What `--demo` gives `rate_limit.<name>` when nothing overrides it: its
/// own default, else the built-in one (`builtin`: [`DEFAULTS_TOML`] parsed).
///
/// [`DEFAULTS_TOML`]: crate::settings::DEFAULTS_TOML
fn demo_default(name: &str, builtin: Option<&toml::Table>) -> Option<QuotaSpec> {
    let key = format!("rate_limit.{name}");
    let text = match SETTINGS_DEFAULTS.iter().find(|(k, _)| *k == key) {
        Some((_, value)) => (*value).to_string(),
        None => crate::settings::reference::lookup(builtin?, &key)?
            .as_str()?
            .to_string(),
    };
    QuotaSpec::parse(&text).ok()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Settings, Sources};

    /// The demo's settings, as `--demo` loads them, with `env` on top.
    fn demo_limits(env: &[(&str, &str)]) -> RateLimitSettings {
        let mut vars = vec![
            ("GATEWAY__AUTH0__DOMAIN", "http://127.0.0.1:9"),
            ("GATEWAY__AUTH0__CLIENT_ID", "client"),
            ("GATEWAY__AUTH0__CLIENT_SECRET", "secret"),
        ];
        vars.extend_from_slice(env);
        let env = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load(&Sources {
            defaults: settings_defaults(),
            file: None,
            env: Some(env),
            overrides: Vec::new(),
        })
        .expect("valid settings")
        .rate_limit
    }

    #[test]
    fn the_banner_calls_the_limits_demo_defaults_only_when_none_was_overridden() {
        let summary = limits_summary(&demo_limits(&[]));
        assert!(
            summary.note.starts_with("(demo defaults;"),
            "{}",
            summary.note
        );
        assert!(!summary.limits.contains("overridden"), "{}", summary.limits);
        // sms_global is not in SETTINGS_DEFAULTS: the built-in default is the demo's.
        assert!(
            summary.limits.contains("sms_global 1000/hour,"),
            "{}",
            summary.limits
        );
    }

    #[test]
    fn a_limit_set_in_the_environment_is_marked_overridden_in_the_banner() {
        let summary = limits_summary(&demo_limits(&[
            ("GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER", "2/hour"),
            ("GATEWAY__RATE_LIMIT__SMS_GLOBAL", "10/hour"),
        ]));
        assert_eq!(
            summary.note,
            "(overridden by the configuration: login_start_per_identifier, sms_global; \
             the others are the demo defaults)"
        );
        assert!(
            summary
                .limits
                .contains("login_start_per_identifier 2/hour (overridden),"),
            "{}",
            summary.limits
        );
        assert!(
            summary.limits.contains("sms_global 10/hour (overridden),"),
            "{}",
            summary.limits
        );
        assert!(
            summary.limits.contains("per_ip 1000/minute,"),
            "{}",
            summary.limits
        );
        assert!(!summary.note.contains("demo defaults;"), "{}", summary.note);
    }

    #[test]
    fn limits_switched_off_are_not_called_demo_defaults() {
        let summary = limits_summary(&demo_limits(&[("GATEWAY__RATE_LIMIT__ENABLED", "false")]));
        assert_eq!(summary.limits, "off (rate_limit.enabled = false)");
        assert!(summary.note.starts_with("(overridden"), "{}", summary.note);
    }
}
