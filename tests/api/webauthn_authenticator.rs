//! A software WebAuthn authenticator plus the browser's part of a ceremony,
//! for tests: it takes Auth0's `authn_params_public_key` JSON and answers
//! the `PublicKeyCredential` JSON a browser (or Auth0's SDKs) would send,
//! as `navigator.credentials.create()` / `.get()` followed by `toJSON()`.
//!
//! It builds real attestation objects (CBOR through `ciborium`, in CTAP2
//! canonical order) with `none` or `packed` self attestation, and signs with
//! ES256 (P-256, DER signatures), EdDSA (Ed25519) or RS256 (RSA-2048
//! PKCS#1 v1.5). Every knob a refusal test needs is a public field: the
//! origin written into `clientDataJSON`, the RP id hashed into
//! `authenticatorData`, the UP / UV flags, the signature counter.
//!
//! Shared by the demo tenant's tests and the gateway's passkey tests.
#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ciborium::Value as Cbor;
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A COSE algorithm Auth0 offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Algorithm {
    /// `-7`: ECDSA P-256 with SHA-256.
    Es256,
    /// `-8`: Ed25519.
    EdDsa,
    /// `-257`: RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

impl Algorithm {
    pub(crate) const ALL: [Algorithm; 3] = [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256];

    fn cose(self) -> i64 {
        match self {
            Algorithm::Es256 => -7,
            Algorithm::EdDsa => -8,
            Algorithm::Rs256 => -257,
        }
    }
}

/// The attestation statement format of new credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Attestation {
    /// `fmt: "none"`, `attStmt: {}`.
    None,
    /// `fmt: "packed"`, self attestation: `attStmt: {alg, sig}` signed by
    /// the credential's own key.
    Packed,
}

enum Key {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
    Rs256(Box<rsa::RsaPrivateKey>),
}

impl Key {
    fn generate(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Es256 => {
                Key::Es256(p256::ecdsa::SigningKey::random(&mut rand::thread_rng()))
            }
            Algorithm::EdDsa => {
                let mut seed = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut seed);
                Key::EdDsa(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
            Algorithm::Rs256 => {
                let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048)
                    .expect("an RSA-2048 key");
                Key::Rs256(Box::new(private))
            }
        }
    }

    fn algorithm(&self) -> Algorithm {
        match self {
            Key::Es256(_) => Algorithm::Es256,
            Key::EdDsa(_) => Algorithm::EdDsa,
            Key::Rs256(_) => Algorithm::Rs256,
        }
    }

    /// The public key as a COSE_Key map, keys in canonical order.
    fn cose_key(&self) -> Cbor {
        let int = |i: i64| Cbor::Integer(i.into());
        let entries = match self {
            Key::Es256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                vec![
                    (int(1), int(2)),
                    (int(3), int(-7)),
                    (int(-1), int(1)),
                    (int(-2), Cbor::Bytes(point.x().expect("x").to_vec())),
                    (int(-3), Cbor::Bytes(point.y().expect("y").to_vec())),
                ]
            }
            Key::EdDsa(key) => vec![
                (int(1), int(1)),
                (int(3), int(-8)),
                (int(-1), int(6)),
                (
                    int(-2),
                    Cbor::Bytes(key.verifying_key().to_bytes().to_vec()),
                ),
            ],
            Key::Rs256(key) => {
                use rsa::traits::PublicKeyParts;
                let public = key.to_public_key();
                vec![
                    (int(1), int(3)),
                    (int(3), int(-257)),
                    (int(-1), Cbor::Bytes(public.n().to_bytes_be())),
                    (int(-2), Cbor::Bytes(public.e().to_bytes_be())),
                ]
            }
        };
        Cbor::Map(entries)
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        use rsa::signature::{SignatureEncoding, Signer};
        match self {
            Key::Es256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
            Key::EdDsa(key) => key.sign(message).to_bytes().to_vec(),
            Key::Rs256(key) => rsa::pkcs1v15::SigningKey::<Sha256>::new(key.as_ref().clone())
                .sign(message)
                .to_vec(),
        }
    }
}

/// A discoverable credential the authenticator holds.
pub(crate) struct Credential {
    pub(crate) id: Vec<u8>,
    pub(crate) user_handle: Vec<u8>,
    pub(crate) rp_id: String,
    /// The counter of the next signature is this plus one (when
    /// [`Authenticator::counter`] is on).
    pub(crate) sign_count: u32,
    key: Key,
}

