// A tiny client for login-gateway: one method per endpoint, plain `fetch`.
//
// Every method resolves with the JSON answer, or rejects with a
// GatewayError that carries the gateway's error body
// ({error, error_description, request_id}), the HTTP status, and for 429
// the Retry-After seconds. The gateway's CORS answer exposes Retry-After,
// RateLimit and X-Request-Id to this origin; without that the browser would
// hide them from the app.
//
// Two ways to hold the session (the app chooses, `gateway.cookies`):
//
// - tokens (default): the login calls answer with Auth0's tokens, the app
//   keeps them in memory and sends the refresh token back itself. No cookie
//   is sent or accepted (`credentials: 'omit'`).
// - cookie mode (`cookies: true`, the gateway's `session.enabled`): the
//   login-completing calls (`verify`, `callback`, `mfaVerify`) carry
//   `X-Lgw-Session: 1`, so the gateway keeps the tokens in an encrypted
//   HttpOnly `__Host-` cookie and answers `{user, expires_at}` only; the
//   page never holds a token, not even MFA's mfa_token (on
//   `403 mfa_required` it goes into a short-lived cookie too, and the
//   `/mfa/*` calls send no Authorization header). Cookie calls use
//   `credentials: 'include'` (the gateway is another origin) and send
//   `X-Lgw-Session: 1`, which a cross-site form cannot: the gateway refuses
//   cookie calls without it (`403 csrf_failed`). Then `session()`,
//   `sessionRefresh()`, `sessionLogout()` (or `sessionLogout({everywhere:
//   true})`, every session of the user) and `api()` replace the token calls.
//
// Copy this file into your app as a starting point; nothing in it depends
// on the rest of the example.

export class GatewayError extends Error {
  constructor({ status, body, retryAfter = null, requestId = null, policy = null }) {
    super(body.error_description || body.error || `HTTP ${status}`);
    this.name = 'GatewayError';
    /** HTTP status; 0 when the gateway could not be reached at all. */
    this.status = status;
    /** The gateway's (or Auth0's) error code, e.g. `invalid_grant`. */
    this.code = body.error || 'unknown_error';
    this.description = body.error_description || '';
    this.requestId = body.request_id || requestId;
    /** Seconds to wait before retrying (429), or null. */
    this.retryAfter = retryAfter;
    /** The gateway's limit that refused the call (429 `RateLimit`), e.g.
     *  `sms_per_phone` or `sms_fraud_guard`; null for Auth0's own 429. */
    this.policy = policy;
    /** The whole body: `mfa_token` and `mfa_requirements` ride on 403 mfa_required. */
    this.body = body;
  }
}

export class Gateway {
  /**
   * @param {string} baseUrl the gateway's origin, e.g. https://login.example.com
   * @param {{onCall?: (call: {method: string, path: string, status: number, requestId: string|null, error?: string}) => void}} [options]
   *   onCall sees every call (never bodies: they hold codes and tokens).
   * @param {boolean} [options.cookies] cookie mode (see above); can be
   *   changed later through `gateway.cookies`, between sign-ins.
   */
  constructor(baseUrl, { onCall, cookies = false } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.onCall = onCall || (() => {});
    this.cookies = Boolean(cookies);
  }

  // --- passwordless login -------------------------------------------------

  /** `{email}` or `{phone_number}`, plus `send: "code"|"link"`, `state` (links), `locale`. */
  start(body) {
    return this.#call('POST', '/login/start', { body });
  }

  /** `{email|phone_number, code}` → tokens (cookie mode: `{user, expires_at}`),
   *  or GatewayError 403 `mfa_required`. */
  verify(body) {
    return this.#call('POST', '/login/verify', { body, session: this.cookies });
  }

  /** Completes a magic link: `{code, state}` from the redirect's query string. */
  callback(body) {
    return this.#call('POST', '/login/callback', { body, session: this.cookies });
  }

  // --- MFA ----------------------------------------------------------------
  // Token mode: every call carries the mfa_token from the 403 as a bearer.
  // Cookie mode: pass `null`; the gateway reads it from its -mfa cookie.

  authenticators(mfaToken) {
    return this.#call('GET', '/mfa/authenticators', { bearer: mfaToken, session: this.cookies });
  }

  /** `{factor: "otp"|"sms"|"voice"|"email"|"push", phone_number?, email?}` */
  associate(mfaToken, body) {
    return this.#call('POST', '/mfa/associate', { body, bearer: mfaToken, session: this.cookies });
  }

