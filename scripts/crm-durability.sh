#!/usr/bin/env bash
# Nothing lost, nothing doubled: a load generator plays a CRM (retrying anything that is not a
# 2xx) while `terrane serve` is killed with SIGKILL and restarted again and again; afterwards
# every acknowledged event must have exactly one effect.
#
#   scripts/crm-durability.sh [--kills N] [--events N] [--concurrency N] [--release]
#
# Defaults: 20 kills, 20,000 events, 16 requests in flight, debug build. The test command
# runs a short form (scripts/test.sh: --kills 3 --events 2000). TERRANE_BIN and LOAD_BIN,
# when both set, name binaries to use instead of building.
#
# Checks, on a fresh database `terrane_durability` (or TERRANE_DURABILITY_DB) at DATABASE_URL's
# server:
#   - every event id the generator saw acknowledged is in the inbox, processed;
#   - the inbox holds exactly one row per event, each applied exactly once (outcome
#     `created`, one processing attempt: a batch cut by SIGKILL rolls back whole);
#   - exactly one account per event.
set -euo pipefail

# shellcheck source=scripts/lib/provision.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/provision.sh"

kills=20 events=20000 concurrency=16 profile=debug
while (($# > 0)); do
    case $1 in
    --kills) kills=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    --concurrency) concurrency=$2; shift 2 ;;
    --release) profile=release; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done

trap 'stop_children' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_postgres
if [[ -n ${TERRANE_BIN:-} && -n ${LOAD_BIN:-} ]]; then
    note "binaries: $TERRANE_BIN, $LOAD_BIN"
else
    ensure_rust
    step "build terrane and terrane-webhook-load ($profile)"
    flags=()
    [[ $profile == release ]] && flags=(--release)
    (cd "$TERRANE_ROOT" && cargo build --locked "${flags[@]}" --bin terrane --bin terrane-webhook-load) ||
        die "cargo build failed"
    TERRANE_BIN="$CARGO_TARGET_DIR/$profile/terrane"
    LOAD_BIN="$CARGO_TARGET_DIR/$profile/terrane-webhook-load"
fi

db=${TERRANE_DURABILITY_DB:-terrane_durability}
step "fresh database $db"
recreate_database "$db"
DATABASE_URL=$(database_url_for "$db")
TERRANE_SECRET_KEY=$("$TERRANE_BIN" secret-key)
TERRANE_LOG=warn
TERRANE_SYNC_WORKERS=2
TERRANE_RECONCILE_AT=off
export DATABASE_URL TERRANE_SECRET_KEY TERRANE_LOG TERRANE_SYNC_WORKERS TERRANE_RECONCILE_AT
terrane_cmd migrate >/dev/null
secret=whsec_$(head -c 24 /dev/urandom | base64)
TERRANE_CONNECTION_WEBHOOK_SECRET=$secret terrane_cmd connection add --kind standard --name load

port=$(free_port)
bind=127.0.0.1:$port
work="$TERRANE_CACHE/durability"
mkdir -p "$work"
acked="$work/acked.txt"
: >"$acked"
server_log="$work/server.log"
: >"$server_log"

server_pid=""
start_server() {
    (cd "$TERRANE_ROOT" && TERRANE_BIND=$bind exec "$TERRANE_BIN" serve) >>"$server_log" 2>&1 &
    server_pid=$!
    local tries
    for ((tries = 0; tries < 120; tries++)); do
        [[ $(http_status "http://$bind/healthz") == 200 ]] && return 0
        kill -0 "$server_pid" 2>/dev/null || die "terrane serve exited; see $server_log"
        sleep 0.25
    done
    die "terrane serve did not come up; see $server_log"
}

step "serve on $bind; $events events from $concurrency senders; $kills SIGKILLs"
start_server
started=$SECONDS
"$LOAD_BIN" --target "http://$bind" --scheme standard --connection load --events "$events" \
    --concurrency "$concurrency" --id-prefix "dur$$" --acked "$acked" \
    --secret "$secret" >"$work/load.json" 2>"$work/load.err" &
