# Shell functions shared by bench/run.sh, bench/pinned.sh and bench/callgrind.sh
# (sourced, never run). They read the caller's globals where noted:
#   WORK          temp dir of the run (http_post's body file, the Flask copy)
#   STARTED_PIDS  array of the pids the caller stops at exit (start_flask appends)
#   SECRET        JWT_SECRET_KEY shared by the servers (start_flask, mint_token_without_sid)
#   SEED_DIR, VENV_DIR, FLASK_WORKERS, FLASK_PORT/FLASK_URL/FLASK_PID/FLASK_REASON (start_flask)
#   USERNAME, PASSWORD (register_user, login_user defaults)
#   TESSERA_BIN, DATABASE (sqlite), ALG (hs256), POSTGRES_URL, TESSERA_EXTRA_ENV (array of
#   VAR=value), SERVER_PREFIX (array), START_TIMEOUT (30 s) (start_tessera, which sets
#   TESSERA_PORT/URL/PID, TESSERA_AVAILABLE, IDLE_RSS_KB, BENCH_DB_NAME)
# shellcheck shell=bash
# shellcheck disable=SC2034  # FLASK_*, TESSERA_* are read by the sourcing script
TESSERA_EXTRA_ENV=()
SERVER_PREFIX=()

log() { printf '[bench] %s\n' "$*" >&2; }
warn() { printf '[bench] WARNING: %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# Paths given on the command line are relative to where the user stands.
abspath() { case $1 in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$PWD/$1" ;; esac; }

stop_pid() {
  local pid=$1 i
  # Servers run in their own session (setsid), so the process group id equals
  # the pid: signalling the group also reaches gunicorn's forked workers.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do            # up to 5 s for a graceful stop
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# pin_server_and_load: the server under test on core 0 and the load generator on core 1
# (sets SERVER_PREFIX, LOAD_PREFIX and PINNING, which says so); on a one-core machine both
# run unpinned, and a warning says the figures include the load generator's own CPU.
pin_server_and_load() {
  if [ "$(nproc)" -ge 2 ]; then
    SERVER_PREFIX=(taskset -c 0)
    LOAD_PREFIX=(taskset -c 1)
    PINNING="server on core 0, wrk on core 1"
  else
    SERVER_PREFIX=()
    LOAD_PREFIX=()
    PINNING="ONE core only: server and wrk unpinned, sharing it"
    warn "this machine has one core: running unpinned (figures include wrk's own CPU)"
  fi
}

# ---- helpers -------------------------------------------------------------------
# A free loopback port below the kernel's ephemeral range (32768+), so that
# wrk's own client ports cannot take it between the check and the bind.
free_port() {
  local i port
  for i in $(seq 1 100); do
    port=$((20000 + RANDOM % 12000))
    # A refused connection means nothing listens there.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      printf '%s\n' "$port"
      return 0
    fi
  done
  die "no free loopback port found"
}

random_hex() { head -c "$1" /dev/urandom | od -An -v -tx1 | tr -d ' \n'; }

# HTTP status of a GET, or 000 when nothing answers.
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null || true; }

# Wait (at most $3 seconds) until GET $1 answers, with status $2 or, for "any",
# with any HTTP status.  Fails early if process $4 has exited.
# WAIT_POLL: seconds between tries (0.2 by default; start-up timings use less).
wait_http() {
  local url=$1 want=$2 timeout=$3 pid=$4 code deadline
  deadline=$(( $(date +%s) + timeout ))
  while [ "$(date +%s)" -le "$deadline" ]; do
    kill -0 "$pid" 2>/dev/null || return 1
    code=$(http_code "$url")
    if [ "$want" = any ] && [ "$code" != 000 ]; then return 0; fi
    [ "$code" = "$want" ] && return 0
    sleep "${WAIT_POLL:-0.2}"
  done
  return 1
}

# POST JSON $2 to URL $1; sets HTTP_STATUS and HTTP_BODY.  Retries a 503
# (tessera's "overloaded") a few times: setup requests must not fail just
# because a previous load run is still draining.
http_post() {
  local url=$1 body=$2 _
  for _ in 1 2 3 4 5; do
    HTTP_STATUS=$(curl -s -o "$WORK/http_body" -w '%{http_code}' --max-time 30 \
      -H 'Content-Type: application/json' --data-binary "$body" "$url" 2>/dev/null) || HTTP_STATUS=000
    HTTP_BODY=$(cat "$WORK/http_body" 2>/dev/null || true)
    [ "$HTTP_STATUS" = 503 ] || return 0
    sleep 1
  done
}

# String value of "key" in a one-line JSON object (tokens and names here
# never contain quotes or escapes, so a pattern match is enough).
json_str() { sed -nE 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*"([^"]*)".*/\1/p' <<<"$2" | head -n1; }
json_num() { sed -nE 's/.*"'"$1"'"[[:space:]]*:[[:space:]]*(-?[0-9][0-9.eE+-]*).*/\1/p' <<<"$2" | head -n1; }

# awk does the floating point; prints n/a when an operand is missing or zero.
ratio() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'; }

# register_user URL [NAME]: register NAME (default $USERNAME) with $PASSWORD;
# 201 new; 409, or the seed app's 400 "Username already exists", mean the
# user is there already (e.g. the calibration fallback registered it).
register_user() {
  http_post "$1/register" "{\"username\":\"${2:-$USERNAME}\",\"password\":\"$PASSWORD\"}"
  case $HTTP_STATUS in
    201|409) return 0 ;;
    400) [[ $HTTP_BODY == *"already exists"* ]] && return 0 ;;
  esac
  warn "register on $1 answered $HTTP_STATUS: $HTTP_BODY"
  return 1
}

