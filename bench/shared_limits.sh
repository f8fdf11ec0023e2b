#!/usr/bin/env bash
# The cost of shared rate limits, in one run: login and register throughput of one
# tessera on PostgreSQL with its limits counted per process (`memory`, the reference),
# in the database (`database`, the default on PostgreSQL) and in Redis, reported as
# ratios to the reference. The limits are set so high that nothing is refused: every
# request pays the check and nothing else changes.
#
#   cargo build --release && bash bench/shared_limits.sh [--duration 10s] [--cheap-hash]
#
# --cheap-hash runs Argon2id at 1 MiB / 1 pass, so the check's share of a request shows;
# without it the default Argon2id dominates and the ratios show what users would see.
# Needs wrk, curl, psql (PostgreSQL at $BENCH_DATABASE_URL, default
# postgres://postgres@127.0.0.1:5432/test) and Redis at $BENCH_REDIS_URL
# (default redis://127.0.0.1:6379/). Writes bench/results/shared_limits.json (git-ignored).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
WRK_DIR=$SCRIPT_DIR/wrk
RESULTS_DIR=$SCRIPT_DIR/results
TESSERA_BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/tessera
ADMIN_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/}
DURATION=10s
CHEAP_HASH=0
PASSWORD=correct-horse-battery

while [ "$#" -gt 0 ]; do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --cheap-hash) CHEAP_HASH=1; shift ;;
    --tessera-bin) TESSERA_BIN=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown flag $1 (see --help)" >&2; exit 1 ;;
  esac
done

log() { printf '[shared-limits] %s\n' "$*" >&2; }
[ -x "$TESSERA_BIN" ] || { log "no tessera binary at $TESSERA_BIN: run cargo build --release"; exit 1; }
for tool in wrk curl psql; do
  command -v "$tool" >/dev/null || { log "$tool is needed"; exit 1; }
done

WORK=$(mktemp -d)
SERVER_PID=""
DATABASES=()
cleanup() {
  [ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null || true
  for db in "${DATABASES[@]}"; do psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
with_database() { sed -E "s#/[^/?]*(\\?|\$)#/$1\\1#" <<<"$ADMIN_URL"; }

# Runs wrk; prints the RESULT line's rps (2xx per second).
run_wrk() {
  local script=$1 url=$2 out
  shift 2
  out=$(env "$@" wrk -t2 -c16 -d"$DURATION" --timeout 30s -s "$WRK_DIR/$script.lua" "$url" 2>&1)
  sed -n 's/^RESULT .* rps=\([0-9.]*\) .*/\1/p' <<<"$out" | tail -n1
}

HIGH=1000000
hash_env=()
if [ "$CHEAP_HASH" = 1 ]; then
  hash_env=(TESSERA_ARGON2__MEMORY_KIB=1024 TESSERA_ARGON2__ITERATIONS=1)
fi

declare -A R
for mode in memory database redis; do
  db="tessera_bench_limits_${mode}_$$"
  psql -q "$ADMIN_URL" -c "CREATE DATABASE \"$db\"" >/dev/null
  DATABASES+=("$db")
  limit_url=$mode
  [ "$mode" = redis ] && limit_url=$REDIS_URL
  port=$(free_port)
  url=http://127.0.0.1:$port
  log "$mode: starting tessera on $url"
  env "${hash_env[@]}" TESSERA_DATABASE_URL="$(with_database "$db")" TESSERA_RATE_LIMIT_URL="$limit_url" \
    TESSERA_LOG_LEVEL=warn \
    TESSERA_RATE_LIMITS__LOGIN_PER_IP__PER_MINUTE=$HIGH TESSERA_RATE_LIMITS__LOGIN_PER_IP__BURST=$HIGH \
    TESSERA_RATE_LIMITS__LOGIN_PER_USER_IP__PER_MINUTE=$HIGH TESSERA_RATE_LIMITS__LOGIN_PER_USER_IP__BURST=$HIGH \
    TESSERA_RATE_LIMITS__REGISTER_PER_IP__PER_MINUTE=$HIGH TESSERA_RATE_LIMITS__REGISTER_PER_IP__BURST=$HIGH \
    "$TESSERA_BIN" serve --listen "127.0.0.1:$port" --data-dir "$WORK/$mode" >"$WORK/$mode.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.1; done
  curl -s -X POST -H 'Content-Type: application/json' \
    -d "{\"username\":\"bench$mode\",\"password\":\"$PASSWORD\"}" "$url/register" >/dev/null

  log "  register (wrk -t2 -c16 -d$DURATION)"
  R[$mode.register]=$(run_wrk register "$url/register" BENCH_PREFIX="$mode$RANDOM" BENCH_PASSWORD="$PASSWORD")
  sleep 1
  log "  login"
  R[$mode.login]=$(run_wrk login "$url/login" BENCH_USERNAME="bench$mode" BENCH_PASSWORD="$PASSWORD")
  if grep -q "shared rate limits unreachable" "$WORK/$mode.log"; then
    log "  WARNING: the shared store was unreachable at times; those checks used the fallback:"
    grep -m1 "shared rate limits unreachable" "$WORK/$mode.log" | cut -c1-300 >&2
  fi
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
done

ratio() { python3 -c "import sys; a,b=float(sys.argv[1] or 0),float(sys.argv[2] or 0); print(f'{a/b:.2f}' if b else 'n/a')" "$1" "$2"; }
printf '\n%-10s %12s %12s %10s %10s\n' mode "register/s" "login/s" "reg ratio" "login ratio"
for mode in memory database redis; do
  printf '%-10s %12s %12s %10s %10s\n' "$mode" "${R[$mode.register]}" "${R[$mode.login]}" \
    "$(ratio "${R[$mode.register]}" "${R[memory.register]}")" "$(ratio "${R[$mode.login]}" "${R[memory.login]}")"
done
mkdir -p "$RESULTS_DIR"
printf '{"cheap_hash":%s,"memory":{"register":%s,"login":%s},"database":{"register":%s,"login":%s},"redis":{"register":%s,"login":%s}}\n' \
  "$CHEAP_HASH" "${R[memory.register]:-0}" "${R[memory.login]:-0}" "${R[database.register]:-0}" \
  "${R[database.login]:-0}" "${R[redis.register]:-0}" "${R[redis.login]:-0}" >"$RESULTS_DIR/shared_limits.json"
