#!/usr/bin/env bash
# tessera benchmark: load tessera and the seed Flask app (the reference) with
# wrk, one scenario at a time, and print a comparison table.
# Usage and output: bench/README.md, or `bash bench/run.sh --help`.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
WRK_DIR=$SCRIPT_DIR/wrk
RESULTS_DIR=$SCRIPT_DIR/results

ALL_SCENARIOS=(healthz protected protected_nosid login register refresh flood timing)
# Scenarios the Flask app has no route for.
TESSERA_ONLY=" healthz protected_nosid refresh flood timing "

# ---- defaults (flags below override) -----------------------------------------
DURATION=10s
THREADS=2
CONNECTIONS=32
# /refresh chains one rotated token per connection, so connections == threads.
REFRESH_THREADS=4
TESSERA_BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/tessera
DATABASE=sqlite
ALG=hs256
POSTGRES_URL=${TESSERA_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
BENCH_DB_NAME=""
SEED_DIR=$(cd "$REPO_ROOT/.." && pwd)/shared/anchors/flask_seed
VENV_DIR=$REPO_ROOT/bench/.venv
SKIP_TESSERA=0
SKIP_FLASK=0
ONLY=""
PASSWORD=correct-horse-battery
# Targets the summary checks against.
TARGET_PROTECTED_VS_HEALTHZ=0.85
TARGET_PROTECTED_VS_FLASK=30
TARGET_IDLE_RSS_MIB=20
# Latency above wrk's --timeout is not recorded at all; Flask's login queue
# behind 32 connections takes seconds, so allow far more than the default 2 s.
WRK_TIMEOUT=30s
# Pause between runs so the previous run's backlog (e.g. tessera's hashing
# queue, gunicorn's listen queue) drains before the next one starts.
SETTLE_SECONDS=2

usage() {
  cat <<EOF
Usage: bash bench/run.sh [flags]

Benchmarks tessera against the seed Flask app with wrk (-t$THREADS -c$CONNECTIONS; /refresh
-t$REFRESH_THREADS -c$REFRESH_THREADS) and prints a table; also writes bench/results/latest.json.

Flags:
  --duration D          wrk duration per scenario run, e.g. 10s, 30s, 1m (default: $DURATION)
  --tessera-bin PATH    tessera binary (default: \${CARGO_TARGET_DIR:-<repo>/target}/release/tessera)
  --seed-dir DIR        seed Flask app folder, copied before use (default: <repo>/../shared/anchors/flask_seed)
  --venv DIR            virtualenv for the Flask app, created if absent (default: <repo>/bench/.venv)
  --skip-tessera        do not run tessera (Flask scenarios only)
  --skip-flask          do not run the Flask reference (ratios are n/a)
  --only S[,S...]       run only these scenarios: ${ALL_SCENARIOS[*]}
  --alg ALG             tessera's signing algorithm: hs256 (default), eddsa, es256, ps256 or rs256
  --database KIND       tessera's database: sqlite (default) or postgres
  --postgres-url URL    server for --database postgres; a fresh database is created on it
                        and dropped afterwards (default: $POSTGRES_URL)
  -h, --help            this help

Scenarios: healthz (tessera only), protected, login, register, refresh (tessera only).
EOF
}

# Shared with bench/pinned.sh and bench/callgrind.sh: logging, process stop,
# ports, HTTP helpers, the seed Flask app start-up.
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"

# ---- flags --------------------------------------------------------------------
need_value() { if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi; }
while [ "$#" -gt 0 ]; do
  case $1 in
    --duration) need_value "$@"; DURATION=$2; shift 2 ;;
    --duration=*) DURATION=${1#*=}; shift ;;
    --alg) need_value "$@"; ALG=$2; shift 2 ;;
    --alg=*) ALG=${1#*=}; shift ;;
    --database) need_value "$@"; DATABASE=$2; shift 2 ;;
    --database=*) DATABASE=${1#*=}; shift ;;
    --postgres-url) need_value "$@"; POSTGRES_URL=$2; shift 2 ;;
    --postgres-url=*) POSTGRES_URL=${1#*=}; shift ;;
    --tessera-bin) need_value "$@"; TESSERA_BIN=$(abspath "$2"); shift 2 ;;
    --tessera-bin=*) TESSERA_BIN=$(abspath "${1#*=}"); shift ;;
    --seed-dir) need_value "$@"; SEED_DIR=$(abspath "$2"); shift 2 ;;
    --seed-dir=*) SEED_DIR=$(abspath "${1#*=}"); shift ;;
    --venv) need_value "$@"; VENV_DIR=$(abspath "$2"); shift 2 ;;
    --venv=*) VENV_DIR=$(abspath "${1#*=}"); shift ;;
    --skip-tessera) SKIP_TESSERA=1; shift ;;
    --skip-flask) SKIP_FLASK=1; shift ;;
    --only) need_value "$@"; ONLY=$2; shift 2 ;;
    --only=*) ONLY=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