# login_user URL [NAME]: log NAME (default $USERNAME) in; sets HTTP_STATUS/HTTP_BODY.
login_user() {
  http_post "$1/login" "{\"username\":\"${2:-$USERNAME}\",\"password\":\"$PASSWORD\"}"
  [ "$HTTP_STATUS" = 200 ] || { warn "login on $1 answered $HTTP_STATUS: $HTTP_BODY"; return 1; }
}

tail_log() {
  if [ -f "$1" ]; then { echo "---- last lines of $1"; tail -n 20 "$1"; echo "----"; } >&2; fi
}

# ---- Flask reference -------------------------------------------------------------
# Returns 1 (with FLASK_REASON set) when the reference cannot be run; the
# tessera side goes on without it.
start_flask() {
  if [ ! -f "$SEED_DIR/run.sh" ] || [ ! -f "$SEED_DIR/requirements.txt" ]; then
    FLASK_REASON="seed Flask app not found at $SEED_DIR"
    return 1
  fi
  if ! command -v python3 >/dev/null; then
    FLASK_REASON="python3 not found (needed for the seed Flask app at $SEED_DIR)"
    return 1
  fi

  # The venv is reused between runs; pip runs only when requirements.txt
  # differs from the copy stored after the last successful install.
  local stamp=$VENV_DIR/.bench-requirements.txt
  if [ ! -x "$VENV_DIR/bin/python" ]; then
    log "creating virtualenv $VENV_DIR"
    python3 -m venv "$VENV_DIR" >"$WORK/venv.log" 2>&1 || { tail_log "$WORK/venv.log"; FLASK_REASON="python3 -m venv $VENV_DIR failed"; return 1; }
  fi
  if ! cmp -s "$SEED_DIR/requirements.txt" "$stamp"; then
    log "installing the seed app's requirements into $VENV_DIR (first run only)"
    if ! timeout 900 "$VENV_DIR/bin/pip" install -q --disable-pip-version-check -r "$SEED_DIR/requirements.txt" >"$WORK/pip.log" 2>&1; then
      tail_log "$WORK/pip.log"
      FLASK_REASON="pip install -r $SEED_DIR/requirements.txt failed"
      return 1
    fi
    cp "$SEED_DIR/requirements.txt" "$stamp"
  fi

  # shared/ is read-only: run from a writable copy (the app writes instance/users.db).
  cp -r "$SEED_DIR" "$WORK/flask_seed"
  chmod -R u+w "$WORK/flask_seed"
  rm -rf "$WORK/flask_seed/.venv" "$WORK/flask_seed/instance"

  FLASK_PORT=$(free_port)
  FLASK_URL="http://127.0.0.1:$FLASK_PORT"
  log "starting the seed Flask app on $FLASK_URL (gunicorn, ${FLASK_WORKERS:-2} sync workers)"
  (
    cd "$WORK/flask_seed" || exit 1
    # shellcheck disable=SC2030,SC2031  # exported to the Flask app only, on purpose
    export JWT_SECRET_KEY=$SECRET VENV=$VENV_DIR SEED_ACCESS_LOG=0 SEED_FRESH_DB=1
    # SERVER_PREFIX (taskset) applies to gunicorn and its workers; FLASK_WORKERS: the
    # seed run.sh's worker count (its default is 2).
    exec setsid ${SERVER_PREFIX[@]+"${SERVER_PREFIX[@]}"} ./run.sh "$FLASK_PORT" ${FLASK_WORKERS:+"$FLASK_WORKERS"}
  ) >"$WORK/flask.log" 2>&1 </dev/null &
  FLASK_PID=$!
  STARTED_PIDS+=("$FLASK_PID")
  # No /healthz in the seed app: the 401 of an unauthenticated /protected
  # shows that gunicorn and the app are up.
  if ! wait_http "$FLASK_URL/protected" any 30 "$FLASK_PID"; then
    tail_log "$WORK/flask.log"
    FLASK_REASON="the seed Flask app did not start within 30 s"
    return 1
  fi
  log "Flask up (pid $FLASK_PID)"
}

