// A software passkey authenticator for Node: what a browser's
// `navigator.credentials.create()` / `.get()` and a platform authenticator
// would hand an app, already in the JSON form Auth0's SDKs send
// (auth0-spa-js serializeCreationCredential / serializeAssertionCredential:
// binary fields base64url without padding).
//
// One ES256 (P-256) key per credential from node:crypto; attestation `none`;
// the COSE key and the attestation object are CBOR from cborg, not written
// by hand. The flags are a synced passkey's (user present, user verified,
// backup eligible, backed up); the sign count goes up by one per assertion.

import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

import { encode } from 'cborg';

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;
const PASSKEY_FLAGS = FLAG_UP | FLAG_UV | FLAG_BE | FLAG_BS;

const COSE_ALG_ES256 = -7;

const b64url = (bytes) => Buffer.from(bytes).toString('base64url');
const sha256 = (bytes) => createHash('sha256').update(bytes).digest();

function uint32(value) {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
}

function uint16(value) {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value);
  return out;
}

/** The client data a browser signs over, as the bytes it would hand back. */
function clientData(type, challenge, origin) {
  return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }), 'utf8');
}

export class SoftwareAuthenticator {
  constructor() {
    /** credential id (base64url) -> { privateKey, rpId, userHandle, signCount } */
    this.credentials = new Map();
  }

  /**
   * `navigator.credentials.create({ publicKey })` for Auth0's
   * `authn_params_public_key` (challenge and user.id still base64url), then
   * the credential's JSON. Refuses options a real authenticator would (no
   * ES256 among the algorithms).
   */
  create(publicKey, origin) {
    const algs = (publicKey.pubKeyCredParams || []).map((param) => param.alg);
    if (!algs.includes(COSE_ALG_ES256)) throw new Error(`no ES256 among ${JSON.stringify(algs)}`);
    const { privateKey, publicKey: key } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = key.export({ format: 'jwk' });
    const cose = encode(
      new Map([
        [1, 2], // kty: EC2
        [3, COSE_ALG_ES256],
        [-1, 1], // crv: P-256
        [-2, Buffer.from(jwk.x, 'base64url')],
        [-3, Buffer.from(jwk.y, 'base64url')],
      ]),
    );
    const credentialId = randomBytes(16);
    const authData = Buffer.concat([
      sha256(Buffer.from(publicKey.rp.id, 'utf8')),
      Buffer.from([PASSKEY_FLAGS | FLAG_AT]),
      uint32(0),
      Buffer.alloc(16), // AAGUID: none attestation names no model
      uint16(credentialId.length),
      credentialId,
      Buffer.from(cose),
    ]);
    const attestationObject = encode({ fmt: 'none', attStmt: {}, authData: new Uint8Array(authData) });
    const id = b64url(credentialId);
    this.credentials.set(id, { privateKey, rpId: publicKey.rp.id, userHandle: publicKey.user.id, signCount: 0 });
    return {
      id,
      rawId: id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      response: {
        clientDataJSON: b64url(clientData('webauthn.create', publicKey.challenge, origin)),
        attestationObject: b64url(attestationObject),
      },
      clientExtensionResults: {},
    };
  }

  /**
   * `navigator.credentials.get({ publicKey })` for Auth0's sign-in
   * `authn_params_public_key` (no allowCredentials: the person picks one of
   * the discoverable credentials for `rpId`, here `id`), signed with its key.
   */
  get(publicKey, origin, id) {
    const credential = this.credentials.get(id);
    if (!credential || credential.rpId !== publicKey.rpId) throw new Error(`no credential ${id} for rpId ${publicKey.rpId}`);
    credential.signCount += 1;
    const authData = Buffer.concat([
      sha256(Buffer.from(publicKey.rpId, 'utf8')),
      Buffer.from([PASSKEY_FLAGS]),
      uint32(credential.signCount),
    ]);
    const clientDataJSON = clientData('webauthn.get', publicKey.challenge, origin);
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), credential.privateKey);
    return {
      id,
      rawId: id,
      type: 'public-key',
      authenticatorAttachment: 'platform',
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        userHandle: credential.userHandle,
      },
      clientExtensionResults: {},
    };
  }
}
