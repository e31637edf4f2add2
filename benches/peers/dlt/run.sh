#!/usr/bin/env bash
# Installs the dlt peer if needed (setup.sh) and runs it; see twenty_people.py for the environment
# it reads. Prints the peer's one-line JSON result on stdout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="$("$here/setup.sh")"
exec "$python" "$here/twenty_people.py"
