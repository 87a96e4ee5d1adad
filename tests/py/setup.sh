#!/usr/bin/env bash
# Creates tests/py/.venv with the protocols' official Python clients (requirements.txt).
# Re-running is cheap: nothing is installed when requirements.txt has not changed.
set -euo pipefail
cd "$(dirname "$0")"
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "tests/py/.venv is up to date"
  exit 0
fi
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
echo "$want" > "$stamp"
echo "tests/py/.venv ready: $(.venv/bin/python --version)"
