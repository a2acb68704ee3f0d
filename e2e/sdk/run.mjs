// The demo tenant as Auth0's own Node SDK sees it. Starts the real binary
// (`login-gateway --demo`), reads the fake tenant's URL and the one-time
// codes from its console, and drives the tenant directly with node-auth0's
// AuthenticationClient: passwordless email and SMS (start, then login with
// the code), Auth0's bad.email / bad.phone_number for bad input, refresh,
// revoke. node-auth0 verifies every ID token it receives itself (RS256
// against `https://<domain>/.well-known/jwks.json`, iss, aud, exp); this
// script verifies one again with jose's createRemoteJWKSet + jwtVerify
// through the tenant's discovery document, and checks that a token for
// another audience or with a changed claim is refused. Then passkey.mjs:
// the tenant's passkey sign-up, sign-in and My Account enrolment through
// @auth0/auth0-auth-js and @auth0/auth0-spa-js, with a software
// authenticator (authenticator.mjs).
//
//   LOGIN_GATEWAY_BIN  the binary (default target/debug/login-gateway; this
//                      script builds nothing)
//
// Auth0's SDKs only speak `https://<domain>` and the demo tenant is plain
// HTTP on loopback, so each SDK is given what a TLS-terminating proxy in
// front of the tenant would be (harness.mjs): its documented `fetch` /
// `customFetch` option (requests go to `http://` with `X-Forwarded-Proto:
// https`) and, for node-auth0, its `agent` option (its JWKS download goes
// over plain TCP). The tenant then names the https
// origin as issuer, as Auth0 does behind a custom domain. Nothing in the
// answers is changed on the way.
//
// Exits 0 only if every step passes; always stops the child.

import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { AuthenticationClient } from 'auth0';
import { createRemoteJWKSet, customFetch, decodeJwt, jwtVerify } from 'jose';

import {
  Console,
  PlainTcpAgent,
  assert,
  assertEqual,
  expectRejected,
  freePort,
  frontFetch,
  results,
  startDemo,
  step,
  stopDemo,
  thrownBy,
} from './harness.mjs';
import { passkeySteps } from './passkey.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.resolve(process.env.LOGIN_GATEWAY_BIN || path.join(ROOT, 'target/debug/login-gateway'));
const OVERALL_TIMEOUT_MS = 90_000;

// Public by design (src/demo/tenant.rs): the demo tenant accepts only these.
const DEMO_CLIENT_ID = 'demo-client-id';
const DEMO_CLIENT_SECRET = 'demo-client-secret-not-a-real-secret';

/** Runs `call`, which must fail with node-auth0's AuthApiError `error` and `status`. */
async function expectAuthError(call, error, status) {
  const thrown = await thrownBy(call, `a call that should fail with ${error}`);
  assertEqual(thrown.name, 'AuthApiError', `error class (${thrown.message})`);
  assertEqual(thrown.error, error, 'error code');
  assertEqual(thrown.statusCode, status, 'status');
  return thrown;
}

/** The demo, killed whatever happens. */
let child;

