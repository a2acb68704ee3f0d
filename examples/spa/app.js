// The example single-page app: passwordless login and MFA through
// login-gateway, with nothing but `fetch`. Read it top to bottom:
//
//   start (email / SMS, code or magic link) → verify (or magic-link callback)
//   or a passkey: create an account with one, sign in with one (a button,
//     or the email field's autofill where the browser offers passkeys there)
//   → on 403 mfa_required: list authenticators, then enroll one (app / SMS /
//     voice / email / push) or challenge one, or use a recovery code
//   → tokens: decoded ID-token claims, refresh, revoke;
//     or, in cookie mode, the gateway's session: who is signed in, a call
//     to the demo API through the gateway, check, refresh, sign out (this
//     session, or every session of the user), and in the demo, ending the
//     user's session at the (fake) Auth0 tenant, which tells the gateway;
//     in either mode, add a passkey to the account.
//
// Every failure is shown from the gateway's JSON error body; a 429 also
// gets a live countdown from its Retry-After header. A passkey ceremony the
// browser refused (cancelled, unsupported) is shown the same way, beside
// the button that started it.

import config from './config.js';
import { Gateway, GatewayError } from './gateway.js';
import { PasskeyError, autofillAvailable, createPasskey, getPasskey, requirePasskeys } from './passkey.js';
import { renderQr } from './qr.js';

// ---------------------------------------------------------------------------
// State
//
// Two modes, chosen on the start screen:
//
// Token mode. Tokens (and the short-lived mfa_token) are kept in memory only, in these
// module variables: never in localStorage, sessionStorage or a readable
// cookie. Anything in web storage can be read by any script that runs on
// this origin, so one XSS bug would hand out long-lived refresh tokens.
// In memory they die with the page (a reload signs the user out, which is
// the price; the refresh token it held is not revoked by a reload and stays
// valid until Auth0 expires it, whereas "sign out" revokes it first).
//
// Cookie mode: the backend-for-frontend (BFF) pattern, with the gateway as
// the backend (its `session.enabled`). The gateway keeps the tokens in an
// encrypted HttpOnly, SameSite=Strict `__Host-` cookie that no script can
// read, and tells this page only who is signed in. Nothing for an injected
// script to steal, and a reload keeps the user signed in (the page asks
// `GET /session` when it loads). Even MFA's mfa_token stays in a cookie.
let tokens = null; // token mode: {access_token, id_token, refresh_token, expires_at}
let session = null; // cookie mode: {user, expires_at} (no token in it)
let mfa = null; // {mfa_token (null in cookie mode), requirements, who}
let pending = null; // {email} or {phone_number}: who /login/start was for
/** A passkey sign-up waiting for the code(s) Auth0 asked for:
 *  {who, auth_session, public_key, required, credential}. */
let signUp = null;

// The chosen mode is a preference, not a credential: localStorage is fine.
const MODE_KEY = 'login-gateway-example.mode';
const storedMode = () => (localStorage.getItem(MODE_KEY) === 'cookie' ? 'cookie' : 'memory');

// The magic link's `state` must survive the page load the link causes, and
// the link usually opens in a new tab (from the mail app), so it goes to
// localStorage (this origin only) with an expiry, and is removed when used.
// That is fine because state is not a credential: it only proves that the
// link completes a sign-in this browser started (against login CSRF); an
// attacker can neither read nor set it.
const LINK_STATE_KEY = 'login-gateway-example.magic-link';
/** The state of the last link used here, to tell "already used" apart. */
const LINK_USED_KEY = 'login-gateway-example.magic-link-used';
/** How long a started magic-link sign-in may take, in ms. */
const LINK_STATE_TTL_MS = 10 * 60 * 1000;

// Cookie mode: "this browser was signed in". Not a credential (the cookie
// is the session); it only tells a 401 on load that means "your session
// ended elsewhere" from a first visit, which gets the same 401.
const SIGNED_IN_KEY = 'login-gateway-example.signed-in';

const SIGNED_OUT_NOTE = 'You are signed out.';
const SIGNED_OUT_EVERYWHERE_NOTE =
  'You are signed out everywhere: every browser and device signed in as you must sign in again.';
const SESSION_ENDED_NOTE =
  'Your session has ended: you signed out on another device, it was ended at Auth0, or it expired. Sign in again to go on.';

/** First poll of a push approval, in ms; every `slow_down` adds 5 s. */
const PUSH_POLL_MS = 3000;
const SLOW_DOWN_STEP_MS = 5000;
const PUSH_GIVE_UP_MS = 2 * 60 * 1000;

const $ = (id) => document.getElementById(id);
const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

const gatewayUrl = resolveGatewayUrl();
const gateway = new Gateway(gatewayUrl, {
  onCall: (call) => {
    logCall(call);
    noteSessionUse(call);
  },
  cookies: storedMode() === 'cookie',
});
/** The demo tenant's origin (`login-gateway --demo` names it), or null. */
const demoTenant = resolveDemoTenant();
/** Token mode: Auth0's My Account API audience (config.js), for adding a
 *  passkey; null when not configured. */
const myAccountAudience = typeof config.myAccountAudience === 'string' ? config.myAccountAudience : null;
/** Cookie mode: the gateway's `session.idle_secs` (config.js's optional
 *  `sessionIdleSecs`), in ms, to tell when an unused session ends; null
 *  when not given (the page then cannot know). */
const sessionIdleMs =
  Number.isInteger(config.sessionIdleSecs) && config.sessionIdleSecs > 0 ? config.sessionIdleSecs * 1000 : null;

/**
 * The gateway's origin, from config.js only. Never let the page's URL
 * choose it (no `?gateway=`): a link to your real app that points it at
 * another server would hand that server every email, code and token. The
 * Content-Security-Policy in index.html (`connect-src`) enforces the same
 * rule in the browser.
 */
