#!/usr/bin/env bash
# Webhook ingest benchmark: HubSpot-shaped batches of 100 signed events against the real
# server (release build) and PostgreSQL, with the CRM simulator serving the batch reads the
# worker makes after each notice. For each target rate it reports accepted events per second,
# acknowledgement latency (p50/p99, from the load generator) and inbox lag (event accepted ->
# account updated, p50/p99, from the database).
#
#   scripts/bench/crm-webhooks.sh [RATE_EVENTS_PER_S ...]     default: 2000 5000 7000
#
# Env: BENCH_SECONDS (30 per rate), BENCH_WORKERS (TERRANE_SYNC_WORKERS, 2),
#      BENCH_CONCURRENCY (requests in flight, 32), DATABASE_URL's server (as scripts/test.sh),
#      BENCH_SYNTHETIC (extra records in the simulator, half of them HubSpot companies with
#      ids from 30000001) and BENCH_COMPANIES (the company ids the notices name, FIRST-LAST;
#      default the 334 demo companies, so each company gets a notice every 334 events; with
#      BENCH_SYNTHETIC=200000 BENCH_COMPANIES=30000001-30100000 every notice names a company
#      no other notice in the run names, so nothing coalesces).
set -euo pipefail

# shellcheck source=scripts/lib/provision.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/provision.sh"

rates=("$@")
((${#rates[@]} > 0)) || rates=(2000 5000 7000)
seconds=${BENCH_SECONDS:-30}
workers=${BENCH_WORKERS:-2}
concurrency=${BENCH_CONCURRENCY:-32}

trap 'stop_children' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_postgres
ensure_rust
step "build (release): terrane, terrane-crm-sim, terrane-webhook-load"
(cd "$TERRANE_ROOT" && cargo build --locked --release --bin terrane --bin terrane-crm-sim \
    --bin terrane-webhook-load) || die "cargo build failed"
TERRANE_BIN="$CARGO_TARGET_DIR/release/terrane"
SIM_BIN="$CARGO_TARGET_DIR/release/terrane-crm-sim"
LOAD_BIN="$CARGO_TARGET_DIR/release/terrane-webhook-load"

db=terrane_bench_crm
step "fresh database $db, seeded"
recreate_database "$db"
DATABASE_URL=$(database_url_for "$db")
TERRANE_SECRET_KEY=$("$TERRANE_BIN" secret-key)
export DATABASE_URL TERRANE_SECRET_KEY
export TERRANE_LOG=warn TERRANE_SYNC_WORKERS=$workers TERRANE_RECONCILE_AT=off
export TERRANE_DB_MAX_CONNECTIONS=32
terrane_cmd migrate >/dev/null
terrane_cmd seed >/dev/null

port=$(free_port)
sim_port=$(free_port)
bind=127.0.0.1:$port
sim_url=http://127.0.0.1:$sim_port
export TERRANE_PUBLIC_URL=http://$bind
TERRANE_CONNECTION_WEBHOOK_SECRET=terrane-dev-hubspot-client-secret \
TERRANE_CONNECTION_CLIENT_ID=terrane-dev-hubspot-client \
TERRANE_CONNECTION_CLIENT_SECRET=terrane-dev-hubspot-client-secret \
TERRANE_CONNECTION_REFRESH_TOKEN=terrane-dev-hubspot-refresh-token \
    terrane_cmd connection add --kind hubspot --name demo-hubspot --api-base-url "$sim_url" \
    --org-id 4410001 >/dev/null

logs="$TERRANE_CACHE/logs"
mkdir -p "$logs"
(cd "$TERRANE_ROOT" && exec "$SIM_BIN" --listen "127.0.0.1:$sim_port" --terrane-url "http://$bind" \
    --synthetic "${BENCH_SYNTHETIC:-0}") \
    >"$logs/bench-crm-sim.log" 2>&1 &
track_child "$!" "terrane-crm-sim"
(cd "$TERRANE_ROOT" && TERRANE_BIND=$bind exec "$TERRANE_BIN" serve) >"$logs/bench-terrane.log" 2>&1 &
server_pid=$!
track_child "$server_pid" "terrane serve"
wait_until 60 "terrane serve" "$server_pid" "$logs/bench-terrane.log" \
    bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' http://$bind/healthz) == 200 ]]"

psql_q() { psql -X -A -t -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "$1"; }

printf '\n%-10s %-12s %-10s %-10s %-10s %-12s %-12s %-8s\n' \
    "target/s" "accepted/s" "ack p50" "ack p99" "ack max" "lag p50" "lag p99" "events"
for rate in "${rates[@]}"; do
    events=$((rate * seconds))
    requests_per_s=$(python3 -c "print($rate / 100)")
    from=$(psql_q "select coalesce(max(id), 0) from crm_inbox")
    summary=$("$LOAD_BIN" --target "http://$bind" --scheme hubspot --batch 100 \
        --events "$events" --rate "$requests_per_s" --concurrency "$concurrency" \
        --id-prefix "bench-$rate-$$" --secret terrane-dev-hubspot-client-secret \
        --companies "${BENCH_COMPANIES:-10000001-10000334}")
    # Let the worker finish what was accepted (lag counts until then).
    for ((tries = 0; tries < 600; tries++)); do
        [[ $(psql_q "select count(*) from crm_inbox where status = 'pending'") == 0 ]] && break
        sleep 0.5
    done
    read -r lag50 lag99 done_n dead_n < <(psql_q "
        select round((percentile_cont(0.5) within group (order by extract(epoch from processed_at - received_at)))::numeric * 1000, 1),
               round((percentile_cont(0.99) within group (order by extract(epoch from processed_at - received_at)))::numeric * 1000, 1),
               count(*) filter (where status = 'done'),
               count(*) filter (where status = 'dead')
        from crm_inbox where id > $from" | tr '|' ' ')
    python3 - "$rate" "$summary" "$lag50" "$lag99" "$done_n" "$dead_n" <<'PY'
import json, sys
rate, s, lag50, lag99, done_n, dead_n = sys.argv[1], json.loads(sys.argv[2]), *sys.argv[3:]
a = s["ack_ms"]
print(f"{rate:<10} {s['events_per_s']:<12.0f} {a['p50']:<10.1f} {a['p99']:<10.1f} {a['max']:<10.1f} "
      f"{lag50 + ' ms':<12} {lag99 + ' ms':<12} {s['events_acked']} (done {done_n}, dead {dead_n}, retries {s['retries']})")
PY
done
printf '\nmachine: %s, %s cores; PostgreSQL %s\n' "$(uname -m)" "$(nproc)" \
    "$(psql_q 'show server_version')"
