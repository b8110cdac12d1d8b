#!/usr/bin/env bash
# Run the Terrane demo on this machine: PostgreSQL + PostGIS, OSRM on the Monaco extract, the
# demo CRM data, and the server, with everything it needs installed on first run.
#
#   scripts/demo.sh [--with-crm-sim]
#
# First run on a fresh Debian 12 machine installs packages (apt, as root or through sudo),
# downloads OSRM from PyPI and npm packages, and builds the server (minutes); later runs
# skip finished steps. Ctrl-C stops the server and the osrm-routed this script started. A
# PostgreSQL cluster it had to start keeps running (stop it with
# `pg_ctlcluster 15 main stop`).
#
# Options:
#   --with-crm-sim   also run the simulated CRM sending changes (not available yet)
#
# Environment (all optional):
#   DATABASE_URL       default postgres://postgres@127.0.0.1:5432/terrane
#   TERRANE_BIND       where the server listens, default 127.0.0.1:8080
#   TERRANE_OSRM_PORT  osrm-routed port on 127.0.0.1, default 5000 (an OSRM already answering
#                      there is used as is)
#   TERRANE_CACHE      downloads, OSRM data, logs; default ~/.cache/terrane
#   CARGO_TARGET_DIR   default $TERRANE_CACHE/target (shared with scripts/test.sh)
#   Other TERRANE_* settings (see .env.example) pass through to the server.
set -euo pipefail

# shellcheck source=scripts/lib/provision.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/provision.sh"

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

with_crm_sim=0
while (($# > 0)); do
    case $1 in
    --with-crm-sim) with_crm_sim=1 ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        die "unknown argument: $1"
        ;;
    esac
    shift
done

# shellcheck disable=SC2317 # called by the EXIT trap
on_exit() {
    local status=$?
    trap - EXIT INT TERM
    stop_children
    if ((status != 0 && status != 130 && status != 143)); then
        printf '==> demo failed during: %s\n' "${CURRENT_STEP:-start-up}" >&2
    fi
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cd "$TERRANE_ROOT"
bind="${TERRANE_BIND:-127.0.0.1:8080}"

ensure_postgres
ensure_osrm
ensure_web_deps
build_terrane release

export TERRANE_OSRM_URL="$OSRM_URL"
export TERRANE_DEMO=1

step "database: migrate and seed ($PG_DB)"
migrate_and_seed

if ((with_crm_sim)); then
    warn "--with-crm-sim: the CRM simulator is not available yet; running without it"
fi

step "terrane serve on $bind"
if port_in_use "${bind##*:}"; then
    die "port ${bind##*:} is already in use: stop what listens there, or set TERRANE_BIND=127.0.0.1:<other port>"
fi
start_terrane_server "$bind"

printf '\n==> Terrane is running: open http://%s  (Ctrl-C to stop)\n\n' "$bind"
wait "$TERRANE_SERVER_PID" || die "terrane serve stopped (exit $?)"
# The server exits 0 only after a graceful stop (Ctrl-C or SIGTERM reached it too).
printf '==> Terrane stopped\n'
exit 0