function resolveGatewayUrl() {
  let url;
  try {
    url = new URL(config.gateway);
  } catch {
    throw new Error(`config.js: gateway must be an absolute URL, not ${JSON.stringify(config.gateway)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`config.js: gateway must be an http(s) URL, not ${url.protocol}`);
  }
  return url.origin;
}

/** `config.demoTenant`: only the demo's config.js has it (a real app has
 *  no way to end an Auth0 session; Auth0 itself tells the gateway). */
function resolveDemoTenant() {
  if (!config.demoTenant) return null;
  let url;
  try {
    url = new URL(config.demoTenant);
  } catch {
    throw new Error(`config.js: demoTenant must be an absolute URL, not ${JSON.stringify(config.demoTenant)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`config.js: demoTenant must be an http(s) URL, not ${url.protocol}`);
  }
  return url.origin;
}

// ---------------------------------------------------------------------------
// Screens

const STEPS = ['step-start', 'step-code', 'step-passkey-code', 'step-link', 'step-mfa', 'step-done'];

/** Shows one step; `null` shows none (while the page asks GET /session).
 *  The start screen also offers passkeys in the email field's autofill. */
function show(step) {
  for (const id of STEPS) $(id).hidden = id !== step;
  if (step === 'step-start') startAutofill();
  else stopAutofill();
}

/**
 * Back to the start screen, signed out. `note` says why (signed out, the
 * session ended elsewhere); focus goes to it, or to the start heading, so
 * a keyboard or screen-reader user is not left on a button that vanished.
 */
function restart({ note = null } = {}) {
  tokens = null;
  session = null;
  mfa = null;
  pending = null;
  signUp = null;
  sessionUsedAt = null;
  localStorage.removeItem(SIGNED_IN_KEY);
  resetMfaPanels();
  $('api-result').hidden = true;
  $('session-status').textContent = '';
  $('token-status').textContent = '';
  $('demo-status').textContent = '';
  $('passkey-enroll-status').hidden = true;
  clearError();
  const notice = $('start-notice');
  notice.textContent = note || '';
  notice.hidden = !note;
  show('step-start');
  (note ? notice : $('start-heading')).focus({ preventScroll: true });
  $('step-start').scrollIntoView({ block: 'nearest' });
}

/** The gateway answered 401 session_expired to a session call. */
function sessionEnded() {
  restart({ note: SESSION_ENDED_NOTE });
}

const isSessionExpired = (error) => error instanceof GatewayError && error.code === 'session_expired';

/** Bumped whenever the user leaves the factor being proven: a push poll
 *  still running for an older one stops at its next turn instead of
 *  signing the user in behind their back. */
let factorAttempt = 0;

/** `keepEnrollForms`: switching between factors to set up keeps what is in
 *  their fields (the email pre-filled for the email factor, a phone number
 *  typed before choosing another factor). */
function resetMfaPanels({ keepEnrollForms = false } = {}) {
  factorAttempt += 1;
  for (const id of [
    'mfa-enroll',
    'mfa-challenge',
    'otp-enrollment',
    'enroll-recovery',
    'otp-form',
    'oob-form',
    'push-status',
    'recovery-form',
  ]) {
    $(id).hidden = true;
  }
  for (const form of document.querySelectorAll('#step-mfa form')) {
    if (!(keepEnrollForms && form.closest('#mfa-enroll'))) form.reset();
  }
}

// ---------------------------------------------------------------------------
// Errors, straight from the gateway's JSON body

let countdownTimer = null;

/**
 * `origin`: the button whose action failed; the error goes next to its
 * form, or, inside a `data-error-spot` block (the passkey buttons), just
 * above the button's row, marking `field` if one is given.
 */
function showError(error, origin = null, { field: spotField = null } = {}) {
  if (error instanceof PasskeyError) error = ceremonyFailure(error);
  if (!(error instanceof GatewayError)) {
    console.error(error);
    error = new GatewayError({
      status: 0,
      body: { error: 'client_error', error_description: String(error && error.message) },
    });
  }
  $('error-code').textContent = error.code;
  $('error-status').textContent = error.status ? `HTTP ${error.status}` : error.inBrowser ? 'in this browser' : 'no answer';
  $('error-description').textContent = error.description;
  $('error-request-id').textContent = error.requestId || '—';
  const hint = friendlyHint(error);
  $('error-hint').textContent = hint || '';
  $('error-hint').hidden = !hint;
  stopCountdown();
  if (error.status === 429 && error.retryAfter !== null) startCountdown(error.retryAfter);
  const shown = origin && !origin.closest('[hidden]') ? origin : null;
  const spot = shown && shown.closest('[data-error-spot]');
  const form = shown && !spot ? shown.form || shown.closest('form') : null;
  if (spot) (shown.closest('.row') || spot).before($('error'));
  else placeError(form);
  $('error').hidden = false;
  // Where the user is looking: next to the form of the current step (on a
  // phone the top of the page is far away), and focus on the message so a
  // screen reader reads it; Tab goes on to the field. The field is marked
  // invalid only when the answer is about what was typed in it: a 429, an
  // ended session or a failed connection says nothing about the email.
  const field = spot ? spotField : form && aboutTypedInput(error) ? firstField(form) : null;
  if (field) {
    field.setAttribute('aria-invalid', 'true');
    field.setAttribute('aria-describedby', 'error-description');
  }
  errorOwner = field || shown;
  $('error').focus({ preventScroll: true });
  $('error').scrollIntoView({ block: 'nearest' });
}

/** What the shown error is about: the field it marked, or the button whose
 *  action failed; focus goes back there when the error is dismissed. */
let errorOwner = null;

/** "dismiss": the focused error box disappears, so focus must go somewhere
 *  or it falls to <body> and a keyboard or screen-reader user starts over
 *  from the top: to what the error was about, else the step's heading or
 *  first field. */
function dismissError() {
  const owner = errorOwner;
  clearError();
  if (owner && isShown(owner)) owner.focus();
  else focusStep();
}

/** Focus on the current step: its heading (tabindex="-1"), or its first field. */
function focusStep() {
  const step = currentStep();
  const target = step && (step.querySelector('h2[tabindex]') || currentField());
  if (target) target.focus({ preventScroll: true });
}

/** The first field of the current step's visible form, if any. */
function currentField() {
  const step = currentStep();
  const form = step && [...step.querySelectorAll('form')].find(isShown);
  return form ? firstField(form) : null;
}

/** The visible step's card, or none (the page is between steps). */
function currentStep() {
  return STEPS.map($).find((section) => !section.hidden) || null;
}

/** Puts the error box just before `form` (or the current step's first
 *  visible form), so Tab from the message lands on the field it is about. */
function placeError(form) {
  const error = $('error');
  const step = currentStep();
  if (!step) return;
  const target = form || [...step.querySelectorAll('form')].find((f) => !f.closest('[hidden]'));
  if (target) target.before(error);
  else step.append(error);
}

const isShown = (element) => !element.closest('[hidden]') && element.offsetParent !== null;

/** The first visible text field of `form`. */
function firstField(form) {
  return [...form.querySelectorAll('input:not([type="radio"])')].find(isShown) || null;
}

/** Whether the gateway's answer is about what the user typed: a request
 *  it refused as malformed (400, e.g. an invalid email or a country it
 *  does not serve) or a code Auth0 did not accept (403 invalid_grant). */
function aboutTypedInput(error) {
  return error.status === 400 || (error.status === 403 && error.code === 'invalid_grant');
}

/** What a person can do about the errors that are not their typing. */
function friendlyHint(error) {
  if (error.hint) return error.hint;
  if (PASSKEY_HINTS[error.code]) return PASSKEY_HINTS[error.code];
  if (error.code === 'phone_country_not_allowed') {
    return 'We cannot send text messages or calls to this country. Please sign in with your email address instead.';
  }
  if (error.status === 429 && error.policy === 'sms_fraud_guard') {
    return 'Text messages to this country are paused for a while to stop abuse. Please use your email address, or try again later.';
  }
  if (error.status === 429 && error.policy === 'sms_per_phone') {
    return 'We have sent several codes to this number already. Please wait before asking for another one.';
  }
  return null;
}

function clearError() {
  stopCountdown();
  errorOwner = null;
  $('error').hidden = true;
  for (const field of document.querySelectorAll('[aria-invalid]')) {
    field.removeAttribute('aria-invalid');
    field.removeAttribute('aria-describedby');
  }
}

/** A live "try again in" from Retry-After (seconds). */
function startCountdown(seconds) {
  const element = $('retry-countdown');
  const until = Date.now() + seconds * 1000;
  const tick = () => {
    const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
    element.dataset.seconds = String(left);
    element.textContent =
      left > 0
        ? `Rate limited: try again in ${formatDuration(left)} (Retry-After: ${seconds} s)`
        : 'You can try again now.';
    // Stays on screen, saying so; only the ticking stops.
    if (left === 0) {
      clearInterval(countdownTimer);
      countdownTimer = null;
    }
  };
  element.hidden = false;
  tick();
  countdownTimer = setInterval(tick, 250);
}

function stopCountdown() {
  clearInterval(countdownTimer);
  countdownTimer = null;
  $('retry-countdown').hidden = true;
}

function formatDuration(seconds) {
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return m > 0 ? `${m} min ${String(s).padStart(2, '0')} s` : `${s} s`;
}

/** Runs one user action: clears the old error, shows a new one. */
async function action(button, work) {
  clearError();
  const hadFocus = button && document.activeElement === button;
  if (button) button.disabled = true;
  try {
    await work();
  } catch (error) {
    showError(error, button);
  } finally {
    if (button) button.disabled = false;
    if (hadFocus) refocus(button);
  }
}

/** Disabling a focused button moves focus to <body>. When nothing took it
 *  since (a new step, an error) and the button is still there, it gets it
 *  back, so the user is where they were. */
function refocus(button) {
  const lost = !document.activeElement || document.activeElement === document.body;
  if (lost && isShown(button)) button.focus({ preventScroll: true });
}

let calls = 0;

/** Answers that are a step of a flow, not a failure: shown as expected in
 *  the calls log, not in red. */
function expectedAnswer({ method, path, status, error }) {
  return (
    (status === 403 && error === 'mfa_required') || // go on to the second factor
    (status === 400 && error === 'authorization_pending') || // a push not approved yet
    // "Nobody is signed in": the page asks on load and while a tab waits on a link.
    (status === 401 && error === 'session_expired' && method === 'GET' && path === '/session')
  );
}

function logCall(call) {
  const { method, path, status, requestId, error } = call;
  calls += 1;
  const expected = expectedAnswer(call);
  const item = document.createElement('li');
  item.textContent =
    `${calls}. ${method} ${path} → ${status || 'no answer'}${error ? ` ${error}` : ''}${expected ? ' (expected)' : ''}`;
  if (requestId) item.title = `request_id ${requestId}`;
  item.className = status >= 200 && status < 300 ? 'ok' : expected ? 'expected' : 'failed';
  const log = $('call-log');
  log.prepend(item);
  while (log.children.length > 12) log.lastChild.remove();
}

// ---------------------------------------------------------------------------
// 1. Start: a code or a magic link

function startForm() {
  const form = $('start-form');
  setMode(form.elements.mode.value);
  const channel = form.elements.channel.value;
  $('email-field').hidden = channel !== 'email';
  $('phone-field').hidden = channel !== 'sms';
  // Magic links exist for email only.
  $('send-link-label').hidden = channel !== 'email';
  if (channel !== 'email') form.elements.send.value = 'code';
}

async function start(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const send = form.elements.send.value;
  const who =
    form.elements.channel.value === 'email'
      ? { email: form.elements.email.value.trim() }
      : { phone_number: form.elements.phone_number.value.trim() };
  $('start-notice').hidden = true;
  await action(event.submitter, async () => {
    const body = { ...who, send };
    if (send === 'link') {
      body.state = randomState();
      localStorage.setItem(
        LINK_STATE_KEY,
        JSON.stringify({ state: body.state, expires: Date.now() + LINK_STATE_TTL_MS }),
      );
    }
    await gateway.start(body);
    pending = who;
    const destination = who.email || who.phone_number;
    if (send === 'link') {
      $('link-destination').textContent = destination;
      $('link-notice').hidden = true;
      show('step-link');
    } else {
      $('code-destination').textContent = destination;
      $('verify-form').reset();
      show('step-code');
      $('verify-form').elements.code.focus();
    }
  });
}

/** Token or cookie mode, from the start screen's choice; remembered. */
function setMode(mode) {
  gateway.cookies = mode === 'cookie';
  localStorage.setItem(MODE_KEY, mode);
  $('mode-note').textContent = gateway.cookies
    ? 'tokens stay in the gateway\'s HttpOnly cookie: this page never sees them, and a reload keeps you signed in ("Sign out" revokes them).'
    : 'tokens live in memory only: reloading the page signs you out (the refresh token it held stays valid until it expires; "sign out" revokes it).';
}

/** 128 random bits, base64url. */
function randomState() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// ---------------------------------------------------------------------------
// 2. Verify the code, or complete the magic link

async function verify(event) {
  event.preventDefault();
  const code = event.currentTarget.elements.code.value.trim();
  await action(event.submitter, async () => {
    try {
      await login(() => gateway.verify({ ...pending, code }));
    } catch (error) {
      // After too many wrong codes Auth0 drops the code: even the right one
      // fails now, so staying on this step would only frustrate. Back to
      // the start, with the error shown there.
      if (codeUsedUp(error)) restart();
      throw error;
    }
  });
}

/** Auth0's answer once a code has had its maximum number of attempts. */
function codeUsedUp(error) {
  return (
    error instanceof GatewayError &&
    (error.code === 'too_many_attempts' ||
      (error.code === 'invalid_grant' && /maximum number of attempts/i.test(error.description)))
  );
}

/** The state of a magic-link sign-in started here, if it has not expired. */
function storedLinkState() {
  try {
    const saved = JSON.parse(localStorage.getItem(LINK_STATE_KEY) || 'null');
    return saved && saved.expires > Date.now() ? saved.state : null;
  } catch {
    return null;
  }
}

/** The page was opened from a magic link: `?code=…&state=…`. */
async function completeMagicLink(params) {
  const code = params.get('code');
  const state = params.get('state');
  const expected = storedLinkState();
  // The code is single-use, but keep it out of the history and of bookmarks.
  const clean = new URL(window.location.href);
  clean.searchParams.delete('code');
  clean.searchParams.delete('state');
  window.history.replaceState(null, '', clean);
  if (!expected || state !== expected) {
    // The stored state stays: a forged link must not cancel the real one.
    const used = !expected && state && state === localStorage.getItem(LINK_USED_KEY);
    let description = 'This link does not belong to the sign-in started in this browser. Start again.';
    if (!expected) {
      description = used
        ? 'This link was already used: a link signs in once. Start again to get a new one.'
        : 'This link was not started in this browser, or more than 10 minutes ago. Start again.';
    }
    // Checked here, not by the gateway: it never saw this link.
    const refused = new GatewayError({ status: 0, body: { error: 'state_mismatch', error_description: description } });
    refused.inBrowser = true;
    const note = used ? LINK_USED_SIGNED_IN_NOTE : LINK_NOT_OURS_SIGNED_IN_NOTE;
    // No sign-in form while the gateway is asked: it may not be needed.
    if (gateway.cookies) show(null);
    if (await stillSignedIn(note)) return;
    show('step-start');
    showError(refused);
    return;
  }
  localStorage.removeItem(LINK_STATE_KEY);
  localStorage.setItem(LINK_USED_KEY, state);
  await action(null, async () => {
    try {
      await login(() => gateway.callback({ code, state }));
    } catch (error) {
      // The gateway refused the link itself (used, expired, not this
      // browser's); not a failure to reach it, nor a 429.
      const refused = error instanceof GatewayError && [400, 401, 403].includes(error.status);
      if (!refused || !(await stillSignedIn(LINK_REFUSED_SIGNED_IN_NOTE))) throw error;
    }
  });
}

const LINK_USED_SIGNED_IN_NOTE = 'This sign-in link was already used (a link signs in once). You are still signed in.';
const LINK_NOT_OURS_SIGNED_IN_NOTE =
  'This link was not for a sign-in started in this browser, so it was not used. You are still signed in.';
const LINK_REFUSED_SIGNED_IN_NOTE = 'This sign-in link no longer works (a link signs in once). You are still signed in.';

/**
 * Cookie mode: a link refused here or by the gateway, in a browser that is
 * signed in all the same (most often the same link opened again from the
 * mail app after it signed in). The session is what matters: show it,
 * with `note` saying what became of the link, rather than "Start again"
 * above a sign-in form the user does not need. Token mode cannot know:
 * another tab's tokens are in that tab's memory.
 */
async function stillSignedIn(note) {
  if (!gateway.cookies) return false;
  let answer;
  try {
    answer = await gateway.session();
  } catch {
    return false;
  }
  signedIn(answer, { announce: false });
  showDoneNotice(note);
  return true;
}

/** A quiet line on the signed-in screen about how this tab got there. */
function showDoneNotice(note) {
  $('done-notice').textContent = note;
  $('done-notice').hidden = false;
}

// ---------------------------------------------------------------------------
// Another tab signed in
//
// The magic link usually opens in a new tab, while the tab that sent it
// waits on "Open the link". Tabs of this app tell each other on a
// BroadcastChannel (this origin only) that a sign-in completed, and the
// waiting tab moves on. Only the news travels, never a token: token mode
// keeps tokens in the memory of the tab that signed in, not in storage
// shared between tabs (see State), and posting them here would hand them
// to every tab of this origin, which is what that choice avoids. So in
// token mode the waiting tab only says where the sign-in happened. Cookie
// mode needs no token: the waiting tab asks GET /session, and the cookie
// decides (a message is a hint, never proof); it also asks when the tab
// comes back into view, for browsers without BroadcastChannel.

const TAB_CHANNEL = 'login-gateway-example.tabs';
const tabChannel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(TAB_CHANNEL) : null;

const SIGNED_IN_ELSEWHERE_NOTE = 'Signed in from the link you opened in another tab.';
const SIGNED_IN_ELSEWHERE_TOKENS_NOTE =
  'You are signed in in another tab of this browser. Its tokens stay in that tab\'s memory (this page ' +
  'never shares them between tabs): carry on there, or start over here to sign in this tab too.';

/** Tells the other tabs that this one completed a sign-in. */
function announceSignIn() {
  if (tabChannel) tabChannel.postMessage({ type: 'signed-in', mode: session ? 'cookie' : 'memory' });
}

/** Only one GET /session at a time from the waiting tab. */
let checkingElsewhere = false;

/** While this tab waits on "Open the link": did a sign-in complete in
 *  another tab? `message`: what a tab posted, or null (this tab came back
 *  into view). */
async function noticeSignInElsewhere(message) {
  if ($('step-link').hidden) return;
  if (!gateway.cookies) {
    if (message && message.mode === 'memory') {
      $('link-notice').textContent = SIGNED_IN_ELSEWHERE_TOKENS_NOTE;
      $('link-notice').hidden = false;
    }
    return;
  }
  if (checkingElsewhere) return;
  checkingElsewhere = true;
  try {
    const answer = await gateway.session();
    // The user may have started over meanwhile.
    if ($('step-link').hidden) return;
    signedIn(answer, { announce: false });
    showDoneNotice(SIGNED_IN_ELSEWHERE_NOTE);
  } catch {
    // 401: not signed in yet (the link is still to be opened); anything
    // else: the next look at this tab asks again.
  } finally {
    checkingElsewhere = false;
  }
}

function watchOtherTabs() {
  if (tabChannel) {
    tabChannel.addEventListener('message', (event) => {
      if (event.data && event.data.type === 'signed-in') noticeSignInElsewhere(event.data);
    });
  }
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') noticeSignInElsewhere(null);
  });
  window.addEventListener('focus', () => noticeSignInElsewhere(null));
}

