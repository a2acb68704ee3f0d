//! The configuration reference (`--print-config-reference`,
//! `docs/src/configuration.md`), generated from the settings code itself.
//!
//! The keys, their types and meanings come from the JSON schema utoipa
//! derives from the [`RawSettings`] structs (it reads serde's attributes and
//! the fields' doc comments); the defaults come from [`DEFAULTS_TOML`]. A key
//! without a doc comment, or of a shape this walker does not know, is an
//! error: the reference is never silently incomplete.

use std::fmt::Write as _;

use serde_json::Value;
use utoipa::openapi::schema::{AdditionalProperties, Object, Schema};
use utoipa::openapi::RefOr;
use utoipa::PartialSchema;

use super::{RawSettings, DEFAULTS_TOML, ENV_PREFIX};

/// Stands for a map's key (an API's name under `session.apis`).
pub const MAP_KEY: &str = "<name>";

/// Why the reference cannot be generated: always about one key.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("{0}: no doc comment; add one on its field in src/settings (it is the key's line in the configuration reference)")]
    NoDocComment(String),
    #[error("{0}: a schema shape the reference does not know ({1}); an enum or nested struct needs #[schema(inline)]")]
    UnknownShape(String, String),
}

/// One key of the settings tree.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyDoc {
    /// Dotted, with [`MAP_KEY`] for a map's key: `session.apis.<name>.url`.
    pub key: String,
    /// `GATEWAY__SESSION__APIS__<NAME>__URL`.
    pub env: String,
    /// As the reference shows it: `integer`, `list of strings`, ...
    pub kind: String,
    /// Never logged, never printed (`format = Password` in the schema).
    pub secret: bool,
    /// A TOML array, or one comma-separated string in the environment.
    pub list: bool,
    pub default: DefaultValue,
    /// The field's doc comment on one line.
    pub meaning: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DefaultValue {
    /// The built-in value, as TOML.
    Value(toml::Value),
    /// No default, and loading fails without it (the schema's `required`).
    Required,
    /// No default: the feature it configures stays off or uses no value.
    Unset,
}

/// One TOML table: `server`, `rate_limit.redis`, `session.apis.<name>`.
#[derive(Debug, Clone)]
pub struct Section {
    pub path: String,
    /// The doc comment of the field that holds the table.
    pub intro: String,
    pub keys: Vec<KeyDoc>,
}

/// Every table and key the settings accept, in the order of the structs.
pub fn sections() -> Result<Vec<Section>, ReferenceError> {
    let defaults: toml::Table = DEFAULTS_TOML
        .parse()
        .map_err(|_| ReferenceError::UnknownShape("<defaults>".to_string(), "TOML".to_string()))?;
    let root = RawSettings::schema();
    let RefOr::T(Schema::Object(root)) = &root else {
        return Err(shape("<root>", &root));
    };
    let mut sections = Vec::new();
    for (name, field) in &root.properties {
        let (table, intro) = unwrap_field(name, field)?;
        let RefOr::T(Schema::Object(table)) = table else {
            return Err(shape(name, table));
        };
        walk_table(name, &intro, table, &defaults, &mut sections)?;
    }
    Ok(sections)
}

/// Every key, flattened.
pub fn keys() -> Result<Vec<KeyDoc>, ReferenceError> {
    Ok(sections()?.into_iter().flat_map(|s| s.keys).collect())
}

/// The page `docs/src/configuration.md` holds.
pub fn markdown() -> Result<String, ReferenceError> {
    let sections = sections()?;
    let mut out = String::new();
    out.push_str(INTRO);
    let secrets: Vec<String> = sections
        .iter()
        .flat_map(|s| &s.keys)
        .filter(|k| k.secret)
        .map(|k| format!("`{}`", k.key))
        .collect();
    let _ = writeln!(
        out,
        "The secrets are {}. Each can instead be read from a file named by \
         the same key with `_file` appended (a mounted Kubernetes Secret, for \
         instance; a trailing newline is ignored, `session.keys_file` holds \
         one key per line); set one or the other, not both. Secrets are never \
         logged, never quoted in an error, and `--check-config` shows them as \
         `[set, not shown]`.\n",
        join_and(&secrets)
    );
    for section in &sections {
        let depth = section.path.matches('.').count();
        let hashes = if depth == 0 { "##" } else { "###" };
        let _ = writeln!(out, "{hashes} `[{}]`\n", section.path);
        let _ = writeln!(out, "{}\n", section.intro);
        if section.path.ends_with(MAP_KEY) {
            let example = section.path.replace(MAP_KEY, "orders");
            let env = env_name(&example).to_ascii_uppercase();
            let _ = writeln!(
                out,
                "One table per entry, named by `{MAP_KEY}`: `[{example}]` in a file, \
                 `{env}__URL` in the environment (where the name is read in lower case).\n"
            );
        }
        out.push_str("| Key | Environment variable | Type | Default | Meaning |\n");
        out.push_str("|---|---|---|---|---|\n");
        for key in &section.keys {
            let _ = writeln!(
                out,
                "| `{}` | `{}` | {} | {} | {} |",
                key.key,
                key.env,
                cell(&key.kind),
                cell(&default_text(&key.default)),
                cell(&key.meaning),
            );
        }
        out.push('\n');
    }
    Ok(out.trim_end().to_string() + "\n")
}

