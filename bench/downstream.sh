#!/usr/bin/env bash
# Instructions per request of a downstream service on tessera-verify (issue 18's bench):
# one process (verify/examples/downstream_bench.rs) serving the same handler at /guarded
# (the `Authenticated` extractor: signature, claims, revoked-session lookup) and at /open
# (no authentication), both counted in the same run under callgrind, reported as the ratio
# guarded/open. The requests are identical (same tokens, same headers) but for the path.
# tessera (not measured) signs the tokens and serves the JWKS and the revocation feed the
# service follows. The method is bench/callgrind.sh's: counting switched on after a
# warm-up, exactly N keep-alive requests per case (bench/keepalive_client.py, not under
# valgrind), an idle interval of the same length counted next and subtracted, SHA-256 and
# clock_gettime re-costed at their native cost (bench/callgrind_report.py).
# Usage and how to read it: bench/README.md ("Downstream services").
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"

REQUESTS=2000
RUNS=2
WARMUP=300
BUILD=1
ALG=eddsa
VDSO_CLOCK_INSTR=72
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
TESSERA_BIN=$TARGET_DIR/release/tessera
DOWNSTREAM_BIN=$TARGET_DIR/release/examples/downstream_bench
PASSWORD=correct-horse-battery
OUT_DIR=$SCRIPT_DIR/results/downstream

usage() {
  cat <<USAGE
usage: bash bench/downstream.sh [--requests 2000] [--runs 2] [--warmup 300]
                                [--alg eddsa|es256|ps256|rs256|hs256] [--no-build]
                                [--tessera-bin PATH] [--vdso-clock-instr 72]
Counts instructions per request of /guarded and /open in one downstream service under
callgrind; prints them and guarded/open. --alg: tessera's signing key (hs256: the service
verifies with the shared secret, Flask-compatible mode; otherwise through the JWKS).
--tessera-bin: any tessera build (it only mints tokens; a debug build will do).
Dumps and report.json go to bench/results/downstream/. Exit 2: corrections refused (raw
figures still printed); 1: the run failed.
USAGE
}
while [ "$#" -gt 0 ]; do
  case $1 in
    --requests) REQUESTS=${2:?}; shift 2 ;;
    --runs) RUNS=${2:?}; shift 2 ;;
    --warmup) WARMUP=${2:?}; shift 2 ;;
    --alg) ALG=${2:?}; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --tessera-bin) TESSERA_BIN=$(abspath "${2:?}"); shift 2 ;;
    --vdso-clock-instr) VDSO_CLOCK_INSTR=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ $REQUESTS =~ ^[1-9][0-9]*$ && $RUNS =~ ^[1-9][0-9]*$ && $WARMUP =~ ^[0-9]+$ ]] || die "--requests, --runs and --warmup take whole numbers"
case $ALG in eddsa|es256|ps256|rs256|hs256) ;; *) die "--alg: eddsa, es256, ps256, rs256 or hs256" ;; esac
for tool in valgrind callgrind_control vgdb objdump python3 curl; do
  command -v "$tool" >/dev/null || die "$tool not found (Debian: apt-get install valgrind binutils python3 curl)"
done

if [ "$BUILD" = 1 ]; then
  log "cargo build --release (tessera, and the downstream example of tessera-verify)"
  (cd "$REPO_ROOT" && cargo build --release --quiet --bin tessera) || die "tessera release build failed"
  (cd "$REPO_ROOT" && cargo build --release --quiet -p tessera-verify --example downstream_bench --features axum) ||
    die "downstream example build failed"
fi
[ -x "$TESSERA_BIN" ] || die "tessera binary not found at $TESSERA_BIN (cargo build --release, or --tessera-bin)"
[ -x "$DOWNSTREAM_BIN" ] || die "downstream service not found at $DOWNSTREAM_BIN (cargo build --release -p tessera-verify --example downstream_bench --features axum)"

start_work tessera-downstream
rm -rf "$OUT_DIR"
mkdir -p "$OUT_DIR"
SECRET=$(random_hex 32)
USERNAME="ds$(random_hex 4)"
# Tokens must outlive the runs under valgrind.
# shellcheck disable=SC2034  # read by start_tessera (bench/lib.sh)
TESSERA_EXTRA_ENV=(TESSERA_ACCESS_TOKEN_TTL_SECS=7200)
CLIENT=(python3 "$SCRIPT_DIR/keepalive_client.py")

# ---- tessera (native, not measured): keys, a service client, tokens -------------------
# Started with its HS256 key (start_tessera's --alg path needs an existing database); an
# asymmetric key is added to the running server's ring, which it loads within a second.
ALG_SIGNING=$ALG
ALG=hs256 start_tessera
if [ "$ALG_SIGNING" != hs256 ]; then
  JWT_SECRET_KEY=$SECRET TESSERA_LOG_LEVEL=warn "$TESSERA_BIN" keys --data-dir "$WORK/tessera-data" generate --alg "$ALG_SIGNING" >/dev/null ||
    die "tessera keys generate --alg $ALG_SIGNING failed"
  sleep 3   # key_reload_ms is 2 s by default
fi
client=$(JWT_SECRET_KEY=$SECRET TESSERA_LOG_LEVEL=warn "$TESSERA_BIN" clients --data-dir "$WORK/tessera-data" add bench) ||
  die "tessera clients add failed"