# An HS256 access token in Flask-JWT-Extended's layout, signed with the shared secret.
mint_token_without_sid() {
  JWT_SECRET_KEY=$SECRET python3 - "$1" <<'PY'
import base64, hashlib, hmac, json, os, sys, time, uuid
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
claims = b64(json.dumps({"fresh": False, "iat": now, "jti": str(uuid.uuid4()), "type": "access",
                         "sub": sys.argv[1], "nbf": now, "exp": now + 3600}).encode())
signing_input = f"{header}.{claims}".encode()
sig = hmac.new(os.environ["JWT_SECRET_KEY"].encode(), signing_input, hashlib.sha256).digest()
print(f"{header}.{claims}.{b64(sig)}")
PY
}

# ---- tessera ---------------------------------------------------------------------
start_tessera() {
  : "${TESSERA_BIN:?start_tessera needs TESSERA_BIN}"
  TESSERA_PORT=$(free_port)
  TESSERA_URL="http://127.0.0.1:$TESSERA_PORT"
  mkdir -p "$WORK/tessera-data"
  local DATABASE=${DATABASE:-sqlite} ALG=${ALG:-hs256}
  local database_url=""
  if [ "$DATABASE" = postgres ]; then
    command -v psql >/dev/null || die "--database postgres needs psql"
    BENCH_DB_NAME="tessera_bench_$(random_hex 6)"
    psql -q "$POSTGRES_URL" -c "CREATE DATABASE \"$BENCH_DB_NAME\"" >/dev/null || die "cannot create a database on $POSTGRES_URL"
    # Same server and credentials, the fresh database instead of the given one.
    database_url="${POSTGRES_URL%%\?*}"
    database_url="${database_url%/*}/$BENCH_DB_NAME"
  fi
  log "starting tessera on $TESSERA_URL ($TESSERA_BIN, database: $DATABASE)"
  # setsid: own process group, for cleanup and so that Ctrl-C reaches this
  # script first.  The subshell execs, so $! is tessera's own pid.
  (
    # shellcheck disable=SC2030,SC2031  # exported to tessera only, on purpose
    export JWT_SECRET_KEY=$SECRET TESSERA_LOG_LEVEL=warn RUST_LOG=warn
    # All load comes from 127.0.0.1: with the per-address limits on, the throughput
    # runs would measure the limiter (429s), and the timing run the back-off. The
    # limits have their own tests; here they are off, as for a distributed attacker.
    export TESSERA_RATE_LIMITS__LOGIN_PER_IP__PER_MINUTE=0 TESSERA_RATE_LIMITS__LOGIN_PER_USER_IP__PER_MINUTE=0 \
           TESSERA_RATE_LIMITS__REGISTER_PER_IP__PER_MINUTE=0 TESSERA_RATE_LIMITS__REFRESH_PER_IP__PER_MINUTE=0 \
           TESSERA_LOGIN_BACKOFF__THRESHOLD=0
    [ -z "$database_url" ] || export TESSERA_DATABASE_URL=$database_url
    if [ "$ALG" != hs256 ]; then
      # An asymmetric key that signs from the start (the ring keeps HS256 otherwise).
      "$TESSERA_BIN" keys --data-dir "$WORK/tessera-data" generate --alg "$ALG" >/dev/null
    fi
    # TESSERA_EXTRA_ENV: more VAR=value settings; SERVER_PREFIX: a command tessera runs
    # under (taskset, valgrind), exec'd in turn, so the pid stays tessera's (or valgrind's).
    [ "${#TESSERA_EXTRA_ENV[@]}" -eq 0 ] || export "${TESSERA_EXTRA_ENV[@]}"
    exec setsid ${SERVER_PREFIX[@]+"${SERVER_PREFIX[@]}"} "$TESSERA_BIN" serve --listen "127.0.0.1:$TESSERA_PORT" --data-dir "$WORK/tessera-data"
  ) >"$WORK/tessera.log" 2>&1 </dev/null &
  TESSERA_PID=$!
  STARTED_PIDS+=("$TESSERA_PID")
  if ! wait_http "$TESSERA_URL/healthz" 200 "${START_TIMEOUT:-30}" "$TESSERA_PID"; then
    tail_log "$WORK/tessera.log"
    die "tessera did not answer 200 on GET /healthz within ${START_TIMEOUT:-30} s"
  fi
  TESSERA_AVAILABLE=1
  # Idle RSS: after start-up, before any load.
  sleep 1
  IDLE_RSS_KB=$(awk '/^VmRSS:/ { print $2 }' "/proc/$TESSERA_PID/status" 2>/dev/null || true)
  log "tessera up (pid $TESSERA_PID), idle RSS ${IDLE_RSS_KB:-?} kB"
}

