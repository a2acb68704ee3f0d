#!/usr/bin/env bash
# The generator matrix (issue 14): mainstream client generators turn the
# committed openapi/openapi.json into working clients.
#
#   openapi-python-client       generates without a single warning, every
#                               operation present, installs and imports
#   openapi-generator python    every operation, imports, all modules compile
#   openapi-generator typescript-fetch, @hey-api/openapi-ts
#                               every operation, `tsc --strict` compiles the
#                               client and a typed use of it (openapi/clients/usage/)
#   openapi-generator kotlin    every operation, every model import resolves,
#                               each oneOf request body a sealed interface
#                               with one class per branch (no Gradle here, so
#                               not compiled)
#   end to end                  the openapi-python-client package drives a
#                               `login-gateway --demo` (generated_client_flow.py):
#                               login, refresh, revoke, MFA (otp, recovery
#                               code, email)
# No output may name a type made of a null-only schema (Null, ModelNull, ...).
# Prints a matrix at the end; exits non-zero when any row failed.
#
# Installs its own pinned tools: Python ones into target/openapi-ci/generators-venv
# (openapi/ci/generators-requirements.txt; openapi-generator is the PyPI wheel
# that bundles the jar, run with `java`: Debian's default-jre-headless is
# installed when java is missing), npm ones from openapi/clients/package-lock.json.
# Needs network access to PyPI, npm and Debian only; nothing is downloaded
# while generating. Output goes to target/openapi-ci/clients/. Run from anywhere:
#   bash openapi/ci/generators.sh [DOCUMENT]
# DOCUMENT (default openapi/openapi.json) tries another document; the end to
# end row then fails unless the gateway serves that same document.
# LOGIN_GATEWAY_BIN=path skips `cargo build` and runs that demo binary.
set -euo pipefail
DOC_ARG=""
if [ $# -gt 0 ]; then DOC_ARG="$(realpath "$1")"; fi
cd "$(dirname "$0")/../.."

step() { printf '\n==> %s\n' "$*"; }

DOC="${DOC_ARG:-$(pwd)/openapi/openapi.json}"
WORK=target/openapi-ci
VENV="$WORK/generators-venv"
OUT="$WORK/clients"
mkdir -p "$WORK"
WORK_ABS="$(cd "$WORK" && pwd)"
REPO_ABS="$(pwd)"
VENV_ABS="$WORK_ABS/generators-venv"
PY="$VENV_ABS/bin/python"
CHECK=("$PY" openapi/ci/check_generated_clients.py)
OPC_VERSION=0.29.1
OG_VERSION=7.26.0
HEY_VERSION=0.95.0
PYTHON_PACKAGE=login_gateway_client   # openapi-python-client's package
OG_PYTHON_PACKAGE=login_gateway_og    # openapi-generator python's package
START=$SECONDS

step "generators: java for openapi-generator"
if ! command -v java >/dev/null 2>&1; then
    timeout 600 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq default-jre-headless
fi
java -version 2>&1 | head -n 1

step "generators: install pinned Python tools (openapi/ci/generators-requirements.txt)"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
timeout 900 "$VENV/bin/pip" install --quiet --disable-pip-version-check -r openapi/ci/generators-requirements.txt
"$VENV/bin/openapi-python-client" --version
OG_JAR="$("$PY" -c 'import importlib.resources as r; print(r.files("openapi_generator_cli") / "openapi-generator.jar")')"
test -s "$OG_JAR" || { echo "no bundled openapi-generator.jar at $OG_JAR" >&2; exit 1; }
echo "openapi-generator: $OG_JAR"

step "generators: install pinned npm tools (openapi/clients/package-lock.json)"
(cd openapi/clients && timeout 600 npm ci --no-audit --no-fund --loglevel=error)

rm -rf "$OUT"
mkdir -p "$OUT"

# --- the matrix: each row runs in its own `set -e` subshell -----------------
ROWS=()
FAILED=0
row() {
    local name="$1"
    shift
    step "$name"
    local rc=0 log="$OUT/row-${#ROWS[@]}.log" reason
    set +e
    (set -e; "$@") 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    set -e
    if [ "$rc" -eq 0 ]; then
        ROWS+=("$name|ok")
    else
        reason="$(grep -m 1 -o 'FAIL: .*' "$log" | cut -c7-200 || true)"
        ROWS+=("$name|FAILED: ${reason:-exit $rc, see its log above}")
        FAILED=1
    fi
    return 0
}

# openapi-generator, without network: the bundled jar, a bounded run.
openapi_generator() {
    timeout 300 java -jar "$OG_JAR" generate -i "$DOC" "$@"
}

og_failed() {
    tail -n 40 "$3" >&2
    echo "  FAIL: openapi-generator $1 exited $2: $(grep -m 1 -E 'Exception|ERROR' "$3" | cut -c1-300)" >&2
    exit 1
}

# Only the first line of each distinct WARN of openapi-generator, for the log.
show_warnings() {
    grep -E '\b(WARN|ERROR)\b' "$1" | sed -E 's/^\[main\] //' | sort | uniq -c || true
}

opc_row() {
    local out="$OUT/openapi-python-client" log="$OUT/openapi-python-client.log" rc=0
    printf 'project_name_override: login-gateway-client\npackage_name_override: %s\n' \
        "$PYTHON_PACKAGE" >"$WORK/openapi-python-client.yaml"
    # ruff (pinned, in the venv) is its post-generation formatter.
    PATH="$VENV_ABS/bin:$PATH" timeout 300 "$VENV/bin/openapi-python-client" generate \
        --path "$DOC" --output-path "$out" --meta setup --overwrite \
        --config "$WORK/openapi-python-client.yaml" --fail-on-warning >"$log" 2>&1 || rc=$?
    cat "$log"
    "${CHECK[@]}" generator-output "$log"
    if [ "$rc" -ne 0 ]; then echo "  FAIL: openapi-python-client exited $rc" >&2; exit 1; fi
    "${CHECK[@]}" operations openapi-python-client "$DOC" "$out"
    "${CHECK[@]}" unknown-types "$out"
    timeout 300 "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps \
        --no-build-isolation --force-reinstall "$out"
    (cd "$WORK_ABS" && "$PY" -c "
import importlib, pkgutil, $PYTHON_PACKAGE as p
names = [m.name for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.')]
for name in names:
    importlib.import_module(name)
print(f'  installed; {len(names)} modules import')
")
}

og_python_row() {
    local out="$OUT/openapi-generator-python" log="$OUT/openapi-generator-python.log" rc=0
    openapi_generator -g python -o "$out" --package-name "$OG_PYTHON_PACKAGE" >"$log" 2>&1 || rc=$?
    show_warnings "$log"
    if [ "$rc" -ne 0 ]; then og_failed python "$rc" "$log"; fi
    "${CHECK[@]}" operations openapi-generator-python "$DOC" "$out"
    "${CHECK[@]}" unknown-types "$out"
    "$PY" -m compileall -q "$out/$OG_PYTHON_PACKAGE"
    (cd "$out" && PYTHONDONTWRITEBYTECODE=1 "$PY" -c "
import importlib, pkgutil
import $OG_PYTHON_PACKAGE as p, $OG_PYTHON_PACKAGE.api, $OG_PYTHON_PACKAGE.models
names = [m.name for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.')]
for name in names:
    importlib.import_module(name)
print(f'  all modules compile; {len(names)} modules import (pydantic, python-dateutil, urllib3 from the venv)')
")
}

og_typescript_fetch_row() {
    local out="$OUT/openapi-generator-typescript-fetch" log="$OUT/openapi-generator-typescript-fetch.log" rc=0
    openapi_generator -g typescript-fetch -o "$out" >"$log" 2>&1 || rc=$?
    show_warnings "$log"
    if [ "$rc" -ne 0 ]; then og_failed typescript-fetch "$rc" "$log"; fi
    "${CHECK[@]}" operations typescript-fetch "$DOC" "$out"
    "${CHECK[@]}" unknown-types "$out"
    (cd openapi/clients && timeout 300 npx --no-install tsc --strict -p tsconfig.typescript-fetch.json) ||
        { echo "  FAIL: tsc --strict: the typescript-fetch client or usage/typescript-fetch.ts does not compile" >&2; exit 1; }
    echo "  tsc --strict: the client and usage/typescript-fetch.ts compile"
}

# Kotlin: the default (moshi) serialisation merges a oneOf into one class
# with every branch's fields; kotlinx_serialization with
# generateOneOfAnyOfWrappers (library jvm-retrofit2) writes a sealed
# interface with one class per branch, which is what a client of the
# either/or bodies needs.
og_kotlin_row() {
    local out="$OUT/openapi-generator-kotlin" log="$OUT/openapi-generator-kotlin.log" rc=0
    openapi_generator -g kotlin -o "$out" --library jvm-retrofit2 \
        --additional-properties serializationLibrary=kotlinx_serialization,generateOneOfAnyOfWrappers=true \
        >"$log" 2>&1 || rc=$?
    show_warnings "$log"
    if [ "$rc" -ne 0 ]; then og_failed kotlin "$rc" "$log"; fi
    "${CHECK[@]}" operations kotlin "$DOC" "$out"
    "${CHECK[@]}" unknown-types "$out"
    "${CHECK[@]}" kotlin-oneof "$DOC" "$out"
}

hey_api_row() {
    local out="$OUT/hey-api" log="$OUT/hey-api.log" rc=0
    (cd openapi/clients && NO_COLOR=1 timeout 300 npx --no-install openapi-ts \
        -i "$DOC" -o "$WORK_ABS/clients/hey-api" --no-log-file) >"$log" 2>&1 || rc=$?
    sed -E 's/\x1b\[[0-9;]*m//g' "$log"
    if [ "$rc" -ne 0 ]; then echo "  FAIL: @hey-api/openapi-ts exited $rc" >&2; exit 1; fi
    "${CHECK[@]}" operations hey-api "$DOC" "$out"
    "${CHECK[@]}" unknown-types "$out"
    (cd openapi/clients && timeout 300 npx --no-install tsc --strict -p tsconfig.hey-api.json) ||
        { echo "  FAIL: tsc --strict: the hey-api client or usage/hey-api.ts does not compile" >&2; exit 1; }
    echo "  tsc --strict: the client and usage/hey-api.ts compile"
}

flow_row() {
    if [ ! -d "$OUT/openapi-python-client" ] || ! "$PY" -c "import $PYTHON_PACKAGE" 2>/dev/null; then
        echo "  FAIL: no installed openapi-python-client package to drive the gateway with" >&2
        exit 1
    fi
    local bin="${LOGIN_GATEWAY_BIN:-}"
    if [ -z "$bin" ]; then
        timeout 1800 cargo build --quiet --bin login-gateway
        bin=./target/debug/login-gateway
    fi
    local port base log="$WORK_ABS/generators-gateway.log"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    base="http://127.0.0.1:$port"
    # The same raised limits as run.sh's schemathesis run.
    env \
        GATEWAY__SERVER__BIND="127.0.0.1:$port" \
        GATEWAY__RATE_LIMIT__PER_IP=100000/second \
        GATEWAY__RATE_LIMIT__LOGIN_START_PER_IP=100000/second \
        GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER=100000/second \
        GATEWAY__RATE_LIMIT__VERIFY_PER_IDENTIFIER=100000/second \
        GATEWAY__RATE_LIMIT__MFA_VERIFY_PER_TOKEN=100000/second \
        GATEWAY__RATE_LIMIT__SMS_GLOBAL=100000/second \
        GATEWAY__RATE_LIMIT__LOGIN_START_PER_IDENTIFIER_IP=100000/second \
        GATEWAY__RATE_LIMIT__VERIFY_PER_IDENTIFIER_IP=100000/second \
        GATEWAY__RATE_LIMIT__SMS_PER_PHONE=100000/second \
        GATEWAY__SMS__FRAUD_GUARD__ENABLED=false \
        RUST_LOG=warn \
        "$bin" --demo >"$log" 2>&1 &
    GATEWAY_PID=$!
    trap 'if kill -0 "$GATEWAY_PID" 2>/dev/null; then kill -TERM "$GATEWAY_PID"; wait "$GATEWAY_PID" || true; fi' EXIT
    trap 'exit 143' INT TERM
    local ready=0
    for _ in $(seq 1 100); do
        if curl -fsS "$base/readyz" >/dev/null 2>&1; then ready=1; break; fi
        if ! kill -0 "$GATEWAY_PID" 2>/dev/null; then break; fi
        sleep 0.1
    done
    if [ "$ready" -ne 1 ]; then
        echo "  FAIL: the demo gateway is not ready:" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
    curl -fsS "$base/openapi.json" | cmp -s - "$DOC" ||
        { echo "  FAIL: GET /openapi.json of $bin is not $DOC (a stale build?)" >&2; exit 1; }
    (cd "$WORK_ABS" && timeout 120 "$PY" "$REPO_ABS/openapi/ci/generated_client_flow.py" "$base" "$log") ||
        { echo "  FAIL: generated_client_flow.py; gateway log: $log" >&2; exit 1; }
}

row "openapi-python-client $OPC_VERSION" opc_row
row "openapi-generator $OG_VERSION python" og_python_row
row "openapi-generator $OG_VERSION typescript-fetch" og_typescript_fetch_row
row "openapi-generator $OG_VERSION kotlin" og_kotlin_row
row "@hey-api/openapi-ts $HEY_VERSION" hey_api_row
row "end to end: openapi-python-client client vs login-gateway --demo" flow_row

step "generator matrix: ${DOC#"$REPO_ABS"/} (sha256 $(sha256sum "$DOC" | cut -c1-12)), $((SECONDS - START)) s"
for entry in "${ROWS[@]}"; do
    printf '  %-66s | %s\n' "${entry%%|*}" "${entry#*|}"
done
exit "$FAILED"
