//! Sealed cookies (SPEC §10): XChaCha20-Poly1305 under the first
//! `session.keys` entry, opened by any of them (rotation); the cookie's
//! name is the associated data, so a value cannot move to another cookie;
//! the expiry is inside the sealed value, so a cookie kept past its
//! `Max-Age` still does not open. A value longer than [`CHUNK`] is split
//! into `name.0`, `name.1`, … and joined back.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::settings::SessionKey;

/// The longest cookie value written as one cookie; browsers keep about
/// 4096 bytes per cookie, name and attributes included.
pub const CHUNK: usize = 4000;
/// The most chunks read back: a bound on what a request can make us join.
pub const MAX_CHUNKS: usize = 8;
/// The version byte in front of every sealed value.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;

/// Why a cookie did not open. Callers answer all of them alike
/// (`401 session_expired`, cookie cleared); the kinds are for tests and
/// logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Not our format (bad base64, wrong version, too short).
    Malformed,
    /// No key opens it: tampered, another cookie's value, or a key that was
    /// rotated out.
    Forged,
    /// It opened, but its expiry has passed.
    Expired,
}

/// What is sealed: the payload and when it stops opening.
#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    exp: u64,
    v: T,
}

pub struct Sealer {
    ciphers: Vec<XChaCha20Poly1305>,
}

impl Sealer {
    /// `keys`: the first seals, all open. `None` without keys.
    pub fn new(keys: &[SessionKey]) -> Option<Self> {
        if keys.is_empty() {
            return None;
        }
        Some(Self {
            ciphers: keys
                .iter()
                .map(|key| XChaCha20Poly1305::new((&key.0).into()))
                .collect(),
        })
    }

    /// `payload`, sealed for the cookie `name`, opening until `expires_at`
    /// (unix seconds).
    pub fn seal<T: Serialize>(&self, name: &str, payload: &T, expires_at: u64) -> Option<String> {
        let plain = serde_json::to_vec(&Envelope {
            exp: expires_at,
            v: payload,
        })
        .ok()?;
        let cipher = self.ciphers.first()?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plain,
                    aad: name.as_bytes(),
                },
            )
            .ok()?;
        let mut bytes = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        bytes.push(VERSION);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Some(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The payload of a value sealed for `name`, if it opens with one of the
    /// keys and has not expired at `now`.
    pub fn open<T: DeserializeOwned>(
        &self,
        name: &str,
        value: &str,
        now: u64,
    ) -> Result<T, OpenError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| OpenError::Malformed)?;
        if bytes.len() < 1 + NONCE_LEN + 16 || bytes[0] != VERSION {
            return Err(OpenError::Malformed);
        }
        let nonce = XNonce::from_slice(&bytes[1..1 + NONCE_LEN]);
        let sealed = &bytes[1 + NONCE_LEN..];
        let plain = self
            .ciphers
            .iter()
            .find_map(|cipher| {
                let payload = Payload {
                    msg: sealed,
                    aad: name.as_bytes(),
                };
                cipher.decrypt(nonce, payload).ok()
            })
            .ok_or(OpenError::Forged)?;
        let envelope: Envelope<T> =
            serde_json::from_slice(&plain).map_err(|_| OpenError::Malformed)?;
        if envelope.exp <= now {
            return Err(OpenError::Expired);
        }
        Ok(envelope.v)
    }
}

/// The cookies that carry `value` under `name`: one when it fits, else
/// `name.0`, `name.1`, …; `None` when it would need more than
/// [`MAX_CHUNKS`].
pub fn split(name: &str, value: &str) -> Option<Vec<(String, String)>> {
    if value.len() <= CHUNK {
        return Some(vec![(name.to_string(), value.to_string())]);
    }
    // The value is base64url: every byte is one ASCII character, so byte
    // offsets are character boundaries.
    let chunks: Vec<(String, String)> = value
        .as_bytes()
        .chunks(CHUNK)
        .enumerate()
        .map(|(i, chunk)| {
            (
                format!("{name}.{i}"),
                String::from_utf8_lossy(chunk).into_owned(),
            )
        })
        .collect();
    (chunks.len() <= MAX_CHUNKS).then_some(chunks)
}

