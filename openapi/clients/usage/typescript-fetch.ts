// Compiled by openapi/ci/generators.sh (tsc --strict) against the client
// openapi-generator `typescript-fetch` generates into
// target/openapi-ci/clients/openapi-generator-typescript-fetch: every branch
// of the either/or request bodies is accepted as written in the document.
import {
  Configuration,
  LoginApi,
  MfaApi,
  TokenApi,
  type LoginStartRequest,
  type LoginVerifyRequest,
  type MfaAssociateRequest,
  type MfaVerifyRequest,
  type LoginAnswer,
  type TokenSet,
} from "../../../target/openapi-ci/clients/openapi-generator-typescript-fetch";

/** The tokens of a login answer; a `SessionInfo` comes only to a client
 *  that asked for cookie mode (`X-Lgw-Session: 1`), which this one does not. */
function tokensOf(answer: LoginAnswer): TokenSet {
  if ("accessToken" in answer) return answer;
  throw new Error("a cookie session, not tokens");
}

const config = new Configuration({ basePath: "http://127.0.0.1:8080" });

export const startBodies: LoginStartRequest[] = [
  { email: "jane@example.com" },
  { email: "jane@example.com", send: "code", locale: "en-US" },
  { email: "jane@example.com", send: "link", state: "af0ifjsldkj" },
  { phoneNumber: "+14155550100" },
];
export const verifyBodies: LoginVerifyRequest[] = [
  { email: "jane@example.com", code: "123456" },
  { phoneNumber: "+14155550100", code: "123456" },
];
export const associateBodies: MfaAssociateRequest[] = [
  { factor: "otp" },
  { factor: "push" },
  { factor: "sms", phoneNumber: "+14155550100" },
  { factor: "voice", phoneNumber: "+14155550100" },
  { factor: "email", email: "jane@example.com" },
];
export const mfaVerifyBodies: MfaVerifyRequest[] = [
  { otp: "123456" },
  { oobCode: "Fe26.2*ee0f4b4c3f", bindingCode: "482913" },
  { recoveryCode: "B3N7ZQ2K8YV4TR6XW9MP5HLD" },
];

export async function login(email: string, code: string): Promise<TokenSet> {
  const login = new LoginApi(config);
  await login.loginStart({ loginStartRequest: { email } });
  return tokensOf(await login.loginVerify({ loginVerifyRequest: { email, code } }));
}

export async function secondFactor(mfaToken: string, otp: string): Promise<TokenSet> {
  const mfa = new MfaApi(new Configuration({ basePath: config.basePath, accessToken: mfaToken }));
  const enrollment = await mfa.mfaAssociate({ mfaAssociateRequest: { factor: "otp" } });
  if (!enrollment.secret) throw new Error("no secret");
  const tokens = tokensOf(await mfa.mfaVerify({ mfaVerifyRequest: { otp } }));
  return new TokenApi(config).tokenRefresh({ tokenRefreshRequest: { refreshToken: tokens.refreshToken ?? "" } });
}