/** Runs a login call: signed in (tokens or a session), or the MFA step on
 *  403 mfa_required. */
async function login(call) {
  try {
    signedIn(await call());
  } catch (error) {
    if (error instanceof GatewayError && error.status === 403 && error.code === 'mfa_required') {
      await startMfa(error.body);
      return;
    }
    throw error;
  }
}

// ---------------------------------------------------------------------------
// 3. MFA

async function startMfa(body) {
  mfa = {
    // Token mode: the mfa_token for the /mfa/* calls. Cookie mode: the
    // gateway left it out of the body and sealed it into a cookie, so this
    // is null and the calls send no Authorization header.
    mfa_token: body.mfa_token || null,
    requirements: body.mfa_requirements || {},
    who: pending ? pending.email || pending.phone_number : '',
  };
  resetMfaPanels();
  $('mfa-requirements').textContent = JSON.stringify(mfa.requirements);
  show('step-mfa');
  // The button that led here is gone: focus the new step, so a keyboard
  // or screen-reader user goes on from its top (not from <body>).
  $('mfa-heading').focus({ preventScroll: true });
  $('step-mfa').scrollIntoView({ block: 'nearest' });
  if (mfa.requirements.enroll) {
    // No factor yet: offer enrollment (the gateway has no list to show).
    const email = $('enroll-email-form').elements.email;
    if (!email.value && mfa.who.includes('@')) email.value = mfa.who;
    $('mfa-enroll').hidden = false;
    return;
  }
  const list = await gateway.authenticators(mfa.mfa_token);
  renderAuthenticators(list);
}