# wrk takes a number with an optional s/m/h unit.
[[ $DURATION =~ ^[1-9][0-9]*[smh]?$ ]] || die "--duration: expected e.g. 10s, 30s or 1m, got '$DURATION'"
[[ $ALG =~ ^(hs256|eddsa|es256|ps256|rs256)$ ]] || die "--alg: expected hs256, eddsa, es256, ps256 or rs256, got '$ALG'"
[[ $DATABASE == sqlite || $DATABASE == postgres ]] || die "--database: expected sqlite or postgres, got '$DATABASE'"

SCENARIOS=("${ALL_SCENARIOS[@]}")
if [ -n "$ONLY" ]; then
  IFS=',' read -r -a wanted <<<"$ONLY"
  for s in "${wanted[@]}"; do
    [[ " ${ALL_SCENARIOS[*]} " == *" $s "* ]] || die "--only: unknown scenario '$s' (known: ${ALL_SCENARIOS[*]})"
  done
  # Keep the canonical order whatever order --only lists them in.
  SCENARIOS=()
  for s in "${ALL_SCENARIOS[@]}"; do
    if [[ ",$ONLY," == *",$s,"* ]]; then SCENARIOS+=("$s"); fi
  done
fi
selected() { [[ " ${SCENARIOS[*]} " == *" $1 "* ]]; }

[ "$SKIP_TESSERA" = 1 ] && [ "$SKIP_FLASK" = 1 ] && die "--skip-tessera and --skip-flask together leave nothing to run"
command -v wrk >/dev/null || die "wrk not found (Debian: apt-get install wrk)"
command -v curl >/dev/null || die "curl not found"

RUN_TESSERA=$((1 - SKIP_TESSERA))
RUN_FLASK=$((1 - SKIP_FLASK))

# The reference is only worth its start-up when a selected scenario uses it.
FLASK_NEEDED=0
for s in "${SCENARIOS[@]}"; do
  [[ $TESSERA_ONLY == *" $s "* ]] || FLASK_NEEDED=1
done
[ "$RUN_TESSERA" = 1 ] || [ "$FLASK_NEEDED" = 1 ] || die "--skip-tessera: the selected scenarios (${SCENARIOS[*]}) run on tessera only"

if [ "$RUN_TESSERA" = 1 ] && [ ! -x "$TESSERA_BIN" ]; then
  {
    echo "tessera binary not found at $TESSERA_BIN"
    echo "build it first:   (cd $REPO_ROOT && cargo build --release)"
    echo "or run the Flask reference alone:   bash bench/run.sh --skip-tessera"
  } >&2
  exit 1
fi

# ---- cleanup: every process this script starts is registered here ----------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tessera-bench.XXXXXX")
STARTED_PIDS=()