async function main() {
  const console_ = new Console();
  const port = await freePort();
  child = startDemo(BIN, port, console_);
  try {
    const [, tenantUrl] = await console_.wait(/Fake tenant:\s+(http:\/\/127\.0\.0\.1:\d+)/);
    const host = new URL(tenantUrl).host;
    const fetch_ = frontFetch(host);
    const auth0 = new AuthenticationClient({
      domain: host,
      clientId: DEMO_CLIENT_ID,
      clientSecret: DEMO_CLIENT_SECRET,
      fetch: fetch_,
      agent: new PlainTcpAgent(),
      telemetry: false,
    });

    /** Sends a code with `send` and reads it from the demo's console. */
    const codeFor = async (destination, send) => {
      const from = console_.lines.length;
      await send();
      const escaped = destination.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const [, code] = await console_.wait(
        new RegExp(`\\[demo tenant\\] (?:email|text message) to ${escaped}: your one-time code is (\\d{6})`),
        { from },
      );
      return code;
    };

    let emailTokens;
    await step('passwordless email: sendEmail, then loginWithEmail with the code (the SDK verifies the RS256 id_token)', async () => {
      const email = 'sdk@example.com';
      const code = await codeFor(email, () => auth0.passwordless.sendEmail({ email, send: 'code' }));
      await expectAuthError(
        () => auth0.passwordless.loginWithEmail({ email, code: code === '000000' ? '111111' : '000000' }),
        'invalid_grant',
        403,
      );
      const { data } = await auth0.passwordless.loginWithEmail({
        email,
        code,
        scope: 'openid profile email offline_access',
      });
      assert(typeof data.access_token === 'string', 'an access_token');
      assert(typeof data.id_token === 'string', 'an id_token');
      assert(typeof data.refresh_token === 'string', 'a refresh_token');
      assertEqual(data.token_type, 'Bearer', 'token_type');
      const claims = decodeJwt(data.id_token);
      assertEqual(claims.iss, `https://${host}/`, 'iss');
      assertEqual(claims.aud, DEMO_CLIENT_ID, 'aud');
      assertEqual(claims.email, email, 'email');
      emailTokens = data;
    });

    await step('passwordless SMS: sendSMS, then loginWithSMS with the code', async () => {
      const phone = '+14155550100';
      const code = await codeFor(phone, () => auth0.passwordless.sendSMS({ phone_number: phone }));
      const { data } = await auth0.passwordless.loginWithSMS({ phone_number: phone, code, scope: 'openid' });
      assert(typeof data.id_token === 'string', 'an id_token');
      const claims = decodeJwt(data.id_token);
      assertEqual(claims.sub, `sms|${phone}`, 'sub');
      assertEqual(claims.phone_number, phone, 'phone_number');
    });

    await step("bad input gets Auth0's bad.email / bad.phone_number through the SDK", async () => {
      const badEmail = await expectAuthError(
        () => auth0.passwordless.sendEmail({ email: 'not-an-email', send: 'code' }),
        'bad.email',
        400,
      );
      assert(/email format validation failed/.test(badEmail.error_description), badEmail.error_description);
      await expectAuthError(() => auth0.passwordless.sendSMS({ phone_number: 'not-a-phone' }), 'bad.phone_number', 400);
    });

    await step('refreshTokenGrant (form-encoded) gives new tokens, the id_token again verified by the SDK', async () => {
      assert(emailTokens, 'the email login passed');
      const { data } = await auth0.oauth.refreshTokenGrant({ refresh_token: emailTokens.refresh_token });
      assert(typeof data.access_token === 'string', 'an access_token');
      assert(typeof data.id_token === 'string', 'an id_token');
      assertEqual(data.scope, 'openid profile email offline_access', 'scope');
    });

    await step('jose: the id_token verifies through the discovery document and createRemoteJWKSet', async () => {
      assert(emailTokens, 'the email login passed');
      const discovery = await (await fetch_(`https://${host}/.well-known/openid-configuration`)).json();
      assertEqual(discovery.issuer, `https://${host}/`, 'discovery issuer');
      assertEqual(discovery.jwks_uri, `https://${host}/.well-known/jwks.json`, 'jwks_uri');
      assert(discovery.id_token_signing_alg_values_supported.includes('RS256'), 'RS256 advertised');
      const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri), { [customFetch]: fetch_ });
      const { payload, protectedHeader } = await jwtVerify(emailTokens.id_token, jwks, {
        issuer: discovery.issuer,
        audience: DEMO_CLIENT_ID,
        algorithms: ['RS256'],
      });
      assertEqual(protectedHeader.alg, 'RS256', 'alg');
      assertEqual(payload.sub, 'email|sdk@example.com', 'sub');
      assert(payload.exp > Date.now() / 1000, 'exp in the future');

      await expectRejected(
        jwtVerify(emailTokens.id_token, jwks, { issuer: discovery.issuer, audience: 'another-client' }),
        'an id_token for another audience',
        'ERR_JWT_CLAIM_VALIDATION_FAILED',
        'aud',
      );
      const [header, , signature] = emailTokens.id_token.split('.');
      const forged = Buffer.from(JSON.stringify({ ...payload, sub: 'email|mallory@example.com' })).toString('base64url');
      await expectRejected(
        jwtVerify(`${header}.${forged}.${signature}`, jwks),
        'a forged id_token',
        'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      );
      // Without the proxy the issuer is the tenant's own URL.
      const direct = await (await fetch(`${tenantUrl}/.well-known/openid-configuration`)).json();
      assertEqual(direct.issuer, `${tenantUrl}/`, 'the plain issuer');
    });

    await step('revokeRefreshToken, after which the refresh token is invalid_grant', async () => {
      assert(emailTokens, 'the email login passed');
      await auth0.oauth.revokeRefreshToken({ token: emailTokens.refresh_token });
      await expectAuthError(
        () => auth0.oauth.refreshTokenGrant({ refresh_token: emailTokens.refresh_token }),
        'invalid_grant',
        403,
      );
    });

    // WebAuthn refuses IP-address origins: the tenant accepts ceremonies
    // from the demo app's origin, `http://localhost:<port>`.
    const [, app] = await console_.wait(/App:\s+(http:\/\/\S+)/);
    await passkeySteps({
      host,
      fetch_,
      origin: new URL(app).origin,
      clientId: DEMO_CLIENT_ID,
      clientSecret: DEMO_CLIENT_SECRET,
      codeFor,
    });
  } catch (error) {
    results.failed += 1;
    console.log(`not ok - setup\n  ${error?.stack || error}`);
    console.log(console_.lines.slice(-40).join('\n'));
  } finally {
    await stopDemo(child);
  }
}

const overall = setTimeout(() => {
  console.log(`not ok - the SDK test did not finish within ${OVERALL_TIMEOUT_MS} ms`);
  child?.kill('SIGKILL');
  process.exit(1);
}, OVERALL_TIMEOUT_MS);
overall.unref();

await main();
clearTimeout(overall);
console.log(`\n${results.passed} passed, ${results.failed} failed`);
process.exit(results.failed === 0 && results.passed > 0 ? 0 : 1);