const FACTOR_LABELS = {
  otp: 'Authenticator app',
  sms: 'Text message',
  voice: 'Voice call',
  email: 'Email',
  auth0: 'Push notification',
  'recovery-code': 'Recovery code',
};

function renderAuthenticators(list) {
  const ul = $('authenticators');
  ul.replaceChildren();
  const active = list.filter((a) => a.active);
  for (const authenticator of active) {
    const kind =
      authenticator.authenticator_type === 'oob'
        ? authenticator.oob_channel
        : authenticator.authenticator_type;
    const testKind = kind === 'auth0' ? 'push' : kind;
    const item = document.createElement('li');
    const label = document.createElement('span');
    label.textContent = `${FACTOR_LABELS[kind] || kind}${authenticator.name ? ` (${authenticator.name})` : ''}`;
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = kind === 'recovery-code' ? 'Use' : 'Challenge';
    button.dataset.testid = `challenge-${testKind}`;
    button.dataset.authenticatorId = authenticator.id;
    button.addEventListener('click', () => action(button, () => challenge(authenticator, kind)));
    item.append(label, button);
    ul.append(item);
  }
  if (active.length === 0) {
    const item = document.createElement('li');
    item.textContent = 'No active factor.';
    ul.append(item);
  }
  $('mfa-challenge').hidden = false;
}

async function challenge(authenticator, kind) {
  factorAttempt += 1;
  for (const id of ['otp-form', 'oob-form', 'push-status', 'recovery-form']) $(id).hidden = true;
  if (kind === 'recovery-code') {
    // Nothing to send: the user types a code they saved.
    $('recovery-form').hidden = false;
    $('recovery-form').elements.recovery_code.focus();
    return;
  }
  const challengeType = authenticator.authenticator_type === 'otp' ? 'otp' : 'oob';
  const answer = await gateway.challenge(mfa.mfa_token, {
    challenge_type: challengeType,
    authenticator_id: authenticator.id,
  });
  expectProof(answer);
}

/** After a challenge or an enrollment: ask for what proves the factor. */
function expectProof(answer) {
  if (!answer.oob_code) {
    $('otp-form').hidden = false;
    $('otp-form').elements.otp.focus();
  } else if (answer.binding_method === 'prompt') {
    // SMS / voice / email: the user types the code from the message.
    const form = $('oob-form');
    form.dataset.oobCode = answer.oob_code;
    form.hidden = false;
    form.elements.binding_code.focus();
  } else {
    // Push: nothing to type, poll until the device approves.
    pollPush(answer.oob_code).catch(showError);
  }
}

async function enroll(factor, extra, button) {
  await action(button, async () => {
    resetMfaPanels({ keepEnrollForms: true });
    $('mfa-enroll').hidden = false;
    const answer = await gateway.associate(mfa.mfa_token, { factor, ...extra });
    if (answer.recovery_codes && answer.recovery_codes.length) {
      $('recovery-code').textContent = answer.recovery_codes.join(' ');
      $('enroll-recovery').hidden = false;
    }
    if (answer.authenticator_type === 'otp') {
      renderQr($('otp-qr'), answer.barcode_uri);
      $('otp-qr').setAttribute('aria-label', 'QR code of the otpauth URI');
      $('otp-secret').textContent = answer.secret;
      $('otp-uri').textContent = answer.barcode_uri;
      $('otp-enrollment').hidden = false;
    }
    expectProof(answer);
  });
}

