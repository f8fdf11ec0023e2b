#!/usr/bin/env bash
# Instructions per request under callgrind: tessera against the bare axum reference
# (bench/bare), for GET /healthz, GET /protected with one token sent over and over, and
# GET /protected with a different valid token on every request.  Each server runs under
# valgrind; counting is switched on after a warm-up and covers exactly N keep-alive
# requests (bench/keepalive_client.py, not under valgrind); an idle interval of the same
# length is counted next and subtracted.  SHA-256 and clock_gettime are re-costed at their
# native cost (bench/callgrind_report.py says how, and refuses when it cannot).
# Usage and how to read it: bench/README.md ("Instructions per request").
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
RESULTS_DIR=$SCRIPT_DIR/results
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"

REQUESTS=2000
RUNS=2
WARMUP=300
BUILD=1
VDSO_CLOCK_INSTR=72
# tessera's own default: the per-request span is then live, as it is in production.
LOG_LEVEL=info
TESSERA_BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/tessera
PASSWORD=correct-horse-battery
OUT_DIR=$RESULTS_DIR/callgrind

usage() {
  cat <<USAGE
usage: bash bench/callgrind.sh [--requests 2000] [--runs 2] [--warmup 300] [--no-build]
                               [--vdso-clock-instr 72] [--log-level info]
Counts instructions per request of tessera and of bench/bare under callgrind; dumps,
report and JSON go to bench/results/callgrind/.  Exit 2: corrections refused (raw
figures still printed); 1: the run failed.
USAGE
}
while [ "$#" -gt 0 ]; do
  case $1 in
    --requests) REQUESTS=${2:?}; shift 2 ;;
    --runs) RUNS=${2:?}; shift 2 ;;
    --warmup) WARMUP=${2:?}; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --vdso-clock-instr) VDSO_CLOCK_INSTR=${2:?}; shift 2 ;;
    --log-level) LOG_LEVEL=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ $REQUESTS =~ ^[1-9][0-9]*$ && $RUNS =~ ^[1-9][0-9]*$ && $WARMUP =~ ^[0-9]+$ ]] || die "--requests, --runs and --warmup take whole numbers"
for tool in valgrind callgrind_control callgrind_annotate vgdb objdump python3 curl; do
  command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install valgrind binutils python3 curl)"
done

[ "$BUILD" = 0 ] || build_release
[ -x "$TESSERA_BIN" ] || die "tessera binary not found at $TESSERA_BIN (cargo build --release)"
[ -x "$BARE_BIN" ] || die "bare reference not found at $BARE_BIN (cd bench/bare && cargo build --release)"

start_work tessera-callgrind
rm -rf "$OUT_DIR"
mkdir -p "$OUT_DIR"

SECRET=$(random_hex 32)
USERNAME="cg$(random_hex 4)"
# Tokens must outlive every run under valgrind (the default 15 minutes may not).
# Logging at the level given (tessera's default, info, unless --log-level says otherwise).
TESSERA_EXTRA_ENV=(TESSERA_ACCESS_TOKEN_TTL_SECS=7200 "TESSERA_LOG_LEVEL=$LOG_LEVEL" "RUST_LOG=$LOG_LEVEL")
CLIENT=(python3 "$SCRIPT_DIR/keepalive_client.py")

# ---- tokens: one login and REQUESTS + WARMUP refreshes on a native tessera ----------
# The same data directory serves the runs under valgrind, so the sessions are there.
# Tessera signs HS256 with JWT_SECRET_KEY itself, so the bare route verifies the same
# tokens (it ignores their kid): both sides see tokens of the same size.
start_tessera
log "minting $((REQUESTS + WARMUP)) access tokens by successive refreshes"
"${CLIENT[@]}" tokens 127.0.0.1 "$TESSERA_PORT" "$USERNAME" "$PASSWORD" $((REQUESTS + WARMUP)) "$WORK/tokens.all" >/dev/null ||
  die "could not mint tokens on tessera"
stop_pid "$TESSERA_PID"
REPEATED=$(head -n1 "$WORK/tokens.all")
sed -n "2,$((REQUESTS + 1))p" "$WORK/tokens.all" >"$WORK/tokens.fresh"
tail -n +"$((REQUESTS + 2))" "$WORK/tokens.all" >"$WORK/tokens.warm"

