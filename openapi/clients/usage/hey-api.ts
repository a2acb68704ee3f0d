// Compiled by openapi/ci/generators.sh (tsc --strict) against the client
// @hey-api/openapi-ts generates into target/openapi-ci/clients/hey-api:
// every branch of the either/or request bodies is accepted as written in
// the document, and `403 mfa_required` narrows to its typed body.
import { createClient } from "../../../target/openapi-ci/clients/hey-api/client";
import {
  loginStart,
  loginVerify,
  mfaAssociate,
  mfaVerify,
  tokenRefresh,
  type LoginStartRequest,
  type LoginVerifyRequest,
  type MfaAssociateRequest,
  type MfaVerifyRequest,
  type LoginAnswer,
  type TokenSet,
} from "../../../target/openapi-ci/clients/hey-api";

/** The tokens of a login answer; a `SessionInfo` comes only to a client
 *  that asked for cookie mode (`X-Lgw-Session: 1`), which this one does not. */
function tokensOf(answer: LoginAnswer): TokenSet {
  if ("access_token" in answer) return answer;
  throw new Error("a cookie session, not tokens");
}

const client = createClient({ baseUrl: "http://127.0.0.1:8080" });

export const startBodies: LoginStartRequest[] = [
  { email: "jane@example.com" },
  { email: "jane@example.com", send: "code", locale: "en-US" },
  { email: "jane@example.com", send: "link", state: "af0ifjsldkj" },
  { phone_number: "+14155550100" },
];
export const verifyBodies: LoginVerifyRequest[] = [
  { email: "jane@example.com", code: "123456" },
  { phone_number: "+14155550100", code: "123456" },
];
export const associateBodies: MfaAssociateRequest[] = [
  { factor: "otp" },
  { factor: "push" },
  { factor: "sms", phone_number: "+14155550100" },
  { factor: "voice", phone_number: "+14155550100" },
  { factor: "email", email: "jane@example.com" },
];
export const mfaVerifyBodies: MfaVerifyRequest[] = [
  { otp: "123456" },
  { oob_code: "Fe26.2*ee0f4b4c3f", binding_code: "482913" },
  { recovery_code: "B3N7ZQ2K8YV4TR6XW9MP5HLD" },
];

/** Tokens, or the mfa_token to pass a second factor with. */
export async function login(email: string): Promise<TokenSet | { mfaToken: string }> {
  await loginStart({ client, body: { email } });
  const { data, error } = await loginVerify({ client, body: { email, code: "123456" } });
  if (data) return tokensOf(data);
  if (error && "mfa_token" in error) return { mfaToken: error.mfa_token };
  throw new Error(error?.error_description ?? "no answer");
}

export async function secondFactor(mfaToken: string, otp: string): Promise<TokenSet> {
  const auth = { client, auth: mfaToken };
  const { data: enrollment } = await mfaAssociate({ ...auth, body: { factor: "otp" } });
  const secret: string | undefined = enrollment?.secret;
  if (!secret) throw new Error("no secret");
  const { data, error } = await mfaVerify({ ...auth, body: { otp } });
  if (!data) throw new Error(error?.error ?? "no answer");
  const tokens = tokensOf(data);
  const refreshed = await tokenRefresh({ client, body: { refresh_token: tokens.refresh_token ?? "" } });
  return refreshed.data ?? tokens;
}