cleanup() {
  local status=$?
  trap - EXIT INT TERM
  local pid
  for pid in "${STARTED_PIDS[@]}"; do stop_pid "$pid"; done
  [ -z "$BENCH_DB_NAME" ] || psql -q "$POSTGRES_URL" -c "DROP DATABASE IF EXISTS \"$BENCH_DB_NAME\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
# Ctrl-C / kill: leave through the EXIT trap so the servers are stopped.
trap 'echo >&2; log "interrupted"; exit 130' INT
trap 'exit 143' TERM


# ---- run state -------------------------------------------------------------------
declare -A R=()          # R[target.scenario.key] = value from the RESULT line
declare -A NOTE=()       # NOTE[target.scenario] = why a run has no figures
SECRET=$(random_hex 32)  # JWT_SECRET_KEY: 64 hex characters, same for both apps
RUN_ID=$(random_hex 4)   # makes usernames unique per run
USERNAME="bench${RUN_ID}"
TESSERA_AVAILABLE=0
TESSERA_PID=""
FLASK_AVAILABLE=0
FLASK_PID=""
FLASK_REASON=""
IDLE_RSS_KB=""
ARGON2_MS=""
CORES=""
CALIBRATION_SOURCE=""
REFRESH_TOKENS=""
mkdir -p "$RESULTS_DIR/raw"
rm -f "$RESULTS_DIR"/raw/*.txt   # raw output of this run only

# ---- tessera ---------------------------------------------------------------------

# Login throughput target = 0.9 x cores / Argon2 seconds per hash.
calibrate_tessera() {
  local out
  if out=$(JWT_SECRET_KEY=$SECRET TESSERA_LOG_LEVEL=warn RUST_LOG=warn timeout 120 "$TESSERA_BIN" calibrate 2>"$WORK/calibrate.err" </dev/null) &&
     ARGON2_MS=$(json_num argon2_ms "$(grep argon2_ms <<<"$out" | tail -n1)") && [ -n "$ARGON2_MS" ] &&
     CORES=$(json_num cores "$(grep argon2_ms <<<"$out" | tail -n1)") && [ -n "$CORES" ]; then
    CALIBRATION_SOURCE="tessera calibrate"
    log "calibrate: argon2_ms=$ARGON2_MS cores=$CORES"
    return 0
  fi
  warn "'tessera calibrate' failed or printed no {\"argon2_ms\",\"cores\"} line: $(head -c 300 "$WORK/calibrate.err" 2>/dev/null; head -c 300 <<<"${out:-}")"
  # Fallback: a login's full latency, unloaded, stands in for one hash.  It
  # also includes HTTP, database and token work, so the target comes out a
  # little low.  Median of 5 sequential logins.
  local i t times=()
  register_user "$TESSERA_URL" || return 0
  for i in 1 2 3 4 5; do
    t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 30 -H 'Content-Type: application/json' \
      --data-binary "{\"username\":\"$USERNAME\",\"password\":\"$PASSWORD\"}" "$TESSERA_URL/login" 2>/dev/null) || continue
    [ "${t%% *}" = 200 ] && times+=("${t#* }")
  done
  if [ "${#times[@]}" -eq 0 ]; then
    warn "fallback calibration failed too (no successful login): login target n/a"
    return 0
  fi
  ARGON2_MS=$(printf '%s\n' "${times[@]}" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f\n", v[int((NR + 1) / 2)] * 1000 }')
  CORES=$(nproc)
  CALIBRATION_SOURCE="approximation: median sequential curl login latency, nproc cores"
  log "calibrate fallback: login ~${ARGON2_MS} ms (approximation of argon2_ms), cores=$CORES"
}


# ---- one wrk run -----------------------------------------------------------------
# run_wrk TARGET SCENARIO URL THREADS CONNECTIONS [VAR=value ...]
# Stores the RESULT fields in R[TARGET.SCENARIO.*]; keeps wrk's full output
# in bench/results/raw/SCENARIO-TARGET.txt.
run_wrk() {
  local target=$1 scenario=$2 url=$3 threads=$4 conns=$5
  shift 5
  local out="$RESULTS_DIR/raw/$scenario-$target.txt" line kv
  log "$scenario on $target: wrk -t$threads -c$conns -d$DURATION $url"
  if ! env "$@" wrk -t"$threads" -c"$conns" -d"$DURATION" --timeout "$WRK_TIMEOUT" --latency \
       -s "$WRK_DIR/$scenario.lua" "$url" >"$out" 2>&1; then
    warn "wrk failed for $scenario on $target (see $out)"
  fi
  line=$(grep '^RESULT ' "$out" | tail -n1 || true)
  if [ -z "$line" ]; then
    NOTE[$target.$scenario]="wrk produced no result"
    tail_log "$out"
    return 0
  fi
  for kv in ${line#RESULT }; do
    R[$target.$scenario.${kv%%=*}]=${kv#*=}
  done
  # A server that died under load leaves figures that mean little: flag them.
  local pid=$FLASK_PID
  [ "$target" = tessera ] && pid=$TESSERA_PID
  kill -0 "$pid" 2>/dev/null || R[$target.$scenario.server_exited]=1
  log "  -> ${R[$target.$scenario.rps]} rps (2xx), p50 ${R[$target.$scenario.p50_ms]} ms, p99 ${R[$target.$scenario.p99_ms]} ms, statuses ${R[$target.$scenario.statuses]}"
  sleep "$SETTLE_SECONDS"
}

# Is TARGET's server still running?  If not, say so once and mark the run.
alive() {
  local target=$1 scenario=$2 pid
  if [ "$target" = tessera ]; then pid=$TESSERA_PID; else pid=$FLASK_PID; fi
  kill -0 "$pid" 2>/dev/null && return 0
  NOTE[$target.$scenario]="$target had exited"
  if [ -z "${DEAD_REPORTED[$target]:-}" ]; then
    DEAD_REPORTED[$target]=1
    warn "$target has exited; its remaining scenarios are skipped"
    tail_log "$WORK/$target.log"
  fi
  return 1
}
declare -A DEAD_REPORTED=()

# run_scenario SCENARIO: prepare what the scenario needs on each side, then run.
run_scenario() {
  local scenario=$1 target url
  for target in tessera flask; do
    if [ "$target" = tessera ]; then
      [ "$TESSERA_AVAILABLE" = 1 ] || continue
      url=$TESSERA_URL
    else
      [ "$FLASK_AVAILABLE" = 1 ] || continue
      [[ $TESSERA_ONLY == *" $scenario "* ]] && continue
      url=$FLASK_URL
    fi
    alive "$target" "$scenario" || continue
    case $scenario in
      healthz)
        run_wrk "$target" healthz "$url/healthz" "$THREADS" "$CONNECTIONS" ;;
      protected)
        if register_user "$url" && login_user "$url"; then
          local token
          token=$(json_str access_token "$HTTP_BODY")
          if [ -n "$token" ]; then
            run_wrk "$target" protected "$url/protected" "$THREADS" "$CONNECTIONS" BENCH_ACCESS_TOKEN="$token"
          else
            NOTE[$target.protected]="login gave no access_token"
          fi
        else
          NOTE[$target.protected]="could not log in before the run"
        fi ;;
      protected_nosid)
        if [ "$ALG" != hs256 ]; then
          NOTE[tessera.protected_nosid]="tokens without kid are refused once an asymmetric key signs"
          continue
        fi
        # The same route with a token that has no `sid` (as Flask-JWT-Extended mints
        # them): verification skips the revoked-session lookup, so protected vs this
        # run is the cost of the revocation check.
        local nosid
        nosid=$(mint_token_without_sid "$USERNAME")
        run_wrk "$target" protected_nosid "$url/protected" "$THREADS" "$CONNECTIONS" BENCH_ACCESS_TOKEN="$nosid" ;;
      login)
        if register_user "$url"; then
          run_wrk "$target" login "$url/login" "$THREADS" "$CONNECTIONS" BENCH_USERNAME="$USERNAME" BENCH_PASSWORD="$PASSWORD"
        else
          NOTE[$target.login]="could not register the login user"
        fi ;;
      register)
        # A fresh prefix per run keeps names unique even on a reused database.
        run_wrk "$target" register "$url/register" "$THREADS" "$CONNECTIONS" \
          BENCH_PREFIX="$(random_hex 3)" BENCH_PASSWORD="$PASSWORD" ;;
      flood)
        run_flood "$url" ;;
      timing)
        run_timing "$url" ;;
      refresh)
        prepare_refresh "$url" || continue
        run_wrk "$target" refresh "$url/refresh" "$REFRESH_THREADS" "$REFRESH_THREADS" BENCH_REFRESH_TOKENS="$REFRESH_TOKENS" ;;
    esac
  done
}

# wrk's duration in seconds (10s, 2m, 1h, or a bare number of seconds).
duration_secs() {
  local d=$DURATION
  case $d in *m) echo $(( ${d%m} * 60 )) ;; *h) echo $(( ${d%h} * 3600 )) ;; *s) echo "${d%s}" ;; *) echo "$d" ;; esac
}

# Login flood: 200 connections hammer POST /login with wrong passwords for unknown
# names (every request costs a hash) while 4 connections measure GET /protected, and
# tessera's resident memory is sampled. Excess logins should get a quick 503.
run_flood() {
  local url=$1 token secs rss peak=0 flood_pid
  register_user "$url" && login_user "$url" || { NOTE[tessera.flood]="could not log in before the run"; return 0; }
  token=$(json_str access_token "$HTTP_BODY")
  secs=$(duration_secs)
  log "flood on tessera: wrk -t2 -c200 -d$((secs + 2))s POST /login, while wrk -t1 -c4 -d${secs}s GET /protected"
  env BENCH_PREFIX="$(random_hex 3)" wrk -t2 -c200 -d"$((secs + 2))s" --timeout "$WRK_TIMEOUT" --latency \
    -s "$WRK_DIR/login_flood.lua" "$url/login" >"$RESULTS_DIR/raw/flood_login-tessera.txt" 2>&1 &
  flood_pid=$!
  sleep 1
  env BENCH_ACCESS_TOKEN="$token" wrk -t1 -c4 -d"${secs}s" --timeout "$WRK_TIMEOUT" --latency \
    -s "$WRK_DIR/protected.lua" "$url/protected" >"$RESULTS_DIR/raw/flood_protected-tessera.txt" 2>&1 &
  local protected_pid=$!
  while kill -0 "$flood_pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$TESSERA_PID/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss
    sleep 0.2
  done
  wait "$flood_pid" "$protected_pid" 2>/dev/null || true
  R[tessera.flood.peak_rss_kib]=$peak
  local part line kv
  for part in flood_login flood_protected; do
    line=$(grep '^RESULT ' "$RESULTS_DIR/raw/$part-tessera.txt" | tail -n1 || true)
    for kv in ${line#RESULT }; do R[tessera.$part.${kv%%=*}]=${kv#*=}; done
  done
  log "  -> protected under flood: ${R[tessera.flood_protected.rps]:-?} rps, p99 ${R[tessera.flood_protected.p99_ms]:-?} ms;" \
      "logins: ${R[tessera.flood_login.statuses]:-?}, p50 ${R[tessera.flood_login.p50_ms]:-?} ms; peak RSS ${peak} kB"
  sleep "$SETTLE_SECONDS"
}

# Login timing: unknown name vs known name with a wrong password, 200 samples each.
run_timing() {
  local url=$1 line kv
  register_user "$url" || { NOTE[tessera.timing]="could not register the user"; return 0; }
  log "timing on tessera: 200 logins each, unknown name vs known name with a wrong password"
  line=$(python3 "$SCRIPT_DIR/timing.py" "$url" "$USERNAME" 200 2>&1 | grep '^RESULT ' || true)
  [ -n "$line" ] || { NOTE[tessera.timing]="timing.py produced no result"; return 0; }
  for kv in ${line#RESULT }; do R[tessera.timing.${kv%%=*}]=${kv#*=}; done
  log "  -> unknown p50 ${R[tessera.timing.unknown_p50_ms]} ms, known p50 ${R[tessera.timing.known_p50_ms]} ms, difference ${R[tessera.timing.diff_pct]}%"
}


# One session (login) per wrk thread, plus one to probe the endpoint: a 404
# means /refresh is not built yet, which is reported, not fatal.  A user of
# its own, apart from the thousands of sessions the login scenario created.
prepare_refresh() {
  local url=$1 i token probe user="${USERNAME}rt"
  register_user "$url" "$user" || { NOTE[tessera.refresh]="could not register the refresh user"; return 1; }
  REFRESH_TOKENS=""
  for i in $(seq 0 "$REFRESH_THREADS"); do
    login_user "$url" "$user" || { NOTE[tessera.refresh]="could not log in before the run"; return 1; }
    token=$(json_str refresh_token "$HTTP_BODY")
    [ -n "$token" ] || { NOTE[tessera.refresh]="login gave no refresh_token"; log "refresh: not available (login has no refresh_token)"; return 1; }
    if [ "$i" = 0 ]; then probe=$token; else REFRESH_TOKENS+="$token "; fi
  done
  http_post "$url/refresh" "{\"refresh_token\":\"$probe\"}"
  case $HTTP_STATUS in
    200) return 0 ;;
    404|405) NOTE[tessera.refresh]="not available ($HTTP_STATUS)"; log "refresh: not available (POST /refresh answered $HTTP_STATUS)"; return 1 ;;
    *) NOTE[tessera.refresh]="probe answered $HTTP_STATUS"; warn "POST /refresh probe answered $HTTP_STATUS: $HTTP_BODY"; return 1 ;;
  esac
}

# ---- main --------------------------------------------------------------------------
log "scenarios: ${SCENARIOS[*]}; wrk duration $DURATION each; temp dir $WORK"

if [ "$RUN_TESSERA" = 1 ]; then
  start_tessera
  if selected login; then calibrate_tessera; fi
fi
if [ "$RUN_FLASK" = 1 ] && [ "$FLASK_NEEDED" = 0 ]; then
  FLASK_REASON="not needed by the selected scenarios"
elif [ "$RUN_FLASK" = 1 ]; then
  if start_flask; then
    FLASK_AVAILABLE=1
  else
    log "$FLASK_REASON: skipping the reference"
  fi
else
  FLASK_REASON="skipped (--skip-flask)"
fi
[ "$RUN_TESSERA" = 1 ] || log "tessera skipped (--skip-tessera)"
if [ "$TESSERA_AVAILABLE" = 0 ] && [ "$FLASK_AVAILABLE" = 0 ]; then
  die "nothing to benchmark: tessera skipped and the reference unavailable ($FLASK_REASON)"
fi

for scenario in "${SCENARIOS[@]}"; do
  run_scenario "$scenario"
done

# ---- report ------------------------------------------------------------------------
# Field of a run, or "n/a".
get() { local v=${R[$1.$2.$3]:-}; printf '%s\n' "${v:-n/a}"; }
fmt() { awk -v v="$1" -v f="$2" 'BEGIN { if (v == "n/a" || v == "") print "n/a"; else printf f "\n", v }'; }

# Summary figures.
T_PROT=${R[tessera.protected.rps]:-}
T_HEALTH=${R[tessera.healthz.rps]:-}
F_PROT=${R[flask.protected.rps]:-}
T_LOGIN=${R[tessera.login.rps]:-}
PROT_VS_HEALTHZ=$(ratio "$T_PROT" "$T_HEALTH")
PROT_VS_FLASK=$(ratio "$T_PROT" "$F_PROT")
PROT_VS_NOSID=$(ratio "$T_PROT" "${R[tessera.protected_nosid.rps]:-}")
LOGIN_TARGET=n/a
[ -n "$ARGON2_MS" ] && [ -n "$CORES" ] && LOGIN_TARGET=$(awk -v c="$CORES" -v ms="$ARGON2_MS" 'BEGIN { if (ms + 0 > 0) printf "%.1f\n", 0.9 * c / (ms / 1000); else print "n/a" }')
LOGIN_VS_TARGET=$(ratio "$T_LOGIN" "$([ "$LOGIN_TARGET" = n/a ] || echo "$LOGIN_TARGET")")
IDLE_RSS_MIB=n/a
[ -n "$IDLE_RSS_KB" ] && IDLE_RSS_MIB=$(awk -v k="$IDLE_RSS_KB" 'BEGIN { printf "%.1f\n", k / 1024 }')

# verdict VALUE OP TARGET -> PASS / FAIL / n/a
verdict() {
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
    if (v == "n/a" || v == "" || t == "n/a" || t == "") { print "n/a"; exit }
    ok = (op == ">=") ? (v + 0 >= t + 0) : (v + 0 < t + 0)
    print ok ? "PASS" : "FAIL" }'
}
V_PROT_HEALTHZ=$(verdict "$PROT_VS_HEALTHZ" ">=" "$TARGET_PROTECTED_VS_HEALTHZ")
V_PROT_FLASK=$(verdict "$PROT_VS_FLASK" ">=" "$TARGET_PROTECTED_VS_FLASK")
V_LOGIN=$(verdict "$LOGIN_VS_TARGET" ">=" 1)
V_RSS=$(verdict "$IDLE_RSS_MIB" "<" "$TARGET_IDLE_RSS_MIB")
V_PROT_NOSID=$(verdict "$PROT_VS_NOSID" ">=" 0.95)
V_FLOOD_P99=$(verdict "${R[tessera.flood_protected.p99_ms]:-n/a}" "<" 20)
V_TIMING=$(verdict "${R[tessera.timing.diff_pct]:-n/a}" "<" 5)
FLOOD_PEAK_MIB=n/a; FLOOD_BOUND_MIB=n/a; V_FLOOD_RSS=n/a
if [ -n "${R[tessera.flood.peak_rss_kib]:-}" ] && [ -n "$IDLE_RSS_KB" ]; then
  FLOOD_PEAK_MIB=$(awk -v k="${R[tessera.flood.peak_rss_kib]}" 'BEGIN { printf "%.1f", k / 1024 }')
  # Each hashing worker holds one Argon2 memory block (default 19 MiB); the rest is
  # connections and buffers, allowed 16 MiB.
  FLOOD_BOUND_MIB=$(awk -v idle="$IDLE_RSS_KB" -v w="${CORES:-$(nproc)}" -v m="${ARGON2_KIB:-19456}" \
    'BEGIN { printf "%.1f", idle / 1024 + w * m / 1024 + 16 }')
  V_FLOOD_RSS=$(verdict "$FLOOD_PEAK_MIB" "<" "$FLOOD_BOUND_MIB")
fi

print_table() {
  local row="%-10s | %11s | %8s | %8s | %9s | %8s | %8s | %13s\n" s
  echo
  echo "tessera ($DATABASE, $ALG) vs seed Flask app   (wrk -t$THREADS -c$CONNECTIONS -d$DURATION; refresh -t$REFRESH_THREADS -c$REFRESH_THREADS; rps = 2xx responses/s; latency in ms)"
  echo
  # shellcheck disable=SC2059
  printf "$row" scenario "tessera rps" p50 p99 "flask rps" p50 p99 "tessera/flask"
  # shellcheck disable=SC2059
  printf "$row" ---------- ----------- -------- -------- --------- -------- -------- -------------
  for s in "${SCENARIOS[@]}"; do
    [[ $s == flood || $s == timing ]] && continue   # reported under "abuse" below
    # shellcheck disable=SC2059
    printf "$row" "$s" \
      "$(fmt "$(get tessera "$s" rps)" %.1f)" "$(fmt "$(get tessera "$s" p50_ms)" %.2f)" "$(fmt "$(get tessera "$s" p99_ms)" %.2f)" \
      "$(fmt "$(get flask "$s" rps)" %.1f)" "$(fmt "$(get flask "$s" p50_ms)" %.2f)" "$(fmt "$(get flask "$s" p99_ms)" %.2f)" \
      "$(r=$(ratio "${R[tessera.$s.rps]:-}" "${R[flask.$s.rps]:-}"); [ "$r" = n/a ] && echo n/a || echo "${r}x")"
  done
  echo
  # Non-2xx responses, socket errors and runs without figures, per side.
  local notes=() target key line
  for s in "${SCENARIOS[@]}"; do
    for target in tessera flask; do
      key=$target.$s
      line=""
      if [ -n "${NOTE[$key]:-}" ]; then
        line="${NOTE[$key]}"
      elif [ -n "${R[$key.rps]:-}" ]; then
        [ "${R[$key.non2xx]}" != 0 ] && line="non-2xx ${R[$key.non2xx]} of ${R[$key.requests]} (by status: ${R[$key.statuses]})"
        local e="${R[$key.err_connect]}/${R[$key.err_read]}/${R[$key.err_write]}/${R[$key.err_timeout]}"
        [ "$e" != 0/0/0/0 ] && line+="${line:+; }socket errors connect/read/write/timeout $e"
        [ "${R[$key.missing_token]:-0}" != 0 ] && line+="${line:+; }${R[$key.missing_token]} 200s without a refresh_token"
        [ -z "${R[$key.server_exited]:-}" ] || line+="${line:+; }$target exited during this run"
      fi
      [ -z "$line" ] || notes+=("$s/$target: $line")
    done
  done
  [ "$RUN_TESSERA" = 1 ] || notes+=("tessera: skipped (--skip-tessera)")
  [ "$FLASK_AVAILABLE" = 1 ] || notes+=("flask: ${FLASK_REASON:-not run}")
  if [ "${#notes[@]}" -gt 0 ]; then
    echo "notes:"
    printf '  %s\n' "${notes[@]}"
    echo
  fi
  if selected flood || selected timing; then
    echo "abuse (rate limits and back-off off: the worst case, a distributed attacker):"
    if selected flood; then
      printf '  %-44s %s\n' \
        "GET /protected during a 200-client login flood" "${R[tessera.flood_protected.rps]:-n/a} rps, p50 ${R[tessera.flood_protected.p50_ms]:-n/a} ms, p99 ${R[tessera.flood_protected.p99_ms]:-n/a} ms (target p99 < 20 ms: $V_FLOOD_P99)" \
        "POST /login flood responses" "${R[tessera.flood_login.statuses]:-n/a} (p50 ${R[tessera.flood_login.p50_ms]:-n/a} ms, p99 ${R[tessera.flood_login.p99_ms]:-n/a} ms)" \
        "peak RSS during the flood" "${FLOOD_PEAK_MIB} MiB (bound: idle + hash workers x Argon2 memory + 16 MiB = ${FLOOD_BOUND_MIB} MiB: $V_FLOOD_RSS)"
    fi
    if selected timing; then
      printf '  %-44s %s\n' "login p50, unknown name vs wrong password" \
        "${R[tessera.timing.unknown_p50_ms]:-n/a} ms vs ${R[tessera.timing.known_p50_ms]:-n/a} ms: ${R[tessera.timing.diff_pct]:-n/a}% apart (target < 5%: $V_TIMING)"
    fi
    echo
  fi
  echo "checks:"
  printf '  %-34s %-10s %-48s %s\n' \
    "protected/healthz rps (tessera)" "$PROT_VS_HEALTHZ" "target >= $TARGET_PROTECTED_VS_HEALTHZ" "$V_PROT_HEALTHZ" \
    "protected tessera/flask rps" "$PROT_VS_FLASK$([ "$PROT_VS_FLASK" = n/a ] || echo x)" "target >= ${TARGET_PROTECTED_VS_FLASK}x" "$V_PROT_FLASK" \
    "protected/protected_nosid (tessera)" "$PROT_VS_NOSID" "target >= 0.95 (cost of the revocation check)" "$V_PROT_NOSID" \
    "login rps (tessera, 2xx)" "$(fmt "${T_LOGIN:-n/a}" %.1f)" "target >= $LOGIN_TARGET$([ -n "$ARGON2_MS" ] && echo " (0.9 x $CORES cores / $ARGON2_MS ms)")" "$V_LOGIN" \
    "idle RSS (tessera, MiB)" "$IDLE_RSS_MIB" "target < $TARGET_IDLE_RSS_MIB" "$V_RSS"
  [ -z "$CALIBRATION_SOURCE" ] || [ "$CALIBRATION_SOURCE" = "tessera calibrate" ] || echo "  (login target from $CALIBRATION_SOURCE)"
  echo
}

# ---- JSON ----------------------------------------------------------------------------
jstr() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "$s"; }
jnum() { if [ -z "$1" ] || [ "$1" = n/a ]; then printf 'null'; else printf '%s' "$1"; fi; }

# JSON object for one run, or null.
json_run() {
  local key=$1.$2
  if [ -z "${R[$key.rps]:-}" ]; then
    if [ "$1" = flask ] && [[ $TESSERA_ONLY == *" $2 "* ]]; then
      printf '{"note": "no such route in the seed app"}'
    elif [ -n "${NOTE[$key]:-}" ]; then printf '{"note": %s}' "$(jstr "${NOTE[$key]}")"; else printf 'null'; fi
    return
  fi
  local statuses="" pair
  if [ "${R[$key.statuses]}" != none ]; then
    for pair in ${R[$key.statuses]//,/ }; do statuses+="${statuses:+, }\"${pair%%:*}\": ${pair#*:}"; done
  fi
  printf '{"rps": %s, "rps_all": %s, "requests": %s, "ok": %s, "non2xx": %s, "statuses": {%s}, ' \
    "${R[$key.rps]}" "${R[$key.rps_all]}" "${R[$key.requests]}" "${R[$key.ok]}" "${R[$key.non2xx]}" "$statuses"
  printf '"p50_ms": %s, "p90_ms": %s, "p99_ms": %s, "max_ms": %s, "duration_s": %s, ' \
    "${R[$key.p50_ms]}" "${R[$key.p90_ms]}" "${R[$key.p99_ms]}" "${R[$key.max_ms]}" "${R[$key.duration_s]}"
  printf '"socket_errors": {"connect": %s, "read": %s, "write": %s, "timeout": %s}' \
    "${R[$key.err_connect]}" "${R[$key.err_read]}" "${R[$key.err_write]}" "${R[$key.err_timeout]}"
  [ -z "${R[$key.missing_token]:-}" ] || printf ', "missing_token": %s' "${R[$key.missing_token]}"
  [ -z "${R[$key.server_exited]:-}" ] || printf ', "server_exited": true'
  printf '}'
}

write_json() {
  local file=$RESULTS_DIR/latest.json tmp s first=1
  tmp=$(mktemp "$RESULTS_DIR/.latest.XXXXXX")
  {
    printf '{\n'
    printf '  "generated_at": %s,\n' "$(jstr "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
    printf '  "git_commit": %s,\n' "$(jstr "$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo none)")"
    printf '  "machine": {"nproc": %s},\n' "$(nproc)"
    printf '  "wrk": {"threads": %s, "connections": %s, "refresh_threads": %s, "refresh_connections": %s, "duration": %s},\n' \
      "$THREADS" "$CONNECTIONS" "$REFRESH_THREADS" "$REFRESH_THREADS" "$(jstr "$DURATION")"
    printf '  "tessera": {"run": %s, "database": "%s", "bin": %s, "idle_rss_kib": %s, "idle_rss_mib": %s, "calibration": {"argon2_ms": %s, "cores": %s, "source": %s}},\n' \
      "$([ "$TESSERA_AVAILABLE" = 1 ] && echo true || echo false)" "$DATABASE" "$(jstr "$TESSERA_BIN")" \
      "$(jnum "$IDLE_RSS_KB")" "$(jnum "$IDLE_RSS_MIB")" "$(jnum "$ARGON2_MS")" "$(jnum "$CORES")" \
      "$([ -n "$CALIBRATION_SOURCE" ] && jstr "$CALIBRATION_SOURCE" || echo null)"
    printf '  "flask": {"run": %s, "seed_dir": %s, "note": %s},\n' \
      "$([ "$FLASK_AVAILABLE" = 1 ] && echo true || echo false)" "$(jstr "$SEED_DIR")" \
      "$([ -n "$FLASK_REASON" ] && jstr "$FLASK_REASON" || echo null)"
    printf '  "scenarios": {'
    for s in "${SCENARIOS[@]}"; do
      [ "$first" = 1 ] || printf ','
      first=0
      printf '\n    "%s": {\n      "tessera": %s,\n      "flask": %s,\n      "ratio_tessera_flask": %s\n    }' \
        "$s" "$(json_run tessera "$s")" "$(json_run flask "$s")" "$(jnum "$(ratio "${R[tessera.$s.rps]:-}" "${R[flask.$s.rps]:-}")")"
    done
    printf '\n  },\n'
    printf '  "checks": {\n'
    printf '    "protected_vs_healthz": {"value": %s, "target_min": %s, "verdict": %s},\n' "$(jnum "$PROT_VS_HEALTHZ")" "$TARGET_PROTECTED_VS_HEALTHZ" "$(jstr "$V_PROT_HEALTHZ")"
    printf '    "protected_tessera_vs_flask": {"value": %s, "target_min": %s, "verdict": %s},\n' "$(jnum "$PROT_VS_FLASK")" "$TARGET_PROTECTED_VS_FLASK" "$(jstr "$V_PROT_FLASK")"
    printf '    "protected_vs_protected_nosid": {"value": %s, "target_min": 0.95, "verdict": %s},\n' "$(jnum "$PROT_VS_NOSID")" "$(jstr "$V_PROT_NOSID")"
    printf '    "login_rps": {"value": %s, "target_min": %s, "ratio": %s, "verdict": %s},\n' "$(jnum "${T_LOGIN:-}")" "$(jnum "$LOGIN_TARGET")" "$(jnum "$LOGIN_VS_TARGET")" "$(jstr "$V_LOGIN")"
    printf '    "idle_rss_mib": {"value": %s, "target_max": %s, "verdict": %s}\n' "$(jnum "$IDLE_RSS_MIB")" "$TARGET_IDLE_RSS_MIB" "$(jstr "$V_RSS")"
    printf '  }\n}\n'
  } >"$tmp"
  mv "$tmp" "$file"
  log "wrote $file (raw wrk output in $RESULTS_DIR/raw/)"
}

print_table
write_json