# mint_flask_tokens NAME COUNT FILE: COUNT distinct Flask-JWT-Extended access tokens for
# NAME (each its own jti), signed with $SECRET, one a line.
mint_flask_tokens() {
  JWT_SECRET_KEY=$SECRET python3 - "$1" "$2" "$3" <<'PY'
import base64, hashlib, hmac, json, os, sys, time, uuid
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
name, count, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
key = os.environ["JWT_SECRET_KEY"].encode()
now = int(time.time())
header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
with open(out, "w") as f:
    for _ in range(count):
        claims = b64(json.dumps({"fresh": False, "iat": now, "jti": str(uuid.uuid4()), "type": "access",
                                 "sub": name, "nbf": now, "exp": now + 3600}).encode())
        signing_input = f"{header}.{claims}".encode()
        sig = hmac.new(key, signing_input, hashlib.sha256).digest()
        f.write(f"{header}.{claims}.{b64(sig)}\n")
PY
}

# The bare axum reference (bench/bare): start_bare starts it on a free port with $SECRET,
# under SERVER_PREFIX; sets BARE_PORT/BARE_URL/BARE_PID.
BARE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/bare
BARE_BIN=${BARE_BIN:-$BARE_DIR/target/release/bare}
start_bare() {
  BARE_PORT=$(free_port)
  BARE_URL="http://127.0.0.1:$BARE_PORT"
  log "starting the bare axum route on $BARE_URL ($BARE_BIN)"
  (
    # shellcheck disable=SC2030,SC2031  # exported to the bare route only, on purpose
    export JWT_SECRET_KEY=$SECRET
    exec setsid ${SERVER_PREFIX[@]+"${SERVER_PREFIX[@]}"} "$BARE_BIN" "127.0.0.1:$BARE_PORT"
  ) >"$WORK/bare.log" 2>&1 </dev/null &
  BARE_PID=$!
  STARTED_PIDS+=("$BARE_PID")
  if ! wait_http "$BARE_URL/healthz" 200 "${START_TIMEOUT:-30}" "$BARE_PID"; then
    tail_log "$WORK/bare.log"
    die "the bare route did not answer 200 on GET /healthz within ${START_TIMEOUT:-30} s"
  fi
  log "bare up (pid $BARE_PID)"
}

# build_release: release builds of tessera and of the bare reference (each in its own
# target directory, inside the repository).
build_release() {
  local root
  root=$(cd "$BARE_DIR/../.." && pwd)
  log "cargo build --release (tessera)"
  (cd "$root" && cargo build --release --quiet) || die "tessera release build failed"
  log "cargo build --release (bench/bare)"
  (cd "$BARE_DIR" && cargo build --release --locked --quiet) || die "bench/bare release build failed"
}

# cpu_ticks PGID: utime+stime (clock ticks) of every process in process group PGID
# (the servers run under setsid, so gunicorn's workers are counted with their master).
cpu_ticks() {
  # Fields after "(comm) ": state ppid pgrp ... utime (12th) stime (13th).
  cat /proc/[0-9]*/stat 2>/dev/null |
    awk -v pg="$1" '{ sub(/^.*\) /, ""); if ($3 == pg) t += $12 + $13 } END { print t + 0 }'
}

# start_work NAME: a temp dir WORK and an empty STARTED_PIDS; at exit (or Ctrl-C) every
# started process is stopped and WORK removed.  (bench/run.sh has its own, which also
# drops its PostgreSQL database.)
start_work() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
  STARTED_PIDS=()
  trap work_cleanup EXIT
  trap 'echo >&2; log "interrupted"; exit 130' INT
  trap 'exit 143' TERM
}
work_cleanup() {
  local status=$? pid
  trap - EXIT INT TERM
  for pid in "${STARTED_PIDS[@]}"; do stop_pid "$pid"; done
  rm -rf "$WORK"
  exit "$status"
}
