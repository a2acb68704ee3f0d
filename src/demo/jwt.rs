//! Demo tokens: real JWTs signed RS256 under an RSA-2048 key that each
//! tenant generates when it starts and publishes at
//! `/.well-known/jwks.json`, as a real tenant does. Auth0's SDKs (node-auth0,
//! auth0-python, auth0-spa-js) and any OIDC library verify them with that
//! key set; nothing in the repository can sign one.
//!
//! The private key lives in memory only and dies with the tenant.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The size real Auth0 tenants sign with.
const KEY_BITS: usize = 2048;

/// The tenant's signing key and its public half as a JWK.
pub struct DemoKey {
    kid: String,
    signing: SigningKey<Sha256>,
    verifying: VerifyingKey<Sha256>,
    jwk: Value,
}

impl std::fmt::Debug for DemoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DemoKey {
    /// A fresh RSA-2048 key (e = 65537).
    pub fn generate() -> Result<Self, rsa::Error> {
        let private = RsaPrivateKey::new(&mut rand::thread_rng(), KEY_BITS)?;
        let n = private.n().to_bytes_be();
        let e = private.e().to_bytes_be();
        // A stable name for this key: the start of the modulus' SHA-256.
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(&n)[..16]);
        let jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(&n),
            "e": URL_SAFE_NO_PAD.encode(&e),
        });
        let verifying = VerifyingKey::new(private.to_public_key());
        Ok(Self {
            kid,
            signing: SigningKey::new(private),
            verifying,
            jwk,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// `{"keys": [<the public key>]}`, the body of `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    /// A compact JWS: `{"alg":"RS256","typ":"JWT","kid":…}.<claims>.<signature>`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        // Randomized: RSA blinding for the private-key operation.
        let signature = self
            .signing
            .sign_with_rng(&mut rand::thread_rng(), signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }

    /// The claims of a token this key signed (RS256, this `kid`); `None`
    /// for anything else, including tokens of another tenant or `alg`.
    pub fn verify(&self, token: &str) -> Option<Value> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (header, payload) = signing_input.split_once('.')?;
        if payload.contains('.') {
            return None;
        }
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        if header["alg"] != "RS256" || header["kid"] != self.kid.as_str() {
            return None;
        }
        let signature =
            Signature::try_from(URL_SAFE_NO_PAD.decode(signature).ok()?.as_slice()).ok()?;
        self.verifying
            .verify(signing_input.as_bytes(), &signature)
            .ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_verify_and_tampered_or_foreign_ones_do_not() {
        let key = DemoKey::generate().expect("a key");
        let token = key.sign(&json!({"sub": "email|jane"}));
        assert_eq!(key.verify(&token), Some(json!({"sub": "email|jane"})));

        let (input, signature) = token.rsplit_once('.').expect("three parts");
        let (header, _) = input.split_once('.').expect("three parts");
        let forged_claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"email|mallory"}"#);
        assert_eq!(
            key.verify(&format!("{header}.{forged_claims}.{signature}")),
            None
        );

        let other = DemoKey::generate().expect("a key");
        assert_ne!(other.kid(), key.kid());
        assert_eq!(other.verify(&token), None);

        // The old published-key HS256 tokens are refused.
        let hs256 = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS256","kid":"{}"}}"#, key.kid()));
        assert_eq!(
            key.verify(&format!("{hs256}.{forged_claims}.{signature}")),
            None
        );
    }

    #[test]
    fn the_jwks_publishes_the_public_key_only() {
        let key = DemoKey::generate().expect("a key");
        let jwks = key.jwks();
        let jwk = &jwks["keys"][0];
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], key.kid());
        assert_eq!(jwk["e"], "AQAB");
        let n = URL_SAFE_NO_PAD
            .decode(jwk["n"].as_str().expect("n"))
            .expect("base64url");
        assert_eq!(n.len(), 256);
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(jwk.get(private).is_none(), "{private} published");
        }
    }
}
