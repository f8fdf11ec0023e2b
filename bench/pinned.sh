#!/usr/bin/env bash
# Pinned wall-clock benchmark: the server under test on core 0 (taskset -c 0), wrk on
# core 1, one server at a time: tessera, the bare axum reference (bench/bare) and the
# seed Flask app (one gunicorn worker).  Cases: GET /healthz, GET /protected with one
# token sent over and over, GET /protected with a different token on every request.
# Reports requests/s, p50/p99 (wrk) and the server's CPU time per request from
# /proc/PID/stat.  Usage and how to read it: bench/README.md ("Pinned wall clock").
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
WRK_DIR=$SCRIPT_DIR/wrk
RESULTS_DIR=$SCRIPT_DIR/results
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"

DURATION=10s
CONNECTIONS=32
# Distinct tokens for the fresh-token case: 2.5x tessera's verified-token cache
# (10,000 entries), so that cycling through them keeps missing it.
FRESH_TOKENS=25000
TESSERA_BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/tessera
SEED_DIR=$(cd "$REPO_ROOT/.." && pwd)/shared/anchors/flask_seed
VENV_DIR=$REPO_ROOT/bench/.venv
BUILD=1
SKIP_FLASK=0
PASSWORD=correct-horse-battery
SETTLE_SECONDS=2

usage() {
  cat <<USAGE
usage: bash bench/pinned.sh [--duration 10s] [--connections 32] [--fresh-tokens 25000]
                            [--no-build] [--skip-flask] [--seed-dir DIR] [--venv DIR]
Server on core 0, wrk (-t1) on core 1; on a one-core machine both run unpinned (said so).
USAGE
}
while [ "$#" -gt 0 ]; do
  case $1 in
    --duration) DURATION=${2:?}; shift 2 ;;
    --connections) CONNECTIONS=${2:?}; shift 2 ;;
    --fresh-tokens) FRESH_TOKENS=${2:?}; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --skip-flask) SKIP_FLASK=1; shift ;;
    --seed-dir) SEED_DIR=$(abspath "${2:?}"); shift 2 ;;
    --venv) VENV_DIR=$(abspath "${2:?}"); shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ $DURATION =~ ^[1-9][0-9]*[smh]?$ ]] || die "--duration: expected e.g. 10s or 1m, got '$DURATION'"
for tool in wrk curl python3 taskset; do command -v "$tool" >/dev/null || die "$tool not found"; done

pin_server_and_load

[ "$BUILD" = 0 ] || build_release
[ -x "$TESSERA_BIN" ] || die "tessera binary not found at $TESSERA_BIN (cargo build --release)"
[ -x "$BARE_BIN" ] || die "bare reference not found at $BARE_BIN (cd bench/bare && cargo build --release)"

start_work tessera-pinned
mkdir -p "$RESULTS_DIR/raw"

SECRET=$(random_hex 32)
USERNAME="pin$(random_hex 4)"
declare -A R=()
CLK_TCK=$(getconf CLK_TCK)

# measure SERVER CASE URL PID SCRIPT [VAR=value ...]: one pinned wrk run; stores rps,
# p50, p99 and the server's CPU µs per request in R[SERVER.CASE.*].
measure() {
  local server=$1 case=$2 url=$3 pid=$4 script=$5 out line kv t0 t1
  shift 5
  out=$RESULTS_DIR/raw/pinned-$case-$server.txt
  log "$case on $server: ${LOAD_PREFIX[*]:-} wrk -t1 -c$CONNECTIONS -d$DURATION"
  t0=$(cpu_ticks "$pid")
  env "$@" ${LOAD_PREFIX[@]+"${LOAD_PREFIX[@]}"} wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --timeout 30s --latency \
    -s "$WRK_DIR/$script" "$url" >"$out" 2>&1 || warn "wrk failed for $case on $server (see $out)"
  t1=$(cpu_ticks "$pid")
  line=$(grep '^RESULT ' "$out" | tail -n1 || true)
  [ -n "$line" ] || { warn "no RESULT line from wrk ($out)"; return 0; }
  for kv in ${line#RESULT }; do R[$server.$case.${kv%%=*}]=${kv#*=}; done
  R[$server.$case.cpu_us]=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="${R[$server.$case.requests]}" \
    'BEGIN { if (n > 0) printf "%.1f", d / hz * 1e6 / n; else print "n/a" }')
  [ "${R[$server.$case.non2xx]}" = 0 ] || warn "$case on $server: ${R[$server.$case.non2xx]} non-2xx (${R[$server.$case.statuses]})"
  log "  -> ${R[$server.$case.rps]} rps, p50 ${R[$server.$case.p50_ms]} ms, p99 ${R[$server.$case.p99_ms]} ms, ${R[$server.$case.cpu_us]} µs CPU/request"
  sleep "$SETTLE_SECONDS"
}

