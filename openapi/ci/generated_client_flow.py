#!/usr/bin/env python3
"""Drive a running `login-gateway --demo` with the client openapi-python-client
generated from openapi/openapi.json (package `login_gateway_client`, installed
into the venv by openapi/ci/generators.sh). Every step asserts the status and
the typed model the generated client parsed the answer into, and prints one
line.

Usage: generated_client_flow.py BASE_URL GATEWAY_LOG

The demo tenant prints the one-time codes and MFA verification codes it
"sends" to the gateway's stderr; GATEWAY_LOG is the file that stderr goes to.
Users whose email starts with `mfa+` must pass a second factor in the demo.

  (a) email login of a plain user: /login/start, a wrong code answers
      403 invalid_grant as an ErrorBody, /login/verify answers tokens,
      /token/refresh new ones, /token/revoke {}.
  (b) MFA with an authenticator app: /login/verify answers 403 mfa_required
      as the typed MfaRequired; /mfa/associate otp; TOTP (RFC 6238) to
      /mfa/verify; logging in again, /mfa/authenticators lists the app,
      /mfa/challenge otp, /mfa/verify with the recovery code.
  (c) MFA by email: /mfa/associate email, the binding code from the log,
      /mfa/verify with oob_code + binding_code.
"""

import base64
import hashlib
import hmac
import re
import struct
import sys
import time
import uuid
from typing import Any

import httpx
from login_gateway_client import AuthenticatedClient, Client, models
from login_gateway_client.api.login import login_start, login_verify
from login_gateway_client.api.mfa import (
    mfa_associate,
    mfa_challenge,
    mfa_list_authenticators,
    mfa_verify,
)
from login_gateway_client.api.token import token_refresh, token_revoke
from login_gateway_client.types import UNSET, Response

BASE_URL = ""
LOG_PATH = ""
TIMEOUT = httpx.Timeout(10.0)
STEPS = 0


class FlowError(AssertionError):
    pass


def value(field: Any) -> Any:
    """An enum member's value, anything else as is."""
    return getattr(field, "value", field)


def is_set(field: Any) -> bool:
    return field is not UNSET and field is not None and field != "" and field != []


def literal(enum_name: str, raw: str) -> Any:
    """The generated enum member for `raw`, or `raw` where the document has a
    `const` (a `Literal[...]` field) instead of an enum."""
    enum = getattr(models, enum_name, None)
    return enum(raw) if enum is not None else raw


def check(response: Response, status: int, model: type, step: str) -> Any:
    global STEPS
    parsed = response.parsed
    if response.status_code != status:
        raise FlowError(f"{step}: answered {int(response.status_code)}, expected {status}: {response.content[:400]!r}")
    if model is list:
        ok = isinstance(parsed, list)
    else:
        ok = isinstance(parsed, model)
    if not ok:
        raise FlowError(
            f"{step}: parsed as {type(parsed).__name__}, expected {model.__name__}: {response.content[:400]!r}"
        )
    STEPS += 1
    return parsed


def step_line(text: str) -> None:
    print(f"  ok  {text}", flush=True)


def require(condition: bool, message: str) -> None:
    if not condition:
        raise FlowError(message)


def read_log() -> str:
    with open(LOG_PATH, encoding="utf-8", errors="replace") as log:
        return log.read()


