#!/usr/bin/env bash
# Set up a fresh Debian 12 machine for Attest: system packages and a virtualenv in .venv.
#   bash scripts/setup.sh          what `attest demo` needs
#   bash scripts/setup.sh --dev    also what the tests need (poppler, NSS tools, qpdf, PostgreSQL, Chromium for
#                                  the portal's browser tests via Playwright, dev extras)
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# WeasyPrint needs Pango; libharfbuzz-subset0 makes font subsetting ~3x faster; DejaVu is named
# explicitly so the fonts do not depend on which alternative apt happens to pick.
packages=(python3-venv libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core poppler-utils)
if [ "$dev" = 1 ]; then packages+=(libnss3-tools qpdf postgresql openssh-server openssh-client mariadb-server mariadb-client prometheus kamailio kamailio-tls-modules chromium); fi

echo "== apt: ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
as_root apt-get update -qq
as_root apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

echo "== python virtualenv .venv"
VENV="${ATTEST_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/python" -m pip install -q --upgrade pip
if [ "$dev" = 1 ]; then "$VENV/bin/pip" install -q -e '.[dev]'; else "$VENV/bin/pip" install -q -e .; fi
