#!/usr/bin/env bash
# Creates (once) a virtual environment for the dlt peer and installs dlt[postgres] from PyPI.
# The environment lives outside the repository: $TWENTY_SYNC_PEER_VENV, else
# $CARGO_TARGET_DIR/peers/dlt-venv, else ~/.cache/twenty-sync/dlt-venv. Prints its python path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [[ -n "${TWENTY_SYNC_PEER_VENV:-}" ]]; then
  venv="$TWENTY_SYNC_PEER_VENV"
elif [[ -n "${CARGO_TARGET_DIR:-}" ]]; then
  venv="$CARGO_TARGET_DIR/peers/dlt-venv"
else
  venv="$HOME/.cache/twenty-sync/dlt-venv"
fi
python="${PYTHON:-python3}"
stamp="$venv/.installed-$(sha256sum "$here/requirements.txt" | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
  echo "dlt peer: creating $venv and installing $(tr '\n' ' ' < "$here/requirements.txt")from PyPI" >&2
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
  "$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt" >&2
  touch "$stamp"
fi
echo "$venv/bin/python"
