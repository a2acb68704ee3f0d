// Real-browser end-to-end test: the example SPA (examples/spa) served by
// `login-gateway --demo`, driven in Debian's Chromium (headless) through
// playwright-core. The SPA and the gateway are on different origins, so
// every call goes through real CORS.
//
//   LOGIN_GATEWAY_BIN   the binary to test (default target/debug/login-gateway;
//                       this script builds nothing)
//   CHROMIUM            the browser (default /usr/bin/chromium)
//   E2E_OUT             where screenshots and the gateway's log go
//                       (default target/e2e)
//   E2E_README_SCREENSHOT  if set, also save the README's screenshot there
//   E2E_GATEWAY_PORT    the gateway's port (default: a free one; the app
//                       gets the next one, or any free one)
//
// Flows: a `?gateway=` link that must not move the app off its gateway,
// and the page's own Content-Security-Policy (<meta>) blocking any other
// destination even without the demo's header; email code (with a wrong code
// first), magic link, MFA enrollment with a TOTP computed here from the
// secret the page shows, a second login that challenges that factor, a
// recovery-code login, push enrollment with polling, and a rate-limited
// start whose 429 and Retry-After countdown are shown in the page. Exits 0
// only if all pass; always stops the gateway.

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BIN = path.resolve(process.env.LOGIN_GATEWAY_BIN || path.join(ROOT, 'target/debug/login-gateway'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OUT = path.resolve(process.env.E2E_OUT || path.join(ROOT, 'target/e2e'));
const README_SHOT = process.env.E2E_README_SCREENSHOT ? path.resolve(process.env.E2E_README_SCREENSHOT) : null;

const OVERALL_TIMEOUT_MS = 120_000;
const STEP_TIMEOUT_MS = 30_000;
const UI_TIMEOUT_MS = 10_000;
/** The per-identifier start limits the gateway runs with here. The demo's
 *  `mfa+…@example.com` users share one identifier key (`+tag` removed,
 *  SPEC §4), so it must cover their starts too. */
const START_LIMIT = 6;

// ---------------------------------------------------------------------------
// RFC 6238 TOTP (HMAC-SHA1, 30 s, 6 digits), as an authenticator app does it

function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bytes = [];
  let value = 0;
  let bits = 0;
  for (const char of text.replace(/[\s=]/g, '').toUpperCase()) {
    const index = alphabet.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = ((value << 5) | index) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

function totp(secretBase32, nowMs = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(nowMs / 1000 / 30)));
  const mac = createHmac('sha1', base32Decode(secretBase32)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(code).padStart(6, '0');
}

// RFC 6238 appendix B, SHA-1 at T = 59 s: 94287082 (8 digits) → 287082.
if (totp('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', 59_000) !== '287082') {
  throw new Error('the TOTP implementation fails the RFC 6238 test vector');
}

// ---------------------------------------------------------------------------
// The gateway process and what it prints

class Console {
  constructor() {
    this.lines = [];
    this.waiters = new Set();
  }

  push(line) {
    this.lines.push(line);
    for (const waiter of this.waiters) waiter.check(line);
  }

  /** Where the next line will be: wait for lines printed after this. */
  mark() {
    return this.lines.length;
  }

  wait(pattern, { from = 0, timeout = UI_TIMEOUT_MS } = {}) {
    return new Promise((resolve, reject) => {
      const waiter = {
        check: (line) => {
          const match = pattern.exec(line);
          if (match) {
            finish();
            resolve(match);
          }
        },
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`the gateway did not print ${pattern} within ${timeout} ms`));
      }, timeout);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      for (const line of this.lines.slice(from)) {
        const match = pattern.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(match);
          return;
        }
      }
      this.waiters.add(waiter);
    });
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function startGateway(port, console_) {
  mkdirSync(OUT, { recursive: true });
  const log = createWriteStream(path.join(OUT, 'gateway.log'));
  const child = spawn(BIN, ['--demo'], {
    cwd: os.tmpdir(), // the demo must not need the source tree
    env: {
      ...process.env,
      GATEWAY__SERVER__BIND: `127.0.0.1:${port}`,
      GATEWAY__SERVER__WORKERS: '1',
      GATEWAY__SERVER__DRAIN_DELAY_MS: '0',
      GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER: `${START_LIMIT}/hour`,
      GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER_IP: `${START_LIMIT}/hour`,
      // The SMS step: a country that is not served, and a guard that trips
      // after two unverified texts to France.
      GATEWAY__SMS__ALLOWED_COUNTRIES: 'US,CA,FR',
      GATEWAY__SMS__FRAUD_GUARD__MIN_SENDS: '2',
      RUST_LOG: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffered = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    log.write(chunk);
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop();
    for (const line of lines) console_.push(line);
  });
  child.stdout.on('data', (chunk) => log.write(chunk));
  child.on('exit', (code, signal) => {
    console_.push(`[e2e] gateway exited (code ${code}, signal ${signal})`);
  });
  return child;
}

async function stopGateway(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------
// Steps

const results = [];

async function step(name, work, timeout = STEP_TIMEOUT_MS) {
  const started = Date.now();
  let timer;
  try {
    await Promise.race([
      work(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`step timed out after ${timeout} ms`)), timeout);
      }),
    ]);
    results.push({ name, ok: true });
    process.stdout.write(`  ok    ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  } catch (error) {
    results.push({ name, ok: false });
    process.stdout.write(`  FAIL  ${name}: ${error.message}\n`);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function main() {
  check(existsSync(BIN), `no binary at ${BIN}: run cargo build first (or set LOGIN_GATEWAY_BIN)`);
  check(existsSync(CHROMIUM), `no browser at ${CHROMIUM}: apt-get install -y chromium`);
  mkdirSync(OUT, { recursive: true });

  const gatewayConsole = new Console();
  const port = Number(process.env.E2E_GATEWAY_PORT) || (await freePort());
  const gatewayOrigin = `http://127.0.0.1:${port}`;
  let gateway = null;
  let context = null;
  const profile = mkdtempSync(path.join(os.tmpdir(), 'login-gateway-e2e-chromium-'));
  const pageProblems = [];

  const overall = setTimeout(() => {
    process.stdout.write(`  FAIL  overall timeout of ${OVERALL_TIMEOUT_MS / 1000} s\n`);
    cleanup().finally(() => process.exit(1));
  }, OVERALL_TIMEOUT_MS);

  async function cleanup() {
    try {
      if (context) await context.close();
    } catch {
      // the browser may already be gone
    }
    await stopGateway(gateway);
    rmSync(profile, { recursive: true, force: true });
  }
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => cleanup().finally(() => process.exit(130)));
  }

  let page;
  let appUrl;
  const tid = (id) => page.getByTestId(id);
  const text = async (id) => ((await tid(id).first().textContent()) || '').trim();
  const visible = (id, timeout = UI_TIMEOUT_MS) => tid(id).first().waitFor({ state: 'visible', timeout });
  const shot = (name) => page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
  const noPageProblems = () =>
    check(pageProblems.length === 0, `the page reported: ${pageProblems.join(' | ')}`);

  /** Start → code from the console → verify. */
  async function loginWithCode(email) {
    await tid('channel-email').check();
    await tid('send-code').check();
    await tid('email').fill(email);
    const mark = gatewayConsole.mark();
    await tid('start-submit').click();
    await visible('step-code');
    const escaped = email.replace(/[.+]/g, '\\$&');
    const [, code] = await gatewayConsole.wait(
      new RegExp(`\\[demo tenant\\] email to ${escaped}: your one-time code is (\\d{6})`),
      { from: mark },
    );
    await tid('code').fill(code);
    await tid('verify-submit').click();
    return code;
  }

  async function claims() {
    await visible('step-done');
    return JSON.parse(await text('id-claims'));
  }

  async function signOut() {
    await tid('sign-out').click();
    await visible('step-start');
  }

  let secret;
  let recoveryCode;

  try {
    process.stdout.write(`e2e: ${BIN} --demo on ${gatewayOrigin}, browser ${CHROMIUM}\n`);

    await step('the demo starts and prints the app URL', async () => {
      gateway = startGateway(port, gatewayConsole);
      const [, url] = await gatewayConsole.wait(/^\s*App:\s+(http:\/\/\S+)/, { timeout: 20_000 });
      appUrl = url;
      check(new URL(appUrl).origin !== gatewayOrigin, 'the app must be on another origin than the gateway');
      await gatewayConsole.wait(/Swagger UI:\s+http:\/\/127\.0\.0\.1:\d+\/docs/);
      const health = await fetch(`${gatewayOrigin}/healthz`);
      check(health.ok, `/healthz answered ${health.status}`);
    });

    await step('Chromium opens the app', async () => {
      context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 860, height: 900 },
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      context.setDefaultTimeout(UI_TIMEOUT_MS);
      page = context.pages()[0] || (await context.newPage());
      page.on('pageerror', (error) => pageProblems.push(`uncaught: ${error.message}`));
      page.on('console', (message) => {
        // 4xx answers are logged by Chromium as failed loads: expected here.
        if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) {
          pageProblems.push(message.text());
        }
      });
      await page.goto(appUrl);
      await page.waitForSelector('body[data-ready="true"]');
      check((await text('gateway-url')) === gatewayOrigin, `the app calls ${await text('gateway-url')}`);
      noPageProblems();
    });

    await step('a ?gateway= link cannot send the app\'s calls elsewhere', async () => {
      const elsewhere = 'http://127.0.0.1:9';
      const requested = [];
      const onRequest = (request) => requested.push(request.url());
      page.on('request', onRequest);
      try {
        await page.goto(`${appUrl}?gateway=${encodeURIComponent(`${elsewhere}/`)}`);
        await page.waitForSelector('body[data-ready="true"]');
        check((await text('gateway-url')) === gatewayOrigin, `the app calls ${await text('gateway-url')}`);
        const docs = await tid('docs-link').getAttribute('href');
        check(docs === `${gatewayOrigin}/docs`, `the docs link leads to ${docs}`);
        await tid('email').fill('phished@example.com');
        const mark = gatewayConsole.mark();
        await tid('start-submit').click();
        await visible('step-code');
        await gatewayConsole.wait(/\[demo tenant\] email to phished@example\.com: your one-time code is \d{6}/, {
          from: mark,
        });
      } finally {
        page.off('request', onRequest);
      }
      check(
        requested.some((url) => url.startsWith(`${gatewayOrigin}/login/start`)),
        `no /login/start to the gateway among ${requested.join(', ')}`,
      );
      const strays = requested.filter((url) => new URL(url).origin === elsewhere);
      check(strays.length === 0, `the app called ${strays.join(', ')}`);
      await tid('code-back').click();
      await visible('step-start');
      noPageProblems();
      await page.goto(appUrl);
      await page.waitForSelector('body[data-ready="true"]');
    });

    await step('index.html\'s own CSP (<meta>) limits connect-src to the gateway, header or not', async () => {
      const response = await fetch(appUrl);
      const html = await response.text();
      const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]*)"/.exec(html);
      check(meta, 'index.html has no Content-Security-Policy <meta> tag');
      const directives = new Map(
        meta[1].split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values.join(' ')]),
      );
      check(directives.get('connect-src') === gatewayOrigin, `meta connect-src: ${directives.get('connect-src')}`);
      check(directives.get('script-src') === "'self'", `meta script-src: ${directives.get('script-src')}`);
      check(directives.get('default-src') === "'none'", `meta default-src: ${directives.get('default-src')}`);
      // The demo also sends it as a header: both are enforced, so they agree.
      const header = response.headers.get('content-security-policy') || '';
      check(header === `${meta[1]}; frame-ancestors 'none'`, `header ${header} vs meta ${meta[1]}`);

      // A copy of the files served without any CSP header (as a plain static
      // host would): the <meta> policy alone refuses another destination.
      const tab = await context.newPage();
      try {
        await tab.route(
          (url) => url.origin === new URL(appUrl).origin && (url.pathname === '/' || url.pathname === '/index.html'),
          async (route) => {
            const original = await route.fetch();
            const headers = { ...original.headers() };
            delete headers['content-security-policy'];
            await route.fulfill({ response: original, headers });
          },
        );
        const loaded = await tab.goto(appUrl);
        check(!(await loaded.allHeaders())['content-security-policy'], 'the page still has a CSP header');
        await tab.waitForSelector('body[data-ready="true"]');
        const outcome = await tab.evaluate(async (target) => {
          const violation = new Promise((resolve) => {
            document.addEventListener(
              'securitypolicyviolation',
              (event) => resolve({ directive: event.effectiveDirective, policy: event.originalPolicy }),
              { once: true },
            );
            setTimeout(() => resolve(null), 3_000);
          });
          let fetched = 'reached';
          try {
            await fetch(target);
          } catch {
            fetched = 'failed';
          }
          return { fetched, violation: await violation };
        }, 'http://127.0.0.1:9/');
        check(outcome.fetched === 'failed', 'a fetch to another origin went through');
        check(outcome.violation, 'no CSP violation: the page does not enforce its <meta> policy');
        check(outcome.violation.directive === 'connect-src', `violated ${outcome.violation.directive}`);
        check(outcome.violation.policy === meta[1], `enforced ${outcome.violation.policy}`);
      } finally {
        await tab.close();
      }
    });

    await step('(a) email code login: a wrong code shows the error body, the right one gives tokens', async () => {
      await tid('email').fill('jane@example.com');
      const mark = gatewayConsole.mark();
      await tid('start-submit').click();
      await visible('step-code');
      const [, code] = await gatewayConsole.wait(
        /\[demo tenant\] email to jane@example\.com: your one-time code is (\d{6})/,
        { from: mark },
      );
      await tid('code').fill(code === '000000' ? '111111' : '000000');
      await tid('verify-submit').click();
      await visible('error');
      check((await text('error-code')) === 'invalid_grant', `error ${await text('error-code')}`);
      check((await text('error-status')) === 'HTTP 403', `status ${await text('error-status')}`);
      check(/Wrong email or verification code/.test(await text('error-description')), 'description');
      check((await text('error-request-id')).length > 4, 'the request_id is shown');
      await shot('01-wrong-code');
      await tid('code').fill(code);
      await tid('verify-submit').click();
      const idClaims = await claims();
      check(idClaims.email === 'jane@example.com', `claims: ${JSON.stringify(idClaims)}`);
      check(idClaims.sub === 'email|jane@example.com', `sub ${idClaims.sub}`);
      check(await tid('error').isHidden(), 'the old error is cleared');
      await shot('02-signed-in');
      await tid('refresh').click();
      await page.waitForFunction(() => /Refreshed/.test(document.getElementById('token-status').textContent));
      await tid('revoke').click();
      await page.waitForFunction(() => /revoked/.test(document.getElementById('token-status').textContent));
      check((await text('refresh-state')) === 'none', 'the refresh token is dropped');
      check(await tid('refresh').isDisabled(), 'refresh is off without a refresh token');
      noPageProblems();
      await signOut();
    });

    await step('magic link: a forged link is refused (state), the real one signs in from a new tab', async () => {
      await tid('send-link').check();
      await tid('email').fill('jane@example.com');
      const mark = gatewayConsole.mark();
      await tid('start-submit').click();
      await visible('step-link');
      const [, link] = await gatewayConsole.wait(
        /\[demo tenant\] magic link to jane@example\.com: (\S+)/,
        { from: mark },
      );
      check(link.startsWith(appUrl), `the link leads to ${link}, not the app`);
      check(/[?&]state=/.test(link), 'the link carries the state');
      // A link whose state this browser did not create (an attacker's link)
      // is refused without calling the gateway (login CSRF), and does not
      // cancel the sign-in that is waiting.
      const forged = new URL(link);
      forged.searchParams.set('state', 'forged-state');
      const forgedTab = await context.newPage();
      await forgedTab.goto(forged.href);
      await forgedTab.getByTestId('error').waitFor({ state: 'visible' });
      const forgedError = await forgedTab.getByTestId('error-code').textContent();
      check(forgedError === 'state_mismatch', `a forged link shows ${forgedError}`);
      check(await forgedTab.getByTestId('step-done').isHidden(), 'a forged link must not sign in');
      await forgedTab.close();
      // The same browser, a new tab (as from the mail app): signs in.
      const linkTab = await context.newPage();
      await linkTab.goto(link);
      await linkTab.getByTestId('step-done').waitFor({ state: 'visible' });
      const idClaims = JSON.parse(await linkTab.getByTestId('id-claims').textContent());
      check(idClaims.email === 'jane@example.com', `claims: ${JSON.stringify(idClaims)}`);
      check(!linkTab.url().includes('code='), `the code stays in the address bar: ${linkTab.url()}`);
      await linkTab.screenshot({ path: path.join(OUT, '03-magic-link.png'), fullPage: true });
      await linkTab.close();
      // The first tab still waits on "check your email": start it afresh.
      await page.goto(appUrl);
      await page.waitForSelector('body[data-ready="true"]');
      noPageProblems();
    });

    await step('(b) MFA enrollment: QR code and secret shown, TOTP computed from the secret', async () => {
      await loginWithCode('mfa+e2e@example.com');
      await visible('mfa-enroll');
      check(/"enroll"/.test(await text('mfa-requirements')), 'mfa_requirements asks to enroll');
      await tid('enroll-otp').click();
      await visible('otp-enrollment');
      secret = await text('otp-secret');
      const uri = await text('otp-uri');
      check(/^[A-Z2-7]{16,}$/.test(secret), `secret ${secret}`);
      check(uri.startsWith('otpauth://totp/') && uri.includes(`secret=${secret}`), `uri ${uri}`);
      const qrSize = await tid('otp-qr').evaluate((canvas) => canvas.width);
      check(qrSize > 80, `QR canvas ${qrSize}px`);
      recoveryCode = await text('recovery-code');
      check(recoveryCode.length >= 8, 'a recovery code is shown');
      await tid('otp').fill(totp(secret));
      if (README_SHOT) {
        mkdirSync(path.dirname(README_SHOT), { recursive: true });
        await page.screenshot({ path: README_SHOT, fullPage: false });
      }
      await shot('04-enroll-otp');
      await tid('otp-submit').click();
      const idClaims = await claims();
      check(idClaims.email === 'mfa+e2e@example.com', `claims: ${JSON.stringify(idClaims)}`);
      noPageProblems();
      await signOut();
    });

    await step('(c) second login challenges the enrolled authenticator app', async () => {
      await loginWithCode('mfa+e2e@example.com');
      await visible('mfa-challenge');
      check(/"challenge"/.test(await text('mfa-requirements')), 'mfa_requirements asks for a challenge');
      await visible('challenge-otp');
      await visible('challenge-recovery-code');
      await tid('challenge-otp').click();
      await visible('otp-form');
      await shot('05-challenge-otp');
      await tid('otp').fill(totp(secret));
      await tid('otp-submit').click();
      const idClaims = await claims();
      check(idClaims.email === 'mfa+e2e@example.com', `claims: ${JSON.stringify(idClaims)}`);
      noPageProblems();
      await signOut();
    });

    await step('(d) recovery-code login shows the new recovery code', async () => {
      await loginWithCode('mfa+e2e@example.com');
      await visible('challenge-recovery-code');
      await tid('challenge-recovery-code').click();
      await visible('recovery-form');
      await tid('recovery-input').fill(recoveryCode);
      await tid('recovery-submit').click();
      const idClaims = await claims();
      check(idClaims.email === 'mfa+e2e@example.com', `claims: ${JSON.stringify(idClaims)}`);
      await visible('rotated-recovery');
      const rotated = await text('rotated-recovery-code');
      check(rotated.length >= 8 && rotated !== recoveryCode, `rotated code ${rotated}`);
      await shot('06-recovery-code');
      noPageProblems();
      await signOut();
    });

    await step('push enrollment: polls through authorization_pending until approved', async () => {
      await loginWithCode('mfa+push@example.com');
      await visible('mfa-enroll');
      await tid('enroll-push').click();
      await visible('push-status');
      await visible('step-done', 20_000);
      const log = await text('call-log');
      check(/authorization_pending/.test(log), `no pending poll in the call log: ${log}`);
      check(!/slow_down/.test(log), 'the app polled too fast');
      check((await claims()).email === 'mfa+push@example.com', 'push user signed in');
      noPageProblems();
      await signOut();
    });

    await step('(e) rate limit: the 429 and a live Retry-After countdown are shown', async () => {
      const email = 'limited@example.com';
      for (let attempt = 1; attempt <= START_LIMIT; attempt += 1) {
        await tid('email').fill(email);
        await tid('start-submit').click();
        await visible('step-code');
        await tid('code-back').click();
        await visible('step-start');
      }
      await tid('email').fill(email);
      await tid('start-submit').click();
      await visible('error');
      check((await text('error-code')) === 'too_many_requests', `error ${await text('error-code')}`);
      check((await text('error-status')) === 'HTTP 429', `status ${await text('error-status')}`);
      check((await text('error-request-id')).length > 4, 'the request_id is shown');
      await visible('retry-countdown');
      const seconds = async () => Number(await tid('retry-countdown').getAttribute('data-seconds'));
      const first = await seconds();
      check(first > 0, `Retry-After countdown at ${first}`);
      check(/try again in/.test(await text('retry-countdown')), 'countdown text');
      await page.waitForTimeout(1_600);
      const later = await seconds();
      check(later < first, `the countdown does not move: ${first} → ${later}`);
      check(await tid('step-code').isHidden(), 'no code step after a 429');
      await shot('07-rate-limited');
      noPageProblems();
    });

    await step('(f) SMS: a country that is not served, and a paused one, get a plain-language hint', async () => {
      await tid('channel-sms').check();
      await tid('phone').fill('+447400123456');
      await tid('start-submit').click();
      await visible('error');
      check((await text('error-code')) === 'phone_country_not_allowed', `error ${await text('error-code')}`);
      check(/cannot send text messages or calls to this country/.test(await text('error-hint')), `hint ${await text('error-hint')}`);
      for (const phone of ['+33612345671', '+33612345672']) {
        await tid('phone').fill(phone);
        await tid('start-submit').click();
        await visible('step-code');
        await tid('code-back').click();
        await visible('step-start');
      }
      await tid('phone').fill('+33612345673');
      await tid('start-submit').click();
      await visible('error');
      check((await text('error-code')) === 'too_many_requests', `error ${await text('error-code')}`);
      check(/paused for a while to stop abuse/.test(await text('error-hint')), `hint ${await text('error-hint')}`);
      await visible('retry-countdown');
      await shot('08-sms-paused');
      noPageProblems();
    });
  } catch (error) {
    if (page) await shot('failure').catch(() => {});
    process.stdout.write(`\nlast lines the gateway printed on stderr:\n`);
    for (const line of gatewayConsole.lines.slice(-25)) process.stdout.write(`  | ${line}\n`);
    if (error && error.stack && !results.some((r) => !r.ok)) process.stdout.write(`${error.stack}\n`);
  } finally {
    clearTimeout(overall);
    await cleanup();
  }

  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  process.stdout.write(`screenshots and the gateway log: ${OUT}\n`);
  process.stdout.write(`e2e: ${passed} passed, ${failed} failed\n`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stdout.write(`e2e: ${error.message || error}\ne2e: 0 passed, 1 failed\n`);
    process.exit(1);
  },
);
