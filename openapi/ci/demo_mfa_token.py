#!/usr/bin/env python3
"""Log a user in on a running `login-gateway --demo` up to `403 mfa_required`
and print the `mfa_token`, so schemathesis can call /mfa/* with a real bearer.

Usage: demo_mfa_token.py BASE_URL GATEWAY_LOG

The demo tenant prints the one-time codes it "sends" to the gateway's
stderr; GATEWAY_LOG is the file that stderr goes to. Users whose email
starts with `mfa+` must pass a second factor in the demo.
"""

import json
import re
import sys
import time
import urllib.error
import urllib.request
import uuid


def post(base_url: str, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        base_url.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def main() -> int:
    base_url, log_path = sys.argv[1], sys.argv[2]
    email = f"mfa+schemathesis-{uuid.uuid4().hex[:8]}@example.com"
    status, body = post(base_url, "/login/start", {"email": email})
    if status != 200:
        print(f"/login/start answered {status}: {body}", file=sys.stderr)
        return 1
    pattern = re.compile(re.escape(email) + r": your one-time code is (\d+)")
    code = None
    deadline = time.monotonic() + 10
    while code is None and time.monotonic() < deadline:
        with open(log_path, encoding="utf-8", errors="replace") as log:
            match = pattern.search(log.read())
        if match:
            code = match.group(1)
        else:
            time.sleep(0.2)
    if code is None:
        print(f"no one-time code for {email} in {log_path}", file=sys.stderr)
        return 1
    status, body = post(base_url, "/login/verify", {"email": email, "code": code})
    if status != 403 or body.get("error") != "mfa_required" or not body.get("mfa_token"):
        print(f"/login/verify answered {status} {body.get('error')}, not 403 mfa_required", file=sys.stderr)
        return 1
    print(body["mfa_token"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