  /** `{challenge_type: "otp"|"oob", authenticator_id?}` */
  challenge(mfaToken, body) {
    return this.#call('POST', '/mfa/challenge', { body, bearer: mfaToken, session: this.cookies });
  }

  /** Exactly one of `{otp}`, `{oob_code, binding_code?}`, `{recovery_code}`.
   *  Completes the login: tokens, or in cookie mode `{user, expires_at}`. */
  mfaVerify(mfaToken, body) {
    return this.#call('POST', '/mfa/verify', { body, bearer: mfaToken, session: this.cookies });
  }

  // --- passkeys (the gateway's `passkey.enabled`) ---------------------------
  // The gateway talks to Auth0's Passkey API; the browser runs the WebAuthn
  // ceremony in between (see passkey.js). `public_key` in an answer is
  // Auth0's options with binary fields base64url: decode before handing it
  // to navigator.credentials. `credential` is the PublicKeyCredential's JSON
  // (credential.toJSON()).

  /** Sign-up: `{email | phone_number | username, name?, …}` →
   *  `{auth_session, public_key, verification_required?}`. Cookies play no
   *  part (the gateway ignores them here). */
  passkeyRegister(profile) {
    return this.#call('POST', '/passkey/register', { body: profile });
  }

  /** Sign-in: `{auth_session, public_key}` for any of the user's passkeys. */
  passkeyChallenge() {
    return this.#call('POST', '/passkey/challenge', { body: {} });
  }

  /** Completes a sign-up or sign-in: `{auth_session, credential,
   *  verification?}` → tokens (cookie mode: `{user, expires_at}`), or
   *  GatewayError 403 `mfa_required` (continue at /mfa/*), or 403
   *  `invalid_grant` (a refused passkey; on a sign-up whose code was wrong,
   *  the body keeps `verification_required` and `auth_session`). */
  passkeyVerify(body) {
    return this.#call('POST', '/passkey/verify', { body, session: this.cookies });
  }

  /** Adds a passkey to the signed-in user: `{id, auth_session, public_key}`.
   *  Token mode: `accessToken` is an access token for Auth0's My Account API
   *  (audience `https://<auth0 domain>/me/`, scope
   *  `create:me:authentication_methods`). Cookie mode: pass `null`; the
   *  gateway gets that token from the session. */
  passkeyEnroll(accessToken) {
    return this.#call('POST', '/passkey/enroll', { body: {}, ...this.#account(accessToken) });
  }

  /** `{id, auth_session, credential}` → `{id, type, created_at, …}` (201). */
  passkeyEnrollVerify(accessToken, body) {
    return this.#call('POST', '/passkey/enroll/verify', { body, ...this.#account(accessToken) });
  }

