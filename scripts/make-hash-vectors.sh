#!/usr/bin/env bash
# Regenerates tests/data/password-hashes/*.jsonl with real werkzeug 2.x and 3.x (and
# hashlib, bcrypt, argon2-cffi for PHC strings), each in a throw-away venv with pinned
# versions. Not run by CI: the vectors are checked in; run this only to add vectors.
set -euo pipefail
cd "$(dirname "$0")/.."
out=tests/data/password-hashes
mkdir -p "$out"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
make() { # name, extra args for the generator, pinned requirements...
  local name=$1 arg=$2; shift 2
  python3 -m venv "$tmp/$name"
  "$tmp/$name/bin/pip" install -q --disable-pip-version-check "$@"
  "$tmp/$name/bin/python" scripts/make-hash-vectors.py $arg > "$out/$name.jsonl"
  echo "$out/$name.jsonl: $(wc -l < "$out/$name.jsonl") vectors"
}
make werkzeug-2.2.3 "" werkzeug==2.2.3 MarkupSafe==3.0.4
make werkzeug-3.1.9 --phc werkzeug==3.1.9 MarkupSafe==3.0.4 bcrypt==4.3.0 argon2-cffi==25.1.0
