#!/usr/bin/env bash
# Refresh and register throughput on ONE server core, per database backend, and where the
# time goes: tessera on core 0 (taskset -c 0; its runtime and hashing pool size themselves
# to that one core), wrk on core 1. Per backend and operation: requests/s, p50/p99, the
# server's CPU per request split by thread (async workers, hashing pool, SQLite workers),
# PostgreSQL's own CPU per request (the backends serving tessera's database) and the
# database round trips per request (an strace of a sequential pass; skipped without strace).
# Usage and how to read it: bench/README.md ("Refresh and register throughput").
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
WRK_DIR=$SCRIPT_DIR/wrk
RESULTS_DIR=$SCRIPT_DIR/results
# shellcheck source=bench/lib.sh
. "$SCRIPT_DIR/lib.sh"

DURATION=10s
DATABASES=(sqlite postgres)
SEQUENTIAL=200
TESSERA_BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/tessera
POSTGRES_URL=${TESSERA_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
PASSWORD=correct-horse-battery
SETTLE_SECONDS=2

usage() {
  cat <<USAGE
usage: bash bench/throughput.sh [--database sqlite|postgres|both] [--duration 10s]
                                [--sequential 200] [--tessera-bin PATH] [--postgres-url URL]
USAGE
}
while [ "$#" -gt 0 ]; do
  case $1 in
    --database)
      case ${2:?} in
        both) DATABASES=(sqlite postgres) ;;
        sqlite|postgres) DATABASES=("$2") ;;
        *) die "--database: sqlite, postgres or both" ;;
      esac
      shift 2 ;;
    --duration) DURATION=${2:?}; shift 2 ;;
    --sequential) SEQUENTIAL=${2:?}; shift 2 ;;
    --tessera-bin) TESSERA_BIN=$(abspath "${2:?}"); shift 2 ;;
    --postgres-url) POSTGRES_URL=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ $DURATION =~ ^[1-9][0-9]*[smh]?$ ]] || die "--duration: expected e.g. 10s or 1m, got '$DURATION'"
[[ $SEQUENTIAL =~ ^[1-9][0-9]*$ ]] || die "--sequential: a positive count"
for tool in wrk curl python3 taskset; do command -v "$tool" >/dev/null || die "$tool not found"; done
[ -x "$TESSERA_BIN" ] || die "tessera binary not found at $TESSERA_BIN (cargo build --release)"
HAVE_STRACE=1
command -v strace >/dev/null || { HAVE_STRACE=0; warn "strace not found: no round-trip counts"; }

pin_server_and_load

start_work tessera-throughput
ROOT_WORK=$WORK
mkdir -p "$RESULTS_DIR/raw"
BENCH_DBS=()
trap 'for db in ${BENCH_DBS[@]+"${BENCH_DBS[@]}"}; do psql -q "$POSTGRES_URL" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true; done; work_cleanup' EXIT

SECRET=$(random_hex 32)
CLK_TCK=$(getconf CLK_TCK)
declare -A R=()