  /** Who an enrolment call is for: the bearer (token mode) or the cookie. */
  #account(accessToken) {
    return this.cookies ? { session: true } : { bearer: accessToken };
  }

  // --- tokens -------------------------------------------------------------

  /** New tokens from the refresh token. `audience` (and `scope`): a token
   *  for another API from the same refresh token (Auth0 multi-resource
   *  refresh tokens), e.g. Auth0's My Account API to add a passkey. */
  refresh(refreshToken, { audience, scope } = {}) {
    const body = { refresh_token: refreshToken };
    if (audience) body.audience = audience;
    if (scope) body.scope = scope;
    return this.#call('POST', '/token/refresh', { body });
  }

  revoke(refreshToken) {
    return this.#call('POST', '/token/revoke', { body: { refresh_token: refreshToken } });
  }

  // --- cookie sessions (cookie mode) ----------------------------------------
  // These always send the cookie. A session that has ended (expired, idle,
  // signed out here or everywhere from another device, or ended at Auth0
  // and reported through back-channel logout) rejects with GatewayError
  // 401 `session_expired`; `api()` resolves with that 401 Response.

  /** Who is signed in: `{user, expires_at}`. The one cookie call that needs
   *  no X-Lgw-Session header (it changes nothing), so it is a simple GET. */
  session() {
    return this.#call('GET', '/session', { session: 'cookie-only' });
  }

  /** Refreshes the tokens inside the cookie: `{user, expires_at}`. */
  sessionRefresh() {
    return this.#call('POST', '/session/refresh', { session: true });
  }

  /**
   * Ends this session: revokes the refresh token at Auth0, clears the
   * cookies (204), and makes the gateway refuse a copy of the cookie from
   * now on. `{everywhere: true}` also ends every other session of the same
   * user, in every browser and on every device: their next call answers
   * 401 `session_expired`.
   */
  sessionLogout({ everywhere = false } = {}) {
    const body = everywhere ? { everywhere: true } : undefined;
    return this.#call('POST', '/session/logout', { body, session: true });
  }

  /** `{access_token, expires_in}`: only for apps that must call an API
   *  themselves. It puts a token into the page again, so prefer `api()`. */
  sessionToken() {
    return this.#call('GET', '/session/token', { session: true });
  }

  /**
   * Calls an API through the gateway (`session.apis.<name>` in its
   * settings): the gateway adds `Authorization: Bearer <access token>`,
   * refreshing it when needed. Like `fetch`, it resolves with the Response,
   * whatever its status (the API's own answers pass through as they are),
   * and rejects with a GatewayError (status 0) only when nothing answered.
   * @param {string} name the API's name, e.g. `demo`
   * @param {string} path its path, e.g. `/profile` (query string allowed)
   * @param {RequestInit} [init] method, headers, body as for fetch
   */
  async api(name, path, init = {}) {
    const apiPath = `/api/${encodeURIComponent(name)}/${path.replace(/^\/+/, '')}`;
    const headers = new Headers(init.headers);
    headers.set('X-Lgw-Session', '1');
    const response = await this.#fetch(init.method || 'GET', apiPath, {
      ...init,
      headers,
      credentials: 'include',
    });
    // A refusal's `error` code (the gateway's own, e.g. session_expired, or
    // the API's, e.g. invalid_token), read from a copy: the caller gets the
    // body untouched. The status alone is already in the call.
    const error = response.ok ? undefined : await errorCode(response.clone());
    this.onCall({
      method: init.method || 'GET',
      path: apiPath,
      status: response.status,
      requestId: response.headers.get('X-Request-Id'),
      error,
    });
    return response;
  }

  /**
   * `session`: false (token mode: no cookies at all), true (cookie mode:
   * send and accept cookies, with X-Lgw-Session: 1), or 'cookie-only'
   * (send cookies without the header: GET /session).
   */
  async #call(method, path, { body, bearer, session = false } = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    if (session === true) headers['X-Lgw-Session'] = '1';
    const response = await this.#fetch(method, path, {
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      // Token mode: the gateway sets no cookies and answers CORS without
      // credentials. Cookie mode: the browser must send and store the
      // gateway's cookies although it is another origin.
      credentials: session ? 'include' : 'omit',
    });
    const requestId = response.headers.get('X-Request-Id');
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const errorBody =
        data && typeof data === 'object' && data.error
          ? data
          : { error: `http_${response.status}`, error_description: text.slice(0, 200) };
      this.onCall({ method, path, status: response.status, requestId, error: errorBody.error });
      throw new GatewayError({
        status: response.status,
        body: errorBody,
        retryAfter: parseRetryAfter(response.headers.get('Retry-After')),
        requestId,
        policy: parsePolicy(response.headers.get('RateLimit')),
      });
    }
    this.onCall({ method, path, status: response.status, requestId });
    return data ?? {};
  }

  /** fetch, or a GatewayError with status 0 when the gateway did not answer. */
  async #fetch(method, path, init) {
    try {
      return await fetch(this.baseUrl + path, {
        ...init,
        method,
        mode: 'cors',
        cache: 'no-store',
        // The page URL may hold a magic-link code: never send it along.
        referrerPolicy: 'no-referrer',
      });
    } catch (cause) {
      // fetch rejects without a status for network failures and for
      // answers CORS refused: the app cannot tell those apart.
      this.onCall({ method, path, status: 0, requestId: null, error: 'network_error' });
      throw new GatewayError({
        status: 0,
        body: {
          error: 'network_error',
          error_description:
            `Could not reach the gateway at ${this.baseUrl} (${cause.message}). ` +
            'Is it running, and is this page\'s origin in server.cors_allowed_origins?',
        },
      });
    }
  }
}

/** The `error` of a JSON error body, or undefined (not JSON, no code). */
async function errorCode(response) {
  if (!/\bjson\b/i.test(response.headers.get('Content-Type') || '')) return undefined;
  const body = await response.json().catch(() => null);
  return body && typeof body.error === 'string' ? body.error.slice(0, 64) : undefined;
}

/** The policy name of `RateLimit: "sms_fraud_guard";r=0;t=900`. */
function parsePolicy(value) {
  const match = /^\s*"([a-z0-9_]+)"/.exec(value || '');
  return match ? match[1] : null;
}

/** Retry-After is delay-seconds (what the gateway sends) or an HTTP date. */
function parseRetryAfter(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}
