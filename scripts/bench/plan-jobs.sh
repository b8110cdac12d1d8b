#!/usr/bin/env bash
# Fair use under plan load: webhook acknowledgement latency (p50/p95/max) without and with 20
# clients of one manager asking for new plans all along, the count of 202/409/429 the plan
# requests got, and that nothing is lost (every event acknowledged is applied, every 202'd plan
# is computed). Standard Webhooks account creations from terrane-webhook-load; the demo data.
#
#   scripts/bench/plan-jobs.sh
#
# Env: BENCH_EVENTS (webhook events per phase, 3000), BENCH_RATE (webhook requests per s, 100),
#      BENCH_PLAN_CLIENTS (20), DATABASE_URL's server (as scripts/test.sh), TERRANE_BIN and
#      LOAD_BIN (default: the debug builds in $CARGO_TARGET_DIR, from `cargo test --no-run
#      --test it`; build them first).
set -euo pipefail

# shellcheck source=scripts/lib/provision.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/provision.sh"

events=${BENCH_EVENTS:-3000}
rate=${BENCH_RATE:-100}
clients=${BENCH_PLAN_CLIENTS:-20}

trap 'stop_children' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_postgres
TERRANE_BIN=${TERRANE_BIN:-$CARGO_TARGET_DIR/debug/terrane}
LOAD_BIN=${LOAD_BIN:-$CARGO_TARGET_DIR/debug/terrane-webhook-load}
[[ -x $TERRANE_BIN && -x $LOAD_BIN ]] || die "build first: cargo test --no-run --test it"
note "binaries: $TERRANE_BIN, $LOAD_BIN"

db=${TERRANE_BENCH_DB:-terrane_bench_jobs}
step "fresh database $db, seeded"
recreate_database "$db"
DATABASE_URL=$(database_url_for "$db")
TERRANE_SECRET_KEY=$("$TERRANE_BIN" secret-key)
export DATABASE_URL TERRANE_SECRET_KEY
export TERRANE_LOG=warn TERRANE_RECONCILE_AT=off TERRANE_DEMO=1
terrane_cmd migrate >/dev/null
terrane_cmd seed >/dev/null
secret=whsec_$(head -c 24 /dev/urandom | base64)
TERRANE_CONNECTION_WEBHOOK_SECRET=$secret terrane_cmd connection add --kind standard --name load >/dev/null

port=$(free_port)
bind=127.0.0.1:$port
export TERRANE_PUBLIC_URL=http://$bind
logs="$TERRANE_CACHE/logs"
mkdir -p "$logs"
(cd "$TERRANE_ROOT" && TERRANE_BIND=$bind exec "$TERRANE_BIN" serve) >"$logs/bench-jobs.log" 2>&1 &
server_pid=$!
track_child "$server_pid" "terrane serve"
wait_until 60 "terrane serve" "$server_pid" "$logs/bench-jobs.log" \
    bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' http://$bind/healthz) == 200 ]]"

psql_q() { psql -X -A -t -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "$1"; }

webhooks() {
    "$LOAD_BIN" --target "http://$bind" --scheme standard --connection load --events "$events" \
        --concurrency 8 --rate "$rate" --id-prefix "jobs-$1-$$" --secret "$secret"
}

report() {
    python3 - "$1" "$2" <<'PY'
import json, sys
label, s = sys.argv[1], json.loads(sys.argv[2])
a = s["ack_ms"]
print(f"{label:<22} ack p50 {a['p50']:.1f} ms, p95 {a['p95']:.1f} ms, max {a['max']:.1f} ms; "
      f"{s['events_acked']} events acknowledged, {s['retries']} retries")
PY
}

step "webhooks alone: $events events at $rate requests/s"
alone=$(webhooks alone)

