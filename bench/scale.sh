#!/usr/bin/env bash
# Costs at scale, in one run: every figure with N users and N live sessions against the
# same figure on an empty database, both servers up at once and probed interleaved (ratios
# filled/empty; the goal is ≤ 1.5), then the
# purge of those N sessions once expired, with refreshes and logins going on meanwhile
# (their worst latency during the purge against their p99 on the empty database).
#
#   cargo build --release && bash bench/scale.sh [--scale 1000000] [--database sqlite|postgres]
#
# Measured per operation (sequential, one keep-alive connection: the server's cost, not
# queueing): login, register, refresh, GET /sessions, GET /metrics, GET /protected, and
# start-up (launch to the first 200 of /healthz). The N rows are written straight into the
# database in two set-based INSERTs (a minute for a million), not through the API.
# Needs curl and python3 (and psql for postgres). Writes bench/results/scale-DB.json.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=bench/lib.sh
source "$SCRIPT_DIR/lib.sh"

TESSERA_BIN=${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/tessera
SCALE=1000000
DATABASE=sqlite
POSTGRES_URL=${TESSERA_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
SAMPLES=30
while [ "$#" -gt 0 ]; do
  case $1 in
    --scale) SCALE=$2; shift 2 ;;
    --database) DATABASE=$2; shift 2 ;;
    --postgres-url) POSTGRES_URL=$2; shift 2 ;;
    --samples) SAMPLES=$2; shift 2 ;;
    --tessera-bin) TESSERA_BIN=$(abspath "$2"); shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) die "unknown flag $1 (see --help)" ;;
  esac
done
case $DATABASE in sqlite|postgres) ;; *) die "--database must be sqlite or postgres" ;; esac
[ -x "$TESSERA_BIN" ] || die "no tessera binary at $TESSERA_BIN: run cargo build --release"
command -v python3 >/dev/null || die "python3 is needed"

start_work scale
ROOT_WORK=$WORK
SECRET=$(random_hex 32)
PROBE="$SCRIPT_DIR/scale_probe.py"
declare -A PG_URL PID URL STARTUP_MS
BENCH_DBS=()

drop_bench_databases() {
  local name
  for name in ${BENCH_DBS[@]+"${BENCH_DBS[@]}"}; do
    psql -q "$POSTGRES_URL" -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null 2>&1 || true
  done
}
trap 'WORK=$ROOT_WORK; drop_bench_databases; work_cleanup' EXIT

# start NAME PURGE_SECS: the tessera of NAME (`empty` or `filled`), each with its own data
# directory (and PostgreSQL database, created at its first start and reused after); sets
# PID, URL and STARTUP_MS (launch to the first 200 of /healthz) for NAME.
start() {
  local name=$1 started
  # No cap on one user's sessions: the probe logs in hundreds of times during the purge.
  TESSERA_EXTRA_ENV=(TESSERA_PURGE_INTERVAL_SECS="$2" TESSERA_MAX_SESSIONS_PER_USER=0)
  [ -z "${PG_URL[$name]:-}" ] || TESSERA_EXTRA_ENV+=(TESSERA_DATABASE_URL="${PG_URL[$name]}")
  WORK=$ROOT_WORK/$name
  mkdir -p "$WORK"
  started=$(date +%s%N)
  if [ -n "${PG_URL[$name]:-}" ]; then DATABASE=sqlite start_tessera; else start_tessera; fi
  # start_tessera waits for /healthz, then idles 1 s before reading the RSS.
  STARTUP_MS[$name]=$(( ($(date +%s%N) - started) / 1000000 - 1000 ))
  if [ "$DATABASE" = postgres ] && [ -z "${PG_URL[$name]:-}" ]; then
    BENCH_DBS+=("$BENCH_DB_NAME")
    PG_URL[$name]="${POSTGRES_URL%%\?*}"
    PG_URL[$name]="${PG_URL[$name]%/*}/$BENCH_DB_NAME"
  fi
  PID[$name]=$TESSERA_PID
  URL[$name]=$TESSERA_URL
  WORK=$ROOT_WORK
}

stop() { stop_pid "${PID[$1]}"; }

# sql NAME STATEMENTS: runs on NAME's database.
sql() {
  if [ "$DATABASE" = postgres ]; then
    psql -q -v ON_ERROR_STOP=1 "${PG_URL[$1]}" -c "$2" >/dev/null
  else
    python3 - "$ROOT_WORK/$1/tessera-data/tessera.db" "$2" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=60)
db.executescript(sys.argv[2])
db.commit()
PY
  fi
}
count_filled_sessions() {
  local query="SELECT COUNT(*) FROM sessions WHERE id LIKE 'fill%'"
  if [ "$DATABASE" = postgres ]; then
    psql -Atq "${PG_URL[filled]}" -c "$query"
  else
    python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" \
      "$ROOT_WORK/filled/tessera-data/tessera.db" "$query"
  fi
}

fill() {
  local now hash
  now=$(date +%s)
  # A well-formed Argon2id hash nobody's password matches (the filler users never log in).
  hash='$argon2id$v=19$m=19456,t=2,p=1$c2NhbGViZW5jaHNhbHQ$q1FXJ0u2gq1bqYv0v8Yb0mSx0Xgq5hZ4l9y9cN2p0bA'
  if [ "$DATABASE" = postgres ]; then
    sql filled "INSERT INTO users (username, username_canonical, password_hash, created_at, password_changed_at)
         SELECT 'fill' || x, 'fill' || x, '$hash', $now, $now FROM generate_series(1, $SCALE) AS g(x);
         INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, refresh_nonce_digest)
         SELECT 'fill' || id, id, $now, $now, $now + 2592000, sha256(convert_to(id::text, 'UTF8'))
         FROM users WHERE username LIKE 'fill%';
         ANALYZE users; ANALYZE sessions;"
  else
    sql filled "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < $SCALE)
         INSERT INTO users (username, username_canonical, password_hash, created_at, password_changed_at)
         SELECT 'fill' || x, 'fill' || x, '$hash', $now, $now FROM g;
         INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, refresh_nonce_digest)
         SELECT 'fill' || id, id, $now, $now, $now + 2592000, randomblob(32)
         FROM users WHERE username LIKE 'fill%';
         ANALYZE;"
  fi
}

