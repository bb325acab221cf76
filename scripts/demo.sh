#!/usr/bin/env bash
# The README's first command: set up (apt + .venv) and run the demo against the simulated provider.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec "${ATTEST_VENV:-.venv}/bin/attest" demo "$@"
