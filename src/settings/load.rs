//! Layering the sources (defaults, `--demo` defaults, `--config FILE`, the
//! environment, overrides) into [`RawSettings`], with errors that name the
//! key and never echo a value.

use std::path::Path;

use super::{RawSettings, SettingsError, Sources, DEFAULTS_TOML, ENV_PREFIX};

impl RawSettings {
    pub fn load(sources: &Sources) -> Result<Self, SettingsError> {
        layered(sources)?.try_deserialize().map_err(config_error)
    }
}

/// The layers merged, not yet read into [`RawSettings`]: `--check-config`
/// compares these values with the built-in defaults.
pub(super) fn layered(sources: &Sources) -> Result<config::Config, SettingsError> {
    {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULTS_TOML,
            config::FileFormat::Toml,
        ));
        // A layer of its own right above the built-in defaults (`config`'s
        // `set_default` would sit below them and never show).
        let defaults: String = sources
            .defaults
            .iter()
            .map(|(key, value)| format!("{key} = {}\n", serde_json::Value::from(value.as_str())))
            .collect();
        builder = builder.add_source(config::File::from_str(&defaults, config::FileFormat::Toml));
        if let Some(path) = &sources.file {
            if !path.is_file() {
                return Err(SettingsError::new(
                    "--config",
                    format!("{} is not a readable file", path.display()),
                ));
            }
            let text = read_settings_file(path)?;
            builder = builder.add_source(config::File::from_str(&text, config::FileFormat::Toml));
        }
        // Values stay strings here (no `try_parsing`): an all-digit client id
        // or secret must not turn into a number. Lists are split by
        // `string_or_list`, numbers and booleans are parsed by serde.
        let mut env = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__");
        if let Some(map) = &sources.env {
            env = env.source(Some(map.clone()));
        }
        builder = builder.add_source(env);
        for (key, value) in &sources.overrides {
            builder = builder
                .set_override(key.as_str(), value.as_str())
                .map_err(|e| SettingsError::new(key.as_str(), e.to_string()))?;
        }
        builder.build().map_err(config_error)
    }
}

/// `config` errors carry the key in their text; keep only that one line and
/// make sure no value (which could be a secret) is echoed back.
fn config_error(error: config::ConfigError) -> SettingsError {
    match error {
        config::ConfigError::Type { key, expected, .. } => SettingsError::new(
            key.unwrap_or_else(|| "<root>".to_string()),
            format!("expected {expected}"),
        ),
        config::ConfigError::NotFound(key) => SettingsError::new(key, "missing"),
        config::ConfigError::At { key, error, .. } => {
            let inner = config_error(*error);
            let key = match key {
                // serde names an unknown key relative to its section.
                Some(section) if inner.message == UNKNOWN_KEY => {
                    format!("{section}.{}", inner.key)
                }
                Some(key) => key,
                None => inner.key,
            };
            SettingsError::new(key, inner.message)
        }
        other => {
            let text = other.to_string();
            // serde's "unknown field `x`, expected one of ..." and "missing
            // field `x`" name the key; any other message may quote a value.
            let names_key = text.starts_with("unknown field") || text.starts_with("missing field");
            let key = text
                .split('`')
                .nth(1)
                .filter(|_| names_key)
                .map(str::to_string)
                .unwrap_or_else(|| "<config>".to_string());
            let message = if text.starts_with("unknown field") {
                UNKNOWN_KEY
            } else if text.starts_with("missing field") {
                "missing"
            } else {
                "invalid value"
            };
            SettingsError::new(key, message)
        }
    }
}

const UNKNOWN_KEY: &str = "unknown key";

/// Reads the `--config` file and checks its TOML syntax first, so that a
/// syntax error is reported by position only: the parser's own message
/// quotes the offending line, which may hold a secret.
fn read_settings_file(path: &Path) -> Result<String, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        SettingsError::new("--config", format!("cannot read the file ({})", e.kind()))
    })?;
    if let Err(error) = toml::from_str::<toml::Table>(&text) {
        let position = error
            .span()
            .map(|span| {
                let before = &text.as_bytes()[..span.start.min(text.len())];
                let line = before.iter().filter(|b| **b == b'\n').count() + 1;
                let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
                format!(" at line {line}, column {column}")
            })
            .unwrap_or_default();
        return Err(SettingsError::new(
            "--config",
            format!("TOML syntax error{position} (the line is not shown: it may hold a secret)"),
        ));
    }
    Ok(text)
}