const INTRO: &str = "# Configuration reference

<!-- Generated by `login-gateway --print-config-reference` from the settings
code (the doc comments in src/settings/raw.rs, the defaults in
src/settings/defaults.rs). Do not edit by hand: change the code, then run
`UPDATE_CONFIG_REFERENCE=1 cargo test --test api config_reference`. -->

Every key the gateway accepts, generated from its settings code: this page
is what `login-gateway --print-config-reference` prints, and a test fails
when they differ.

**Layers.** The built-in defaults below come first; then the TOML file given
with `--config FILE` (one table per section, as in the headings below); then
environment variables, which win: `GATEWAY__SECTION__KEY`, with `__` between
levels (`rate_limit.redis.timeout_ms` is
`GATEWAY__RATE_LIMIT__REDIS__TIMEOUT_MS`). `--demo` adds its own defaults
(generous limits, the built-in tenant), which a file or the environment still
override.

**Values.** A list is a TOML array in a file and one comma-separated string
in the environment (`GATEWAY__SERVER__TRUSTED_PROXIES=10.0.0.0/8,127.0.0.1/32`);
an empty string is an empty list. A quota is `N/unit` (`unit`: `second`,
`minute`, `hour`, `day`): bursts of N, refilled at N per unit. Durations are
whole numbers in the unit the key names (`_ms`, `_secs`). \"— (required)\"
marks a key without a default that the gateway needs; \"unset\" one without a
default that it does without.

**Checking.** A bad configuration stops the start with one line naming the key,
never its value. `login-gateway --check-config` validates the layers, prints
`configuration OK` and then every key (from the same list as this page) whose
value, after all layers, differs from the built-in default, with secrets as
`[set, not shown]`, and exits; a bad configuration exits with status 2.

";

/// A field's schema, with utoipa's `oneOf` wrapper around an inlined type
/// taken off, and the field's own doc comment (never the type's).
fn unwrap_field<'a>(
    key: &str,
    field: &'a RefOr<Schema>,
) -> Result<(&'a RefOr<Schema>, String), ReferenceError> {
    let meaning = json(field)
        .get("description")
        .and_then(Value::as_str)
        .map(one_line)
        .unwrap_or_default();
    if meaning.is_empty() {
        return Err(ReferenceError::NoDocComment(key.to_string()));
    }
    let inner = match field {
        RefOr::T(Schema::OneOf(one)) if one.items.len() == 1 => &one.items[0],
        RefOr::T(Schema::OneOf(_)) => return Err(shape(key, field)),
        other => other,
    };
    if matches!(inner, RefOr::Ref(_)) {
        return Err(shape(key, field));
    }
    Ok((inner, meaning))
}

/// utoipa's schema as JSON; its maps keep the structs' field order, so the
/// walk goes over utoipa's types and reads leaves as JSON.
fn json(schema: &RefOr<Schema>) -> Value {
    serde_json::to_value(schema).unwrap_or(Value::Null)
}

fn walk_table(
    path: &str,
    intro: &str,
    table: &Object,
    defaults: &toml::Table,
    sections: &mut Vec<Section>,
) -> Result<(), ReferenceError> {
    let position = sections.len();
    sections.push(Section {
        path: path.to_string(),
        intro: intro.to_string(),
        keys: Vec::new(),
    });
    for (name, field) in &table.properties {
        let key = format!("{path}.{name}");
        let (schema, meaning) = unwrap_field(&key, field)?;
        if let RefOr::T(Schema::Object(object)) = schema {
            if !object.properties.is_empty() {
                walk_table(&key, &meaning, object, defaults, sections)?;
                continue;
            }
            if let Some(entry) = object.additional_properties.as_deref() {
                let AdditionalProperties::RefOr(RefOr::T(Schema::Object(entry))) = entry else {
                    return Err(shape(&key, schema));
                };
                let path = format!("{key}.{MAP_KEY}");
                walk_table(&path, &meaning, entry, defaults, sections)?;
                continue;
            }
        }
        let (kind, secret, list) = kind(&key, &json(schema))?;
        let default = match lookup(defaults, &key) {
            Some(value) => DefaultValue::Value(value.clone()),
            None if table.required.contains(name) => DefaultValue::Required,
            None => DefaultValue::Unset,
        };
        sections[position].keys.push(KeyDoc {
            env: env_name(&key),
            key,
            kind,
            secret,
            list,
            default,
            meaning,
        });
    }
    Ok(())
}

