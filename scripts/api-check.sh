#!/usr/bin/env bash
# Runs schemathesis (PyPI) against every operation of the OpenAPI document Terrane serves at
# /api/openapi.json: on a fresh, seeded database, as a manager's browser session (cookie and
# CSRF header), as an admin's, and with an API token, aiming at real ids most of the time.
# Fails on any 5xx and on any answer the document does not allow (status, content type,
# headers, body schema).
#
#   scripts/api-check.sh [--max-examples N]     (default 20 per operation)
#
# Environment (all optional): TERRANE_BIN (a built binary; else cargo builds one),
# TERRANE_API_CHECK_DB (database, default terrane_api_check, dropped and created), and those of
# scripts/lib/provision.sh. Reports (JUnit) go to target/api-check/.
set -euo pipefail

# shellcheck source=scripts/lib/provision.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/provision.sh"
# shellcheck source=scripts/lib/pysigners.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/pysigners.sh"

max_examples=20
while (($# > 0)); do
    case $1 in
    --max-examples)
        max_examples=${2:?--max-examples needs a number}
        shift 2
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument: $1" ;;
    esac
done

trap 'stop_children' EXIT
cd "$TERRANE_ROOT"
ensure_postgres
ensure_osrm
ensure_schemathesis
if [[ -z ${TERRANE_BIN:-} ]]; then
    build_terrane debug
fi

db=${TERRANE_API_CHECK_DB:-terrane_api_check}
step "fresh database $db"
recreate_database "$db"
export DATABASE_URL
DATABASE_URL=$(database_url_for "$db")
export TERRANE_OSRM_URL="$OSRM_URL" TERRANE_OSRM_MAX_TABLE_SIZE="$OSRM_MAX_TABLE_SIZE"
migrate_and_seed
TERRANE_SECRET_KEY=$("$TERRANE_BIN" secret-key)
export TERRANE_SECRET_KEY
work="$TERRANE_ROOT/target/api-check"
rm -rf "$work"
mkdir -p "$work"
port=$(free_port)
log="$work/server.log"
step "terrane serve on 127.0.0.1:$port (log $log)"
TERRANE_DEMO=1 TERRANE_LOG=warn start_terrane_server "127.0.0.1:$port" "$log"
"$TERRANE_CACHE/schemathesis/bin/python" "$TERRANE_ROOT/scripts/lib/api_check.py" \
    --base "http://127.0.0.1:$port" --schemathesis "$SCHEMATHESIS" --work "$work" \
    --max-examples "$max_examples" || {
    show_log_tail "$log"
    die "the API check failed"
}
