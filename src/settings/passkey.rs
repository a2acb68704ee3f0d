//! `passkey.*` (SPEC §11): Auth0's native Passkey API, off by default.

use super::{RawPasskey, SettingsError};

#[derive(Debug, Clone)]
pub struct PasskeySettings {
    /// While off, every `/passkey/*` route answers 404.
    pub enabled: bool,
    /// The database connection with passkeys on: Auth0's `realm`.
    pub connection: String,
}

pub(super) fn validate_passkey(raw: RawPasskey) -> Result<PasskeySettings, SettingsError> {
    let connection = raw.connection.trim();
    if raw.enabled && connection.is_empty() {
        return Err(SettingsError::new(
            "passkey.connection",
            "must name the database connection with passkeys on",
        ));
    }
    Ok(PasskeySettings {
        enabled: raw.enabled,
        connection: connection.to_string(),
    })
}
