#!/usr/bin/env bash
# SQLite durability benchmark, in one run: register and refresh throughput with
# `synchronous = NORMAL` and `FULL` (reported as FULL/NORMAL ratios), and for each the
# largest write-ahead log under the refresh load, its size after the server has idled,
# and whether a clean stop (SIGTERM) left one behind.
#
#   cargo build --release && bash bench/durability.sh [--duration 10s] [--idle 25]
#
# Needs wrk and curl. Writes bench/results/durability.json (git-ignored).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
WRK_DIR=$SCRIPT_DIR/wrk
RESULTS_DIR=$SCRIPT_DIR/results
TESSERA_BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/tessera
DURATION=10s
# Longer than the checkpoint interval (10 s by default): the idle truncation must have run.
IDLE_SECONDS=25
PASSWORD=correct-horse-battery

while [ "$#" -gt 0 ]; do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --idle) IDLE_SECONDS=$2; shift 2 ;;
    --tessera-bin) TESSERA_BIN=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown flag $1 (see --help)" >&2; exit 1 ;;
  esac
done

log() { printf '[durability] %s\n' "$*" >&2; }
[ -x "$TESSERA_BIN" ] || { log "no tessera binary at $TESSERA_BIN: run cargo build --release"; exit 1; }
command -v wrk >/dev/null || { log "wrk is needed (apt-get install wrk)"; exit 1; }

WORK=$(mktemp -d)
SERVER_PID=""
SAMPLER_PID=""
cleanup() {
  [ -z "$SAMPLER_PID" ] || kill "$SAMPLER_PID" 2>/dev/null || true
  [ -z "$SERVER_PID" ] || kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }
json_str() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" <<<"$2"; }
post() { curl -s -X POST -H 'Content-Type: application/json' -d "$2" "$1"; }
wal_bytes() { stat -c %s "$1/tessera.db-wal" 2>/dev/null || echo 0; }

# Runs wrk; prints the RESULT line's rps (2xx per second).
run_wrk() {
  local script=$1 url=$2 threads=$3 conns=$4 out
  shift 4
  out=$(env "$@" wrk -t"$threads" -c"$conns" -d"$DURATION" --timeout 30s -s "$WRK_DIR/$script.lua" "$url" 2>&1)
  sed -n 's/^RESULT .* rps=\([0-9.]*\) .*/\1/p' <<<"$out" | tail -n1
}

declare -A R
for mode in normal full; do
  data=$WORK/$mode
  mkdir -p "$data"
  port=$(free_port)
  url=http://127.0.0.1:$port
  log "synchronous=$mode: starting tessera on $url"
  JWT_SECRET_KEY=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=') \
  TESSERA_SQLITE_SYNCHRONOUS=$mode TESSERA_LOG_LEVEL=warn \
  TESSERA_RATE_LIMITS__REGISTER_PER_IP__PER_MINUTE=0 TESSERA_RATE_LIMITS__LOGIN_PER_IP__PER_MINUTE=0 \
  TESSERA_RATE_LIMITS__LOGIN_PER_USER_IP__PER_MINUTE=0 TESSERA_RATE_LIMITS__REFRESH_PER_IP__PER_MINUTE=0 \
    "$TESSERA_BIN" serve --listen "127.0.0.1:$port" --data-dir "$data" >"$WORK/$mode.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do curl -sf "$url/healthz" >/dev/null && break; sleep 0.1; done

  log "  register (default Argon2id, wrk -t2 -c32 -d$DURATION)"
  R[$mode.register]=$(run_wrk register "$url/register" 2 32 BENCH_PREFIX="$mode$RANDOM" BENCH_PASSWORD="$PASSWORD")
  sleep 2

  post "$url/register" "{\"username\":\"chain$mode\",\"password\":\"$PASSWORD\"}" >/dev/null
  tokens=""
  for _ in 1 2 3 4; do
    body=$(post "$url/login" "{\"username\":\"chain$mode\",\"password\":\"$PASSWORD\"}")
    tokens+="$(json_str refresh_token "$body") "
  done
  # The largest log the refresh load makes, sampled every 20 ms.
  ( max=0; while :; do s=$(wal_bytes "$data"); [ "$s" -gt "$max" ] && { max=$s; echo "$max" >"$WORK/$mode.walmax"; }; sleep 0.02; done ) &
  SAMPLER_PID=$!
  log "  refresh (wrk -t4 -c4 -d$DURATION, each connection chaining its tokens)"
  R[$mode.refresh]=$(run_wrk refresh "$url/refresh" 4 4 BENCH_REFRESH_TOKENS="$tokens")
  kill "$SAMPLER_PID"; wait "$SAMPLER_PID" 2>/dev/null || true; SAMPLER_PID=""
  R[$mode.wal_max]=$(cat "$WORK/$mode.walmax" 2>/dev/null || echo 0)
  R[$mode.wal_after_load]=$(wal_bytes "$data")
  log "  idle for ${IDLE_SECONDS}s"
  sleep "$IDLE_SECONDS"
  R[$mode.wal_idle]=$(wal_bytes "$data")
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
  if [ -e "$data/tessera.db-wal" ]; then R[$mode.wal_after_stop]=$(wal_bytes "$data"); else R[$mode.wal_after_stop]=none; fi
  R[$mode.db]=$(stat -c %s "$data/tessera.db")
  log "  register ${R[$mode.register]}/s, refresh ${R[$mode.refresh]}/s, largest WAL ${R[$mode.wal_max]} B, after idle ${R[$mode.wal_idle]} B, after stop ${R[$mode.wal_after_stop]}"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