# ---- tessera: also mints the tokens tessera and the bare route are measured with ----
start_tessera
log "minting $FRESH_TOKENS access tokens by successive refreshes"
python3 "$SCRIPT_DIR/keepalive_client.py" tokens 127.0.0.1 "$TESSERA_PORT" "$USERNAME" "$PASSWORD" \
  "$FRESH_TOKENS" "$WORK/tokens.all" >/dev/null || die "could not mint tokens on tessera"
# The login's token is the repeated one; the refreshes' tokens are the fresh ones.
REPEATED=$(head -n1 "$WORK/tokens.all")
tail -n +2 "$WORK/tokens.all" >"$WORK/tokens.fresh"
measure tessera healthz "$TESSERA_URL/healthz" "$TESSERA_PID" healthz.lua
measure tessera repeated "$TESSERA_URL/protected" "$TESSERA_PID" protected.lua BENCH_ACCESS_TOKEN="$REPEATED"
measure tessera fresh "$TESSERA_URL/protected" "$TESSERA_PID" protected_tokens.lua BENCH_TOKEN_FILE="$WORK/tokens.fresh"
stop_pid "$TESSERA_PID"

# ---- bare: the same tokens (tessera signs HS256 with JWT_SECRET_KEY itself) ----
start_bare
measure bare healthz "$BARE_URL/healthz" "$BARE_PID" healthz.lua
measure bare repeated "$BARE_URL/protected" "$BARE_PID" protected.lua BENCH_ACCESS_TOKEN="$REPEATED"
measure bare fresh "$BARE_URL/protected" "$BARE_PID" protected_tokens.lua BENCH_TOKEN_FILE="$WORK/tokens.fresh"
stop_pid "$BARE_PID"

# ---- the seed Flask app, one worker on the server core ----
FLASK_NOTE=""
if [ "$SKIP_FLASK" = 1 ]; then
  FLASK_NOTE="skipped (--skip-flask)"
else
  FLASK_WORKERS=1
  if start_flask; then
    if register_user "$FLASK_URL" && login_user "$FLASK_URL"; then
      mint_flask_tokens "$USERNAME" "$FRESH_TOKENS" "$WORK/flask.fresh"
      measure flask repeated "$FLASK_URL/protected" "$FLASK_PID" protected.lua BENCH_ACCESS_TOKEN="$(json_str access_token "$HTTP_BODY")"
      measure flask fresh "$FLASK_URL/protected" "$FLASK_PID" protected_tokens.lua BENCH_TOKEN_FILE="$WORK/flask.fresh"
    else
      FLASK_NOTE="could not log in on the seed app"
    fi
    stop_pid "$FLASK_PID"
  else
    FLASK_NOTE=$FLASK_REASON
  fi
fi

# ---- report ----
val() { local v=${R[$1]:-}; printf '%s' "${v:-n/a}"; }
echo
echo "pinned wall clock ($PINNING; wrk -t1 -c$CONNECTIONS -d$DURATION; $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
echo
row="%-9s %-9s | %10s | %8s | %8s | %12s\n"
# shellcheck disable=SC2059
printf "$row" server case "rps (2xx)" "p50 ms" "p99 ms" "CPU µs/req"
for server in tessera bare flask; do
  for case in healthz repeated fresh; do
    [ -n "${R[$server.$case.rps]:-}" ] || continue
    # shellcheck disable=SC2059
    printf "$row" "$server" "$case" "$(val "$server.$case.rps")" "$(val "$server.$case.p50_ms")" \
      "$(val "$server.$case.p99_ms")" "$(val "$server.$case.cpu_us")"
  done
done
echo
echo "ratios (rps; CPU per request inverted, so that higher is better for tessera in both):"
for case in healthz repeated fresh; do
  printf '  tessera/bare  %-9s rps %s   CPU %s\n' "$case" \
    "$(ratio "${R[tessera.$case.rps]:-}" "${R[bare.$case.rps]:-}")" "$(ratio "${R[bare.$case.cpu_us]:-}" "${R[tessera.$case.cpu_us]:-}")"
done
for case in repeated fresh; do
  printf '  tessera/flask %-9s rps %s   CPU %s\n' "$case" \
    "$(ratio "${R[tessera.$case.rps]:-}" "${R[flask.$case.rps]:-}")" "$(ratio "${R[flask.$case.cpu_us]:-}" "${R[tessera.$case.cpu_us]:-}")"
done
[ -z "$FLASK_NOTE" ] || echo "  flask: $FLASK_NOTE"
echo "(raw wrk output: $RESULTS_DIR/raw/pinned-*.txt)"
