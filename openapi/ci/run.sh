#!/usr/bin/env bash
# The OpenAPI proofs of .ci/run: the committed openapi/openapi.json is a
# valid OpenAPI 3.1 document (openapi-spec-validator), passes Redocly's
# linter, generates TypeScript types a typed client compiles against, and a
# running `login-gateway --demo` conforms to it (schemathesis, every check).
#
# Installs its own pinned tools: Python ones into a venv under
# target/openapi-ci/, npm ones from openapi/typescript-check/package-lock.json.
# Needs network access to PyPI and npm only. Run from anywhere:
#   bash openapi/ci/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

step() { printf '\n==> %s\n' "$*"; }

WORK=target/openapi-ci
mkdir -p "$WORK"
WORK_ABS="$(cd "$WORK" && pwd)"
REPO_ABS="$(pwd)"

step "openapi: install pinned Python tools (openapi/ci/requirements.txt)"
if [ ! -x "$WORK/venv/bin/python" ]; then
    python3 -m venv "$WORK/venv"
fi
"$WORK/venv/bin/pip" install --quiet --disable-pip-version-check -r openapi/ci/requirements.txt
"$WORK/venv/bin/schemathesis" --version

step "openapi: openapi-spec-validator openapi/openapi.json"
"$WORK/venv/bin/openapi-spec-validator" openapi/openapi.json

step "openapi: install pinned npm tools (openapi/typescript-check/package-lock.json)"
(cd openapi/typescript-check && npm ci --no-audit --no-fund --loglevel=error)

step "openapi: redocly lint openapi/openapi.json"
(cd openapi/typescript-check && npx --no-install redocly lint ../openapi.json --config ../redocly.yaml)

step "openapi: openapi-typescript types + tsc --noEmit of a typed client"
(cd openapi/typescript-check &&
    npx --no-install openapi-typescript ../openapi.json --output generated/schema.d.ts &&
    npx --no-install tsc --noEmit -p tsconfig.json)

step "openapi: schemathesis against login-gateway --demo"
cargo build --quiet --bin login-gateway
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
LOG="$WORK_ABS/gateway.log"
# Limits raised for the fuzzing run only, through the ordinary settings;
# passkeys on, so their documented routes are served (off, they are 404).
env \
    GATEWAY__SERVER__BIND="127.0.0.1:$PORT" \
    GATEWAY__RATE_LIMIT__PER_IP=100000/second \
    GATEWAY__RATE_LIMIT__LOGIN_START_PER_IP=100000/second \
    GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER=100000/second \
    GATEWAY__RATE_LIMIT__VERIFY_PER_IDENTIFIER=100000/second \
    GATEWAY__RATE_LIMIT__MFA_VERIFY_PER_TOKEN=100000/second \
    GATEWAY__RATE_LIMIT__SMS_GLOBAL=100000/second \
    GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER_IP=100000/second \
    GATEWAY__RATE_LIMIT__VERIFY_PER_IDENTIFIER_IP=100000/second \
    GATEWAY__RATE_LIMIT__SMS_PER_PHONE=100000/second \
    GATEWAY__RATE_LIMIT__PASSKEY_REGISTER_PER_IP=100000/second \
    GATEWAY__SMS__FRAUD_GUARD__ENABLED=false \
    GATEWAY__PASSKEY__ENABLED=true \
    RUST_LOG=warn \
    ./target/debug/login-gateway --demo >"$LOG" 2>&1 &
GATEWAY_PID=$!
stop_gateway() {
    if kill -0 "$GATEWAY_PID" 2>/dev/null; then
        kill -TERM "$GATEWAY_PID" 2>/dev/null || true
        wait "$GATEWAY_PID" 2>/dev/null || true
    fi
}
trap stop_gateway EXIT
trap 'exit 143' INT TERM
for _ in $(seq 1 100); do
    if curl -fsS "$BASE/readyz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$GATEWAY_PID" 2>/dev/null; then
        echo "the demo gateway exited:" >&2
        tail -n 40 "$LOG" >&2
        exit 1
    fi
    sleep 0.1
done
curl -fsS "$BASE/openapi.json" | cmp - openapi/openapi.json ||
    { echo "GET /openapi.json differs from openapi/openapi.json" >&2; exit 1; }
GATEWAY_MFA_TOKEN="$("$WORK/venv/bin/python" openapi/ci/demo_mfa_token.py "$BASE" "$LOG")"
export GATEWAY_MFA_TOKEN
(cd "$WORK_ABS" &&
    "$WORK_ABS/venv/bin/schemathesis" --config-file "$REPO_ABS/openapi/schemathesis.toml" \
        run "$BASE/openapi.json" --checks all --no-color) ||
    { echo "schemathesis failed; gateway log: $LOG" >&2; exit 1; }
stop_gateway
trap - EXIT INT TERM
timeout 1500 bash openapi/ci/generators.sh