# thread_ticks PID: "name ticks" per thread of PID, numbered names folded together
# (tokio-runtime-w, sqlx-sqlite-wor…, the hashing pool's threads).
thread_ticks() {
  local stat
  for stat in /proc/"$1"/task/*/stat; do cat "$stat" 2>/dev/null || true; done |
    awk '{ name = $0; sub(/^[^(]*\(/, "", name); sub(/\).*$/, "", name); sub(/[-0-9]+$/, "", name)
           rest = $0; sub(/^.*\) /, "", rest); split(rest, f, " "); t[name] += f[12] + f[13] }
         END { for (n in t) print n, t[n] }'
}

# db_backend_ticks DBNAME: CPU ticks of the PostgreSQL backends connected to DBNAME.
db_backend_ticks() {
  local pid total=0 stat
  for pid in $(psql -Atq "$POSTGRES_URL" -c "SELECT pid FROM pg_stat_activity WHERE datname = '$1'" 2>/dev/null); do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat#*) }
    # shellcheck disable=SC2086  # split into fields on purpose
    set -- $stat
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}

ticks_to_us() { awk -v d="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN { if (n > 0) printf "%.1f", d / hz * 1e6 / n; else print "n/a" }'; }

# measure DB OP SCRIPT CONNECTIONS [VAR=value ...]: one pinned wrk run against tessera;
# stores rps, p50, p99, CPU µs per request (total, per thread kind, PostgreSQL's) in R.
measure() {
  local db=$1 op=$2 script=$3 conns=$4 out line kv before after pg0=0 pg1=0 name ticks n
  shift 4
  out=$RESULTS_DIR/raw/throughput-$db-$op.txt
  log "$op on $db: ${LOAD_PREFIX[*]:-} wrk -t$conns -c$conns -d$DURATION"
  before=$(thread_ticks "$TESSERA_PID")
  [ "$db" != postgres ] || pg0=$(db_backend_ticks "$BENCH_DB_NAME")
  env "$@" ${LOAD_PREFIX[@]+"${LOAD_PREFIX[@]}"} wrk -t"$conns" -c"$conns" -d"$DURATION" --timeout 30s --latency \
    -s "$WRK_DIR/$script" "$TESSERA_URL/$op" >"$out" 2>&1 || warn "wrk failed for $op on $db (see $out)"
  after=$(thread_ticks "$TESSERA_PID")
  [ "$db" != postgres ] || pg1=$(db_backend_ticks "$BENCH_DB_NAME")
  line=$(grep '^RESULT ' "$out" | tail -n1 || true)
  [ -n "$line" ] || { warn "no RESULT line from wrk ($out)"; return 0; }
  for kv in ${line#RESULT }; do R[$db.$op.${kv%%=*}]=${kv#*=}; done
  n=${R[$db.$op.ok]}
  R[$db.$op.threads]=""
  local total=0
  while read -r name ticks; do
    local was
    was=$(awk -v n="$name" '$1 == n { print $2 }' <<<"$before")
    ticks=$((ticks - ${was:-0}))
    total=$((total + ticks))
    [ "$ticks" -gt 0 ] || continue
    R[$db.$op.threads]+="$name=$(ticks_to_us "$ticks" "$n") "
    case $name in sqlx-sqlite-wor*) R[$db.$op.sqlite_ticks]=$(( ${R[$db.$op.sqlite_ticks]:-0} + ticks )) ;; esac
  done <<<"$after"
  R[$db.$op.cpu_us]=$(ticks_to_us "$total" "$n")
  R[$db.$op.pg_us]=$(ticks_to_us $((pg1 - pg0)) "$n")
  if [ "$db" = postgres ]; then
    R[$db.$op.db_share]=$(awk -v p=$((pg1 - pg0)) -v t="$total" 'BEGIN { if (p + t > 0) printf "%.0f%%", 100 * p / (p + t); else print "n/a" }')
  else
    R[$db.$op.db_share]=$(awk -v s="${R[$db.$op.sqlite_ticks]:-0}" -v t="$total" 'BEGIN { if (t > 0) printf "%.0f%%", 100 * s / t; else print "n/a" }')
  fi
  [ "${R[$db.$op.non2xx]}" = 0 ] || log "  $op on $db: ${R[$db.$op.non2xx]} non-2xx (${R[$db.$op.statuses]})"
  log "  -> ${R[$db.$op.rps]} $op/s, ${R[$db.$op.cpu_us]} µs tessera CPU/request (${R[$db.$op.threads]% }), database share ${R[$db.$op.db_share]}"
  sleep "$SETTLE_SECONDS"
}

# round_trips DB OP CLIENT_ARGS...: SEQUENTIAL requests one after another under strace;
# stores the database sends per request.
round_trips() {
  local db=$1 op=$2 trace strace_pid result
  shift 2
  [ "$HAVE_STRACE" = 1 ] && [ "$db" = postgres ] || return 0
  trace=$WORK/strace-$op.txt
  strace -f -qq -e trace=sendto,sendmsg,write,writev -e signal=none -s 0 -o "$trace" -p "$TESSERA_PID" 2>/dev/null &
  strace_pid=$!
  sleep 1
  python3 "$SCRIPT_DIR/keepalive_client.py" "$@" >/dev/null || { warn "sequential $op pass failed"; kill "$strace_pid" 2>/dev/null; return 0; }
  kill -INT "$strace_pid" 2>/dev/null || true
  wait "$strace_pid" 2>/dev/null || true
  local port=${PG_PORT:-5432}
  if result=$(python3 "$SCRIPT_DIR/db_round_trips.py" "$trace" "$TESSERA_PID" "$port" "$SEQUENTIAL"); then
    R[$db.$op.round_trips]=$(sed -nE 's/.*db_sends_per_request=([0-9.]+).*/\1/p' <<<"$result")
    log "  -> $op on $db: ${R[$db.$op.round_trips]} database round trips per request"
  else
    warn "no round-trip count for $op on $db"
  fi
}

