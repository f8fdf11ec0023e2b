#!/usr/bin/env bash
# Real users during a login flood (issue 23, item 4): 200 clients send wrong passwords
# from many addresses (X-Forwarded-For through a trusted proxy, so the per-address limits
# see 16 million sources), half of them at the two measured users' names, the rest at
# random ones. Meanwhile one user who logged in before (and holds that login's device
# token) and one who has none log in once a second each, from their own addresses.
# Prints, for both: attempts, success rate, p50/p99/max latency.
#
#   CARGO_TARGET_DIR=… cargo build --release && bash bench/flood.sh [--duration 30] [--interval 1]
#
# The release binary is ${CARGO_TARGET_DIR:-target}/release/tessera (--tessera-bin to
# override). Needs wrk, curl, python3 (standard library only). Default settings otherwise
# (Argon2id at OWASP's minimum, the per-name back-off on), except the per-(name, address)
# login limit, raised to 120 a minute: the measured users log in once a second from one
# address each, which that limit (10 a minute) would otherwise refuse by itself.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
WRK_DIR=$SCRIPT_DIR/wrk
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"

TESSERA_BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/tessera
DURATION=30
INTERVAL=1
CLIENTS=200
PASSWORD=correct-horse-battery
KNOWN=device_user
UNKNOWN=plain_user

while [ "$#" -gt 0 ]; do
  case $1 in
    --duration) DURATION=$2; shift 2 ;;
    --interval) INTERVAL=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --tessera-bin) TESSERA_BIN=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown flag $1 (see --help)" ;;
  esac
done

[ -x "$TESSERA_BIN" ] || die "no tessera binary at $TESSERA_BIN: run cargo build --release"
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || die "$tool is needed"
done

start_work tessera-flood
SECRET=$(random_hex 32)
# start_tessera turns every limit and the back-off off (throughput runs); this run is
# about them, so they are set back to their defaults here, with the proxy trusted.
TESSERA_EXTRA_ENV=(
  'TESSERA_TRUSTED_PROXIES=["127.0.0.1/32"]'
  TESSERA_RATE_LIMITS__LOGIN_PER_IP__PER_MINUTE=60
  TESSERA_RATE_LIMITS__LOGIN_PER_IP__BURST=20
  TESSERA_RATE_LIMITS__LOGIN_PER_USER_IP__PER_MINUTE=120
  TESSERA_RATE_LIMITS__LOGIN_PER_USER_IP__BURST=20
  TESSERA_LOGIN_BACKOFF__THRESHOLD=5
)
start_tessera
url=$TESSERA_URL

for name in "$KNOWN" "$UNKNOWN"; do
  register_user "$url" "$name" || die "could not register $name"
done
# The known device's last login before the flood: its device token.
login_user "$url" "$KNOWN" || die "could not log $KNOWN in"
device_token=$(json_str device_token "$HTTP_BODY")
[ -n "$device_token" ] || die "the login answer has no device_token"

log "flood: wrk -t2 -c$CLIENTS -d$((DURATION + 4))s POST /login (wrong passwords, many addresses)"
env BENCH_PREFIX="$(random_hex 3)" BENCH_TARGETS="$KNOWN,$UNKNOWN" \
  wrk -t2 -c"$CLIENTS" -d"$((DURATION + 4))s" --timeout 30s --latency \
  -s "$WRK_DIR/device_flood.lua" "$url/login" >"$WORK/flood.txt" 2>&1 &
flood_pid=$!
sleep 2
log "measuring for ${DURATION}s: $KNOWN (device token) and $UNKNOWN (none), a login every ${INTERVAL}s each"
DEVICE_TOKEN=$device_token python3 "$SCRIPT_DIR/flood_probe.py" "$url" "$KNOWN" "$PASSWORD" 192.0.2.1 \
  "$DURATION" "$INTERVAL" device >"$WORK/device.txt" 2>&1 &
device_pid=$!
python3 "$SCRIPT_DIR/flood_probe.py" "$url" "$UNKNOWN" "$PASSWORD" 192.0.2.2 \
  "$DURATION" "$INTERVAL" plain >"$WORK/plain.txt" 2>&1 &
plain_pid=$!
wait "$device_pid" "$plain_pid" || true
wait "$flood_pid" || true

field() { sed -nE "s/.* $1=([^ ]*).*/\\1/p" <<<" $2" | head -n1; }
flood=$(grep '^RESULT ' "$WORK/flood.txt" | tail -n1 || true)
[ -n "$flood" ] || { tail_log "$WORK/flood.txt"; die "wrk produced no result"; }
echo
echo "login flood: $CLIENTS clients, ${DURATION}s measured, $(date -u +%Y-%m-%d), $(nproc) cores"
printf '  %-26s %8s %8s %9s %9s %9s  %s\n' who attempts ok success p50_ms p99_ms statuses
printf '  %-26s %8s %8s %9s %9s %9s  %s\n' "flood (wrong passwords)" \
  "$(field requests "$flood")" "$(field ok "$flood")" "-" \
  "$(field p50_ms "$flood")" "$(field p99_ms "$flood")" "$(field statuses "$flood")"
for who in device plain; do
  line=$(grep '^RESULT ' "$WORK/$who.txt" | tail -n1 || true)
  [ -n "$line" ] || { tail_log "$WORK/$who.txt"; die "the $who probe produced no result"; }
  label="user with a device token"
  [ "$who" = plain ] && label="user without one"
  printf '  %-26s %8s %8s %8s%% %9s %9s  %s\n' "$label" "$(field attempts "$line")" "$(field ok "$line")" \
    "$(field success_pct "$line")" "$(field p50_ms "$line")" "$(field p99_ms "$line")" "$(field statuses "$line")"
done
checks=$(sed -nE 's/(^|.*,)401:([0-9]+).*/\2/p' <<<"$(field statuses "$flood")")
checks_per_s=$(awk -v n="${checks:-0}" -v s="$(field duration_s "$flood")" 'BEGIN { if (s > 0) printf "%.1f", n / s; else print "n/a" }')
echo "  (the flood's guesses were checked at ${checks_per_s}/s (401); the rest were refused: 429 per-name back-off or per-address limits, 503 shared pool full)"