step "webhooks while $clients clients of manager.a ask for plans"
statuses="$logs/bench-jobs-plans.txt"
python3 - "http://$bind" "$clients" "$statuses" <<'PY' &
import http.cookiejar, json, re, sys, threading, time, urllib.error, urllib.parse, urllib.request
base, clients, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
jar = http.cookiejar.CookieJar()
opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k): return None
opener.add_handler(NoRedirect())
csrf = lambda html: re.search(r'name="csrf" value="([^"]+)"', html).group(1)
login = opener.open(base + "/login").read().decode()
form = urllib.parse.urlencode({"csrf": csrf(login), "email": "manager.a@example.com"}).encode()
try:
    opener.open(base + "/auth/demo", form)
except urllib.error.HTTPError as e:
    assert e.code == 303, e.code
token = csrf(opener.open(base + "/").read().decode())
team = json.load(opener.open(base + "/api/teams"))[0]["id"]
stop = time.time() + 3600
results, lock = [], threading.Lock()
def client(n):
    i = 0
    while time.time() < stop:
        i += 1
        req = urllib.request.Request(
            f"{base}/api/teams/{team}/plans", method="POST",
            data=json.dumps({"name": f"bench {n}-{i}", "method": "balanced"}).encode(),
            headers={"content-type": "application/json", "x-csrf-token": token})
        try:
            r = opener.open(req)
            code, body = r.status, json.load(r)
        except urllib.error.HTTPError as e:
            code, body = e.code, {}
        with lock:
            results.append((code, body.get("id", "")))
        time.sleep(0.2)
threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
for t in threads: t.start()
# Runs until the parent says stop (SIGTERM), then writes what it got.
import signal
def done(*_):
    with lock:
        with open(out, "w") as f:
            for code, pid in results: f.write(f"{code} {pid}\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
while True: time.sleep(1)
PY
plans_pid=$!
sleep 2
loaded=$(webhooks loaded)
kill -TERM "$plans_pid"
wait "$plans_pid" || true

step "draining: inbox and plan jobs"
for ((tries = 0; tries < 1200; tries++)); do
    busy=$(psql_q "select (select count(*) from crm_inbox where status = 'pending')
                        + (select count(*) from jobs where state in ('queued', 'running'))")
    [[ $busy == 0 ]] && break
    sleep 0.5
done

printf '\n'
report "webhooks alone" "$alone"
report "webhooks + plan load" "$loaded"
python3 - "$statuses" <<'PY'
import collections, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
c = collections.Counter(r[0] for r in rows)
print("plan requests: " + ", ".join(f"{k}: {v}" for k, v in sorted(c.items())) + f" (total {len(rows)})")
open(sys.argv[1] + ".accepted", "w").write("\n".join(r[1] for r in rows if r[0] == "202"))
PY
accepted=$(grep -c . "$statuses.accepted" || true)
read -r done_jobs other_jobs < <(psql_q "
    select count(*) filter (where state = 'done'), count(*) filter (where state <> 'done')
    from jobs where kind = 'plan_generate'" | tr '|' ' ')
read -r applied dead < <(psql_q "
    select count(*) filter (where status = 'done'), count(*) filter (where status = 'dead')
    from crm_inbox" | tr '|' ' ')
acked=$(python3 -c "import json,sys; print(sum(json.loads(a)['events_acked'] for a in sys.argv[1:]))" "$alone" "$loaded")
printf 'plans: %s accepted (202), %s jobs done, %s not done\n' "$accepted" "$done_jobs" "$other_jobs"
printf 'webhook events: %s acknowledged, %s applied, %s dead\n' "$acked" "$applied" "$dead"
[[ $accepted == "$done_jobs" && $other_jobs == 0 ]] || die "plan jobs lost or failed"
[[ $acked == "$applied" && $dead == 0 ]] || die "webhook events lost"
printf '\nmachine: %s, %s cores; PostgreSQL %s; terrane %s\n' "$(uname -m)" "$(nproc)" \
    "$(psql_q 'show server_version')" "$TERRANE_BIN"