async function verifyOtp(event) {
  event.preventDefault();
  const otp = event.currentTarget.elements.otp.value.trim();
  await action(event.submitter, async () => signedIn(await gateway.mfaVerify(mfa.mfa_token, { otp })));
}

async function verifyOob(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const body = { oob_code: form.dataset.oobCode, binding_code: form.elements.binding_code.value.trim() };
  await action(event.submitter, async () => signedIn(await gateway.mfaVerify(mfa.mfa_token, body)));
}

async function verifyRecoveryCode(event) {
  event.preventDefault();
  const code = event.currentTarget.elements.recovery_code.value.trim();
  await action(event.submitter, async () =>
    signedIn(await gateway.mfaVerify(mfa.mfa_token, { recovery_code: code })),
  );
}

/**
 * Polls /mfa/verify with the push's oob_code until the user approves:
 * `authorization_pending` means "ask again later", `slow_down` means
 * "later than that" (wait 5 s more from then on). Stops if the user
 * starts over.
 */
async function pollPush(oobCode) {
  const status = $('push-status');
  const sameLogin = mfa; // a new login gets a new object
  const mfaToken = mfa.mfa_token;
  const attempt = factorAttempt;
  const stillWanted = () => mfa === sameLogin && factorAttempt === attempt;
  const giveUpAt = Date.now() + PUSH_GIVE_UP_MS;
  let interval = PUSH_POLL_MS;
  let polls = 0;
  status.hidden = false;
  status.dataset.state = 'pending';
  status.textContent = `Approve the sign-in on your device… (checking every ${interval / 1000} s)`;
  while (stillWanted() && Date.now() < giveUpAt) {
    await sleep(interval);
    if (!stillWanted()) return;
    polls += 1;
    try {
      const answer = await gateway.mfaVerify(mfaToken, { oob_code: oobCode });
      status.dataset.state = 'approved';
      status.textContent = `Approved after ${polls} checks.`;
      signedIn(answer);
      return;
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      if (error.code === 'authorization_pending') {
        status.textContent = `Still waiting for approval (authorization_pending, check ${polls}, next in ${interval / 1000} s)…`;
        continue;
      }
      if (error.code === 'slow_down') {
        interval += SLOW_DOWN_STEP_MS;
        status.textContent = `The gateway asked us to slow down: checking every ${interval / 1000} s now.`;
        continue;
      }
      status.dataset.state = 'failed';
      status.textContent = 'Push sign-in failed.';
      showError(error);
      return;
    }
  }
  if (stillWanted()) {
    status.dataset.state = 'failed';
    status.textContent = 'Gave up waiting for the approval. Start over to try again.';
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------
// 4. Signed in: claims, refresh, revoke (token mode), or the session, a
//    call to the demo API, refresh, sign out (cookie mode)

/** A login-completing answer: tokens, or (cookie mode) `{user, expires_at}`.
 *  `announce`: tell the other tabs (a sign-in that just completed here;
 *  not a refresh, nor a session this tab only found). */
function signedIn(answer, { announce = true } = {}) {
  if (answer.user && !answer.access_token) {
    session = { user: answer.user, expires_at: answer.expires_at };
    tokens = null;
  } else {
    // Also when cookie mode was asked for but the gateway has no sessions
    // (`session.enabled = false` ignores X-Lgw-Session): tokens came.
    tokens = {
      access_token: answer.access_token,
      id_token: answer.id_token || (tokens && tokens.id_token),
      // Auth0 may or may not rotate refresh tokens: keep the old one unless
      // a new one came.
      refresh_token: answer.refresh_token || (tokens && tokens.refresh_token),
      expires_at: Date.now() + (answer.expires_in || 0) * 1000,
    };
    session = null;
  }
  mfa = null;
  pending = null;
  const rotated = answer.recovery_code;
  $('rotated-recovery').hidden = !rotated;
  $('rotated-recovery-code').textContent = rotated || '';
  $('token-view').hidden = !tokens;
  $('session-view').hidden = !session;
  if (session) localStorage.setItem(SIGNED_IN_KEY, '1');
  if (tokens) renderTokens();
  else renderSession();
  $('passkey-enroll-status').hidden = true;
  $('done-notice').hidden = true;
  show('step-done');
  // The card starts where the previous step's did: bring its top (and
  // focus, for keyboards and screen readers) into view.
  $('signed-in-heading').focus({ preventScroll: true });
  $('step-done').scrollIntoView({ block: 'start' });
  if (announce) announceSignIn();
}

function renderTokens() {
  const claims = tokens.id_token ? decodeJwtPayload(tokens.id_token) : null;
  $('signed-in-as').textContent = claims ? claims.email || claims.phone_number || claims.sub : '(no ID token)';
  $('id-claims').textContent = claims ? JSON.stringify(claims, null, 2) : 'No id_token (ask for the openid scope).';
  $('access-expiry').textContent = `expires ${new Date(tokens.expires_at).toLocaleTimeString()}`;
  $('refresh-state').textContent = tokens.refresh_token ? 'held in memory' : 'none';
  byTestId('refresh').disabled = !tokens.refresh_token;
  byTestId('revoke').disabled = !tokens.refresh_token;
  renderPasskeyEnroll();
}

/**
 * The ID token's payload, for display. Not verified: this page got it
 * straight from the gateway over HTTPS, and uses it only to show who
 * signed in. APIs must verify the access token's signature themselves.
 */
function decodeJwtPayload(jwt) {
  try {
    const base64 = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '='));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return { error: 'the id_token is not a readable JWT' };
  }
}

function renderSession() {
  const { user } = session;
  $('signed-in-as').textContent = user.email || user.phone_number || user.name || user.sub || '(unknown user)';
  $('session-user').textContent = JSON.stringify(user, null, 2);
  renderSessionEnds();
  $('demo-tools').hidden = !(demoTenant && user.sub);
  renderPasskeyEnroll();
}

// When a session ends: after session.idle_secs without use, or at its
// absolute end (`expires_at`, sign-in + session.max_age_secs), whichever
// comes first. The gateway keeps the last use in the cookie, where this
// page cannot read it, so the page keeps its own account of it.

/** Cookie mode: the earliest time the gateway may have last noted a use of
 *  the session (ms, this page's clock); null when unknown. */
let sessionUsedAt = null;

/** The gateway notes a use at most once a minute (SPEC §10), but at once
 *  when it writes a new cookie: a sign-in, a refresh. */
const USE_NOTED_EVERY_MS = 60_000;
const SESSION_WRITTEN = new Set(['/login/verify', '/login/callback', '/mfa/verify', '/passkey/verify', '/session/refresh']);
const SESSION_READ = /^\/(session|session\/token|api\/.*|passkey\/enroll.*)$/;

/**
 * Every gateway call (onCall): a cookie-mode call that the session
 * answered moves its last use on. A call that writes the cookie does so
 * exactly; any other may have moved it up to a minute short of now, so
 * the page counts from a minute before (the idle end it shows is never
 * later than the gateway's). Another tab's calls only move the real end
 * later.
 */
function noteSessionUse({ method, path, status }) {
  if (!gateway.cookies || status < 200 || status >= 300) return;
  const now = Date.now();
  if (method === 'POST' && SESSION_WRITTEN.has(path)) sessionUsedAt = now;
  else if (SESSION_READ.test(path)) sessionUsedAt = Math.max(sessionUsedAt ?? -Infinity, now - USE_NOTED_EVERY_MS);
  else return;
  if (session) renderSessionEnds();
}