def wait_for_code(pattern: re.Pattern, seen: int, what: str) -> str:
    """The newest match of `pattern` once there are more than `seen`."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        matches = pattern.findall(read_log())
        if len(matches) > seen:
            return matches[-1]
        time.sleep(0.1)
    raise FlowError(f"no new {what} in {LOG_PATH} within 10 s")


def one_time_code_pattern(email: str) -> re.Pattern:
    return re.compile(re.escape(email) + r": your one-time code is (\d+)")


def verification_code_pattern(channel: str, address: str) -> re.Pattern:
    return re.compile(re.escape(f"{channel} to {address}") + r": your verification code is (\d+)")


def totp(secret_base32: str, at: float | None = None) -> str:
    """RFC 6238: HMAC-SHA1, 30 s steps, 6 digits."""
    secret = secret_base32.strip().replace(" ", "").upper()
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def start_and_read_code(client: Client, email: str, label: str) -> str:
    pattern = one_time_code_pattern(email)
    seen = len(pattern.findall(read_log()))
    started = check(
        login_start.sync_detailed(client=client, body=models.LoginStartByEmail(email=email)),
        200,
        models.LoginStartResponse,
        f"{label} /login/start",
    )
    code = wait_for_code(pattern, seen, f"one-time code for {email}")
    step_line(f"{label} POST /login/start -> 200 LoginStartResponse {started.to_dict()}; code from the log")
    return code


def expect_tokens(tokens: models.TokenSet, step: str, refresh: bool = True) -> None:
    require(is_set(tokens.access_token), f"{step}: no access_token")
    require(value(tokens.token_type) == "Bearer", f"{step}: token_type {tokens.token_type!r}")
    require(isinstance(tokens.expires_in, int) and tokens.expires_in > 0, f"{step}: expires_in {tokens.expires_in!r}")
    if refresh:
        require(is_set(tokens.refresh_token), f"{step}: no refresh_token")


def login_to_mfa_required(client: Client, email: str, label: str) -> models.MfaRequired:
    code = start_and_read_code(client, email, label)
    required = check(
        login_verify.sync_detailed(client=client, body=models.LoginVerifyByEmail(email=email, code=code)),
        403,
        models.MfaRequired,
        f"{label} /login/verify",
    )
    require(value(required.error) == "mfa_required", f"{label}: error {required.error!r}")
    require(is_set(required.mfa_token), f"{label}: MfaRequired without mfa_token")
    require(is_set(required.mfa_requirements), f"{label}: MfaRequired without mfa_requirements")
    require(is_set(required.request_id), f"{label}: MfaRequired without request_id")
    step_line(
        f"{label} POST /login/verify -> 403 MfaRequired (mfa_token, "
        f"mfa_requirements {required.mfa_requirements.to_dict()})"
    )
    return required


def flow_plain_login(client: Client) -> None:
    label = "(a)"
    email = f"jane-{uuid.uuid4().hex[:8]}@example.com"
    code = start_and_read_code(client, email, label)

    wrong = "000000" if code != "000000" else "000001"
    error = check(
        login_verify.sync_detailed(client=client, body=models.LoginVerifyByEmail(email=email, code=wrong)),
        403,
        models.ErrorBody,
        f"{label} /login/verify (wrong code)",
    )
    require(value(error.error) == "invalid_grant", f"{label}: wrong code answered {error.error!r}")
    step_line(f"{label} POST /login/verify, wrong code -> 403 ErrorBody invalid_grant (not MfaRequired)")

    tokens = check(
        login_verify.sync_detailed(client=client, body=models.LoginVerifyByEmail(email=email, code=code)),
        200,
        models.TokenSet,
        f"{label} /login/verify",
    )
    expect_tokens(tokens, f"{label} /login/verify")
    step_line(f"{label} POST /login/verify -> 200 TokenSet (access, id and refresh tokens)")

    refreshed = check(
        token_refresh.sync_detailed(client=client, body=models.TokenRefreshRequest(refresh_token=tokens.refresh_token)),
        200,
        models.TokenSet,
        f"{label} /token/refresh",
    )
    expect_tokens(refreshed, f"{label} /token/refresh", refresh=False)
    step_line(f"{label} POST /token/refresh -> 200 TokenSet")

    newest = refreshed.refresh_token if is_set(refreshed.refresh_token) else tokens.refresh_token
    revoked = check(
        token_revoke.sync_detailed(client=client, body=models.TokenRevokeRequest(refresh_token=newest)),
        200,
        models.TokenRevokeResponse,
        f"{label} /token/revoke",
    )
    require(revoked.to_dict() == {}, f"{label}: /token/revoke answered {revoked.to_dict()!r}")
    step_line(f"{label} POST /token/revoke -> 200 TokenRevokeResponse {{}}")


def flow_mfa_otp(client: Client) -> None:
    label = "(b)"
    email = f"mfa+{uuid.uuid4().hex[:8]}@example.com"
    required = login_to_mfa_required(client, email, label)
    bearer = AuthenticatedClient(base_url=BASE_URL, token=required.mfa_token, timeout=TIMEOUT)

    enrollment = check(
        mfa_associate.sync_detailed(
            client=bearer, body=models.MfaAssociateOtp(factor=literal("MfaAssociateOtpFactor", "otp"))
        ),
        200,
        models.MfaAssociateResponse,
        f"{label} /mfa/associate otp",
    )
    require(
        value(enrollment.authenticator_type) == "otp", f"{label}: authenticator_type {enrollment.authenticator_type!r}"
    )
    require(is_set(enrollment.secret), f"{label}: /mfa/associate otp without secret")
    require(is_set(enrollment.barcode_uri), f"{label}: /mfa/associate otp without barcode_uri")
    require(is_set(enrollment.recovery_codes), f"{label}: first enrollment without recovery_codes")
    recovery = enrollment.recovery_codes[0]
    step_line(
        f"{label} POST /mfa/associate factor otp -> 200 MfaAssociateResponse (secret, barcode_uri, recovery_codes)"
    )

    tokens = check(
        mfa_verify.sync_detailed(client=bearer, body=models.MfaVerifyWithOtp(otp=totp(enrollment.secret))),
        200,
        models.TokenSet,
        f"{label} /mfa/verify otp",
    )
    expect_tokens(tokens, f"{label} /mfa/verify otp")
    step_line(f"{label} POST /mfa/verify otp (TOTP of the secret) -> 200 TokenSet")

    again = login_to_mfa_required(client, email, label)
    bearer = AuthenticatedClient(base_url=BASE_URL, token=again.mfa_token, timeout=TIMEOUT)

    authenticators = check(
        mfa_list_authenticators.sync_detailed(client=bearer), 200, list, f"{label} /mfa/authenticators"
    )
    require(
        all(isinstance(a, models.Authenticator) for a in authenticators),
        f"{label}: /mfa/authenticators items are not Authenticator",
    )
    otp = [a for a in authenticators if value(a.authenticator_type) == "otp"]
    require(
        bool(otp) and otp[0].active is True,
        f"{label}: no active otp authenticator in {[a.to_dict() for a in authenticators]}",
    )
    step_line(f"{label} GET /mfa/authenticators -> 200 list[Authenticator] with the active otp one ({otp[0].id})")

    challenge = check(
        mfa_challenge.sync_detailed(
            client=bearer,
            body=models.MfaChallengeOtp(
                challenge_type=literal("MfaChallengeOtpChallengeType", "otp"), authenticator_id=otp[0].id
            ),
        ),
        200,
        models.MfaChallengeResponse,
        f"{label} /mfa/challenge otp",
    )
    require(value(challenge.challenge_type) == "otp", f"{label}: challenge_type {challenge.challenge_type!r}")
    step_line(f"{label} POST /mfa/challenge challenge_type otp -> 200 MfaChallengeResponse otp")

    recovered = check(
        mfa_verify.sync_detailed(client=bearer, body=models.MfaVerifyWithRecoveryCode(recovery_code=recovery)),
        200,
        models.TokenSet,
        f"{label} /mfa/verify recovery_code",
    )
    expect_tokens(recovered, f"{label} /mfa/verify recovery_code")
    require(
        is_set(recovered.recovery_code) and recovered.recovery_code != recovery,
        f"{label}: the recovery-code grant answered no new recovery_code",
    )
    step_line(f"{label} POST /mfa/verify recovery_code -> 200 TokenSet with a new recovery_code")


def flow_mfa_email(client: Client) -> None:
    label = "(c)"
    email = f"mfa+{uuid.uuid4().hex[:8]}@example.com"
    required = login_to_mfa_required(client, email, label)
    bearer = AuthenticatedClient(base_url=BASE_URL, token=required.mfa_token, timeout=TIMEOUT)

    pattern = verification_code_pattern("email", email)
    seen = len(pattern.findall(read_log()))
    enrollment = check(
        mfa_associate.sync_detailed(
            client=bearer,
            body=models.MfaAssociateEmail(factor=literal("MfaAssociateEmailFactor", "email"), email=email),
        ),
        200,
        models.MfaAssociateResponse,
        f"{label} /mfa/associate email",
    )
    require(
        value(enrollment.authenticator_type) == "oob", f"{label}: authenticator_type {enrollment.authenticator_type!r}"
    )
    require(value(enrollment.oob_channel) == "email", f"{label}: oob_channel {enrollment.oob_channel!r}")
    require(is_set(enrollment.oob_code), f"{label}: /mfa/associate email without oob_code")
    require(value(enrollment.binding_method) == "prompt", f"{label}: binding_method {enrollment.binding_method!r}")
    binding_code = wait_for_code(pattern, seen, f"email verification code for {email}")
    step_line(
        f"{label} POST /mfa/associate factor email -> 200 MfaAssociateResponse (oob_code); binding code from the log"
    )

    tokens = check(
        mfa_verify.sync_detailed(
            client=bearer,
            body=models.MfaVerifyWithOobCode(oob_code=enrollment.oob_code, binding_code=binding_code),
        ),
        200,
        models.TokenSet,
        f"{label} /mfa/verify oob_code",
    )
    expect_tokens(tokens, f"{label} /mfa/verify oob_code")
    step_line(f"{label} POST /mfa/verify oob_code + binding_code -> 200 TokenSet")


def main() -> int:
    global BASE_URL, LOG_PATH
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    BASE_URL, LOG_PATH = sys.argv[1].rstrip("/"), sys.argv[2]
    client = Client(base_url=BASE_URL, timeout=TIMEOUT)
    try:
        flow_plain_login(client)
        flow_mfa_otp(client)
        flow_mfa_email(client)
    except FlowError as error:
        print(f"  FAIL: {error}", file=sys.stderr)
        return 1
    print(f"  end to end: {STEPS} calls through the generated client, every status and model as documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