/// The type as the reference shows it, whether it is a secret, whether a list.
fn kind(key: &str, schema: &Value) -> Result<(String, bool, bool), ReferenceError> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = values
            .iter()
            .filter_map(Value::as_str)
            .map(|v| format!("`{v}`"))
            .collect();
        return Ok((format!("one of {}", names.join(", ")), false, false));
    }
    let format = schema.get("format").and_then(Value::as_str);
    let secret = format == Some("password");
    // `["string", "null"]` is an `Option`: the default column says "unset".
    let ty = match schema.get("type") {
        Some(Value::String(ty)) => ty.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ => return Err(shape_of(key, schema)),
    };
    let text = match (ty, format) {
        ("string", Some("password")) => "string (secret)",
        ("string", Some("path")) => "path to a file",
        ("string", Some("quota")) => "quota `N/unit`",
        ("string", _) => "string",
        ("integer", _) => "integer ≥ 0",
        ("number", _) => "number",
        ("boolean", _) => "boolean",
        ("array", _) => {
            let items = schema.get("items").unwrap_or(&Value::Null);
            return match (
                items.get("type").and_then(Value::as_str),
                items.get("format").and_then(Value::as_str),
            ) {
                (Some("string"), Some("password")) => {
                    Ok(("list of strings (secret)".to_string(), true, true))
                }
                (Some("string"), _) => Ok(("list of strings".to_string(), false, true)),
                _ => Err(shape_of(key, schema)),
            };
        }
        _ => return Err(shape_of(key, schema)),
    };
    if minimum_is_not_zero(schema) {
        return Err(shape_of(key, schema));
    }
    Ok((text.to_string(), secret, false))
}

/// Integers are shown as `≥ 0`; a schema saying otherwise is a new shape.
fn minimum_is_not_zero(schema: &Value) -> bool {
    schema
        .get("minimum")
        .is_some_and(|m| m.as_f64() != Some(0.0))
}

fn shape(key: &str, schema: &RefOr<Schema>) -> ReferenceError {
    shape_of(key, &json(schema))
}

fn shape_of(key: &str, schema: &Value) -> ReferenceError {
    let text = schema.to_string();
    let short: String = text.chars().take(120).collect();
    ReferenceError::UnknownShape(key.to_string(), short)
}

/// The value at a dotted key of the defaults.
pub fn lookup<'a>(table: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    let mut parts = key.split('.');
    let mut value = table.get(parts.next()?)?;
    for part in parts {
        value = value.as_table()?.get(part)?;
    }
    Some(value)
}

/// `session.apis.<name>.url` → `GATEWAY__SESSION__APIS__<NAME>__URL`.
pub fn env_name(key: &str) -> String {
    let levels: Vec<String> = key.split('.').map(str::to_ascii_uppercase).collect();
    format!("{ENV_PREFIX}__{}", levels.join("__"))
}

fn default_text(default: &DefaultValue) -> String {
    match default {
        DefaultValue::Required => "— (required)".to_string(),
        DefaultValue::Unset => "unset".to_string(),
        DefaultValue::Value(toml::Value::String(text)) if text.is_empty() => "`\"\"`".to_string(),
        DefaultValue::Value(toml::Value::String(text)) => format!("`{text}`"),
        DefaultValue::Value(value) => format!("`{value}`"),
    }
}

