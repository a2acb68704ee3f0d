// The demo tenant's passkey endpoints as Auth0's own SDKs call them, so the
// fake keeps Auth0's wire shapes:
//
// - @auth0/auth0-auth-js's PasskeyClient (`authClient.passkey`): register
//   (`POST /passkey/register`), challenge (`POST /passkey/challenge`) and
//   getTokenByPasskey (the `urn:okta:params:oauth:grant-type:webauthn`
//   grant, which the SDK turns into a JSON `/oauth/token` call through
//   openid-client, the ID token's claims checked there).
// - @auth0/auth0-spa-js's MyAccountApiClient: enrollmentChallenge
//   (`POST /me/v1/authentication-methods`, the id taken from `Location`)
//   and enrollmentVerify (`POST {Location}/verify`). It is the one Auth0
//   SDK whose My Account calls run in Node: it only needs a fetcher that
//   attaches the access token, which in a browser Auth0Client supplies.
//
// The credentials come from a software authenticator (authenticator.mjs)
// as if made on the demo app's page (the `App:` origin of the banner), the
// origin the tenant accepts ceremonies from.

import { AuthClient, PasskeyGetTokenError, PasskeyRegisterError } from '@auth0/auth0-auth-js';
import { MyAccountApiClient, MyAccountApiError } from '@auth0/auth0-spa-js';
import { createRemoteJWKSet, customFetch, jwtVerify } from 'jose';

import { SoftwareAuthenticator } from './authenticator.mjs';
import { assert, assertEqual, step, thrownBy } from './harness.mjs';

const CONNECTION = 'Username-Password-Authentication';
/** The demo tenant's relying party (WebAuthn refuses IP addresses). */
const RP_ID = 'localhost';
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** A copy of `credential` whose signature has one bit flipped. */
function withFlippedSignature(credential) {
  const signature = Buffer.from(credential.response.signature, 'base64url');
  signature[signature.length - 1] ^= 0x01;
  return { ...credential, response: { ...credential.response, signature: signature.toString('base64url') } };
}

/**
 * What an auth0-spa-js Auth0Client's fetcher does for MyAccountApiClient:
 * the access token as a bearer. `scopesAsked` collects the scopes the SDK
 * says each call needs.
 */
function bearerFetcher(fetch_, accessToken, scopesAsked = []) {
  return {
    fetchWithAuth: (url, init, authParams) => {
      scopesAsked.push(...(authParams?.scope ?? []));
      const headers = new Headers(init?.headers);
      headers.set('authorization', `Bearer ${accessToken}`);
      return fetch_(String(url), { ...init, headers });
    },
  };
}

/** Runs `call`, which must fail with auth-js's PasskeyGetTokenError carrying Auth0's `error` and `status`. */
async function expectGetTokenError(call, error, status) {
  const thrown = await thrownBy(call, `a token exchange that should fail with ${error}`);
  assert(thrown instanceof PasskeyGetTokenError, `a PasskeyGetTokenError, got ${thrown?.name}: ${thrown?.message}`);
  assertEqual(thrown.code, 'passkey_get_token_error', 'SDK error code');
  assertEqual(thrown.cause?.error, error, "Auth0's error");
  assertEqual(thrown.statusCode, status, 'status');
  return thrown;
}

/**
 * The passkey steps. `host`: the tenant's host:port (the SDKs' `domain`);
 * `fetch_`: the proxy fetch from harness.mjs; `origin`: the web origin the
 * tenant accepts in client data; `codeFor(email, send)`: sends a code and
 * reads it from the demo's console.
 */
