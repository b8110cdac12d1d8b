#!/usr/bin/env bash
# Route-solver benchmark (docs/benchmarks.md, "Routes (issue 16)").
#
# Solomon VRPTW, all 56 instances in ../shared/bench/solomon (override with SOLOMON_DIR):
# Terrane at 0.1 s and 1 s per instance, PyPI pyvroom at exploration levels 1 and 5 and PyPI
# pyvrp at 1 s, one thread each, every Terrane plan checked by routing::check; one markdown
# table per instance with the gap to the distance-only best known solution (BKS.json), the
# vehicles used and the wall time, and the means. Then a synthetic team day (10 reps, 300
# stops, 10 s): Terrane's min-max plan beside pyvroom on the same matrix.
#
#   scripts/bench/routes.sh                        # everything (about 10 minutes)
#   INSTANCES=C101,R201 scripts/bench/routes.sh    # a subset of Solomon
#   SKIP_SOLOMON=1 scripts/bench/routes.sh         # the team day only
#   SKIP_TEAM=1 scripts/bench/routes.sh            # Solomon only
#   ROUTE_BENCH_BIN=path scripts/bench/routes.sh   # use a terrane-route-bench built elsewhere
#   REUSE_PEERS=1 scripts/bench/routes.sh          # keep the peers' results of the last run
#                                                  # (they do not depend on Terrane's solver)
#
# The peers are installed here, in a venv under ~/.cache/terrane, never by the product.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -n "${ROUTE_BENCH_BIN:-}" ]; then
  BENCH="$ROUTE_BENCH_BIN"   # a terrane-route-bench built elsewhere from this tree
else
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/terrane/target}"
  cargo build --release --bin terrane-route-bench >&2
  BENCH="$CARGO_TARGET_DIR/release/terrane-route-bench"
fi
SOLOMON_DIR="${SOLOMON_DIR:-../shared/bench/solomon}"
WORK="${TMPDIR:-/tmp}/terrane-route-bench"
CACHE="$HOME/.cache/terrane"
VENV="$CACHE/route-peers-venv"
SEED="${SEED:-1}"
mkdir -p "$WORK"

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import vroom, pyvrp' 2>/dev/null; then
  mkdir -p "$CACHE"
  python3 -m venv "$VENV" >&2
  "$VENV/bin/pip" install -q pyvroom pyvrp >&2
fi
PY="$VENV/bin/python"

if [ -z "${SKIP_SOLOMON:-}" ]; then
  if [ -n "${INSTANCES:-}" ]; then
    IFS=, read -r -a names <<<"$INSTANCES"
  else
    names=()
    for file in "$SOLOMON_DIR"/*.txt; do names+=("$(basename "$file" .txt)"); done
  fi
  list="$(IFS=,; echo "${names[*]}")"
  for seconds in 0.1 1; do
    "$BENCH" solomon --dir "$SOLOMON_DIR" --seconds "$seconds" --instances "$list" --seed "$SEED" \
      >"$WORK/terrane-$seconds.jsonl"
  done
  if [ -z "${REUSE_PEERS:-}" ] || [ ! -s "$WORK/peers.jsonl" ]; then
    "$PY" scripts/bench/route_peers.py solomon "$SOLOMON_DIR" "${names[@]}" >"$WORK/peers.jsonl"
  fi
  echo "Solomon VRPTW ($(nproc) cores, $(date -u +%Y-%m-%d)):"
  echo
  "$PY" scripts/bench/route_peers.py table "$SOLOMON_DIR/BKS.json" \
    "$WORK/terrane-0.1.jsonl" "$WORK/terrane-1.jsonl" "$WORK/peers.jsonl"
  echo
fi

if [ -z "${SKIP_TEAM:-}" ]; then
  "$BENCH" team --reps 10 --stops 300 --seconds 10 --seed "$SEED" --out "$WORK/team.json"
  [ -n "${REUSE_PEERS:-}" ] || rm -f "$WORK/team-vroom.json"
  "$PY" scripts/bench/route_peers.py team "$WORK/team.json" "$WORK/team-vroom.json"
fi
