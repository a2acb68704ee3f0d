// Where the gateway is. `login-gateway --demo` serves its own version of
// this file with the gateway's real origin; a `?gateway=` query parameter
// overrides both.
export default {
  gateway: 'http://127.0.0.1:8080',
};
