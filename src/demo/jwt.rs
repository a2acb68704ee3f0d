//! Demo tokens: real JWTs (HS256 with a published demo key) so an app can
//! decode the ID token's claims exactly as it would Auth0's.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Public on purpose: demo tokens prove nothing and must not look otherwise.
const DEMO_SIGNING_KEY: &[u8] = b"login-gateway demo tenant signing key (public, not a secret)";

pub fn sign(claims: &serde_json::Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT","kid":"demo"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let signature = match Hmac::<Sha256>::new_from_slice(DEMO_SIGNING_KEY) {
        Ok(mut mac) => {
            mac.update(signing_input.as_bytes());
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    };
    format!("{signing_input}.{signature}")
}

/// The claims of a token signed by [`sign`]; `None` if it was not.
pub fn verify(token: &str) -> Option<serde_json::Value> {
    let (signing_input, signature) = token.rsplit_once('.')?;
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(DEMO_SIGNING_KEY).ok()?;
    mac.update(signing_input.as_bytes());
    mac.verify_slice(&signature).ok()?;
    let payload = signing_input.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_verify_and_tampered_ones_do_not() {
        let token = sign(&serde_json::json!({"sub": "email|jane"}));
        assert_eq!(
            verify(&token),
            Some(serde_json::json!({"sub": "email|jane"}))
        );
        let tampered = token.replacen('.', ".x", 1);
        assert_eq!(verify(&tampered), None);
    }
}
