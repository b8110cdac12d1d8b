#!/usr/bin/env bash
# A rep's day end to end through the HTTP API (issue 16): the demo data, every account with
# opening hours (a third mornings only, a third split days, a third afternoons) and 5-minute
# visits so a day holds about 40 stops, the real OSRM, the release build. Each request plans
# the day (POST .../replan: the OSRM matrix, two solver runs, /route geometry).
#
#   scripts/bench/rep-day.sh      # needs what scripts/test.sh installs (PostGIS, OSRM)
#
# Env: BENCH_DB (terrane_bench_routes), BENCH_PORT (18091), BENCH_DAYS (5 workdays per rep),
#      TERRANE_ROUTE_REP_MS (solver time per run, default the server's 150).
set -euo pipefail
# shellcheck source=scripts/lib/provision.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/provision.sh"
cd "$TERRANE_ROOT"

DB=${BENCH_DB:-terrane_bench_routes}
PORT=${BENCH_PORT:-18091}
trap 'stop_children' EXIT

ensure_postgres
ensure_osrm
step "build terrane (release)"
cargo build --locked --release --quiet --bin terrane || die "cargo build failed"
BIN="$CARGO_TARGET_DIR/release/terrane"

step "fresh database $DB: demo data, opening hours, 5-minute visits"
recreate_database "$DB"
DATABASE_URL=$(database_url_for "$DB")
export DATABASE_URL
"$BIN" migrate >/dev/null
"$BIN" seed >/dev/null
psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" <<'SQL'
update accounts set service_minutes = 5;
insert into account_opening_hours (account_id, weekday, opens, closes, source)
select a.id, d, o::time, c::time, 'manual'
from (select id, row_number() over (order by crm_source, crm_id) as n from accounts) a
cross join generate_series(1, 5) d
cross join lateral (values
    (case a.n % 3 when 0 then '08:30' when 1 then '09:00' else '13:00' end,
     case a.n % 3 when 0 then '12:00' when 1 then '11:30' else '17:30' end),
    (case a.n % 3 when 1 then '14:00' end, case a.n % 3 when 1 then '17:00' end)
) w (o, c)
where o is not null;
SQL
reps=$(psql -X -A -t -v ON_ERROR_STOP=1 "$DATABASE_URL" -c \
    "select u.email || '=' || u.rep_id from users u where u.role = 'rep' order by u.email" | tr '\n' ' ')

TERRANE_SECRET_KEY=$("$BIN" secret-key)
export TERRANE_SECRET_KEY TERRANE_DEMO=1 TERRANE_OSRM_URL="$OSRM_URL" TERRANE_LOG=warn
export TERRANE_OSRM_MAX_TABLE_SIZE="$OSRM_MAX_TABLE_SIZE"
step "serve on 127.0.0.1:$PORT"
TERRANE_BIND=127.0.0.1:$PORT TERRANE_PUBLIC_URL=http://127.0.0.1:$PORT "$BIN" serve >"$TERRANE_CACHE/bench-rep-day.log" 2>&1 &
track_child $! "terrane serve"
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
step "plan every rep's day on ${BENCH_DAYS:-5} workdays"
# shellcheck disable=SC2086
python3 scripts/bench/rep_day.py "http://127.0.0.1:$PORT" $reps --days "${BENCH_DAYS:-5}"
