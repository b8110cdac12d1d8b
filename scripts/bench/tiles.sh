#!/usr/bin/env bash
# Vector-tile benchmark of a plan (docs/benchmarks.md, "Territories: vector tiles").
#
# In a scratch database (terrane_tiles_bench, dropped and recreated; needs PostgreSQL with
# PostGIS, e.g. as scripts/test.sh installs it): the app's migrations, synthetic accounts with
# a fixed seed (70% in 12 towns of 1.5-5 km, 30% spread over 60 x 60 km) as one team's book,
# a balanced plan made by the library (plans::create + plans::generate), then
# territory::tiles::plan_tile over the accounts' bounding box: every tile at zooms 8 and 10,
# a fixed sample of tiles holding accounts at 12 and 14, each fetched twice (the first warms
# up, the second is timed). Step times go to stderr; prints one markdown table.
#
#   scripts/bench/tiles.sh                                  # 200,000 accounts, 50 territories
#   scripts/bench/tiles.sh --accounts 20000 --territories 10
#   DATABASE_URL=postgres://user@host:5432/postgres scripts/bench/tiles.sh
#
# Extra arguments go to `terrane-territory-bench tiles` (--seed, --sample, --keep...).
set -euo pipefail
cd "$(dirname "$0")/../.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/terrane/target-bench}"
cargo build --release --bin terrane-territory-bench >&2
BENCH="$CARGO_TARGET_DIR/release/terrane-territory-bench"
DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

"$BENCH" tiles --database-url "$DATABASE_URL" "$@"
