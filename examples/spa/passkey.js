// The browser's half of a passkey ceremony: turns the gateway's
// `public_key` (Auth0's WebAuthn options, binary fields base64url) into what
// `navigator.credentials.create()` / `.get()` take, and the credential they
// return into the JSON the gateway forwards to Auth0 (`credential`).
//
//   sign up:  POST /passkey/register → createPasskey(public_key) → POST /passkey/verify
//   sign in:  POST /passkey/challenge → getPasskey(public_key)   → POST /passkey/verify
//   add one:  POST /passkey/enroll   → createPasskey(public_key) → POST /passkey/enroll/verify
//
// Every failure rejects with a PasskeyError whose `code` says what happened
// in words an app can act on (`passkey_cancelled`, `passkey_unsupported`,
// …); the browser's own DOMException is its `cause`.
//
// Passkeys need a secure context and a page on a domain name: WebAuthn
// refuses IP-address origins (`http://127.0.0.1`), while `http://localhost`
// is allowed for development. Like gateway.js, nothing here depends on the
// rest of the example.

export class PasskeyError extends Error {
  constructor(code, message, cause = undefined) {
    super(message, { cause });
    this.name = 'PasskeyError';
    /** `passkey_unsupported`, `passkey_cancelled`, `passkey_exists`,
     *  `passkey_refused` (the page's address or the options), `passkey_failed`. */
    this.code = code;
  }
}

/** Whether this browser has WebAuthn at all. */
export function passkeysSupported() {
  return (
    typeof window.PublicKeyCredential === 'function' &&
    Boolean(navigator.credentials) &&
    typeof navigator.credentials.create === 'function' &&
    typeof navigator.credentials.get === 'function'
  );
}

/** Whether the browser offers passkeys in a field's autofill
 *  (`autocomplete="username webauthn"`): conditional mediation. */
export async function autofillAvailable() {
  if (!passkeysSupported() || typeof PublicKeyCredential.isConditionalMediationAvailable !== 'function') {
    return false;
  }
  try {
    return await PublicKeyCredential.isConditionalMediationAvailable();
  } catch {
    return false;
  }
}

/**
 * Makes a new passkey from the gateway's `public_key` (sign-up or
 * enrolment) and resolves with its JSON for the gateway.
 * @param {object} publicKey the `public_key` of the gateway's answer
 * @param {{signal?: AbortSignal}} [options]
 */
export async function createPasskey(publicKey, { signal } = {}) {
  requirePasskeys();
  const options = creationOptions(publicKey);
  const credential = await ceremony(() => navigator.credentials.create({ publicKey: options, signal }));
  return credentialJson(credential);
}

/**
 * Signs in with one of the user's passkeys. `conditional`: wait for the
 * user to pick a passkey from a field's autofill instead of opening the
 * browser's dialog; such a request stays pending until then, so pass a
 * `signal` to cancel it (before a dialog-based request, which the browser
 * would otherwise refuse while this one is pending).
 * @param {object} publicKey the `public_key` of the gateway's answer
 * @param {{signal?: AbortSignal, conditional?: boolean}} [options]
 */
export async function getPasskey(publicKey, { signal, conditional = false } = {}) {
  requirePasskeys();
  const options = requestOptions(publicKey);
  const request = { publicKey: options, signal };
  if (conditional) request.mediation = 'conditional';
  const credential = await ceremony(() => navigator.credentials.get(request));
  return credentialJson(credential);
}

/** Rejects with `passkey_unsupported` in a browser without WebAuthn: check
 *  before asking the gateway for a ceremony the browser cannot finish. */
export function requirePasskeys() {
  if (!passkeysSupported()) {
    throw new PasskeyError('passkey_unsupported', 'This browser does not support passkeys (no WebAuthn).');
  }
}

/** Runs the browser's ceremony; its DOMExceptions become PasskeyErrors. */
async function ceremony(run) {
  let credential;
  try {
    credential = await run();
  } catch (error) {
    throw fromDomException(error);
  }
  if (!credential) throw new PasskeyError('passkey_failed', 'The browser returned no passkey.');
  return credential;
}

/**
 * The browser's refusal, in terms the app can show. Browsers deliberately
 * say little: NotAllowedError covers "the user closed the dialog", "the
 * request timed out" and "no passkey for this site"; AbortError is a
 * request the page cancelled.
 */
function fromDomException(error) {
  const name = error && error.name;
  if (name === 'NotAllowedError' || name === 'AbortError') {
    return new PasskeyError('passkey_cancelled', 'The passkey request was cancelled or timed out.', error);
  }
  if (name === 'InvalidStateError') {
    return new PasskeyError('passkey_exists', 'This device already has a passkey for this account.', error);
  }
  if (name === 'SecurityError' || name === 'NotSupportedError') {
    return new PasskeyError(
      'passkey_refused',
      `The browser refused the passkey request (${name}): ${(error && error.message) || ''}`.trim(),
      error,
    );
  }
  return new PasskeyError('passkey_failed', `The passkey request failed: ${(error && error.message) || error}`, error);
}

// ---------------------------------------------------------------------------
// JSON ↔ WebAuthn. Browsers that have PublicKeyCredential.parse*FromJSON
// could use those; the manual decoding below works everywhere and shows
// exactly which fields are binary.

/** `public_key` for navigator.credentials.create(): the challenge, the user
 *  handle and the ids of passkeys to exclude are bytes. */
function creationOptions(publicKey) {
  const options = { ...publicKey };
  options.challenge = fromBase64url(publicKey.challenge);
  options.user = { ...publicKey.user, id: fromBase64url(publicKey.user && publicKey.user.id) };
  if (Array.isArray(publicKey.excludeCredentials)) {
    options.excludeCredentials = publicKey.excludeCredentials.map(descriptor);
  }
  return options;
}

/** `public_key` for navigator.credentials.get(): the challenge and any
 *  allowed passkey ids are bytes. */
function requestOptions(publicKey) {
  const options = { ...publicKey };
  options.challenge = fromBase64url(publicKey.challenge);
  if (Array.isArray(publicKey.allowCredentials)) {
    options.allowCredentials = publicKey.allowCredentials.map(descriptor);
  }
  return options;
}

const descriptor = (credential) => ({ ...credential, id: fromBase64url(credential.id) });

/**
 * The credential as JSON (WebAuthn Level 3 `toJSON()`), binary fields
 * base64url without padding. Browsers without toJSON get the same shape
 * built by hand.
 */
export function credentialJson(credential) {
  if (typeof credential.toJSON === 'function') return credential.toJSON();
  const { response } = credential;
  const json = {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
    response: { clientDataJSON: toBase64url(response.clientDataJSON) },
  };
  if (credential.authenticatorAttachment) json.authenticatorAttachment = credential.authenticatorAttachment;
  if (response.attestationObject) {
    // A new passkey.
    json.response.attestationObject = toBase64url(response.attestationObject);
    if (typeof response.getTransports === 'function') json.response.transports = response.getTransports();
  } else {
    // A sign-in.
    json.response.authenticatorData = toBase64url(response.authenticatorData);
    json.response.signature = toBase64url(response.signature);
    if (response.userHandle) json.response.userHandle = toBase64url(response.userHandle);
  }
  return json;
}

function fromBase64url(text) {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text)) {
    throw new PasskeyError('passkey_failed', 'The gateway sent a passkey option that is not base64url.');
  }
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/');
  const binary = atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '='));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function toBase64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