/** "Session ends": the idle end (when config.js says how long that is)
 *  and the absolute end, as <time> elements. */
function renderSessionEnds() {
  const element = $('session-expiry');
  if (!session.expires_at) {
    element.textContent = 'unknown';
    return;
  }
  const latest = session.expires_at * 1000;
  const parts = [];
  if (sessionIdleMs && sessionUsedAt !== null) {
    const idleEnd = Math.min(sessionUsedAt + sessionIdleMs, latest);
    parts.push(
      'at ',
      timeElement(idleEnd, 'session-idle-end'),
      ` if unused until then (${idleWords(sessionIdleMs / 1000)} without use ends it), by `,
    );
  } else {
    parts.push('after a period without use, by ');
  }
  parts.push(timeElement(latest, 'session-max-end'), ' at the latest');
  element.replaceChildren(...parts);
}

/** `<time>` for `ms`: the time of day if it is today, else date and time. */
function timeElement(ms, testId) {
  const date = new Date(ms);
  const element = document.createElement('time');
  element.dateTime = date.toISOString();
  element.dataset.testid = testId;
  element.textContent =
    date.toDateString() === new Date().toDateString() ? date.toLocaleTimeString() : date.toLocaleString();
  return element;
}

/** 3600 → "1 h", 90 → "90 s": the idle time as configured. */
function idleWords(seconds) {
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** Cookie mode, on load: is there a session already? 401: no; and if
 *  this browser was signed in, say that the session ended. */
async function restoreSession() {
  const wasSignedIn = localStorage.getItem(SIGNED_IN_KEY) === '1';
  try {
    signedIn(await gateway.session(), { announce: false });
  } catch (error) {
    if (wasSignedIn && isSessionExpired(error)) {
      sessionEnded();
      return;
    }
    show('step-start');
    if (!(error instanceof GatewayError && error.status === 401)) showError(error);
  }
}

/**
 * Runs a cookie-mode action. A session that has ended (expired, signed out
 * on another device, ended at Auth0) is not an error the user can fix
 * here: back to the start screen, saying so.
 */
async function sessionAction(button, work) {
  await action(button, async () => {
    try {
      await work();
    } catch (error) {
      if (!isSessionExpired(error)) throw error;
      sessionEnded();
    }
  });
}

/** GET /session: is this session still alive? */
async function checkSession(event) {
  await sessionAction(event.currentTarget, async () => {
    const answer = await gateway.session();
    session = { user: answer.user, expires_at: answer.expires_at };
    renderSession();
    $('session-status').textContent = `Still signed in (checked at ${new Date().toLocaleTimeString()}).`;
  });
}

/** The gateway calls the API with the session's access token; this page
 *  sees only the API's answer. */
async function callDemoApi(event) {
  await sessionAction(event.currentTarget, async () => {
    const response = await gateway.api('demo', '/profile', { headers: { Accept: 'application/json' } });
    const text = await response.text();
    let body = null;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: shown as it is
    }
    // The gateway's own refusal, not the API's: the session has ended.
    if (response.status === 401 && body && body.error === 'session_expired') {
      throw new GatewayError({ status: 401, body, requestId: response.headers.get('X-Request-Id') });
    }
    $('api-status').textContent = `HTTP ${response.status}`;
    $('api-answer').textContent = body ? JSON.stringify(body, null, 2) : text;
    $('api-result').hidden = false;
  });
}

async function refreshSession(event) {
  await sessionAction(event.currentTarget, async () => {
    const answer = await gateway.sessionRefresh();
    session = { user: answer.user, expires_at: answer.expires_at };
    renderSession();
    $('session-status').textContent = `Session refreshed at ${new Date().toLocaleTimeString()}.`;
  });
}

async function refresh(event) {
  if (!tokens || !tokens.refresh_token) return;
  await action(event.currentTarget, async () => {
    const answer = await gateway.refresh(tokens.refresh_token);
    signedIn(answer, { announce: false });
    $('token-status').textContent = `Refreshed at ${new Date().toLocaleTimeString()}.`;
  });
  // action() re-enables its button; what is possible now decides.
  if (tokens) renderTokens();
}

async function revoke(event) {
  if (!tokens || !tokens.refresh_token) return;
  await action(event.currentTarget, async () => {
    await gateway.revoke(tokens.refresh_token);
    tokens.refresh_token = null;
    $('token-status').textContent = 'Refresh token revoked: it can no longer be used.';
  });
  if (tokens) renderTokens();
}

/**
 * Signing out revokes the refresh token at Auth0 first (through the
 * gateway), so a copy of it is worthless; the access token cannot be
 * revoked and lapses at its expiry. If the revocation fails the user is
 * signed out here all the same, and the error says so. In cookie mode
 * POST /session/logout does both: revokes, and clears the cookies.
 */
async function signOut(event) {
  const refreshToken = tokens && tokens.refresh_token;
  const hadSession = Boolean(session);
  await action(event.currentTarget, async () => {
    try {
      if (hadSession) await gateway.sessionLogout();
      else if (refreshToken) await gateway.revoke(refreshToken);
    } catch (error) {
      restart();
      // Ended elsewhere already: signed out all the same.
      if (!isSessionExpired(error)) throw error;
    }
    restart({ note: SIGNED_OUT_NOTE });
  });
}

/**
 * Cookie mode: ends every session of this user, in every browser and on
 * every device (the gateway marks the user; each other session's next
 * call answers 401 session_expired). Unlike a plain sign-out, a failure
 * keeps this screen: the other devices may still be signed in, and the
 * user should be able to try again.
 */
async function signOutEverywhere(event) {
  await action(event.currentTarget, async () => {
    try {
      await gateway.sessionLogout({ everywhere: true });
    } catch (error) {
      if (!isSessionExpired(error)) throw error;
      // This session had ended already, so the gateway could not tell
      // whose sessions to end: the user must sign in and try again.
      sessionEnded();
      return;
    }
    restart({ note: SIGNED_OUT_EVERYWHERE_NOTE });
  });
}

// ---------------------------------------------------------------------------
// 5. Passkeys: sign up, sign in (a button, or the email field's autofill),
//    and add one to the signed-in account. The gateway talks to Auth0's
//    Passkey API; passkey.js runs the browser's WebAuthn ceremony in between.

/** What a person can do when the ceremony did not happen. */
const PASSKEY_HINTS = {
  passkey_cancelled:
    'The passkey prompt was closed or timed out, so nothing changed. Try again, or sign in with a code instead.',
  passkey_unsupported:
    'This browser cannot use passkeys. Sign in with a one-time code or a magic link instead, or use a browser that supports passkeys.',
  passkey_exists: 'This device already holds a passkey for this account: sign in with it.',
  passkey_refused:
    'The browser would not use a passkey on this page. Passkeys need the page on a domain name (such as localhost), not on an IP address.',
  passkey_failed: 'Something went wrong with the passkey. Try again, or sign in with a code instead.',
};
const PASSKEY_NOT_ACCEPTED =
  'This passkey was not accepted: it may have been removed from your account or be for another site. Try another one, or sign in with a code.';
const PASSKEYS_OFF = 'Passkeys are turned off on this gateway (its passkey.enabled setting).';

/** A ceremony the browser refused, shown like a gateway error. */
function ceremonyFailure(error) {
  const failure = new GatewayError({ status: 0, body: { error: error.code, error_description: error.message } });
  failure.inBrowser = true;
  return failure;
}

/** Why a passkey call failed, in words a person can act on (on top of the
 *  gateway's description). */
