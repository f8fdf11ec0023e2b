#!/usr/bin/env bash
# Runs schemathesis against a running tessera with its own /openapi.json: every route, a
# bounded number of examples, all checks. Fails on any 5xx, any response the document does
# not describe, or a crash.
#   usage: scripts/schemathesis.sh           (after `cargo test` or `cargo build`)
# Uses the debug binary the test build made ($CARGO_TARGET_DIR or target/), so CI does not
# build twice. Without python3 (a user's machine) it says so and exits 0; .ci/run has it.
set -euo pipefail
cd "$(dirname "$0")/.."

req=scripts/schemathesis-requirements.txt
binary="${CARGO_TARGET_DIR:-target}/debug/tessera"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-100}"

if ! command -v python3 >/dev/null; then
  echo "schemathesis: SKIPPED, python3 is not installed" >&2
  exit 0
fi
if [ ! -x "$binary" ]; then
  echo "schemathesis: $binary is missing; run 'cargo build' (or 'cargo test') first" >&2
  exit 1
fi

# The venv is cached by a digest of the pinned requirements: pip runs only when they change.
digest=$(sha256sum "$req" | cut -c1-16)
venv="${TESSERA_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera}/schemathesis-$digest"
if [ ! -x "$venv/bin/st" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" \
    || { echo "schemathesis: pip install failed (offline?)" >&2; rm -rf "$venv"; exit 1; }
fi

workdir=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$workdir"
}
trap cleanup EXIT

# A free loopback port: bind port 0 and read back what the kernel chose.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
base="http://127.0.0.1:$port"

# Cheap Argon2 and no rate limits: the run is about the contract, not about abuse defences
# (a 429 would only hide the request behind it). Mail goes to the log transport, so the
# recovery routes are exercised past `501 email_not_configured`.
env -i PATH="$PATH" HOME="$workdir" \
  TESSERA_LISTEN="127.0.0.1:$port" \
  TESSERA_DATA_DIR="$workdir/data" \
  TESSERA_LOG_FORMAT=json TESSERA_LOG_LEVEL=warn \
  TESSERA_ARGON2__MEMORY_KIB=1024 TESSERA_ARGON2__ITERATIONS=1 \
  TESSERA_RATE_LIMITS__LOGIN_PER_IP__PER_MINUTE=0 \
  TESSERA_RATE_LIMITS__LOGIN_PER_USER_IP__PER_MINUTE=0 \
  TESSERA_RATE_LIMITS__REGISTER_PER_IP__PER_MINUTE=0 \
  TESSERA_RATE_LIMITS__REFRESH_PER_IP__PER_MINUTE=0 \
  TESSERA_LOGIN_BACKOFF__THRESHOLD=0 \
  TESSERA_EMAIL__TRANSPORT=log TESSERA_EMAIL__PUBLIC_URL="$base" \
  "$binary" serve >"$workdir/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 50); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$workdir/server.log" >&2; echo "schemathesis: tessera did not start" >&2; exit 1; }
  sleep 0.2
done

# A real account and access token, so protected routes are exercised past the 401.
curl -fsS -X POST "$base/register" -H 'content-type: application/json' \
  -d '{"username":"schemathesis","password":"correct-horse-battery-staple"}' >/dev/null
token=$(curl -fsS -X POST "$base/login" -H 'content-type: application/json' \
  -d '{"username":"schemathesis","password":"correct-horse-battery-staple"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

# ASCII strings: password limits are in UTF-8 bytes, which JSON Schema (counting
# characters) can state exactly only for ASCII.
echo "== schemathesis $(grep '^schemathesis==' "$req" | cut -d= -f3) against $base ($max_examples examples per operation)"
status=0
NO_COLOR=1 timeout 300 "$venv/bin/st" --config-file scripts/schemathesis.toml run "$base/openapi.json" \
  --checks all \
  --max-examples "$max_examples" \
  --header "Authorization: Bearer $token" \
  --seed 1 \
  --generation-codec ascii \
  || status=$?
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "schemathesis: tessera crashed during the run" >&2
  cat "$workdir/server.log" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "schemathesis: FAILED (exit $status); server log:" >&2
  tail -n 50 "$workdir/server.log" >&2
fi
exit "$status"
