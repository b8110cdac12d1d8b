#!/usr/bin/env bash
# The house rules a compiler does not check (docs/architecture.md, "Tables and their owners"):
# one owner per table, no import cycles between modules, no long product files.
# Run by scripts/test.sh in its lint step; takes under a second.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec python3 scripts/lib/house_check.py "$@"
