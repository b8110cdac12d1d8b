#!/usr/bin/env bash
# Live location benchmark (issue 17; docs/benchmarks.md, "Live location"): a fresh database
# with ACCOUNTS synthetic accounts along the extract's roads and REPS bench reps (on shift all
# day, every day, UTC; 50 per team, a territory each), the release build, INSTANCES
# `terrane serve` on loopback, and terrane-live-sim driving every rep along an OSRM route,
# one ping every PERIOD seconds over its own WebSocket. Client and servers share this
# machine's cores (and PostgreSQL): the figures are for the whole box, not the server alone.
#
#   scripts/bench/live.sh                       # 10,000 reps, 200,000 accounts, 60 s, 1 instance
#   INSTANCES=2 scripts/bench/live.sh           # reps split over two instances
#   MODE=max STEPS="2000 4000 6000 8000 10000" scripts/bench/live.sh
#                                               # most reps with p99 under 100 ms
#
# Env: REPS (10000), ACCOUNTS (200000), DURATION (60: measured seconds; not SECONDS, which
#      bash keeps for itself), RAMP (30 s: reps connect one after another first), PERIOD (2),
#      DRAIN (30 s: after the last ping, the longest wait for answers still owed),
#      INSTANCES (1 to 4), MODE (run | max), STEPS (reps per step in max mode, at most REPS),
#      LIMIT_MS (100: max mode stops at the first step whose p99 is not under it),
#      BENCH_DB (terrane_bench_live), BENCH_PORT (18093, then +1 per instance), BENCH_WORK
#      (tokens and logs; default ~/.cache/terrane/bench-live),
#      SIM_ARGS (more arguments for `terrane-live-sim run`, e.g. "--spoof-share 0.05").
# Needs what scripts/test.sh installs (PostGIS, OSRM). Raises `ulimit -n` for the sockets.
set -euo pipefail
# shellcheck source=scripts/lib/provision.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/provision.sh"
cd "$TERRANE_ROOT"

DB=${BENCH_DB:-terrane_bench_live}
PORT=${BENCH_PORT:-18093}
REPS=${REPS:-10000}
ACCOUNTS=${ACCOUNTS:-200000}
DURATION=${DURATION:-60}
RAMP=${RAMP:-30}
DRAIN=${DRAIN:-30}
PERIOD=${PERIOD:-2}
INSTANCES=${INSTANCES:-1}
MODE=${MODE:-run}
STEPS=${STEPS:-"2000 4000 6000 8000 10000"}
LIMIT_MS=${LIMIT_MS:-100}
((INSTANCES >= 1 && INSTANCES <= 4)) || die "INSTANCES is 1 to 4"
trap 'stop_children' EXIT

# 10,000 sockets on each side, plus files and the database pool.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(($(ulimit -n) >= REPS + 1000)) || die "ulimit -n is $(ulimit -n): too few for $REPS sockets"

ensure_postgres
ensure_osrm
ensure_rust
step "build terrane and terrane-live-sim (release)"
cargo build --locked --release --quiet --bin terrane --bin terrane-live-sim || die "cargo build failed"
BIN="$CARGO_TARGET_DIR/release/terrane"
SIM="$CARGO_TARGET_DIR/release/terrane-live-sim"
WORK=${BENCH_WORK:-"$TERRANE_CACHE/bench-live"}
mkdir -p "$WORK"
TOKENS="$WORK/tokens.txt"

step "fresh database $DB: $REPS reps, $ACCOUNTS accounts"
recreate_database "$DB"
DATABASE_URL=$(database_url_for "$DB")
export DATABASE_URL
"$BIN" migrate >/dev/null
"$SIM" setup --reps "$REPS" --accounts "$ACCOUNTS" --osrm "$OSRM_URL" --tokens "$TOKENS"

TERRANE_SECRET_KEY=$("$BIN" secret-key)
export TERRANE_SECRET_KEY TERRANE_OSRM_URL="$OSRM_URL" TERRANE_LOG=warn
URLS=()
PIDS=()
for ((i = 0; i < INSTANCES; i++)); do
    port=$((PORT + i))
    step "serve on 127.0.0.1:$port"
    TERRANE_BIND=127.0.0.1:$port TERRANE_PUBLIC_URL=http://127.0.0.1:$port \
        "$BIN" serve >"$WORK/serve-$port.log" 2>&1 &
    PIDS+=($!)
    track_child $! "terrane serve :$port"
    URLS+=(--url "http://127.0.0.1:$port")
    wait_until 60 "terrane serve" "${PIDS[i]}" "$WORK/serve-$port.log" readyz_ok "http://127.0.0.1:$port"
done

# CPU seconds (user + system) a process has used so far.
cpu_s() {
    awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"
}

# Peak resident memory of a process, MiB.
peak_mib() {
    awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"
}

