#!/usr/bin/env bash
# Runs docker-compose.yml's app service without a Docker engine: its command line and its
# environment (over the Dockerfile's), against the real terrane binary, in a folder laid out
# as the image is (the Dockerfile's COPY lines, as links), with the db and osrm services
# pointed at this machine's PostgreSQL and osrm-routed. Fails when the app would not start
# under Compose, when a port is published beyond 127.0.0.1, or when the demo it serves cannot
# be signed in to from this machine.
#
#   scripts/compose-check.sh
#
# Environment (all optional): TERRANE_BIN (a built binary; else cargo builds one),
# TERRANE_COMPOSE_DB (database, default terrane_compose, dropped and created), and those of
# scripts/lib/provision.sh.
set -euo pipefail

# shellcheck source=scripts/lib/provision.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/provision.sh"

trap 'stop_children' EXIT

cd "$TERRANE_ROOT"
ensure_postgres
ensure_osrm
ensure_command docker-compose docker-compose
# Debian's docker-compose runs on Debian's python3, which has PyYAML with it.
python=/usr/bin/python3
"$python" -c 'import yaml' 2>/dev/null || ensure_command "$python" python3-yaml
if [[ -z ${TERRANE_BIN:-} ]]; then
    build_terrane debug
fi

db=${TERRANE_COMPOSE_DB:-terrane_compose}
step "docker-compose.yml's app command, run against $TERRANE_BIN"
recreate_database "$db"
port=$(free_port)
root=$(mktemp -d)
trap 'stop_children; rm -rf "$root"' EXIT
docker-compose -f docker-compose.yml config |
    "$python" scripts/lib/compose_app.py --dockerfile Dockerfile \
        --database-url "$(database_url_for "$db")" --osrm-url "$OSRM_URL" --port "$port" \
        --terrane-bin "$TERRANE_BIN" --repo "$TERRANE_ROOT" --root "$root"
mapfile -d '' command <"$root/command"
mapfile -d '' environment <"$root/env"
workdir=$(<"$root/workdir")
note "command: ${command[*]}"
note "environment: $(printf '%s ' "${environment[@]%%=*}")"
log="$TERRANE_ROOT/target/test-logs/compose-app.log"
mkdir -p "$(dirname "$log")"
# As in the container: only the image's files, the Dockerfile's and Compose's environment, the
# binary on PATH.
(cd "$workdir" && exec env -i HOME="$root" PATH="$root/fs/usr/local/bin:/usr/bin:/bin" \
    "${environment[@]}" "${command[@]}") >"$log" 2>&1 &
pid=$!
track_child "$pid" "the compose app command"
wait_until 120 "the compose app command" "$pid" "$log" readyz_ok "http://127.0.0.1:$port"
note "serving on port $port (log $log)"

# The demo it serves: the banner on the sign-in page, and demo sign-in from this machine.
jar="$root/cookies"
login=$(curl -fsS -c "$jar" -b "$jar" "http://127.0.0.1:$port/login") ||
    die "GET /login failed under the compose configuration"
[[ $login == *demo-banner* ]] || die "the sign-in page shows no demo banner"
csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' <<<"$login" | head -n 1)
[[ -n $csrf ]] || die "the sign-in page has no CSRF field"
status=$(curl -sS -o /dev/null -w '%{http_code}' -c "$jar" -b "$jar" \
    --data-urlencode "csrf=$csrf" --data-urlencode "email=admin@example.com" \
    "http://127.0.0.1:$port/auth/demo")
[[ $status == 303 ]] || die "demo sign-in answered $status, expected 303"
status=$(curl -sS -o /dev/null -w '%{http_code}' -b "$jar" \
    "http://127.0.0.1:$port/api/accounts?limit=1")
[[ $status == 200 ]] || die "the seeded accounts answered $status after sign-in, expected 200"
note "demo sign-in works; seeded accounts are served"
stop_child "$pid"
