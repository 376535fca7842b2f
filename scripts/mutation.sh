#!/usr/bin/env bash
# Mutation testing of one module against the tests that should catch its bugs (mutmut 2.5.1):
#   scripts/mutation.sh bot/core/confirmation.py tests/actions/test_confirmation.py
# mutmut changes the module in place one mutant at a time (restored afterwards) and counts a
# mutant killed only when the tests fail; a surviving mutant is a change no test notices.
# Results: `.venv/bin/mutmut results`, one mutant: `.venv/bin/mutmut show ID`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 2 ]]; then
  echo "usage: $0 MODULE.py TEST_FILE..." >&2
  exit 2
fi
module=$1
shift
rm -f .mutmut-cache
# mutmut 2 counts only exit status 1 as killed: a mutant that breaks the import (pytest's
# status 2) would count as surviving, hence `|| exit 1`.
exec nice -n 10 .venv/bin/mutmut run --paths-to-mutate "$module" --tests-dir tests \
  --runner "bash -c 'scripts/with-env.sh .venv/bin/python -m pytest -x -q -p no:cacheprovider $* >/dev/null 2>&1 || exit 1'"