impl Credential {
    pub(crate) fn algorithm(&self) -> Algorithm {
        self.key.algorithm()
    }
}

/// The authenticator and the browser around it.
pub(crate) struct Authenticator {
    /// `clientDataJSON.origin`.
    pub(crate) origin: String,
    /// Hashed into `authenticatorData` as `rpIdHash`; `None`: the RP id of
    /// the options (or the credential).
    pub(crate) rp_id: Option<String>,
    /// The UP flag.
    pub(crate) user_present: bool,
    /// The UV flag.
    pub(crate) user_verified: bool,
    /// The BE and BS flags (a synced passkey).
    pub(crate) backed_up: bool,
    /// Whether signatures count up (a platform authenticator may keep 0).
    pub(crate) counter: bool,
    pub(crate) attestation: Attestation,
    pub(crate) credentials: Vec<Credential>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

fn cbor(value: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).expect("CBOR");
    out
}

impl Authenticator {
    /// An authenticator whose ceremonies come from `origin`, with user
    /// presence and verification, counting signatures, attesting `none`.
    pub(crate) fn new(origin: &str) -> Self {
        Self {
            origin: origin.to_string(),
            rp_id: None,
            user_present: true,
            user_verified: true,
            backed_up: false,
            counter: true,
            attestation: Attestation::None,
            credentials: Vec::new(),
        }
    }

    fn flags(&self, attested: bool) -> u8 {
        let mut flags = 0;
        if self.user_present {
            flags |= 0x01;
        }
        if self.user_verified {
            flags |= 0x04;
        }
        if self.backed_up {
            flags |= 0x08 | 0x10;
        }
        if attested {
            flags |= 0x40;
        }
        flags
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        // A browser's order: type, challenge, origin, crossOrigin.
        format!(
            r#"{{"type":"{kind}","challenge":"{challenge}","origin":"{}","crossOrigin":false}}"#,
            self.origin
        )
        .into_bytes()
    }

    /// `navigator.credentials.create({publicKey})` with a new `algorithm`
    /// key, as the JSON Auth0's SDKs send: `{id, rawId, type,
    /// authenticatorAttachment, response: {clientDataJSON,
    /// attestationObject}, clientExtensionResults}`.
    pub(crate) fn create(&mut self, public_key: &Value, algorithm: Algorithm) -> Value {
        let challenge = public_key["challenge"].as_str().expect("a challenge");
        let rp_id = public_key["rp"]["id"].as_str().expect("rp.id").to_string();
        let user_handle = unb64(public_key["user"]["id"].as_str().expect("user.id"));
        let key = Key::generate(algorithm);
        let mut id = vec![0u8; 16];
        rand::thread_rng().fill_bytes(&mut id);

        let hashed_rp = self.rp_id.clone().unwrap_or_else(|| rp_id.clone());
        let mut auth_data = Sha256::digest(hashed_rp.as_bytes()).to_vec();
        auth_data.push(self.flags(true));
        auth_data.extend_from_slice(&0u32.to_be_bytes());
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID: none
        auth_data.extend_from_slice(&(id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&id);
        auth_data.extend_from_slice(&cbor(&key.cose_key()));

        let client_data = self.client_data("webauthn.create", challenge);
        let statement = match self.attestation {
            Attestation::None => ("none", Cbor::Map(Vec::new())),
            Attestation::Packed => {
                let mut signed = auth_data.clone();
                signed.extend_from_slice(&Sha256::digest(&client_data));
                let statement = Cbor::Map(vec![
                    (
                        Cbor::Text("alg".into()),
                        Cbor::Integer(algorithm.cose().into()),
                    ),
                    (Cbor::Text("sig".into()), Cbor::Bytes(key.sign(&signed))),
                ]);
                ("packed", statement)
            }
        };
        let attestation_object = cbor(&Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text(statement.0.into())),
            (Cbor::Text("attStmt".into()), statement.1),
            (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
        ]));
        self.credentials.push(Credential {
            id: id.clone(),
            user_handle,
            rp_id,
            sign_count: 0,
            key,
        });
        json!({
            "id": b64(&id),
            "rawId": b64(&id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&attestation_object),
            },
            "clientExtensionResults": {},
        })
    }

    /// `navigator.credentials.get({publicKey})` with the newest credential
    /// for the options' `rpId`, as the JSON Auth0's SDKs send: `{id, rawId,
    /// type, authenticatorAttachment, response: {clientDataJSON,
    /// authenticatorData, signature, userHandle}, clientExtensionResults}`.
    pub(crate) fn get(&mut self, public_key: &Value) -> Value {
        let rp_id = public_key["rpId"].as_str().expect("rpId").to_string();
        let index = self
            .credentials
            .iter()
            .rposition(|c| c.rp_id == rp_id)
            .expect("a credential for this RP");
        self.get_with(index, public_key)
    }

    /// Like [`Self::get`], with the credential at `index`.
    pub(crate) fn get_with(&mut self, index: usize, public_key: &Value) -> Value {
        let challenge = public_key["challenge"]
            .as_str()
            .expect("a challenge")
            .to_string();
        let flags = self.flags(false);
        let client_data = self.client_data("webauthn.get", &challenge);
        let counter = self.counter;
        let forced_rp = self.rp_id.clone();
        let credential = &mut self.credentials[index];
        if counter {
            credential.sign_count += 1;
        }
        let hashed_rp = forced_rp.unwrap_or_else(|| credential.rp_id.clone());
        let mut auth_data = Sha256::digest(hashed_rp.as_bytes()).to_vec();
        auth_data.push(flags);
        auth_data.extend_from_slice(&credential.sign_count.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature = credential.key.sign(&signed);
        json!({
            "id": b64(&credential.id),
            "rawId": b64(&credential.id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(&signature),
                "userHandle": b64(&credential.user_handle),
            },
            "clientExtensionResults": {},
        })
    }
}

