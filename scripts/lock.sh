#!/usr/bin/env bash
# Re-resolve requirements.in into requirements.lock with pip-compile (pip-tools).
# pip-compile keeps every pin of the current lock that still satisfies requirements.in, so adding
# a package resolves only what it brings and upgrades nothing else; UPGRADE=1 re-resolves all.
# pip-tools lives in its own .venv-lock/ (pinned by requirements-tools.txt, with the same pip as
# .venv/), so the runtime environment never holds the lock tool or its dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=.venv-lock
STAMP="$TOOLS/.installed-$(sha256sum requirements-tools.txt | cut -c1-16)"
# (grep drops the noise of this machine's pip config about missing local index folders)
quiet_pip() { "$@" 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2); }

if [ ! -f "$STAMP" ]; then
  echo "==> installing pip-tools into $TOOLS/"
  rm -rf "$TOOLS"
  .venv/bin/python -m venv "$TOOLS"
  quiet_pip "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
    -r requirements-tools.txt
  "$TOOLS/bin/python" -m pip check >/dev/null
  touch "$STAMP"
fi

echo "==> resolving requirements.in (a few minutes: pip fetches the metadata of the whole tree)"
CUSTOM_COMPILE_COMMAND="make lock" quiet_pip "$TOOLS/bin/pip-compile" --quiet \
  --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
  ${UPGRADE:+--upgrade} --output-file requirements.lock requirements.in
echo "==> requirements.lock updated; \`make install\` installs it"
