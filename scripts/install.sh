#!/usr/bin/env bash
# Create ./.venv (Python >= 3.11) and install mpt with the exact versions of constraints.txt.
# Re-running it is cheap: an existing .venv is reused and pip only checks what is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3.12 python3; do
    if command -v "$cand" >/dev/null 2>&1; then PY="$cand"; break; fi
  done
fi
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "error: mpt needs Python >= 3.11 (found $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# DeepSpeed builds its CUDA/C++ ops just in time when a GPU run needs them; build none at install time.
export DS_BUILD_OPS=0
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[test,export]"
echo "mpt installed in $(pwd)/.venv"
