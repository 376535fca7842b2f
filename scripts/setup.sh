#!/usr/bin/env bash
# Create .venv/ with a Python 3.10 interpreter and install the pinned dependencies.
# Idempotent: when requirements.lock has not changed since the last install, it does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
LOCK=requirements.lock
STAMP="$VENV/.installed-$(sha256sum "$LOCK" | cut -c1-16)"

is_py310() {
  [ -n "${1:-}" ] && "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1
}

find_python() {
  local cand
  # 1. An explicit choice wins.
  if [ -n "${PYTHON:-}" ]; then
    is_py310 "$PYTHON" && { echo "$PYTHON"; return; }
    echo "PYTHON=$PYTHON is not a Python 3.10 interpreter" >&2
    return 1
  fi
  # 2. python3.10 on PATH (a pyenv shim only works when a 3.10 version is active).
  cand=$(command -v python3.10 || true)
  is_py310 "$cand" && { echo "$cand"; return; }
  # 3. Any 3.10 that pyenv has installed, even if it is not the active version.
  if command -v pyenv >/dev/null 2>&1; then
    local root v
    root=$(pyenv root)
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.|$)' | sort -rV); do
      cand="$root/versions/$v/bin/python3.10"
      is_py310 "$cand" && { echo "$cand"; return; }
    done
  fi
  # 4. uv-managed interpreters.
  if command -v uv >/dev/null 2>&1; then
    cand=$(uv python find 3.10 2>/dev/null || true)
    is_py310 "$cand" && { echo "$cand"; return; }
  fi
  return 1
}

if [ -f "$STAMP" ] && is_py310 "$VENV/bin/python"; then
  exit 0
fi

if ! is_py310 "$VENV/bin/python"; then
  if ! PY=$(find_python); then
    cat >&2 <<'MSG'
ERROR: no Python 3.10 interpreter found (Rasa 3.6 needs Python >= 3.8 and < 3.11; this project pins 3.10).
Install one of these, then run the command again:
  - pyenv:  pyenv install 3.10
  - uv:     uv python install 3.10
  - Debian/Ubuntu: apt-get install python3.10 python3.10-venv
or point to an interpreter explicitly: make PYTHON=/path/to/python3.10 ...
MSG
    exit 1
  fi
  echo "==> creating $VENV with $PY"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
fi

echo "==> installing pinned dependencies from $LOCK (about 2 minutes on a fresh machine)"
# One resolver run over the full lock: separate installs have broken rasa's pins before.
# (grep drops the noise of this machine's pip config about missing local index folders)
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$LOCK" \
  2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
"$VENV/bin/python" -m pip check
rm -f "$VENV"/.installed-*
touch "$STAMP"
echo "==> $VENV ready"
