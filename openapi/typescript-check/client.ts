// A small typed client for the gateway, written only against the types
// openapi-typescript generates from ../openapi.json. `tsc --noEmit` in CI
// proves a real consumer can use the committed document: if an operation,
// a field or an error shape changes, this file stops compiling.

import createClient from "openapi-fetch";
import type { components, paths } from "./generated/schema";

type TokenSet = components["schemas"]["TokenSet"];
type ErrorBody = components["schemas"]["ErrorBody"];
type MfaRequired = components["schemas"]["MfaRequired"];
type MfaRequiredSealed = components["schemas"]["MfaRequiredSealed"];
type SessionInfo = components["schemas"]["SessionInfo"];
type ErrorCode = components["schemas"]["ErrorCode"];

/** Codes worth retrying later; typed, so a renamed code stops compiling. */
export const RETRYABLE: readonly ErrorCode[] = ["too_many_requests", "upstream_error", "upstream_timeout"];

/** A 403 is either `mfa_required` (with its token; in cookie mode without
 *  it) or an ordinary error. */
function isMfaRequired(body: MfaRequired | MfaRequiredSealed | ErrorBody): body is MfaRequired {
  return body.error === "mfa_required" && "mfa_token" in body;
}

/** A login-completing 200: tokens, or (sent `X-Lgw-Session: 1`) a session. */
function tokensOf(answer: TokenSet | SessionInfo): TokenSet {
  if ("access_token" in answer) {
    return answer;
  }
  throw new Error(`a cookie session for ${answer.user.sub ?? "someone"}, not tokens`);
}

/**
 * Cookie mode (SPEC §10): who is signed in, from the `HttpOnly` session
 * cookie the browser sends (`credentials: "include"`); `null` without one.
 */
export async function signedInUser(baseUrl: string): Promise<SessionInfo["user"] | null> {
  const client = createClient<paths>({ baseUrl, credentials: "include" });
  const session = await client.GET("/session");
  if (session.data) {
    return session.data.user;
  }
  if (session.response.status === 401) {
    return null;
  }
  throw new GatewayError(session.response.status, session.error);
}

/** Asks the user for something (the emailed code, the app's code). */
export type Prompt = (question: string) => Promise<string>;

export class GatewayError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {
    super(`${status} ${body.error}: ${body.error_description} (request ${body.request_id})`);
  }
}

export function gateway(baseUrl: string) {
  return createClient<paths>({ baseUrl });
}

/**
 * start → verify → (when Auth0 asks for it) MFA verify with an
 * authenticator-app code: the whole passwordless login of SPEC §1.
 */
export async function loginWithEmailCode(
  baseUrl: string,
  email: string,
  prompt: Prompt,
): Promise<TokenSet> {
  const client = gateway(baseUrl);

  const started = await client.POST("/login/start", {
    body: { email, send: "code", locale: "en-US" },
  });
  if (started.error) {
    throw new GatewayError(started.response.status, started.error);
  }
  const channel: "email" | "sms" = started.data.channel;
  const code = await prompt(`The code we sent by ${channel}:`);

  const verified = await client.POST("/login/verify", { body: { email, code } });
  if (verified.data) {
    return tokensOf(verified.data);
  }
  const refused = verified.error;
  if (!isMfaRequired(refused)) {
    throw new GatewayError(verified.response.status, refused);
  }
  const wanted = refused.mfa_requirements.challenge?.map((c) => c.type) ?? [];
  const authorization = `Bearer ${refused.mfa_token}`;

  const authenticators = await client.GET("/mfa/authenticators", {
    headers: { Authorization: authorization },
  });
  if (authenticators.error) {
    throw new GatewayError(authenticators.response.status, authenticators.error);
  }
  const app = authenticators.data.find((a) => a.active && a.authenticator_type === "otp");
  if (!app || !wanted.includes("otp")) {
    throw new Error("this example only handles an authenticator app");
  }

  const otp = await prompt("The 6-digit code from your authenticator app:");
  const mfa = await client.POST("/mfa/verify", {
    body: { otp },
    headers: { Authorization: authorization },
  });
  if (mfa.error) {
    throw new GatewayError(mfa.response.status, mfa.error);
  }
  return tokensOf(mfa.data);
}

/** Out-of-band second factor (SMS, voice, email): challenge the named
 *  authenticator (an `id` from `GET /mfa/authenticators`; an `oob`
 *  challenge must name one), then verify. */
export async function verifyOutOfBand(
  baseUrl: string,
  mfaToken: string,
  authenticatorId: string,
  prompt: Prompt,
): Promise<TokenSet> {
  const client = gateway(baseUrl);
  const headers = { Authorization: `Bearer ${mfaToken}` };
  const challenge = await client.POST("/mfa/challenge", {
    body: { challenge_type: "oob", authenticator_id: authenticatorId },
    headers,
  });
  if (challenge.error) {
    throw new GatewayError(challenge.response.status, challenge.error);
  }
  const oobCode = challenge.data.oob_code;
  if (oobCode === undefined) {
    throw new Error("an oob challenge answers an oob_code");
  }
  const bindingCode = await prompt("The code you received:");
  const mfa = await client.POST("/mfa/verify", {
    body: { oob_code: oobCode, binding_code: bindingCode },
    headers,
  });
  if (mfa.error) {
    throw new GatewayError(mfa.response.status, mfa.error);
  }
  return tokensOf(mfa.data);
}

/** Refresh, then revoke, a refresh token. */
export async function refreshThenRevoke(baseUrl: string, tokens: TokenSet): Promise<number> {
  const client = gateway(baseUrl);
  if (tokens.refresh_token === undefined) {
    return 0;
  }
  const refreshed = await client.POST("/token/refresh", {
    body: { refresh_token: tokens.refresh_token },
  });
  if (refreshed.error) {
    throw new GatewayError(refreshed.response.status, refreshed.error);
  }
  const revoked = await client.POST("/token/revoke", {
    body: { refresh_token: tokens.refresh_token },
  });
  if (revoked.error) {
    throw new GatewayError(revoked.response.status, revoked.error);
  }
  return refreshed.data.expires_in;
}