load_pid=$!
track_child "$load_pid" "terrane-webhook-load"

psql_q() { psql -X -A -t -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "$1"; }
# Events acknowledged (in the inbox) but not yet applied.
unapplied_sql="select count(*) from crm_inbox where status = 'pending'"
for ((k = 1; k <= kills; k++)); do
    # Kill k lands once about k/(kills+1) of the events are acknowledged (give or take a
    # random quarter of a step), so every kill finds the load still flowing however fast this
    # machine is; then it waits until the inbox holds acknowledged events the workers have not
    # applied yet (up to 10 s more). A schedule by the clock failed when the load outran it.
    step_size=$((events / (kills + 1)))
    due=$((k * step_size + (RANDOM % (step_size / 2 + 1)) - step_size / 4))
    for ((tries = 0; tries < 1200; tries++)); do
        (($(wc -l <"$acked") >= due)) && break
        kill -0 "$load_pid" 2>/dev/null || break
        sleep 0.05
    done
    for ((tries = 0; tries < 100; tries++)); do
        (($(psql_q "$unapplied_sql") > 0)) && break
        sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    # The server is dead, so the inbox is as the kill left it: a kill that found nothing
    # acknowledged-but-unapplied tested nothing, and fails the run.
    in_flight=$(psql_q "$unapplied_sql")
    printf '    kill %d/%d: %d events acknowledged so far, %d acknowledged but not applied at the kill\n' \
        "$k" "$kills" "$(wc -l <"$acked")" "$in_flight"
    ((in_flight > 0)) || die "kill $k/$kills landed with no event in flight (load finished or too slow?)"
    start_server
done
wait "$load_pid" || die "the load generator failed: $(cat "$work/load.err")"
note "load generator: $(cat "$work/load.json")"

step "wait for the inbox to drain"
for ((tries = 0; tries < 240; tries++)); do
    [[ $(psql_q "select count(*) from crm_inbox where status = 'pending'") == 0 ]] && break
    sleep 0.5
done
stop_pid "$server_pid" "terrane serve"

step "check"
psql_q "create table acked (event_id text)" >/dev/null
psql -X -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "\\copy acked from '$acked'" >/dev/null
acked_lines=$(wc -l <"$acked")
read -r distinct_acked inbox_rows applied_once accounts missing pending dead < <(psql_q "
    select (select count(distinct event_id) from acked),
           (select count(*) from crm_inbox),
           (select count(*) from crm_inbox where status = 'done' and outcome = 'created' and attempts = 1),
           (select count(*) from accounts where crm_source = 'load' and deleted_at is null),
           (select count(*) from acked a where not exists
               (select 1 from crm_inbox i where i.event_id = a.event_id and i.status = 'done')),
           (select count(*) from crm_inbox where status = 'pending'),
           (select count(*) from crm_inbox where status = 'dead')" | tr '|' ' ')
printf '    %s\n' \
    "kills: $kills in $((SECONDS - started)) s" \
    "acknowledged: $acked_lines acknowledgements of $distinct_acked distinct events (of $events sent)" \
    "inbox: $inbox_rows rows; $applied_once applied exactly once; $pending pending; $dead dead" \
    "accounts created: $accounts" \
    "acknowledged but not processed: $missing"
ok=1
((distinct_acked == events)) || { warn "not every event was acknowledged"; ok=0; }
((inbox_rows == events)) || { warn "inbox rows != events"; ok=0; }
((applied_once == events)) || { warn "some event was not applied exactly once"; ok=0; }
((accounts == events)) || { warn "accounts != events"; ok=0; }
((missing == 0)) || { warn "acknowledged events are missing"; ok=0; }
((ok == 1)) || die "durability check FAILED (server log: $server_log)"
printf '==> durability OK: %d events, %d SIGKILLs, every acknowledged event applied exactly once\n' \
    "$events" "$kills"