function passkeyHint(error) {
  if (!(error instanceof GatewayError)) return;
  if (error.status === 404) error.hint = PASSKEYS_OFF;
  else if (error.code === 'invalid_grant' && !error.body.verification_required) error.hint = PASSKEY_NOT_ACCEPTED;
}

/**
 * Runs a passkey action: like action(), but the error goes beside the
 * button (its data-error-spot), marking `field` when the gateway's answer
 * is about what was typed (a 400, or a sign-up code Auth0 still wants). A
 * cookie session that has ended sends the user back to the start screen,
 * as every cookie call does.
 */
async function passkeyAction(button, work, { field = null } = {}) {
  clearError();
  const hadFocus = button && document.activeElement === button;
  if (button) button.disabled = true;
  try {
    await work();
  } catch (error) {
    if (session && isSessionExpired(error)) {
      sessionEnded();
      return;
    }
    passkeyHint(error);
    const aboutInput =
      error instanceof GatewayError && (error.status === 400 || Boolean(error.body.verification_required));
    showError(error, button, { field: aboutInput ? field : null });
  } finally {
    if (button) button.disabled = false;
    if (hadFocus) refocus(button);
  }
}

/** The start form's email or phone number, as /passkey/register takes it,
 *  and its field. */
function startIdentifier() {
  const form = $('start-form');
  const email = form.elements.channel.value === 'email';
  const field = email ? form.elements.email : form.elements.phone_number;
  return { who: { [email ? 'email' : 'phone_number']: field.value.trim() }, field };
}

/**
 * "Create an account with a passkey": POST /passkey/register for the email
 * or phone number above; if Auth0 must first prove it (a text with a code
 * to a phone), ask for the code(s) before creating the passkey, as Auth0's
 * SDKs do; then create it and POST /passkey/verify.
 */
async function passkeySignUp(event) {
  const button = event.currentTarget;
  const { who, field } = startIdentifier();
  stopAutofill();
  $('start-notice').hidden = true;
  await passkeyAction(
    button,
    async () => {
      // Checked before the gateway call: an unsupported browser would
      // otherwise create a sign-up it cannot finish (and text a code).
      requirePasskeys();
      const answer = await gateway.passkeyRegister(who);
      signUp = {
        who,
        auth_session: answer.auth_session,
        public_key: answer.public_key,
        required: answer.verification_required || [],
        credential: null,
      };
      if (signUp.required.length) {
        askSignUpCodes();
        return;
      }
      await finishSignUp();
    },
    { field },
  );
}

/** The code step of a passkey sign-up: one field per code Auth0 wants. */
function askSignUpCodes() {
  const form = $('passkey-code-form');
  const needs = (kind) => signUp.required.includes(kind);
  $('passkey-code-destination').textContent = signUp.who.email || signUp.who.phone_number;
  $('passkey-code-phone').hidden = !needs('phone');
  $('passkey-code-email').hidden = !needs('email');
  if ($('step-passkey-code').hidden) {
    form.reset();
    show('step-passkey-code');
  }
  (firstField(form) || $('passkey-code-heading')).focus();
}

async function submitSignUpCodes(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const verification = {};
  for (const kind of signUp ? signUp.required : []) verification[kind] = form.elements[kind].value.trim();
  await passkeyAction(event.submitter, () => finishSignUp(verification), { field: firstField(form) });
}

/**
 * Creates the passkey (once: a wrong code does not make another) and
 * completes the sign-up. A wrong or missing code keeps the sign-up open:
 * the gateway's answer still names `verification_required` and the
 * `auth_session` to send it with.
 */
async function finishSignUp(verification = undefined) {
  if (!signUp) return;
  if (!signUp.credential) signUp.credential = await createPasskey(signUp.public_key);
  const body = { auth_session: signUp.auth_session, credential: signUp.credential };
  if (verification) body.verification = verification;
  pending = signUp.who;
  try {
    await login(() => gateway.passkeyVerify(body));
    signUp = null;
  } catch (error) {
    const again = error instanceof GatewayError && error.body.verification_required && error.body.auth_session;
    if (!again) {
      signUp = null;
      throw error;
    }
    signUp.auth_session = error.body.auth_session;
    signUp.required = error.body.verification_required;
    askSignUpCodes();
    throw error;
  }
}

/** "Sign in with a passkey": the browser's dialog lists this site's passkeys. */
async function passkeySignIn(event) {
  const button = event.currentTarget;
  // The browser runs one request at a time: the autofill's must go first.
  stopAutofill();
  $('start-notice').hidden = true;
  await passkeyAction(button, async () => {
    requirePasskeys();
    const challenge = await gateway.passkeyChallenge();
    const credential = await getPasskey(challenge.public_key);
    await login(() => gateway.passkeyVerify({ auth_session: challenge.auth_session, credential }));
  });
}

// The email field's autofill (conditional mediation): while the start
// screen shows, a sign-in request waits for the user to pick one of this
// site's passkeys there. Browsers without it just show the field.

/** The pending autofill request's AbortController, or null. */
let autofill = null;
/** Renews the autofill's challenge before Auth0's auth_session expires. */
let autofillRenewal = null;

function startAutofill() {
  if (autofill) return;
  const controller = new AbortController();
  autofill = controller;
  autofillState('starting');
  runAutofill(controller).finally(() => {
    if (autofill === controller) autofill = null;
    if (!autofill) autofillState(null);
  });
}

function stopAutofill() {
  clearTimeout(autofillRenewal);
  if (autofill) autofill.abort();
  autofill = null;
  autofillState(null);
}

/** `<body data-passkey-autofill>`: "starting" (asking the gateway for a
 *  challenge), "waiting" (the browser offers passkeys in the field), or
 *  absent. For tests and styling; nothing reads it here. */
function autofillState(state) {
  if (state) document.body.dataset.passkeyAutofill = state;
  else delete document.body.dataset.passkeyAutofill;
}

async function runAutofill(controller) {
  if (!(await autofillAvailable()) || controller.signal.aborted) return;
  let challenge;
  try {
    challenge = await gateway.passkeyChallenge();
  } catch (error) {
    // Passkeys are off at the gateway: offer none. Anything else: the
    // buttons still work, and say what is wrong when used.
    if (error instanceof GatewayError && error.status === 404) $('passkey-start').hidden = true;
    return;
  }
  if (controller.signal.aborted) return;
  const lifetime = Number(challenge.public_key.timeout) || 60_000;
  clearTimeout(autofillRenewal);
  autofillRenewal = setTimeout(() => {
    if (autofill !== controller) return;
    stopAutofill();
    startAutofill();
  }, Math.max(lifetime, 30_000));
  let credential;
  try {
    // The browser has the request once getPasskey is called.
    const picked = getPasskey(challenge.public_key, { signal: controller.signal, conditional: true });
    autofillState('waiting');
    credential = await picked;
  } catch {
    // Cancelled by this page (a button, another screen), or refused
    // without the user asking for anything: nothing to show.
    return;
  }
  clearTimeout(autofillRenewal);
  if (autofill === controller) autofill = null;
  // Not restarted on failure: the next focus of the field does.
  await passkeyAction(byTestId('passkey-sign-in'), () =>
    login(() => gateway.passkeyVerify({ auth_session: challenge.auth_session, credential })),
  );
}

/** The scope Auth0's My Account API asks for to add a passkey. */
const ENROLL_SCOPE = 'create:me:authentication_methods';

/**
 * Whether this page can add a passkey. Auth0's My Account API, behind POST
 * /passkey/enroll, takes an access token for its own audience
 * (`https://<domain>/me/`). Cookie mode: the gateway gets it from the
 * session and keeps it in the cookie. Token mode: this page refreshes for
 * one (Auth0 multi-resource refresh tokens), which needs its refresh token
 * and config.js's `myAccountAudience`; without them it says what is missing.
 */
