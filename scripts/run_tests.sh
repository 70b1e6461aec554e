#!/usr/bin/env bash
# The test command: set up what is missing, validate the curated attributes, run the test suite.
# Extra arguments go to pytest, e.g. bash scripts/run_tests.sh -k attribute
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" scripts/check_env.py --quiet all || bash scripts/setup.sh
if ! "$PY" scripts/check_env.py --quiet dassl; then
  if [ "${CI:-}" = true ]; then
    echo "[tests] CI: Dassl could not be installed, so its tests cannot run; see scripts/setup.sh's output" >&2
    exit 1
  fi
  echo "[tests] Dassl is not installed: the tests that need it will skip (reason: Dassl not installed)"
fi
echo "[tests] validating the curated attribute set"
"$PY" -m attributes.check
echo "[tests] running the test suite"
"$PY" -m pytest "$@"
