// A tiny client for login-gateway: one method per endpoint, plain `fetch`.
//
// Every method resolves with the JSON answer, or rejects with a
// GatewayError that carries the gateway's error body
// ({error, error_description, request_id}), the HTTP status, and for 429
// the Retry-After seconds. The gateway's CORS answer exposes Retry-After,
// RateLimit and X-Request-Id to this origin; without that the browser would
// hide them from the app.
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
   */
  constructor(baseUrl, { onCall } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.onCall = onCall || (() => {});
  }

  // --- passwordless login -------------------------------------------------

  /** `{email}` or `{phone_number}`, plus `send: "code"|"link"`, `state` (links), `locale`. */
  start(body) {
    return this.#call('POST', '/login/start', { body });
  }

  /** `{email|phone_number, code}` → tokens, or GatewayError 403 `mfa_required`. */
  verify(body) {
    return this.#call('POST', '/login/verify', { body });
  }

  /** Completes a magic link: `{code, state}` from the redirect's query string. */
  callback(body) {
    return this.#call('POST', '/login/callback', { body });
  }

  // --- MFA: every call carries the mfa_token as a bearer -------------------

  authenticators(mfaToken) {
    return this.#call('GET', '/mfa/authenticators', { bearer: mfaToken });
  }

  /** `{factor: "otp"|"sms"|"voice"|"email"|"push", phone_number?, email?}` */
  associate(mfaToken, body) {
    return this.#call('POST', '/mfa/associate', { body, bearer: mfaToken });
  }

  /** `{challenge_type: "otp"|"oob", authenticator_id?}` */
  challenge(mfaToken, body) {
    return this.#call('POST', '/mfa/challenge', { body, bearer: mfaToken });
  }

  /** Exactly one of `{otp}`, `{oob_code, binding_code?}`, `{recovery_code}`. */
  mfaVerify(mfaToken, body) {
    return this.#call('POST', '/mfa/verify', { body, bearer: mfaToken });
  }

  // --- tokens -------------------------------------------------------------

  refresh(refreshToken) {
    return this.#call('POST', '/token/refresh', { body: { refresh_token: refreshToken } });
  }

  revoke(refreshToken) {
    return this.#call('POST', '/token/revoke', { body: { refresh_token: refreshToken } });
  }

  async #call(method, path, { body, bearer } = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    let response;
    try {
      response = await fetch(this.baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        mode: 'cors',
        // The gateway sets no cookies and answers CORS without credentials.
        credentials: 'omit',
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
