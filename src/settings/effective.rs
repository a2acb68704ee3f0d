//! What `--check-config` prints after `configuration OK`: every key whose
//! value, after all layers, differs from the built-in default. The keys come
//! from the configuration reference's list, so the two never disagree;
//! secrets (and the Redis URL, which may hold a password) are shown as
//! `[set, not shown]`.

use super::load::layered;
use super::reference::{lookup, sections, KeyDoc, MAP_KEY};
use super::{SettingsError, Sources, DEFAULTS_TOML};

/// What a secret is shown as.
pub const NOT_SHOWN: &str = "[set, not shown]";

/// `(key, shown value)` for each key that differs from its built-in
/// default, in the reference's order; a map's entries by name.
pub fn changed_from_defaults(sources: &Sources) -> Result<Vec<(String, String)>, SettingsError> {
    let sections = sections().map_err(|e| SettingsError::new("<reference>", e.to_string()))?;
    let config = layered(sources)?;
    let defaults: toml::Table = DEFAULTS_TOML
        .parse()
        .map_err(|_| SettingsError::new("<defaults>", "not TOML"))?;
    let mut changed = Vec::new();
    for section in &sections {
        let Some(map) = section.path.strip_suffix(&format!(".{MAP_KEY}")) else {
            for key in &section.keys {
                push_if_changed(&config, &defaults, key, &key.key, &mut changed);
            }
            continue;
        };
        let mut names: Vec<String> = config
            .get_table(map)
            .map(|entries| entries.into_keys().collect())
            .unwrap_or_default();
        names.sort();
        for name in names {
            for key in &section.keys {
                let concrete = key.key.replace(MAP_KEY, &name);
                push_if_changed(&config, &defaults, key, &concrete, &mut changed);
            }
        }
    }
    Ok(changed)
}

fn push_if_changed(
    config: &config::Config,
    defaults: &toml::Table,
    doc: &KeyDoc,
    key: &str,
    changed: &mut Vec<(String, String)>,
) {
    let Ok(value) = config.get::<config::Value>(key) else {
        return;
    };
    let effective = from_config(value, doc.list);
    let default = lookup(defaults, key).map(from_toml);
    if default.as_ref() == Some(&effective) {
        return;
    }
    let shown = if doc.secret {
        NOT_SHOWN.to_string()
    } else {
        shown(&effective)
    };
    changed.push((key.to_string(), shown));
}

/// A value as compared: a list's items (from a TOML array or a
/// comma-separated environment string), or a scalar's text.
#[derive(Debug, PartialEq)]
enum Canonical {
    List(Vec<String>),
    Scalar(String),
}

fn from_config(value: config::Value, list: bool) -> Canonical {
    match value.kind {
        config::ValueKind::Array(items) => Canonical::List(
            items
                .into_iter()
                .map(|item| item.into_string().unwrap_or_default())
                .map(|item| item.trim().to_string())
                .filter(|item| !item.is_empty())
                .collect(),
        ),
        config::ValueKind::String(text) if list => Canonical::List(
            text.split(',')
                .map(|item| item.trim().to_string())
                .filter(|item| !item.is_empty())
                .collect(),
        ),
        _ => Canonical::Scalar(value.into_string().unwrap_or_default()),
    }
}

fn from_toml(value: &toml::Value) -> Canonical {
    match value {
        toml::Value::Array(items) => Canonical::List(
            items
                .iter()
                .map(|item| {
                    item.as_str()
                        .map_or_else(|| item.to_string(), str::to_string)
                })
                .collect(),
        ),
        toml::Value::String(text) => Canonical::Scalar(text.clone()),
        other => Canonical::Scalar(other.to_string()),
    }
}

fn shown(value: &Canonical) -> String {
    match value {
        Canonical::List(items) if items.is_empty() => "[]".to_string(),
        Canonical::List(items) => items.join(", "),
        Canonical::Scalar(text) if text.is_empty() => "\"\"".to_string(),
        Canonical::Scalar(text) => text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn changed(env: &[(&str, &str)]) -> Vec<(String, String)> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        changed_from_defaults(&Sources {
            env: Some(env),
            ..Sources::default()
        })
        .expect("layers")
    }

    #[test]
    fn only_changed_keys_are_listed_and_secrets_never_shown() {
        let password = "pw-not-real-31c8";
        let url = format!("redis://:{password}@redis.internal:6379/0");
        let lines = changed(&[
            ("GATEWAY__AUTH0__DOMAIN", "tenant.example.com"),
            ("GATEWAY__AUTH0__CLIENT_SECRET", "client-secret-not-real"),
            ("GATEWAY__RATE_LIMIT__REDIS__URL", &url),
            ("GATEWAY__SESSION__KEYS", "a2V5LW5vdC1yZWFs"),
            ("GATEWAY__SERVER__WORKERS", "4"),
            ("GATEWAY__SERVER__TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"),
            (
                "GATEWAY__SESSION__APIS__ORDERS__URL",
                "https://api.example.com",
            ),
            // Equal to the defaults, written the environment's way.
            ("GATEWAY__AUTH0__TIMEOUT_MS", "5000"),
            ("GATEWAY__RATE_LIMIT__ENABLED", "true"),
            ("GATEWAY__SMS__FRAUD_GUARD__MIN_CONVERSION", "0.2"),
            (
                "GATEWAY__AUTH0__ALLOWED_SCOPES",
                "openid,profile, email,offline_access",
            ),
        ]);
        let expected: Vec<(String, String)> = [
            ("server.workers", "4"),
            ("server.trusted_proxies", "10.0.0.0/8, 127.0.0.1"),
            ("auth0.domain", "tenant.example.com"),
            ("auth0.client_secret", NOT_SHOWN),
            ("rate_limit.redis.url", NOT_SHOWN),
            ("session.keys", NOT_SHOWN),
            ("session.apis.orders.url", "https://api.example.com"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(lines, expected);
        assert!(
            changed(&[]).is_empty(),
            "the defaults differ from themselves"
        );
    }
}
