//! The configuration reference: the committed `docs/src/configuration.md`
//! is what `--print-config-reference` prints; every key it names is one the
//! loader accepts, under the environment variable it shows; and every key in
//! the SPEC's key tables is in it. (That it names every key serde accepts is
//! a unit test beside the generator, `settings::reference::tests`.)

use std::collections::{BTreeSet, HashMap};

use login_gateway::settings::reference::{env_name, keys, markdown, DefaultValue, MAP_KEY};
use login_gateway::settings::{RawSettings, Sources};

use crate::helpers::assert_committed_file_is_current;

const REGENERATE: &str = "UPDATE_CONFIG_REFERENCE=1 cargo test --test api config_reference";

#[test]
fn committed_reference_is_current() {
    let generated = markdown().expect("every key is documented");
    assert_committed_file_is_current(
        "docs/src/configuration.md",
        &generated,
        "UPDATE_CONFIG_REFERENCE",
        &format!(
            "{REGENERATE}\n    (or `cargo run -q -- --print-config-reference > docs/src/configuration.md`)"
        ),
    );
}

#[test]
fn print_config_reference_needs_no_configuration() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_login-gateway"))
        .arg("--print-config-reference")
        .env_clear()
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        markdown().unwrap()
    );
}

/// A value the loader takes for `key` from the environment: its default
/// written as the environment writes it (a list comma-separated), or a
/// string for a key without one.
fn env_value(default: &DefaultValue) -> String {
    match default {
        DefaultValue::Value(toml::Value::String(text)) => text.clone(),
        DefaultValue::Value(toml::Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join(","),
        DefaultValue::Value(value) => value.to_string(),
        DefaultValue::Required | DefaultValue::Unset => "https://x.example.com".to_string(),
    }
}

/// Each key, alone in the environment under the variable the reference
/// names, is read by the loader: a key the structs do not have (or a wrong
/// variable name) would be `unknown key`.
#[test]
fn every_key_in_the_reference_is_accepted_under_its_environment_variable() {
    let keys = keys().unwrap();
    assert!(keys.len() > 60, "{} keys", keys.len());
    for key in &keys {
        let mut env = HashMap::new();
        let name = key.env.replace(&MAP_KEY.to_ascii_uppercase(), "ORDERS");
        assert_eq!(
            name,
            env_name(&key.key.replace(MAP_KEY, "orders")),
            "{}",
            key.key
        );
        env.insert(name.clone(), env_value(&key.default));
        if key.key.contains(MAP_KEY) {
            // An API entry needs its url whatever key is tried.
            env.entry("GATEWAY__SESSION__APIS__ORDERS__URL".to_string())
                .or_insert_with(|| "https://api.example.com".to_string());
        }
        let loaded = RawSettings::load(&Sources {
            env: Some(env),
            ..Sources::default()
        });
        assert!(loaded.is_ok(), "{name}: {:?}", loaded.err());
    }
}

/// The keys `../shared/SPEC.md` names in its key tables: tables whose
/// header's first cell is `key`, rows whose first cell holds backticked
/// dotted keys; §4's table names `rate_limit.*` keys bare.
fn spec_keys(spec: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut prefix: Option<String> = None;
    let mut in_key_table = false;
    let mut previous_was_table = false;
    for line in spec.lines() {
        let line = line.trim();
        if !line.starts_with('|') {
            previous_was_table = false;
            in_key_table = false;
            continue;
        }
        let first = line
            .trim_matches('|')
            .split('|')
            .next()
            .unwrap_or("")
            .trim();
        if !previous_was_table {
            // The header row.
            previous_was_table = true;
            in_key_table = first.starts_with("key");
            prefix = first
                .split('`')
                .nth(1)
                .and_then(|p| p.strip_suffix('*'))
                .map(str::to_string);
            continue;
        }
        if !in_key_table || first.starts_with("---") {
            continue;
        }
        for token in first.split('`').skip(1).step_by(2) {
            let snake = |part: &str| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            };
            if token.contains('.') && token.split('.').all(snake) {
                keys.insert(token.to_string());
            } else if let (Some(prefix), true) = (&prefix, snake(token)) {
                keys.insert(format!("{prefix}{token}"));
            }
        }
    }
    keys
}

#[test]
fn every_key_in_the_spec_tables_is_in_the_reference() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/SPEC.md");
    let spec = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{path} must be readable ({e}): the SPEC is the contract"));
    let spec_keys = spec_keys(&spec);
    // The table reader itself: it must see §4's bare keys and §5..§11's.
    for sample in [
        "rate_limit.per_ip",
        "server.bind",
        "auth0.client_secret_file",
        "rate_limit.redis.url",
        "session.apis",
        "passkey.connection",
    ] {
        assert!(
            spec_keys.contains(sample),
            "{sample} not read: {spec_keys:?}"
        );
    }
    assert!(
        spec_keys.len() >= 50,
        "{} keys: {spec_keys:?}",
        spec_keys.len()
    );
    let reference: Vec<String> = keys().unwrap().into_iter().map(|k| k.key).collect();
    let page = markdown().unwrap();
    let missing: Vec<&String> = spec_keys
        .iter()
        .filter(|key| {
            // `session.apis` is the table of `session.apis.<name>.*`.
            let named = reference
                .iter()
                .any(|r| r == *key || r.starts_with(&format!("{key}.")));
            !(named && page.contains(&format!("`{key}")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "keys in SPEC.md's tables but not in the configuration reference: {missing:?}"
    );
}