log "creating the databases ($DATABASE)"
start filled 3600
stop filled
log "writing $SCALE users and $SCALE live sessions"
fill_started=$(date +%s)
fill
log "filled in $(( $(date +%s) - fill_started )) s"

start empty 3600
start filled 3600
log "probing both, interleaved"
COMPARE_JSON=$(python3 "$PROBE" "$SAMPLES" "${URL[empty]}" "${URL[filled]}")
# The probe's answer is keyed by URL; a restart below gets a new port.
PROBED_EMPTY=${URL[empty]} PROBED_FILLED=${URL[filled]}
stop empty
stop filled

# Start-up: launch to the first 200 of /healthz, polled every 10 ms (the 0.2 s default would
# round it to a poll), the median of 5 starts of each, alternating.
log "timing start-up (5 starts of each)"
declare -A STARTS
for _ in 1 2 3 4 5; do
  for name in empty filled; do
    WAIT_POLL=0.01 start "$name" 3600
    STARTS[$name]+="${STARTUP_MS[$name]} "
    stop "$name"
  done
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# Kept apart from STARTUP_MS, which the purge phase's start below overwrites (that start
# purges a million sessions from its first second: not a start-up figure).
# shellcheck disable=SC2086  # word splitting of the lists is the point
STARTUP_MEDIAN_EMPTY=$(median ${STARTS[empty]})
# shellcheck disable=SC2086
STARTUP_MEDIAN_FILLED=$(median ${STARTS[filled]})
log "start-up (ms), empty: ${STARTS[empty]}; filled: ${STARTS[filled]}"

log "expiring the $SCALE sessions; purging them while refreshing and logging in"
sql filled "UPDATE sessions SET expires_at = 1 WHERE id LIKE 'fill%';"
start filled 1
purge_started=$(date +%s%N)
python3 "$PROBE" --during 600 "$ROOT_WORK/purge-done" "${URL[filled]}" >"$ROOT_WORK/during.json" &
LOAD_PID=$!
while [ "$(count_filled_sessions)" != 0 ]; do
  sleep 0.2
  [ $(( ($(date +%s%N) - purge_started) / 1000000000 )) -lt 600 ] || { warn "purge not done in 600 s"; break; }
done
PURGE_S=$(awk -v ns="$(( $(date +%s%N) - purge_started ))" 'BEGIN { printf "%.1f", ns / 1e9 }')
touch "$ROOT_WORK/purge-done"
wait "$LOAD_PID" || warn "the load during the purge failed"
DURING_JSON=$(cat "$ROOT_WORK/during.json")
[ -n "$DURING_JSON" ] || DURING_JSON="{}"
stop filled

python3 - "$DATABASE" "$SCALE" "$PURGE_S" "$STARTUP_MEDIAN_EMPTY" "$STARTUP_MEDIAN_FILLED" \
  "$PROBED_EMPTY" "$PROBED_FILLED" "$COMPARE_JSON" "$DURING_JSON" \
  "$REPO_ROOT/bench/results/scale-$DATABASE.json" <<'PY'
import json, os, sys
db, scale, purge_s, empty_start, filled_start, empty_url, filled_url, compare, during, out = sys.argv[1:]
compare, during = json.loads(compare), json.loads(during)
empty, filled = compare[empty_url], compare[filled_url]
rows = []
print(f"\nscale: {int(scale):,} users and live sessions, {db}; p50 latency (ms), sequential "
      "requests to both servers interleaved")
print(f"{'operation':<12}{'empty':>10}{'filled':>10}{'filled/empty':>14}")
for op in ["login", "register", "refresh", "sessions", "metrics", "protected"]:
    e, f = empty[op]["p50_ms"], filled[op]["p50_ms"]
    rows.append({"op": op, "empty_p50_ms": e, "filled_p50_ms": f, "ratio": round(f / e, 2)})
    print(f"{op:<12}{e:>10.2f}{f:>10.2f}{f / e:>14.2f}")
e, f = int(empty_start), int(filled_start)
rows.append({"op": "startup", "empty_ms": e, "filled_ms": f, "ratio": round(f / max(e, 1), 2)})
print(f"{'startup':<12}{e:>10d}{f:>10d}{f / max(e, 1):>14.2f}")
print(f"\npurge of {int(scale):,} expired sessions: {purge_s} s, with requests going on:")
for op in ["refresh", "login"]:
    d = during.get(op)
    if d:
        print(f"  {op:<8} n={d['n']:<6} p50 {d['p50_ms']:.2f} ms  p99 {d['p99_ms']:.2f} ms  "
              f"max {d['max_ms']:.2f} ms   (empty database: p99 {empty[op]['p99_ms']:.2f} ms)")
os.makedirs(os.path.dirname(out), exist_ok=True)
json.dump({"database": db, "scale": int(scale), "rows": rows, "purge_s": float(purge_s),
           "empty": empty, "filled": filled, "during_purge": during}, open(out, "w"), indent=2)
print(f"written to {out}")
PY
