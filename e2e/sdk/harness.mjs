// What the SDK tests share: the demo child and its console, the fetch and
// agent a TLS-terminating proxy in front of the tenant would give an SDK
// (Auth0's SDKs only speak `https://<domain>`; the demo tenant is plain
// HTTP on loopback), and the tiny TAP-style check helpers.

import { spawn } from 'node:child_process';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';

export const WAIT_TIMEOUT_MS = 20_000;

// ---------------------------------------------------------------------------
// The child and its console

export class Console {
  constructor() {
    this.lines = [];
    this.waiters = new Set();
  }

  push(line) {
    this.lines.push(line);
    for (const waiter of this.waiters) waiter(line);
  }

  /** Resolves with the match of the first line (from `from` on) matching `pattern`. */
  wait(pattern, { from = 0, timeoutMs = WAIT_TIMEOUT_MS } = {}) {
    return new Promise((resolve, reject) => {
      const waiter = (line) => {
        const match = pattern.exec(line);
        if (match) {
          this.waiters.delete(waiter);
          clearTimeout(timer);
          resolve(match);
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no console line matched ${pattern} within ${timeoutMs} ms`));
      }, timeoutMs);
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

export function freePort() {
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

export function startDemo(bin, port, console_) {
  const child = spawn(bin, ['--demo'], {
    cwd: os.tmpdir(),
    env: {
      ...process.env,
      GATEWAY__SERVER__BIND: `127.0.0.1:${port}`,
      GATEWAY__SERVER__WORKERS: '1',
      RUST_LOG: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout, child.stderr]) {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) console_.push(line);
    });
  }
  child.on('exit', (code, signal) => console_.push(`[sdk] demo exited (code ${code}, signal ${signal})`));
  return child;
}

export async function stopDemo(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------
// What a TLS-terminating proxy in front of the tenant gives the SDK

/** A `fetch` that sends `https://<host>/…` to `http://<host>/…` with
 *  `X-Forwarded-Proto: https`; everything else is untouched. */
export function frontFetch(host) {
  const https_ = `https://${host}/`;
  return async (input, init = {}) => {
    const url = String(input instanceof Request ? input.url : input);
    if (!url.startsWith(https_)) throw new Error(`unexpected destination ${url}`);
    const headers = new Headers(init.headers);
    headers.set('x-forwarded-proto', 'https');
    // node-auth0 passes its `agent` to fetch as an undici dispatcher; this
    // one is for the JWKS download (below), not for fetch.
    const { dispatcher: _unused, ...rest } = init;
    return fetch(`http://${host}/${url.slice(https_.length)}`, { ...rest, headers });
  };
}

/** An https agent whose connections are plain TCP to the loopback tenant:
 *  node-auth0 hands it to jose for `https://<domain>/.well-known/jwks.json`. */
export class PlainTcpAgent extends https.Agent {
  createConnection(options) {
    return net.connect({ host: options.host, port: options.port });
  }
}

// ---------------------------------------------------------------------------
// Checks

/** What passed and failed so far. */
export const results = { passed: 0, failed: 0 };

export async function step(name, body) {
  try {
    await body();
    results.passed += 1;
    console.log(`ok - ${name}`);
  } catch (error) {
    results.failed += 1;
    // The SDKs' errors carry the answer that caused them.
    const answer = ['statusCode', 'status', 'body', 'cause']
      .filter((key) => error?.[key] !== undefined)
      .map((key) => `${key}: ${typeof error[key] === 'string' ? error[key] : JSON.stringify(error[key])}`);
    const text = [String(error?.stack || error), ...answer].join('\n');
    console.log(`not ok - ${name}\n  ${text.split('\n').join('\n  ')}`);
  }
}

export function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

export function assertEqual(actual, expected, what) {
  if (actual !== expected) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

/** Runs `call`, which must throw; returns what it threw. */
export async function thrownBy(call, what) {
  try {
    await call();
  } catch (caught) {
    return caught;
  }
  throw new Error(`assertion failed: ${what} was accepted`);
}

/**
 * Awaits `promise`, which must be rejected with jose's error `code` and, for
 * a failed claim check, on `claim`: any other failure (a network error, a
 * missing key) is not the refusal the step is about.
 */
export async function expectRejected(promise, what, code, claim) {
  const thrown = await thrownBy(() => promise, what);
  assertEqual(thrown.code, code, `${what}: error code (${thrown.message})`);
  if (claim !== undefined) {
    assertEqual(thrown.claim, claim, `${what}: the failed claim`);
  }
  return thrown;
}
