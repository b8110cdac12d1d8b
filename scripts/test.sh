#!/usr/bin/env bash
# Run the whole Terrane test suite, installing what it needs on first run: PostgreSQL +
# PostGIS, OSRM on the Monaco extract, npm packages, Debian's chromium.
#
#   scripts/test.sh [-- CARGO_TEST_ARGS...]
#
# Steps, stopping at the first failure: cargo fmt --check; cargo clippy (warnings are
# errors); the house rules (scripts/house-check.sh); cargo test (each #[sqlx::test] gets its
# own database on the local server); browser
# tests (web/, npm test) against a freshly migrated and seeded server; docker-compose.yml
# validation, and its app service run without Docker (scripts/compose-check.sh); the API
# contract check (scripts/api-check.sh: schemathesis against /api/openapi.json). Background
# processes it started are stopped at exit; a PostgreSQL cluster it had to start keeps running.
#
# Arguments after -- go to cargo test, e.g. `scripts/test.sh -- seed_load` runs only the
# tests whose name contains seed_load.
#
# Environment (all optional):
#   TERRANE_SKIP_LINT=1      skip cargo fmt and cargo clippy
#   TERRANE_SKIP_CARGO=1     skip cargo test
#   TERRANE_SKIP_BROWSER=1   skip the browser tests (and chromium)
#   TERRANE_SKIP_COMPOSE=1   skip the docker-compose.yml check
#   TERRANE_SKIP_DURABILITY=1 skip the CRM SIGKILL durability run (scripts/crm-durability.sh)
#   TERRANE_SKIP_API=1       skip the schemathesis run against the OpenAPI document
#   TERRANE_BROWSER_DB       database of the browser tests (default terrane_browser_test),
#                            so that two checkouts can test side by side
#   DATABASE_URL             server to test against; only its user, host and port are used
#                            (default postgres://postgres@127.0.0.1:5432/...); the user must
#                            be allowed to create databases and the postgis extension
#   CHROMIUM_PATH            browser for the browser tests (default: Debian's chromium,
#                            installed if missing)
#   TERRANE_OSRM_PORT        osrm-routed port on 127.0.0.1, default 5000
#   TERRANE_CACHE            downloads, OSRM data, logs; default ~/.cache/terrane
#   CARGO_TARGET_DIR         default $TERRANE_CACHE/target (outside the clone, so CI's fresh
#                            clones reuse compiled dependencies)
# Artifacts: target/screenshots/ (browser screenshots), target/test-logs/ (server log).
set -euo pipefail

# shellcheck source=scripts/lib/provision.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/provision.sh"
# shellcheck source=scripts/lib/pysigners.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/pysigners.sh"

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

cargo_test_args=()
while (($# > 0)); do
    case $1 in
    -h | --help)
        usage
        exit 0
        ;;
    --)
        shift
        cargo_test_args=("$@")
        break
        ;;
    *)
        usage >&2
        die "unknown argument: $1 (arguments for cargo test go after --)"
        ;;
    esac
done

started_at=$SECONDS
passed=()
skipped=()