PG_PORT=$(sed -nE 's#^[a-z]+://[^/]*:([0-9]+)(/.*)?$#\1#p' <<<"${POSTGRES_URL%%\?*}")
for DATABASE in "${DATABASES[@]}"; do
  WORK=$ROOT_WORK/$DATABASE
  mkdir -p "$WORK"
  # No cap on one user's sessions (the refresh run opens several for one user).
  TESSERA_EXTRA_ENV=(TESSERA_MAX_SESSIONS_PER_USER=0)
  start_tessera
  [ "$DATABASE" != postgres ] || BENCH_DBS+=("$BENCH_DB_NAME")
  USERNAME="tp$(random_hex 4)"
  register_user "$TESSERA_URL" || die "could not register on tessera"
  tokens=()
  for _ in 1 2 3 4 5; do
    login_user "$TESSERA_URL" || die "could not log in on tessera"
    tokens+=("$(json_str refresh_token "$HTTP_BODY")")
  done
  # Four chains for wrk (one connection each), the fifth for the sequential pass.
  measure "$DATABASE" refresh refresh.lua 4 BENCH_REFRESH_TOKENS="${tokens[*]:0:4}"
  round_trips "$DATABASE" refresh refreshes 127.0.0.1 "$TESSERA_PORT" "${tokens[4]}" "$SEQUENTIAL"
  measure "$DATABASE" register register.lua 4 BENCH_PREFIX="$(random_hex 3)" BENCH_PASSWORD="$PASSWORD"
  round_trips "$DATABASE" register registers 127.0.0.1 "$TESSERA_PORT" "seq$(random_hex 3)_" "$PASSWORD" "$SEQUENTIAL"
  stop_pid "$TESSERA_PID"
done
WORK=$ROOT_WORK

val() { local v=${R[$1]:-}; printf '%s' "${v:-n/a}"; }
echo
echo "refresh and register on one server core ($PINNING, PostgreSQL unpinned; wrk -d$DURATION, 4 connections; $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
echo
row="%-9s %-9s | %9s | %7s | %7s | %13s | %11s | %8s | %11s\n"
# shellcheck disable=SC2059
printf "$row" database op "req/s" "p50 ms" "p99 ms" "tessera µs/req" "PG µs/req" "DB share" "round trips"
for db in "${DATABASES[@]}"; do
  for op in refresh register; do
    [ -n "${R[$db.$op.rps]:-}" ] || continue
    # shellcheck disable=SC2059
    printf "$row" "$db" "$op" "$(val "$db.$op.rps")" "$(val "$db.$op.p50_ms")" "$(val "$db.$op.p99_ms")" \
      "$(val "$db.$op.cpu_us")" "$( [ "$db" = postgres ] && val "$db.$op.pg_us" || echo -)" \
      "$(val "$db.$op.db_share")" "$( [ "$db" = postgres ] && val "$db.$op.round_trips" || echo -)"
  done
done
echo
echo "tessera CPU per request by thread (µs):"
for db in "${DATABASES[@]}"; do
  for op in refresh register; do
    [ -n "${R[$db.$op.threads]:-}" ] && printf '  %-9s %-9s %s\n' "$db" "$op" "${R[$db.$op.threads]}"
  done
done
echo "DB share: SQLite = its worker threads' CPU / tessera's CPU; PostgreSQL = its backends' CPU / (tessera's + theirs)."
echo "(raw wrk output: $RESULTS_DIR/raw/throughput-*.txt)"
