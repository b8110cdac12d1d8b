#!/usr/bin/env bash
# Load test of GET /api/accounts: 100,000 synthetic accounts, a bbox holding exactly 10,000.
#
#   scripts/bench/accounts-api.sh            # needs PostgreSQL+PostGIS (scripts/test.sh installs it) and wrk
#
# Env: BENCH_DB (default terrane_bench), BENCH_PORT (18090), BENCH_SECONDS (20),
#      BENCH_CONNECTIONS (8), PGHOST/PGPORT/PGUSER as for psql (default 127.0.0.1:5432 postgres).
# Prints wrk's latency distribution; docs/benchmarks.md records the figures.
set -euo pipefail
cd "$(dirname "$0")/../.."

DB=${BENCH_DB:-terrane_bench}
PORT=${BENCH_PORT:-18090}
SECONDS_=${BENCH_SECONDS:-20}
CONNS=${BENCH_CONNECTIONS:-8}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/terrane/target}

command -v wrk >/dev/null || { echo "==> installing wrk"; apt-get install -y -qq wrk >/dev/null; }

echo "==> building terrane (release)"
cargo build --release --quiet --bin terrane
BIN="$CARGO_TARGET_DIR/release/terrane"

echo "==> fresh database $DB with 100,000 synthetic accounts"
psql -q -v ON_ERROR_STOP=1 -d postgres -c "drop database if exists $DB" -c "create database $DB"
export DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB"
"$BIN" migrate
# 10,000 accounts inside the box [7.40,43.70]-[7.50,43.80]; 90,000 spread over a
# 1.2 x 1.2 degree square around it but outside the box. Fixed seed: same data every run.
psql -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
select setseed(0.42);
insert into accounts (crm_source, crm_id, name, tier, annual_value, visits_per_year, priority,
                      location, geocode_status, geocode_precision, city, synthetic)
select 'bench', 'in-' || g, 'Bench inside ' || g, (array['A','B','C'])[1 + g % 3]::account_tier,
       round((random() * 100000)::numeric, 2), 1 + g % 24, 1 + g % 5,
       st_setsrid(st_makepoint(7.40 + random() * 0.1, 43.70 + random() * 0.1), 4326),
       'ok', 'rooftop', 'Bench', true
from generate_series(1, 10000) g;
insert into accounts (crm_source, crm_id, name, tier, annual_value, visits_per_year, priority,
                      location, geocode_status, geocode_precision, city, synthetic)
select 'bench', 'out-' || n, 'Bench outside ' || n, (array['A','B','C'])[1 + n % 3]::account_tier,
       round((random() * 100000)::numeric, 2), 1 + n % 24, 1 + n % 5,
       st_setsrid(st_makepoint(x, y), 4326), 'ok', 'rooftop', 'Bench', true
from (
    select row_number() over () as n, x, y
    from (select 6.85 + random() * 1.2 as x, 43.15 + random() * 1.2 as y
          from generate_series(1, 200000)) p
    where not (x between 7.40 and 7.50 and y between 43.70 and 43.80)
    limit 90000
) o;
analyze accounts;
SQL
psql -At -d "$DB" -c "select count(*) from accounts"
# /api/accounts needs a caller: an API token with accounts:read (stored as its SHA-256).
TOKEN="trn_$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
psql -q -v ON_ERROR_STOP=1 -d "$DB" -v token="$TOKEN" <<'SQL'
insert into api_tokens (name, token_hash, display_prefix, scopes)
values ('benchmark', sha256(convert_to(:'token', 'UTF8')), left(:'token', 10), '{accounts:read}');
SQL
AUTH="Authorization: Bearer $TOKEN"

URL="http://127.0.0.1:$PORT/api/accounts?bbox=7.40,43.70,7.50,43.80&limit=10000"
echo "==> starting terrane serve on 127.0.0.1:$PORT"
TERRANE_BIND=127.0.0.1:$PORT TERRANE_LOG=warn "$BIN" serve &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

FEATURES=$(curl -fs -H "$AUTH" "$URL" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["features"]), d["truncated"])')
BYTES=$(curl -fs -H "$AUTH" "$URL" | wc -c)
echo "features in bbox response: $FEATURES; body $BYTES bytes (uncompressed)"
echo "==> warm-up 3 s, then wrk -t2 -c$CONNS -d${SECONDS_}s --latency"
wrk -t2 -c"$CONNS" -d3s -H "$AUTH" "$URL" >/dev/null
wrk -t2 -c"$CONNS" -d"${SECONDS_}s" --latency -H "$AUTH" "$URL"
for c in 1 2 4; do
    echo "==> $c concurrent client(s) (wrk -t1 -c$c)"
    wrk -t1 -c"$c" -d"${SECONDS_}s" --latency -H "$AUTH" "$URL"
done
