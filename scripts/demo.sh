#!/usr/bin/env bash
# Run the Terrane demo on this machine: PostgreSQL + PostGIS, OSRM on the Monaco extract, the
# demo CRM data, and the server, with everything it needs installed on first run.
#
#   scripts/demo.sh [--without-crm-sim]
#
# First run on a fresh Debian 12 machine installs packages (apt, as root or through sudo),
# downloads OSRM from PyPI and npm packages, and builds the server (minutes); later runs
# skip finished steps. Ctrl-C stops the server and the osrm-routed this script started. A
# PostgreSQL cluster it had to start keeps running (stop it with
# `pg_ctlcluster 15 main stop`).
#
# The demo CRM lives in a CRM simulator (terrane-crm-sim, a development binary) that speaks
# HubSpot's and Salesforce's APIs: the demo has one connection to each (demo-hubspot,
# demo-salesforce), reconciles against them at start, and the simulator sends signed
# webhooks for random edits (one every two seconds), so the map changes live. Admins see
# them arrive on /admin/sync. New accounts are located by the built-in geocoder (its index is
# built from the same OSM extract) and appear on the map; admins see that on /admin/geocoding.
#
# Options:
#   --without-crm-sim   no simulator: the seeded accounts only
#   TERRANE_CRM_SIM_PORT  the simulator's port on 127.0.0.1, default 8099
#   TERRANE_DEMO_EDITS_PER_S  simulated CRM edits per second, default 0.5
#   TERRANE_DEMO_LIVE_REPS  demo reps whose phones a rep simulator (terrane-live-sim) plays:
#                      they drive OSRM routes and share their location every 2 s during their
#                      shift (08:30-17:30 Monaco time, weekdays; outside it their pings are
#                      dropped); default 5, 0 for none
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

with_crm_sim=1
while (($# > 0)); do
    case $1 in
    --without-crm-sim) with_crm_sim=0 ;;
    # Kept for old instructions: the simulator now runs by default.
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
sim_port="${TERRANE_CRM_SIM_PORT:-8099}"
sim_url="http://127.0.0.1:$sim_port"
if ((with_crm_sim)); then
    step "build terrane-crm-sim (release)"
    (cd "$TERRANE_ROOT" && cargo build --locked --release --bin terrane-crm-sim) || die "cargo build failed"
    SIM_BIN="$CARGO_TARGET_DIR/release/terrane-crm-sim"
fi
live_reps="${TERRANE_DEMO_LIVE_REPS:-5}"
if ((live_reps > 0)); then
    step "build terrane-live-sim (release)"
    (cd "$TERRANE_ROOT" && cargo build --locked --release --bin terrane-live-sim) || die "cargo build failed"
    LIVE_SIM_BIN="$CARGO_TARGET_DIR/release/terrane-live-sim"
fi

export TERRANE_OSRM_URL="$OSRM_URL"
export TERRANE_OSRM_MAX_TABLE_SIZE="$OSRM_MAX_TABLE_SIZE"
export TERRANE_DEMO=1
export TERRANE_PUBLIC_URL="${TERRANE_PUBLIC_URL:-http://$bind}"
# Connection secrets are sealed with this key; the demo keeps one in its cache (mode 600).
if [[ -z ${TERRANE_SECRET_KEY:-} ]]; then
    key_file="$TERRANE_CACHE/demo-secret-key"
    if [[ ! -s $key_file ]]; then
        (umask 077 && "$TERRANE_BIN" secret-key >"$key_file")
    fi
    TERRANE_SECRET_KEY=$(<"$key_file")
    export TERRANE_SECRET_KEY
fi

step "database: migrate and seed ($PG_DB)"
migrate_and_seed
step "built-in geocoder index from seed-data/monaco.osm.pbf"
# New accounts from the simulated CRM have addresses only; the geocoding worker locates them
# with this index (a few seconds to build; rebuilt each run, replacing the previous one).
terrane_cmd geocoder build seed-data/monaco.osm.pbf || die "terrane geocoder build failed"

if ((with_crm_sim)); then
    step "CRM simulator on $sim_url and the demo's connections"
    port_in_use "$sim_port" && die "port $sim_port is in use: set TERRANE_CRM_SIM_PORT"
    add_demo_connections "$sim_url"
    sim_log="$TERRANE_CACHE/logs/crm-sim.log"
    mkdir -p "$(dirname "$sim_log")"
    (cd "$TERRANE_ROOT" && exec "$SIM_BIN" --listen "127.0.0.1:$sim_port" \
        --terrane-url "$TERRANE_PUBLIC_URL" \
        --edits-per-second "${TERRANE_DEMO_EDITS_PER_S:-0.5}") >"$sim_log" 2>&1 &
    sim_pid=$!
    track_child "$sim_pid" "terrane-crm-sim"
    wait_until 30 "terrane-crm-sim" "$sim_pid" "$sim_log" port_in_use "$sim_port"
    # The simulator starts from the dataset each time: bring the database in line with it
    # (this also removes what an earlier demo's simulated edits created).
    terrane_cmd reconcile || warn "reconciliation with the simulator failed; see above"
fi

step "terrane serve on $bind"
if port_in_use "${bind##*:}"; then
    die "port ${bind##*:} is already in use: stop what listens there, or set TERRANE_BIND=127.0.0.1:<other port>"
fi
start_terrane_server "$bind"

if ((live_reps > 0)); then
    step "$live_reps simulated reps sharing their location"
    live_log="$TERRANE_CACHE/logs/live-sim.log"
    # Tokens are minted for the demo's rep users through DATABASE_URL and renewed as they
    # expire; the simulator runs until the demo stops.
    (cd "$TERRANE_ROOT" && exec "$LIVE_SIM_BIN" run --url "http://$bind" \
        --mint-like '%@example.com' --reps "$live_reps" --ramp-s 5 --duration-s 2592000 \
        --osrm "$OSRM_URL") >"$live_log" 2>&1 &
    track_child $! "terrane-live-sim"
    note "log: $live_log"
fi

printf '\n==> Terrane is running: open http://%s  (Ctrl-C to stop)\n\n' "$bind"
wait "$TERRANE_SERVER_PID" || die "terrane serve stopped (exit $?)"
# The server exits 0 only after a graceful stop (Ctrl-C or SIGTERM reached it too).
printf '==> Terrane stopped\n'
exit 0