on_exit() {
    local status=$?
    trap - EXIT INT TERM
    stop_children
    local took=$((SECONDS - started_at))
    local summary="passed: ${passed[*]:-none}"
    ((${#skipped[@]} == 0)) || summary+="; skipped: ${skipped[*]}"
    if ((status == 0)); then
        printf '==> tests OK in %ss (%s)\n' "$took" "$summary"
    else
        printf '==> tests FAILED in %ss at step: %s (exit %s; %s)\n' \
            "$took" "${CURRENT_STEP:-start-up}" "$status" "$summary" >&2
    fi
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

skip_requested() {
    local var=$1 name=$2
    if [[ ${!var:-} == 1 ]]; then
        step "$name: skipped ($var=1)"
        skipped+=("$name")
        return 0
    fi
    return 1
}

cd "$TERRANE_ROOT"
logs="$TERRANE_ROOT/target/test-logs"
mkdir -p "$logs"

# --- set-up --------------------------------------------------------------------------------
ensure_postgres
ensure_osrm
# The server serves MapLibre GL from web/node_modules; cargo tests check that too.
ensure_web_deps
ensure_rust

# --- lint ----------------------------------------------------------------------------------
if ! skip_requested TERRANE_SKIP_LINT lint; then
    step "cargo fmt --check"
    cargo fmt --version >/dev/null 2>&1 || die "rustfmt missing: rustup component add rustfmt"
    cargo fmt --all -- --check
    step "cargo clippy"
    cargo clippy --version >/dev/null 2>&1 || die "clippy missing: rustup component add clippy"
    cargo clippy --locked --all-targets -- -D warnings
    step "house rules: table owners, import cycles, file lengths"
    bash scripts/house-check.sh
    passed+=(lint)
fi

# --- cargo test ----------------------------------------------------------------------------
if ! skip_requested TERRANE_SKIP_CARGO cargo-test; then
    # The scripts stop background processes with kill(1), which slim Debian images lack.
    ensure_command kill procps
    # The vendors' own webhook signers (PyPI), for tests/it/crm_vectors.rs. This names its
    # own step, so the cargo test step is named after it.
    ensure_pysigners
    step "cargo test${cargo_test_args[*]:+ ${cargo_test_args[*]}}"
    # sqlx::test creates (and drops) one database per test through this connection.
    DATABASE_URL="$PG_ADMIN_URL" TERRANE_TEST_OSRM_URL="$OSRM_URL" \
        cargo test --locked "${cargo_test_args[@]}"
    passed+=(cargo-test)
fi

# --- CRM durability (short form) -------------------------------------------------------------
if ! skip_requested TERRANE_SKIP_DURABILITY durability; then
    step "CRM durability: SIGKILL the server while a CRM sends webhooks"
    # Reuse the binaries cargo test built when it ran; otherwise the script builds them.
    if [[ " ${passed[*]} " == *" cargo-test "* && -x "$CARGO_TARGET_DIR/debug/terrane-webhook-load" ]]; then
        TERRANE_BIN="$CARGO_TARGET_DIR/debug/terrane" LOAD_BIN="$CARGO_TARGET_DIR/debug/terrane-webhook-load" \
            bash "$TERRANE_ROOT/scripts/crm-durability.sh" --kills 3 --events 2000
    else
        bash "$TERRANE_ROOT/scripts/crm-durability.sh" --kills 3 --events 2000
    fi
    passed+=(durability)
fi

# --- browser tests -------------------------------------------------------------------------
if ! skip_requested TERRANE_SKIP_BROWSER browser; then
    # cargo test has just built target/debug/terrane (its CLI tests run it); a separate
    # `cargo build` would rebuild it with the non-test feature set for nothing.
    if [[ " ${passed[*]} " == *" cargo-test "* && -x "$CARGO_TARGET_DIR/debug/terrane" ]]; then
        TERRANE_BIN="$CARGO_TARGET_DIR/debug/terrane"
        note "binary: $TERRANE_BIN (built by cargo test)"
    else
        build_terrane debug
    fi
    step "browser tests"
    require_node_version
    if [[ -n ${CHROMIUM_PATH:-} ]]; then
        [[ -x $CHROMIUM_PATH ]] || die "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable"
    else
        ensure_command chromium chromium fonts-liberation
    fi
    browser_db=${TERRANE_BROWSER_DB:-terrane_browser_test}
    note "fresh database $browser_db"
    recreate_database "$browser_db"
    (
        export DATABASE_URL
        DATABASE_URL=$(database_url_for "$browser_db")
        export TERRANE_OSRM_URL="$OSRM_URL"
        migrate_and_seed
    )
    # Accounts with hostile names (web/tests/zz_hostile_names.test.mjs), counted below with
    # the rest so the map test expects them drawn too.
    PGCONNECT_TIMEOUT=5 "$(pg_tool psql)" "$(database_url_for "$browser_db")" -X -q \
        -v ON_ERROR_STOP=1 -f "$TERRANE_ROOT/web/tests/fixtures/hostile-accounts.sql" >/dev/null ||
        die "loading web/tests/fixtures/hostile-accounts.sql failed"
    # A rep on shift at any hour, for the location sharing and live map test.
    PGCONNECT_TIMEOUT=5 "$(pg_tool psql)" "$(database_url_for "$browser_db")" -X -q \
        -v ON_ERROR_STOP=1 -f "$TERRANE_ROOT/web/tests/fixtures/live-rep.sql" >/dev/null ||
        die "loading web/tests/fixtures/live-rep.sql failed"
    count_sql='select count(*) from accounts where deleted_at is null and location is not null'
    expected=$(PGCONNECT_TIMEOUT=5 "$(pg_tool psql)" "$(database_url_for "$browser_db")" \
        -X -q -A -t -v ON_ERROR_STOP=1 -c "$count_sql")
    port=$(free_port)
    # The demo's CRM connections backed by the simulator (no random edits: the tests count
    # accounts), so publishing a plan in the browser writes owners back to a CRM.
    sim_bin="$CARGO_TARGET_DIR/debug/terrane-crm-sim"
    [[ -x $sim_bin ]] || (cargo build --locked --bin terrane-crm-sim) || die "cargo build failed"
    sim_port=$(free_port)
    TERRANE_SECRET_KEY=$("$TERRANE_BIN" secret-key)
    export TERRANE_SECRET_KEY
    DATABASE_URL=$(database_url_for "$browser_db") add_demo_connections "http://127.0.0.1:$sim_port" \
        >/dev/null
    (cd "$TERRANE_ROOT" && exec "$sim_bin" --listen "127.0.0.1:$sim_port" \
        --terrane-url "http://127.0.0.1:$port") >"$logs/browser-crm-sim.log" 2>&1 &
    sim_pid=$!
    track_child "$sim_pid" "terrane-crm-sim"
    wait_until 30 "terrane-crm-sim" "$sim_pid" "$logs/browser-crm-sim.log" port_in_use "$sim_port"
    note "terrane serve on 127.0.0.1:$port ($expected accounts with a location; CRM simulator on $sim_port; log $logs/browser-server.log)"
    DATABASE_URL=$(database_url_for "$browser_db") TERRANE_OSRM_URL="$OSRM_URL" \
        TERRANE_OSRM_MAX_TABLE_SIZE="$OSRM_MAX_TABLE_SIZE" TERRANE_DEMO=1 start_terrane_server "127.0.0.1:$port" "$logs/browser-server.log"
    screenshots="$TERRANE_ROOT/target/screenshots"
    mkdir -p "$screenshots"
    note "npm test (screenshots in $screenshots)"
    (
        cd web
        TERRANE_URL="http://127.0.0.1:$port" TERRANE_EXPECTED_ACCOUNTS="$expected" \
            TERRANE_SCREENSHOT_DIR="$screenshots" TERRANE_EXPECT_WRITEBACK=1 \
            npm test
    ) || {
        show_log_tail "$logs/browser-server.log"
        die "browser tests failed"
    }
    stop_child "$TERRANE_SERVER_PID"
    stop_child "$sim_pid"
    passed+=(browser)

    # The OpenID provider the sign-in tests will run against (web/oidc): its own checks.
    note "npm run test:oidc (the loopback OpenID provider)"
    (cd web && npm run --silent test:oidc) || die "OpenID provider tests failed"
    passed+=(oidc-provider)
fi

# --- docker-compose.yml --------------------------------------------------------------------
if ! skip_requested TERRANE_SKIP_COMPOSE compose; then
    step "docker-compose.yml is valid"
    ensure_command docker-compose docker-compose
    docker-compose -f docker-compose.yml config -q
    # Its app service's command line and environment, run against the real binary.
    if [[ -z ${TERRANE_BIN:-} && -x "$CARGO_TARGET_DIR/debug/terrane" ]]; then
        TERRANE_BIN="$CARGO_TARGET_DIR/debug/terrane"
    fi
    TERRANE_BIN=${TERRANE_BIN:-} TERRANE_COMPOSE_DB=${TERRANE_COMPOSE_DB:-terrane_compose} \
        bash "$TERRANE_ROOT/scripts/compose-check.sh"
    passed+=(compose)
fi

# --- API contract ----------------------------------------------------------------------------
if ! skip_requested TERRANE_SKIP_API api; then
    step "API contract: schemathesis against /api/openapi.json"
    if [[ -z ${TERRANE_BIN:-} && -x "$CARGO_TARGET_DIR/debug/terrane" ]]; then
        TERRANE_BIN="$CARGO_TARGET_DIR/debug/terrane"
    fi
    TERRANE_BIN=${TERRANE_BIN:-} TERRANE_API_CHECK_DB=${TERRANE_API_CHECK_DB:-terrane_api_check} \
        bash "$TERRANE_ROOT/scripts/api-check.sh"
    passed+=(api)
fi