/// `credential` with one bit of its assertion signature flipped.
pub(crate) fn with_bad_signature(mut credential: Value) -> Value {
    let mut signature = unb64(
        credential["response"]["signature"]
            .as_str()
            .expect("a signature"),
    );
    let last = signature.len() - 1;
    signature[last] ^= 0x01;
    credential["response"]["signature"] = json!(b64(&signature));
    credential
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creation_options() -> Value {
        json!({
            "challenge": b64(&[7u8; 16]),
            "rp": {"id": "localhost", "name": "localhost"},
            "user": {"id": b64(&[1u8; 32]), "name": "jane@example.com", "displayName": "Jane"},
        })
    }

    #[test]
    fn attestation_objects_are_canonical_cbor_with_the_right_flags() {
        let mut authenticator = Authenticator::new("http://localhost:5173");
        authenticator.attestation = Attestation::Packed;
        let credential = authenticator.create(&creation_options(), Algorithm::Es256);
        let object = unb64(
            credential["response"]["attestationObject"]
                .as_str()
                .expect("object"),
        );
        let decoded: Cbor = ciborium::de::from_reader(object.as_slice()).expect("CBOR");
        let Cbor::Map(entries) = decoded else {
            panic!("a map")
        };
        let keys: Vec<_> = entries
            .iter()
            .map(|(k, _)| k.as_text().expect("text"))
            .collect();
        assert_eq!(keys, ["fmt", "attStmt", "authData"]);
        let auth_data = entries[2].1.as_bytes().expect("bytes");
        assert_eq!(&auth_data[..32], Sha256::digest(b"localhost").as_slice());
        assert_eq!(auth_data[32], 0x01 | 0x04 | 0x40);
        let client_data: Value = serde_json::from_slice(&unb64(
            credential["response"]["clientDataJSON"]
                .as_str()
                .expect("client data"),
        ))
        .expect("JSON");
        assert_eq!(client_data["origin"], "http://localhost:5173");
        assert_eq!(client_data["type"], "webauthn.create");
    }

    #[test]
    fn assertions_count_up_and_carry_the_user_handle() {
        let mut authenticator = Authenticator::new("http://localhost:5173");
        authenticator.create(&creation_options(), Algorithm::EdDsa);
        let request = json!({"challenge": b64(&[9u8; 16]), "rpId": "localhost"});
        let first = authenticator.get(&request);
        let second = authenticator.get(&request);
        let count = |credential: &Value| {
            let data = unb64(
                credential["response"]["authenticatorData"]
                    .as_str()
                    .expect("data"),
            );
            u32::from_be_bytes([data[33], data[34], data[35], data[36]])
        };
        assert_eq!((count(&first), count(&second)), (1, 2));
        assert_eq!(first["response"]["userHandle"], json!(b64(&[1u8; 32])));
        assert_ne!(
            with_bad_signature(first.clone())["response"]["signature"],
            first["response"]["signature"]
        );
    }
}
