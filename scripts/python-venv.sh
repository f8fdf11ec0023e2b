#!/usr/bin/env bash
# Creates (once) the Python venv the Flask interoperability test uses, from the pinned
# tests/interop/requirements.txt, and prints its python's path. The venv is cached by a
# digest of the requirements, so CI pays for pip only when they change.
#   usage: export TESSERA_PYTHON=$(scripts/python-venv.sh)
# Prints nothing and exits 1 where python3, venv or PyPI are missing; the test then
# says it skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
req=tests/interop/requirements.txt
command -v python3 >/dev/null || { echo "python-venv: no python3" >&2; exit 1; }
digest=$(sha256sum "$req" | cut -c1-16)
venv="${TESSERA_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera}/venv-$digest"
if [ ! -x "$venv/bin/gunicorn" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2 || { echo "python-venv: python3 -m venv failed" >&2; exit 1; }
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" >&2 \
    || { echo "python-venv: pip install failed (offline?)" >&2; rm -rf "$venv"; exit 1; }
fi
echo "$venv/bin/python"