/// Doc comments are wrapped at 80 columns; a table cell is one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A table cell: a `|` would end it.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde::Deserialize;
    use utoipa::ToSchema;

    use super::*;

    const PROBE: &str = "zz_probe";

    /// The fields serde accepts in the table at `path`, in its own words:
    /// the defaults with one unknown key added fail with "unknown field
    /// `zz_probe`, expected one of `a`, `b`, ...". Independent of the
    /// schema and of the doc comments.
    fn serde_fields(defaults: &toml::Table, path: &[&str]) -> Vec<String> {
        let mut table = defaults.clone();
        let mut at = &mut table;
        for part in path {
            at = at
                .entry(part.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .expect("a table");
        }
        at.insert(PROBE.to_string(), toml::Value::String("x".to_string()));
        let error = toml::Value::Table(table)
            .try_into::<RawSettings>()
            .expect_err("an unknown key is refused")
            .to_string();
        let expected = error
            .split_once(&format!("unknown field `{PROBE}`, expected"))
            .unwrap_or_else(|| panic!("{path:?}: not an unknown-field error: {error}"))
            .1;
        // The list ends the line; toml adds the table's name after it.
        let expected = expected.lines().next().unwrap_or_default();
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    /// Every key serde accepts, walking down the tables: a field whose
    /// default is a table is a nested struct, an empty table a map (probed
    /// through one entry).
    fn serde_keys(defaults: &toml::Table, path: &[&str], keys: &mut BTreeSet<String>) {
        for field in serde_fields(defaults, path) {
            let mut at: Vec<&str> = path.to_vec();
            at.push(&field);
            let key = at.join(".");
            match lookup(defaults, &key) {
                Some(toml::Value::Table(table)) if table.is_empty() => {
                    // A map: one entry named `<name>`, with its required url.
                    let mut with_entry = defaults.clone();
                    let entry = toml::toml! { url = "https://api.example.com" };
                    let mut map = toml::Table::new();
                    map.insert(MAP_KEY.to_string(), toml::Value::Table(entry));
                    let mut cursor = &mut with_entry;
                    for part in &at[..at.len() - 1] {
                        cursor = cursor
                            .get_mut(*part)
                            .and_then(toml::Value::as_table_mut)
                            .expect("a table");
                    }
                    cursor.insert(field.clone(), toml::Value::Table(map));
                    at.push(MAP_KEY);
                    serde_keys(&with_entry, &at, keys);
                }
                Some(toml::Value::Table(_)) => serde_keys(defaults, &at, keys),
                _ => {
                    keys.insert(key);
                }
            }
        }
    }

    #[test]
    fn the_reference_names_every_key_serde_accepts() {
        let defaults: toml::Table = DEFAULTS_TOML.parse().expect("defaults");
        let mut accepted = BTreeSet::new();
        serde_keys(&defaults, &[], &mut accepted);
        // The walk itself: it reaches nested tables and the map's entries.
        for sample in [
            "server.bind",
            "rate_limit.redis.on_error",
            "sms.fraud_guard.pause_secs",
            "session.apis.<name>.audience",
            "auth0.client_secret_file",
        ] {
            assert!(accepted.contains(sample), "{sample}: {accepted:?}");
        }
        let documented: BTreeSet<String> = keys()
            .expect("the reference generates")
            .into_iter()
            .map(|k| k.key)
            .collect();
        let undocumented: Vec<&String> = accepted.difference(&documented).collect();
        let unknown: Vec<&String> = documented.difference(&accepted).collect();
        assert!(
            undocumented.is_empty() && unknown.is_empty(),
            "keys serde accepts but the reference does not name: {undocumented:?}; \
             keys the reference names but serde refuses: {unknown:?}"
        );
    }

    #[derive(ToSchema)]
    #[allow(dead_code)]
    struct Undocumented {
        /// Documented.
        documented: u64,
        undocumented: u64,
    }

    #[derive(Deserialize, ToSchema)]
    #[allow(dead_code)]
    struct NotInline {
        /// An enum without `#[schema(inline)]` is a `$ref` this walker
        /// cannot read.
        format: LogFormat,
    }

    fn walk<T: PartialSchema>() -> Result<Vec<Section>, ReferenceError> {
        let RefOr::T(Schema::Object(table)) = T::schema() else {
            panic!("an object");
        };
        let mut sections = Vec::new();
        walk_table(
            "test",
            "A test table.",
            &table,
            &toml::Table::new(),
            &mut sections,
        )?;
        Ok(sections)
    }

    use super::super::LogFormat;

    #[test]
    fn a_key_without_a_doc_comment_or_of_an_unknown_shape_is_refused() {
        let error = walk::<Undocumented>().expect_err("refused").to_string();
        assert!(
            error.starts_with("test.undocumented: no doc comment"),
            "{error}"
        );
        let error = walk::<NotInline>().expect_err("refused").to_string();
        assert!(error.starts_with("test.format: a schema shape"), "{error}");
    }

    #[test]
    fn secrets_are_marked_and_defaults_read() {
        let keys = keys().expect("the reference generates");
        let secrets: Vec<&str> = keys
            .iter()
            .filter(|k| k.secret)
            .map(|k| k.key.as_str())
            .collect();
        assert_eq!(
            secrets,
            [
                "auth0.client_secret",
                "rate_limit.redis.url",
                "rate_limit.redis.key_hash_secret",
                "session.keys"
            ]
        );
        let find = |name: &str| keys.iter().find(|k| k.key == name).expect(name);
        assert_eq!(find("auth0.domain").default, DefaultValue::Required);
        assert_eq!(
            find("auth0.client_secret_file").default,
            DefaultValue::Unset
        );
        assert_eq!(
            find("server.bind").default,
            DefaultValue::Value(toml::Value::String("0.0.0.0:8080".to_string()))
        );
        assert_eq!(
            find("session.apis.<name>.url").default,
            DefaultValue::Required
        );
        assert!(find("server.trusted_proxies").list);
        assert_eq!(
            find("rate_limit.redis.key_prefix").env,
            "GATEWAY__RATE_LIMIT__REDIS__KEY_PREFIX"
        );
    }
}