CLIENT_ID=$(sed -n 's/^client_id: *//p' <<<"$client")
CLIENT_SECRET=$(sed -n 's/^client_secret: *//p' <<<"$client")
if [ -z "$CLIENT_ID" ] || [ -z "$CLIENT_SECRET" ]; then die "could not read the service client's id and secret"; fi
log "minting $((REQUESTS + WARMUP)) access tokens ($ALG) by successive refreshes"
"${CLIENT[@]}" tokens 127.0.0.1 "$TESSERA_PORT" "$USERNAME" "$PASSWORD" $((REQUESTS + WARMUP)) "$WORK/tokens.all" >/dev/null ||
  die "could not mint tokens on tessera"
first_alg=$(python3 -c 'import base64,json,sys; h=sys.argv[1].split(".")[0]; print(json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))["alg"])' "$(head -n1 "$WORK/tokens.all")")
[ "$(tr '[:upper:]' '[:lower:]' <<<"$first_alg")" = "$ALG" ] || die "tokens are signed with $first_alg, not $ALG"
sed -n "2,$((REQUESTS + 1))p" "$WORK/tokens.all" >"$WORK/tokens.counted"
tail -n +"$((REQUESTS + 2))" "$WORK/tokens.all" >"$WORK/tokens.warm"

# ---- the downstream service under callgrind ------------------------------------------
start_downstream() {
  DOWNSTREAM_PORT=$(free_port)
  DOWNSTREAM_URL="http://127.0.0.1:$DOWNSTREAM_PORT"
  (
    # shellcheck disable=SC2030,SC2031  # exported to the service only, on purpose
    export LISTEN="127.0.0.1:$DOWNSTREAM_PORT" TESSERA_URL=$TESSERA_URL \
           TESSERA_CLIENT_ID=$CLIENT_ID TESSERA_CLIENT_SECRET=$CLIENT_SECRET
    [ "$ALG" != hs256 ] || export HS256_SECRET=$SECRET
    exec setsid ${SERVER_PREFIX[@]+"${SERVER_PREFIX[@]}"} "$DOWNSTREAM_BIN"
  ) >"$WORK/downstream.log" 2>&1 </dev/null &
  DOWNSTREAM_PID=$!
  STARTED_PIDS+=("$DOWNSTREAM_PID")
  if ! wait_http "$DOWNSTREAM_URL/healthz" 200 600 "$DOWNSTREAM_PID"; then
    tail_log "$WORK/downstream.log"
    die "the downstream service did not answer 200 on GET /healthz"
  fi
}

cg() {
  local pid=$1
  shift
  callgrind_control "$@" "$pid" >>"$WORK/callgrind_control.log" 2>&1 || {
    tail_log "$WORK/callgrind_control.log"; die "callgrind_control $* $pid failed"; }
}

# requests CASE COUNT TOKENFILE: COUNT keep-alive requests to /CASE, one token each.
requests() {
  "${CLIENT[@]}" get 127.0.0.1 "$DOWNSTREAM_PORT" "/$1" "$2" --tokens "$3" >"$WORK/client.out" ||
    { cat "$WORK/client.out" >&2; die "/$1: not every request answered 200"; }
}

for run in $(seq 1 "$RUNS"); do
  SERVER_PREFIX=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT_DIR/downstream-r$run.cg")
  log "run $run: starting the downstream service under callgrind (instrumentation off)"
  start_downstream
  log "run $run: warm-up ($WARMUP requests per route, not counted)"
  for case in open guarded; do
    [ "$WARMUP" = 0 ] || requests "$case" "$WARMUP" "$WORK/tokens.warm"
  done
  cg "$DOWNSTREAM_PID" --instr=on
  # The two routes in alternating order from run to run.
  cases=(open guarded)
  [ $((run % 2)) = 1 ] || cases=(guarded open)
  for case in "${cases[@]}"; do
    t0=$(date +%s.%N)
    cg "$DOWNSTREAM_PID" --zero
    requests "$case" "$REQUESTS" "$WORK/tokens.counted"
    cg "$DOWNSTREAM_PID" --dump="$case"
    t1=$(date +%s.%N)
    sleep "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
    cg "$DOWNSTREAM_PID" --dump="$case.idle"
    log "  /$case: $REQUESTS requests in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s, then as long idle"
  done
  cg "$DOWNSTREAM_PID" --instr=off
  for f in "$OUT_DIR/downstream-r$run.cg".*; do
    case=$(sed -n 's/^desc: Trigger: dump //p' "$f" | head -n1)
    [ -n "$case" ] && mv "$f" "$OUT_DIR/downstream-r$run-$case.out"
  done
  stop_pid "$DOWNSTREAM_PID"
  rm -f "$OUT_DIR/downstream-r$run.cg"
  for case in open guarded; do
    if [ ! -f "$OUT_DIR/downstream-r$run-$case.out" ] || [ ! -f "$OUT_DIR/downstream-r$run-$case.idle.out" ]; then
      die "run $run: the dumps of $case are missing"
    fi
  done
done
SERVER_PREFIX=()

status=0
python3 "$SCRIPT_DIR/downstream_report.py" --requests "$REQUESTS" --runs "$RUNS" --dir "$OUT_DIR" \
  --bin "$DOWNSTREAM_BIN" --alg "$ALG" --vdso-clock-instr "$VDSO_CLOCK_INSTR" \
  --json "$OUT_DIR/report.json" || status=$?
log "dumps and report.json in $OUT_DIR"
exit "$status"
