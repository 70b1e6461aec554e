#!/usr/bin/env bash
# One-time, idempotent set-up: torch, the requirements, Dassl, and this project in editable mode.
# Each step says what it does; a step whose result is already there is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
DASSL_GIT=${DASSL_GIT:-git+https://github.com/KaiyangZhou/Dassl.pytorch}
DASSL_LOG=${TMPDIR:-/tmp}/biomedvr-dassl-install.log
# The project's shared/ folder (beside a developer's or CI's checkout) carries a Dassl wheel built unchanged
# from its repository, for machines without GitHub; a user's clone has none and installs from DASSL_GIT.
DASSL_WHEEL=$(ls ../shared/wheels/dassl-*.whl 2>/dev/null | sort -V | tail -n 1 || true)

step() { printf '\n[setup] %s\n' "$*"; }
have() { "$PY" -c "import $1" >/dev/null 2>&1; }
pip_install() { "$PY" -m pip install --disable-pip-version-check "$@"; }

step "1/5 Python: $("$PY" --version 2>&1)"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "[setup] Python 3.10 or newer is needed"; exit 1; }

if have torch && have torchvision; then
  step "2/5 torch $("$PY" -c 'import torch; print(torch.__version__)') already installed"
else
  step "2/5 installing torch and torchvision"
  pip_install "torch>=2.1" "torchvision>=0.16"
fi

if "$PY" scripts/check_env.py --quiet requirements; then
  step "3/5 requirements already satisfied"
else
  step "3/5 installing requirements.txt and the test tools"
  pip_install -r requirements.txt "pytest>=7" "ruff>=0.5" openai-clip
fi

if have dassl.engine; then
  step "4/5 Dassl already installed"
else
  step "4/5 installing Dassl's run-time needs and Dassl from $DASSL_GIT"
  pip_install numpy tensorboard "wilds>=1.2" tabulate scipy ftfy regex future
  if pip_install --no-deps --no-build-isolation "$DASSL_GIT" >"$DASSL_LOG" 2>&1; then
    echo "[setup] Dassl installed from $DASSL_GIT"
  elif [ -n "$DASSL_WHEEL" ]; then
    echo "[setup] could not install Dassl from $DASSL_GIT (details: $DASSL_LOG); using the wheel $DASSL_WHEEL"
    pip_install --no-deps "$DASSL_WHEEL"
  else
    echo "[setup] could not install Dassl from $DASSL_GIT (no access to GitHub?); carrying on without it:" \
      "training needs it, the tests that need it will skip. Offline: set DASSL_GIT to a local clone or a" \
      "Dassl wheel (README, Install). Details: $DASSL_LOG"
  fi
fi

# The editable install must point at this checkout (not at another clone with the same package name).
installed_at=$("$PY" scripts/check_env.py --installed-at 2>/dev/null || true)
if [ "$installed_at" = "$(pwd -P)" ]; then
  step "5/5 this project is already installed (editable, from $installed_at)"
else
  if [ -n "$installed_at" ]; then
    step "5/5 the editable install points at $installed_at, not this checkout: installing this one"
  else
    step "5/5 installing this project in editable mode"
  fi
  pip_install --no-deps --no-build-isolation -e . >/dev/null
fi
step "done"