# run_sim REPS OUT: the simulator over every instance; prints nothing, writes OUT (JSON) and
# OUT.cpu (server CPU seconds per instance over the measured window, the client's over the run).
run_sim() {
    local reps=$1 out=$2 p before=() after=()
    "$SIM" tokens --limit "$reps" --tokens "$TOKENS" 2>/dev/null
    stored_count >"$out.stored-before"
    # shellcheck disable=SC2086
    "$SIM" run "${URLS[@]}" --tokens "$TOKENS" --reps "$reps" --period-s "$PERIOD" \
        --ramp-s "$RAMP" --duration-s "$DURATION" --drain-s "$DRAIN" --osrm "$OSRM_URL" --progress ${SIM_ARGS:-} \
        >"$out" 2>"$out.log" &
    local sim=$!
    # The measured window starts half a second after the simulator has its routes (it says
    # so on stderr), once the ramp is over.
    wait_until 120 "terrane-live-sim's routes" "$sim" "$out.log" grep -q "routes from OSRM" "$out.log"
    sleep "$RAMP.5"
    for p in "${PIDS[@]}"; do before+=("$(cpu_s "$p")"); done
    sleep "$DURATION"
    for p in "${PIDS[@]}"; do after+=("$(cpu_s "$p")"); done
    local client_cpu
    client_cpu=$(cpu_s "$sim" 2>/dev/null || echo 0)
    wait "$sim" || { cat "$out.log" >&2; die "terrane-live-sim run failed"; }
    cat "$out.log" >&2
    {
        for i in "${!PIDS[@]}"; do
            printf 'server%d_cpu_s=%s\n' "$i" "$(awk -v a="${after[i]}" -v b="${before[i]}" 'BEGIN { printf "%.1f", a - b }')"
            printf 'server%d_peak_rss_mib=%s\n' "$i" "$(peak_mib "${PIDS[i]}")"
        done
        printf 'client_cpu_s=%s\n' "$client_cpu"
    } >"$out.cpu"
}

stored_count() {
    psql -X -A -t -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "select count(*) from pings"
}

# report OUT: the figures of one run, as a few lines.
report() {
    local out=$1 stored
    stored=$(($(stored_count) - $(cat "$out.stored-before")))
    python3 - "$out" "$stored" "$DURATION" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
stored, duration = int(sys.argv[2]), float(sys.argv[3])
cpu = dict(l.strip().split("=", 1) for l in open(sys.argv[1] + ".cpu") if "=" in l)
a, al = s["ack_ms"], s["ping_to_alert_ms"]
def ms(d, k):
    return f'{d[k]:.1f}' if k in d else "-"
print(f'reps {s["settings"]["reps"]} over {s["settings"]["instances"]} instance(s), '
      f'period {s["settings"]["period_s"]} s, measured {duration:.0f} s')
print(f'  pings sent {s["pings_sent"]}, accepted {s["acks"]["accepted"]} '
      f'(+{s["http"]["accepted"]} by HTTP), dropped {s["acks"]["dropped"]}, '
      f'rate-limited {s["rate_limited"]}, errors {s["errors"]}, unanswered {s["unanswered"]}')
print(f'  stored by this run (select count(*) from pings, after - before): {stored}; accepted in total: {s["accepted_total"]}'
      f' -> {"equal" if stored == s["accepted_total"] else "DIFFERENT"}')
print(f'  ack ms: p50 {ms(a, "p50")}, p99 {ms(a, "p99")}, max {ms(a, "max")} (n {a["n"]})')
print(f'  alerts {s["alerts"]} (unmatched {s["alerts_unmatched"]}); ping-to-alert ms: '
      f'p50 {ms(al, "p50")}, p99 {ms(al, "p99")}, max {ms(al, "max")} (n {al["n"]})')
print(f'  sockets: connected {s["sockets"]["connected"]}, failures {s["sockets"]["failures"]}; '
      f'other: {json.dumps(s["named"])}')
for k in sorted(cpu):
    if k.endswith("_cpu_s") and k.startswith("server"):
        print(f'  {k[:-6]}: CPU {float(cpu[k]):.1f} s over {duration:.0f} s '
              f'({100 * float(cpu[k]) / duration:.0f}% of one core), '
              f'peak RSS {cpu[k[:-6] + "_peak_rss_mib"]} MiB')
print(f'  client (whole run, ramp included): CPU {float(cpu["client_cpu_s"]):.1f} s')
PY
}

# The p99 a step is judged by: ping-to-alert when alerts came, the ack's otherwise.
step_p99() {
    python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
d = s["ping_to_alert_ms"] if s["ping_to_alert_ms"]["n"] > 0 else s["ack_ms"]
print(d.get("p99", 1e9))' "$1"
}

case $MODE in
run)
    step "simulate $REPS reps for ${RAMP}+${DURATION} s"
    run_sim "$REPS" "$WORK/run.json"
    report "$WORK/run.json"
    note "full summary: $WORK/run.json"
    ;;
max)
    best=0
    for n in $STEPS; do
        ((n <= REPS)) || break
        step "step: $n reps"
        run_sim "$n" "$WORK/step-$n.json"
        report "$WORK/step-$n.json"
        p99=$(step_p99 "$WORK/step-$n.json")
        if awk -v p="$p99" -v l="$LIMIT_MS" 'BEGIN { exit !(p < l) }'; then
            best=$n
        else
            note "p99 $p99 ms is not under $LIMIT_MS ms: stop"
            break
        fi
    done
    step "most reps with p99 under $LIMIT_MS ms: $best (of steps: $STEPS)"
    ;;
*) die "MODE is run or max" ;;
esac