mib() { awk -v b="$1" 'BEGIN { if (b ~ /^[0-9]+$/) printf "%.1f MiB", b / 1048576; else print b }'; }
echo
echo "SQLite synchronous: NORMAL vs FULL (wrk, one run; 2xx responses per second)"
printf '%-28s %14s %14s %12s\n' "" NORMAL FULL FULL/NORMAL
printf '%-28s %14s %14s %12s\n' "POST /register (Argon2id)" "${R[normal.register]}" "${R[full.register]}" "$(ratio "${R[full.register]}" "${R[normal.register]}")"
printf '%-28s %14s %14s %12s\n' "POST /refresh" "${R[normal.refresh]}" "${R[full.refresh]}" "$(ratio "${R[full.refresh]}" "${R[normal.refresh]}")"
printf '%-28s %14s %14s\n' "largest WAL under refresh" "$(mib "${R[normal.wal_max]}")" "$(mib "${R[full.wal_max]}")"
printf '%-28s %14s %14s\n' "WAL after ${IDLE_SECONDS}s idle" "$(mib "${R[normal.wal_idle]}")" "$(mib "${R[full.wal_idle]}")"
printf '%-28s %14s %14s\n' "WAL after SIGTERM" "${R[normal.wal_after_stop]}" "${R[full.wal_after_stop]}"
printf '%-28s %14s %14s\n' "database file" "$(mib "${R[normal.db]}")" "$(mib "${R[full.db]}")"

mkdir -p "$RESULTS_DIR"
{
  echo "{"
  for mode in normal full; do
    printf '  "%s": {"register_rps": %s, "refresh_rps": %s, "wal_max_bytes": %s, "wal_after_load_bytes": %s, "wal_after_idle_bytes": %s, "wal_after_stop": "%s", "db_bytes": %s},\n' \
      "$mode" "${R[$mode.register]:-0}" "${R[$mode.refresh]:-0}" "${R[$mode.wal_max]}" "${R[$mode.wal_after_load]}" "${R[$mode.wal_idle]}" "${R[$mode.wal_after_stop]}" "${R[$mode.db]}"
  done
  printf '  "ratio_full_normal": {"register": "%s", "refresh": "%s"},\n' "$(ratio "${R[full.register]}" "${R[normal.register]}")" "$(ratio "${R[full.refresh]}" "${R[normal.refresh]}")"
  printf '  "duration": "%s", "idle_seconds": %s\n' "$DURATION" "$IDLE_SECONDS"
  echo "}"
} >"$RESULTS_DIR/durability.json"
log "wrote $RESULTS_DIR/durability.json"