/// `value` joined back from the request's cookies, given a lookup by name:
/// the whole cookie `name`, else `name.0`, `name.1`, … up to the first
/// missing one.
pub fn join<'a>(name: &str, cookie: impl Fn(&str) -> Option<&'a str>) -> Option<String> {
    if let Some(value) = cookie(name) {
        return Some(value.to_string());
    }
    let mut joined = String::new();
    for i in 0..MAX_CHUNKS {
        match cookie(&format!("{name}.{i}")) {
            Some(part) => joined.push_str(part),
            None => break,
        }
    }
    (!joined.is_empty()).then_some(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(keys: &[[u8; 32]]) -> Sealer {
        let keys: Vec<SessionKey> = keys.iter().copied().map(SessionKey).collect();
        Sealer::new(&keys).expect("keys")
    }

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn a_sealed_value_opens_under_its_name_until_it_expires() {
        let s = sealer(&[[1; 32]]);
        let value = s.seal("__Host-lgw", &"payload", NOW + 60).expect("sealed");
        assert_eq!(
            s.open::<String>("__Host-lgw", &value, NOW).as_deref(),
            Ok("payload")
        );
        assert_eq!(
            s.open::<String>("__Host-lgw", &value, NOW + 60),
            Err(OpenError::Expired)
        );
        // Another cookie's name is other associated data.
        assert_eq!(
            s.open::<String>("__Host-lgw-mfa", &value, NOW),
            Err(OpenError::Forged)
        );
        assert!(!value.contains("payload"));
    }

    #[test]
    fn a_tampered_value_does_not_open() {
        let s = sealer(&[[1; 32]]);
        let value = s.seal("c", &"payload", NOW + 60).expect("sealed");
        let mut bytes = URL_SAFE_NO_PAD.decode(&value).expect("base64");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(
            s.open::<String>("c", &tampered, NOW),
            Err(OpenError::Forged)
        );
        assert_eq!(
            s.open::<String>("c", "not base64!", NOW),
            Err(OpenError::Malformed)
        );
        assert_eq!(
            s.open::<String>("c", "AAAA", NOW),
            Err(OpenError::Malformed)
        );
    }

    #[test]
    fn the_first_key_seals_and_every_listed_key_opens() {
        let old = sealer(&[[1; 32]]);
        let value = old.seal("c", &"payload", NOW + 60).expect("sealed");
        // Rotation: the new key first, the old one still listed.
        let rotating = sealer(&[[2; 32], [1; 32]]);
        assert_eq!(
            rotating.open::<String>("c", &value, NOW).as_deref(),
            Ok("payload")
        );
        let resealed = rotating.seal("c", &"payload", NOW + 60).expect("sealed");
        assert_eq!(
            old.open::<String>("c", &resealed, NOW),
            Err(OpenError::Forged),
            "sealed under the new key"
        );
        // The old key dropped: its cookies no longer open.
        let rotated = sealer(&[[2; 32]]);
        assert_eq!(
            rotated.open::<String>("c", &value, NOW),
            Err(OpenError::Forged)
        );
    }

    #[test]
    fn long_values_are_chunked_and_joined_back() {
        let value = "a".repeat(CHUNK * 2 + 5);
        let cookies = split("c", &value).expect("fits in MAX_CHUNKS");
        let names: Vec<&str> = cookies.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["c.0", "c.1", "c.2"]);
        let lookup = |name: &str| {
            cookies
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(join("c", lookup).as_deref(), Some(value.as_str()));
        assert_eq!(split("c", "short").map(|c| c.len()), Some(1));
        assert!(split("c", &"a".repeat(CHUNK * MAX_CHUNKS + 1)).is_none());
    }
}
