// Where the gateway is: the one place this app takes it from. Nothing in
// the page's URL can change it (a link that could would let a phishing
// mail send emails, codes and tokens to an attacker's server from your
// app's origin). When you change it, change `connect-src` in index.html's
// Content-Security-Policy to the same origin. `login-gateway --demo` serves
// its own version of this file (and of that policy) with the gateway's
// real origin.
//
// Name hosts, not IP addresses: passkeys (WebAuthn) refuse a page served
// from an IP address, and in cookie mode the gateway must be same-site with
// this page (`localhost` and `127.0.0.1` are two sites) for its SameSite
// session cookie to be sent.
export default {
  gateway: 'http://localhost:8080',
  // Token mode only, to add a passkey: the audience of Auth0's My Account
  // API, `https://<your Auth0 custom domain>/me/` (the gateway's
  // /token/refresh hands out a token for it while passkey.enabled is on).
  // Without it the app offers adding a passkey in cookie mode only.
  // myAccountAudience: 'https://login.example.com/me/',
  // Cookie mode only, to say when an unused session ends: the gateway's
  // session.idle_secs (no answer of the gateway carries it). The app then
  // shows that time (moved on by each session call) and the absolute end
  // as "at the latest"; without it, "after a period without use".
  // sessionIdleSecs: 3600,
};