# cg PID ARGS...: a callgrind_control command; fails the run if it fails.
cg() {
  local pid=$1
  shift
  callgrind_control "$@" "$pid" >>"$WORK/callgrind_control.log" 2>&1 || {
    tail_log "$WORK/callgrind_control.log"; die "callgrind_control $* $pid failed"; }
}

# requests PORT CASE COUNT [TOKENFILE]: COUNT keep-alive requests of CASE.
requests() {
  local port=$1 case=$2 count=$3 tokens=${4:-}
  case $case in
    healthz) "${CLIENT[@]}" get 127.0.0.1 "$port" /healthz "$count" ;;
    repeated) "${CLIENT[@]}" get 127.0.0.1 "$port" /protected "$count" --token "$REPEATED" ;;
    fresh) "${CLIENT[@]}" get 127.0.0.1 "$port" /protected "$count" --tokens "$tokens" ;;
  esac >"$WORK/client.out" || { cat "$WORK/client.out" >&2; die "$case: not every request answered 200"; }
}

# profile SERVER RUN PID PORT: warm up, then count each case and an idle interval.
profile() {
  local server=$1 run=$2 pid=$3 port=$4 case t0 t1 f
  log "$server run $run: warm-up ($WARMUP requests per case, not counted)"
  for case in healthz repeated fresh; do
    [ "$WARMUP" = 0 ] || requests "$port" "$case" "$WARMUP" "$WORK/tokens.warm"
  done
  cg "$pid" --instr=on
  for case in healthz repeated fresh; do
    t0=$(date +%s.%N)
    cg "$pid" --zero
    requests "$port" "$case" "$REQUESTS" "$WORK/tokens.fresh"
    cg "$pid" --dump="$case"
    t1=$(date +%s.%N)
    # The dump zeroed the counters: the same length again with no request.
    sleep "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
    cg "$pid" --dump="$case.idle"
    log "  $case: $REQUESTS requests in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s, then as long idle"
  done
  cg "$pid" --instr=off
  # Name the dumps by their trigger ("desc: Trigger: dump NAME").
  for f in "$OUT_DIR/$server-r$run.cg".*; do
    case=$(sed -n 's/^desc: Trigger: dump //p' "$f" | head -n1)
    [ -n "$case" ] && mv "$f" "$OUT_DIR/$server-r$run-$case.out"
  done
  for case in healthz repeated fresh; do
    if [ ! -f "$OUT_DIR/$server-r$run-$case.out" ] || [ ! -f "$OUT_DIR/$server-r$run-$case.idle.out" ]; then
      die "$server run $run: the dumps of $case are missing"
    fi
  done
}

START_TIMEOUT=600
for run in $(seq 1 "$RUNS"); do
  for server in tessera bare; do
    SERVER_PREFIX=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT_DIR/$server-r$run.cg")
    log "$server run $run: starting under callgrind (instrumentation off)"
    if [ "$server" = tessera ]; then
      start_tessera
      profile tessera "$run" "$TESSERA_PID" "$TESSERA_PORT"
      stop_pid "$TESSERA_PID"
    else
      start_bare
      profile bare "$run" "$BARE_PID" "$BARE_PORT"
      stop_pid "$BARE_PID"
    fi
    rm -f "$OUT_DIR/$server-r$run.cg"   # the dump at exit: after counting was switched off
  done
done
SERVER_PREFIX=()

# Per-function inclusive costs of tessera's fresh-token run, for reading the profile.
callgrind_annotate --inclusive=yes --threshold=99.5 "$OUT_DIR/tessera-r1-fresh.out" \
  >"$OUT_DIR/tessera-r1-fresh.annotate.txt" 2>&1 || true
callgrind_annotate --inclusive=yes --threshold=99.5 "$OUT_DIR/bare-r1-fresh.out" \
  >"$OUT_DIR/bare-r1-fresh.annotate.txt" 2>&1 || true

status=0
python3 "$SCRIPT_DIR/callgrind_report.py" --requests "$REQUESTS" --runs "$RUNS" --dir "$OUT_DIR" \
  --bin tessera="$TESSERA_BIN" --bin bare="$BARE_BIN" --vdso-clock-instr "$VDSO_CLOCK_INSTR" \
  --json "$OUT_DIR/report.json" || status=$?
log "dumps, annotations and report.json in $OUT_DIR"
exit "$status"