function renderPasskeyEnroll() {
  let missing = null;
  if (!session && !myAccountAudience) {
    missing =
      'To add a passkey, sign in with "Keep me signed in with a secure cookie", or set ' +
      'myAccountAudience in config.js (Auth0\'s My Account API) for this mode.';
  } else if (!session && !(tokens && tokens.refresh_token)) {
    missing = 'Adding a passkey needs the refresh token, which this page no longer holds. Sign in again to add one.';
  }
  byTestId('passkey-add').hidden = Boolean(missing);
  $('passkey-enroll-note').textContent =
    missing || 'Add a passkey, and sign in next time with your device\'s screen lock.';
}

/**
 * Token mode: an access token for Auth0's My Account API, from the refresh
 * token. It is used for this one enrolment and dropped; the page's own
 * tokens stay as they are (but a rotated refresh token replaces the old).
 */
async function myAccountToken() {
  const answer = await gateway.refresh(tokens.refresh_token, { audience: myAccountAudience, scope: ENROLL_SCOPE });
  if (answer.refresh_token) tokens.refresh_token = answer.refresh_token;
  return answer.access_token;
}

/**
 * "Add a passkey to this account": POST /passkey/enroll, the browser
 * creates the passkey, POST /passkey/enroll/verify.
 */
async function addPasskey(event) {
  const button = event.currentTarget;
  const status = $('passkey-enroll-status');
  status.hidden = true;
  await passkeyAction(button, async () => {
    requirePasskeys();
    // Cookie mode: the gateway reads the session (no bearer).
    const bearer = session ? null : await myAccountToken();
    const challenge = await gateway.passkeyEnroll(bearer);
    const credential = await createPasskey(challenge.public_key);
    const added = await gateway.passkeyEnrollVerify(bearer, {
      id: challenge.id,
      auth_session: challenge.auth_session,
      credential,
    });
    const kind =
      added.credential_device_type === 'multi_device'
        ? `synced across your devices${added.credential_backed_up ? ' (backed up)' : ''}`
        : 'kept on this device';
    status.textContent = `Passkey added, ${kind}. Next time, sign in with it: no code needed.`;
    status.hidden = false;
  });
  if (tokens) renderTokens();
}

// ---------------------------------------------------------------------------
// Demo only: end the user's session at the (fake) Auth0 tenant

/**
 * What an admin, a password change or another app's logout does at Auth0:
 * the demo tenant ends the user's Auth0 sessions and posts a signed
 * logout_token for each to the gateway's back-channel logout route. This
 * page stays as it is: its next gateway call finds the session ended, as
 * every other page signed in as this user will.
 */
async function demoEndSession(event) {
  const sub = session && session.user && session.user.sub;
  if (!demoTenant || !sub) return;
  await action(event.currentTarget, async () => {
    const answer = await postToDemoTenant('/demo/end-session', { sub });
    const ended = Array.isArray(answer.sessions) ? answer.sessions : [];
    const statuses = [...new Set(ended.map((s) => (s.gateway_status ? String(s.gateway_status) : 'nothing')))];
    $('demo-status').dataset.sessions = String(ended.length);
    $('demo-status').textContent =
      `Auth0 ended ${ended.length} session(s); the gateway answered ${statuses.join(', ') || 'nothing'}. ` +
      'The next call to the gateway (try "Check session") finds this session ended.';
  });
}

/** A JSON POST to the demo tenant (its CORS admits this app's origin). */
async function postToDemoTenant(path, body) {
  const url = `${demoTenant}${path}`;
  let response;
  try {
    response = await fetch(url, {
      method: 'POST',
      mode: 'cors',
      credentials: 'omit',
      cache: 'no-store',
      referrerPolicy: 'no-referrer',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(body),
    });
  } catch (cause) {
    logCall({ method: 'POST', path: url, status: 0, requestId: null, error: 'network_error' });
    throw new GatewayError({
      status: 0,
      body: { error: 'network_error', error_description: `Could not reach the demo tenant at ${demoTenant} (${cause.message}).` },
    });
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const errorBody =
      data && typeof data === 'object' && data.error ? data : { error: `http_${response.status}`, error_description: '' };
    logCall({ method: 'POST', path: url, status: response.status, requestId: null, error: errorBody.error });
    throw new GatewayError({ status: response.status, body: errorBody });
  }
  logCall({ method: 'POST', path: url, status: response.status, requestId: null });
  return data || {};
}

// ---------------------------------------------------------------------------
// Wiring

function main() {
  $('gateway-url').textContent = gatewayUrl;
  $('docs-link').href = `${gatewayUrl}/docs`;
  const startFormElement = $('start-form');
  startFormElement.addEventListener('change', startForm);
  startFormElement.addEventListener('submit', start);
  $('verify-form').addEventListener('submit', verify);
  $('otp-form').addEventListener('submit', verifyOtp);
  $('oob-form').addEventListener('submit', verifyOob);
  $('recovery-form').addEventListener('submit', verifyRecoveryCode);
  byTestId('enroll-otp').addEventListener('click', (e) => enroll('otp', {}, e.currentTarget));
  byTestId('enroll-push').addEventListener('click', (e) => enroll('push', {}, e.currentTarget));
  $('enroll-sms-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const factor = e.submitter && e.submitter.value === 'voice' ? 'voice' : 'sms';
    enroll(factor, { phone_number: e.currentTarget.elements.phone_number.value.trim() }, e.submitter);
  });
  $('enroll-email-form').addEventListener('submit', (e) => {
    e.preventDefault();
    enroll('email', { email: e.currentTarget.elements.email.value.trim() }, e.submitter);
  });
  byTestId('refresh').addEventListener('click', refresh);
  byTestId('revoke').addEventListener('click', revoke);
  byTestId('sign-out').addEventListener('click', signOut);
  byTestId('call-api').addEventListener('click', callDemoApi);
  byTestId('session-check').addEventListener('click', checkSession);
  byTestId('session-refresh').addEventListener('click', refreshSession);
  byTestId('session-sign-out').addEventListener('click', signOut);
  byTestId('session-sign-out-everywhere').addEventListener('click', signOutEverywhere);
  byTestId('demo-end-session').addEventListener('click', demoEndSession);
  byTestId('passkey-sign-in').addEventListener('click', passkeySignIn);
  byTestId('passkey-sign-up').addEventListener('click', passkeySignUp);
  $('passkey-code-form').addEventListener('submit', submitSignUpCodes);
  byTestId('passkey-add').addEventListener('click', addPasskey);
  // After a passkey sign-in or sign-up that failed (refused, cancelled)
  // the autofill's request is not renewed on its own, so a refused passkey
  // is not offered and refused in a loop; coming back to the field renews it.
  startFormElement.elements.email.addEventListener('focus', () => {
    if (!$('step-start').hidden) startAutofill();
  });
  $('error-dismiss').addEventListener('click', dismissError);
  watchOtherTabs();
  for (const button of document.querySelectorAll('[data-action="restart"]')) {
    button.addEventListener('click', () => restart());
  }
  startFormElement.elements.mode.value = storedMode();
  startForm();

  const params = new URLSearchParams(window.location.search);
  if (params.has('code')) {
    show('step-start');
    document.body.dataset.ready = 'true';
    completeMagicLink(params);
  } else if (gateway.cookies) {
    // A reload (or a new tab) in cookie mode: still signed in? No step is
    // shown until the gateway says, so the start screen does not flash.
    show(null);
    restoreSession().finally(() => {
      document.body.dataset.ready = 'true';
    });
  } else {
    show('step-start');
    document.body.dataset.ready = 'true';
  }
}

main();
