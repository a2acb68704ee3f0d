// Where the gateway is: the one place this app takes it from. Nothing in
// the page's URL can change it (a link that could would let a phishing
// mail send emails, codes and tokens to an attacker's server from your
// app's origin). When you change it, change `connect-src` in index.html's
// Content-Security-Policy to the same origin. `login-gateway --demo` serves
// its own version of this file (and of that policy) with the gateway's
// real origin.
export default {
  gateway: 'http://127.0.0.1:8080',
};