export async function passkeySteps({ host, fetch_, origin, clientId, clientSecret, codeFor }) {
  const issuer = `https://${host}/`;
  const myAccountAudience = `https://${host}/me/`;
  const authClient = new AuthClient({ domain: host, clientId, clientSecret, customFetch: fetch_ });
  const jwks = createRemoteJWKSet(new URL(`${issuer}.well-known/jwks.json`), { [customFetch]: fetch_ });
  const authenticator = new SoftwareAuthenticator();
  const email = 'passkey-sdk@example.com';

  /** The SDK already checked iss/aud/exp; this checks the RS256 signature too. */
  const verifiedIdToken = async (tokens) => {
    assert(typeof tokens.idToken === 'string', 'an id_token');
    const { payload } = await jwtVerify(tokens.idToken, jwks, { issuer, audience: clientId, algorithms: ['RS256'] });
    assertEqual(tokens.claims?.sub, payload.sub, "the SDK's claims are the verified token's");
    return payload;
  };

  let signUp;
  await step('auth-js passkey.register, a software attestation, getTokenByPasskey: a new user with tokens; a second sign-up is invalid_request', async () => {
    const challenge = await authClient.passkey.register({ email, name: 'Pat Passkey', realm: CONNECTION });
    const options = challenge.authnParamsPublicKey;
    assert(typeof challenge.authSession === 'string' && challenge.authSession.length > 0, 'an authSession');
    assertEqual(options.rp?.id, RP_ID, 'rp.id');
    assert(BASE64URL.test(options.challenge) && Buffer.from(options.challenge, 'base64url').length >= 16, `a base64url challenge: ${options.challenge}`);
    assert(BASE64URL.test(options.user?.id ?? ''), `a base64url user.id: ${options.user?.id}`);
    assertEqual(options.user?.name, email, 'user.name');
    assert(options.pubKeyCredParams?.some((param) => param.type === 'public-key' && param.alg === -7), 'ES256 offered');

    const credential = authenticator.create(options, origin);
    const tokens = await authClient.passkey.getTokenByPasskey({
      authSession: challenge.authSession,
      credential,
      realm: CONNECTION,
      scope: 'openid profile email offline_access',
    });
    assert(typeof tokens.accessToken === 'string', 'an access token');
    assert(typeof tokens.refreshToken === 'string', 'a refresh token (offline_access)');
    // openid-client lowercases token_type.
    assertEqual(tokens.tokenType, 'bearer', 'token_type');
    const claims = await verifiedIdToken(tokens);
    assertEqual(claims.iss, issuer, 'iss');
    assertEqual(claims.aud, clientId, 'aud');
    assertEqual(claims.email, email, 'email');
    assert(typeof claims.sub === 'string' && claims.sub.length > 0, 'a sub');
    signUp = { sub: claims.sub, credentialId: credential.id };

    // Auth0 refuses a sign-up for an existing user with 400 invalid_request.
    const again = await thrownBy(() => authClient.passkey.register({ email, realm: CONNECTION }), 'a second sign-up for the same email');
    assert(again instanceof PasskeyRegisterError, `a PasskeyRegisterError, got ${again?.name}: ${again?.message}`);
    assertEqual(again.code, 'passkey_register_error', 'SDK error code');
    assertEqual(again.cause?.error, 'invalid_request', "Auth0's error");
    assertEqual(again.statusCode, 400, 'status');
  });

  let signIn;
  await step('auth-js passkey.challenge (no realm: the default connection), a software assertion, getTokenByPasskey: the same user', async () => {
    assert(signUp, 'the sign-up passed');
    const challenge = await authClient.passkey.challenge();
    const options = challenge.authnParamsPublicKey;
    assertEqual(options.rpId, RP_ID, 'rpId');
    assert(BASE64URL.test(options.challenge), `a base64url challenge: ${options.challenge}`);
    const assertion = authenticator.get(options, origin, signUp.credentialId);
    const tokens = await authClient.passkey.getTokenByPasskey({
      authSession: challenge.authSession,
      credential: assertion,
      scope: 'openid email',
    });
    const claims = await verifiedIdToken(tokens);
    assertEqual(claims.sub, signUp.sub, 'sub');
    assertEqual(claims.email, email, 'email');
    signIn = { authSession: challenge.authSession, assertion };
  });

  await step('a tampered or replayed assertion is refused: PasskeyGetTokenError with invalid_grant', async () => {
    assert(signIn, 'the sign-in passed');
    const challenge = await authClient.passkey.challenge({ realm: CONNECTION });
    const assertion = authenticator.get(challenge.authnParamsPublicKey, origin, signUp.credentialId);
    await expectGetTokenError(
      () => authClient.passkey.getTokenByPasskey({ authSession: challenge.authSession, credential: withFlippedSignature(assertion) }),
      'invalid_grant',
      403,
    );
    // The sign-in's auth_session and assertion, sent again.
    await expectGetTokenError(
      () => authClient.passkey.getTokenByPasskey({ authSession: signIn.authSession, credential: signIn.assertion }),
      'invalid_grant',
      403,
    );
  });

  await step('auth-js passwordless email code for the My Account API, then auth0-spa-js MyAccountApiClient enrolls a passkey; it signs in', async () => {
    const emailUser = 'passkey-enroll-sdk@example.com';
    const code = await codeFor(emailUser, () => authClient.passwordless.sendEmail({ email: emailUser, send: 'code' }));
    const tokens = await authClient.getTokenByPasswordlessEmail({
      email: emailUser,
      code,
      audience: myAccountAudience,
      scope: 'openid email create:me:authentication_methods',
    });
    const { sub } = await verifiedIdToken(tokens);

    const scopesAsked = [];
    const myAccount = new MyAccountApiClient(bearerFetcher(fetch_, tokens.accessToken, scopesAsked), myAccountAudience);

    const enrollment = await myAccount.enrollmentChallenge({ type: 'passkey', connection: CONNECTION });
    assert(typeof enrollment.id === 'string' && enrollment.id.length > 0, `an id from Location: ${enrollment.location}`);
    assertEqual(enrollment.location, `${myAccountAudience}v1/authentication-methods/${encodeURIComponent(enrollment.id)}`, 'Location');
    assert(typeof enrollment.auth_session === 'string' && enrollment.auth_session.length > 0, 'an auth_session');
    const options = enrollment.authn_params_public_key;
    assertEqual(options?.rp?.id, RP_ID, 'rp.id');

    const credential = authenticator.create(options, origin);
    const method = await myAccount.enrollmentVerify({
      type: 'passkey',
      location: enrollment.location,
      auth_session: enrollment.auth_session,
      authn_response: credential,
    });
    // auth0-spa-js's PasskeyAuthenticationMethod, what the SDK hands an app.
    assertEqual(method.type, 'passkey', 'type');
    assert(/^passkey\|./.test(method.id), `a passkey id: ${method.id}`);
    assert(!Number.isNaN(Date.parse(method.created_at)), `created_at: ${method.created_at}`);
    assertEqual(method.key_id, credential.id, 'key_id');
    assertEqual(method.user_handle, options.user.id, 'user_handle');
    assertEqual(method.identity_user_id, sub, 'identity_user_id');
    assertEqual(method.credential_device_type, 'multi_device', 'credential_device_type (BE set)');
    assertEqual(method.credential_backed_up, true, 'credential_backed_up (BS set)');
    assertEqual(scopesAsked.join(' '), 'create:me:authentication_methods create:me:authentication_methods', 'the scopes the SDK asks its fetcher for');

    const challenge = await authClient.passkey.challenge({ realm: CONNECTION });
    const assertion = authenticator.get(challenge.authnParamsPublicKey, origin, credential.id);
    const signedIn = await authClient.passkey.getTokenByPasskey({ authSession: challenge.authSession, credential: assertion, scope: 'openid email' });
    const claims = await verifiedIdToken(signedIn);
    assertEqual(claims.sub, sub, 'the enrolled passkey signs in the email user');

    // A token for another audience is not a My Account token.
    const stranger = new MyAccountApiClient(bearerFetcher(fetch_, signedIn.accessToken), myAccountAudience);
    const refused = await thrownBy(() => stranger.enrollmentChallenge({ type: 'passkey', connection: CONNECTION }), 'a token without the My Account audience');
    assert(refused instanceof MyAccountApiError, `a MyAccountApiError, got ${refused?.name}: ${refused?.message}`);
    assertEqual(refused.status, 401, 'status');
    for (const field of ['type', 'title', 'detail']) {
      assert(typeof refused[field] === 'string' && refused[field].length > 0, `${field} in ${JSON.stringify(refused)}`);
    }
  });
}
