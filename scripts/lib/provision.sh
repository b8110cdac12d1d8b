# shellcheck shell=bash
# Shared set-up for scripts/demo.sh and scripts/test.sh: PostgreSQL + PostGIS, OSRM with the
# Monaco extract, npm packages for web/, the terrane binary. Sourced, not run.
#
# Every ensure_* step checks first and does nothing when its work is already done, so a
# second run takes seconds. Downloads come only from package registries (Debian apt, PyPI
# through pip, npm) and are kept in TERRANE_CACHE.
#
# Environment (all optional):
#   DATABASE_URL       default postgres://postgres@127.0.0.1:5432/terrane
#   TERRANE_CACHE      downloads, OSRM data, logs, cargo target; default ~/.cache/terrane
#   TERRANE_OSRM_PORT  port osrm-routed listens on (127.0.0.1); default 5000
#   CARGO_TARGET_DIR   default $TERRANE_CACHE/target, outside the clone so that a fresh
#                      clone (CI) reuses compiled dependencies

TERRANE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TERRANE_CACHE="${TERRANE_CACHE:-$HOME/.cache/terrane}"
TERRANE_OSRM_PORT="${TERRANE_OSRM_PORT:-5000}"
DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/terrane}"
export TERRANE_CACHE DATABASE_URL

# PostgreSQL major version installed when the machine has none.
TERRANE_PG_MAJOR=15
OSRM_VERSION=26.10.0
# A point inside the Monaco extract, used to ask OSRM whether it is up.
OSRM_PROBE_LONLAT=7.4246,43.7384
# --max-table-size of the osrm-routed these scripts start; the server is told the same
# (TERRANE_OSRM_MAX_TABLE_SIZE) so its duration matrices come in blocks that fit.
OSRM_MAX_TABLE_SIZE=1000

# ---------------------------------------------------------------------------------------------
# Logging and failure

# The step running now, for the failure summary of the scripts.
# shellcheck disable=SC2034
CURRENT_STEP=""

step() {
    # shellcheck disable=SC2034
    CURRENT_STEP="$*"
    printf '==> %s\n' "$*"
}

note() {
    printf '    %s\n' "$*"
}

warn() {
    printf 'warning: %s\n' "$*" >&2
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# Print the last lines of a log file to stderr, to explain a failure.
show_log_tail() {
    local log=$1
    [[ -s $log ]] || return 0
    printf -- '--- last lines of %s ---\n' "$log" >&2
    tail -n 30 "$log" >&2
    printf -- '---\n' >&2
}

# Run a command quietly into a log file; on failure show the log's end and stop.
run_logged() {
    local what=$1 log=$2
    shift 2
    if ! "$@" >"$log" 2>&1; then
        show_log_tail "$log"
        die "$what failed (full log: $log)"
    fi
}

# ---------------------------------------------------------------------------------------------
# Background processes started by the scripts, stopped when the script exits

TERRANE_CHILDREN=()

# Remember a background process (pid, name) so that stop_children ends it.
track_child() {
    TERRANE_CHILDREN+=("$1:$2")
}

# stop_pid PID NAME: SIGTERM, then SIGKILL if still running after 10 seconds; reap it.
stop_pid() {
    local pid=$1 name=$2 tries
    kill -0 "$pid" 2>/dev/null || return 0
    note "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((tries = 0; tries < 50; tries++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        warn "$name (pid $pid) ignored SIGTERM; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# Stop the tracked processes, newest first.
stop_children() {
    local i entry
    for ((i = ${#TERRANE_CHILDREN[@]} - 1; i >= 0; i--)); do
        entry=${TERRANE_CHILDREN[i]}
        stop_pid "${entry%%:*}" "${entry#*:}"
    done
    TERRANE_CHILDREN=()
}

# stop_child PID: stop one tracked process now and forget it.
stop_child() {
    local pid=$1 kept=() entry
    for entry in "${TERRANE_CHILDREN[@]}"; do
        if [[ ${entry%%:*} == "$pid" ]]; then
            stop_pid "$pid" "${entry#*:}"
        else
            kept+=("$entry")
        fi
    done
    TERRANE_CHILDREN=("${kept[@]}")
}

# wait_until SECONDS DESCRIPTION PID LOG COMMAND...: retry COMMAND every half second until it
# succeeds. Fails early when PID (if not empty) has exited, showing LOG.
wait_until() {
    local seconds=$1 what=$2 pid=$3 log=$4
    shift 4
    local deadline=$((SECONDS + seconds)) where=${log:+ (log: $log)}
    until "$@"; do
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            show_log_tail "$log"
            die "$what exited before it was ready$where"
        fi
        if ((SECONDS >= deadline)); then
            show_log_tail "$log"
            die "$what was not ready after ${seconds}s$where"
        fi
        sleep 0.5
    done
}

# ---------------------------------------------------------------------------------------------
# Debian packages

# True if we can run commands as root (we are root, or sudo works without a prompt we cannot
# answer).
can_be_root() {
    [[ $EUID -eq 0 ]] && return 0
    command -v sudo >/dev/null 2>&1 || return 1
    [[ -t 0 ]] && return 0
    sudo -n true 2>/dev/null
}

as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif [[ -t 0 ]]; then
        sudo "$@"
    else
        sudo -n "$@"
    fi
}

package_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# True if apt knows an installable version of every named package.
apt_has_candidates() {
    local p candidate
    for p in "$@"; do
        candidate=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
        [[ -n $candidate && $candidate != "(none)" ]] || return 1
    done
}

APT_UPDATED=0

apt_update() {
    note "apt-get update"
    run_logged "apt-get update" "$TERRANE_CACHE/logs/apt-get-update.log" \
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    APT_UPDATED=1
}

# Install the Debian packages that are not installed yet. apt-get update runs only when apt
# does not know a package, or when an install from the current lists fails.
apt_install() {
    local missing=() p
    for p in "$@"; do
        package_installed "$p" || missing+=("$p")
    done
    ((${#missing[@]} > 0)) || return 0
    command -v apt-get >/dev/null 2>&1 ||
        die "missing packages ${missing[*]} and this is not a Debian-like system: install them yourself"
    can_be_root ||
        die "missing Debian packages ${missing[*]}: run this script as root, set up sudo, or run: sudo apt-get install ${missing[*]}"
    mkdir -p "$TERRANE_CACHE/logs"
    note "installing Debian packages: ${missing[*]}"
    if ((APT_UPDATED == 0)) && ! apt_has_candidates "${missing[@]}"; then
        apt_update
    fi
    local log="$TERRANE_CACHE/logs/apt-get-install.log"
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >"$log" 2>&1; then
        if ((APT_UPDATED == 1)); then
            show_log_tail "$log"
            die "apt-get install ${missing[*]} failed (log: $log)"
        fi
        apt_update
        run_logged "apt-get install ${missing[*]}" "$log" \
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            "${missing[@]}"
    fi
}

# ensure_command COMMAND PACKAGE...: install PACKAGE(s) if COMMAND is not on PATH.
# (type -P: a program on PATH, not a shell builtin such as kill.)
ensure_command() {
    local cmd=$1
    shift
    type -P "$cmd" >/dev/null 2>&1 && return 0
    apt_install "$@"
    type -P "$cmd" >/dev/null 2>&1 || die "installed $* but '$cmd' is still not on PATH"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL + PostGIS

# Split DATABASE_URL into PG_HOST, PG_PORT, PG_DB and PG_ADMIN_URL (same server and user,
# database "postgres": used to create databases and by sqlx::test).
parse_database_url() {
    local url=$1
    local re='^(postgres(ql)?://(([^@/]*)@)?(\[[^]/]*\]|[^:/?]*)(:([0-9]+))?)(/([^?]*))?(\?.*)?$'
    [[ $url =~ $re ]] ||
        die "DATABASE_URL is not a postgres://user@host:port/database URL (got '${url%%://*}://...')"
    PG_URL_PREFIX=${BASH_REMATCH[1]}
    PG_HOST=${BASH_REMATCH[5]}
    PG_PORT=${BASH_REMATCH[7]:-5432}
    PG_DB=${BASH_REMATCH[9]}
    PG_URL_QUERY=${BASH_REMATCH[10]}
    [[ -n $PG_DB ]] || die "DATABASE_URL names no database (expected .../terrane at the end)"
    PG_ADMIN_URL=$(database_url_for postgres)
}

pg_host_is_local() {
    case $PG_HOST in
    "" | 127.0.0.1 | localhost | "[::1]") return 0 ;;
    *) return 1 ;;
    esac
}

# pg_tool NAME: the newest installed PostgreSQL client program NAME. Called directly rather
# than through Debian's pg_wrapper, which warns when no local cluster uses the default port.
pg_tool() {
    local found
    found=$(compgen -G "/usr/lib/postgresql/*/bin/$1" | sort -V | tail -n 1 || true)
    printf '%s' "${found:-$1}"
}

# psql against the admin database, quiet, stopping on the first error. Extra arguments follow.
admin_psql() {
    PGCONNECT_TIMEOUT=5 PGOPTIONS='-c client_min_messages=warning' \
        "$(pg_tool psql)" "$PG_ADMIN_URL" -X -q -A -t -v ON_ERROR_STOP=1 "$@"
}

pg_answers() {
    "$(pg_tool pg_isready)" -q -t 3 -d "$PG_ADMIN_URL" >/dev/null 2>&1
}

pg_can_connect() {
    admin_psql -c 'select 1' >/dev/null 2>&1
}

# The Debian cluster ("version name") listening on PG_PORT, if any, and its status.
local_cluster_on_port() {
    command -v pg_lsclusters >/dev/null 2>&1 || return 0
    pg_lsclusters -h 2>/dev/null | awk -v port="$PG_PORT" '$3 == port { print $1, $2, $4; exit }'
}

# Install PostgreSQL from Debian and start (creating if needed) a cluster on PG_PORT with
# trust authentication for loopback TCP connections. The cluster keeps running afterwards.
start_local_postgres() {
    local major=$TERRANE_PG_MAJOR
    apt_install "postgresql-$major" "postgresql-$major-postgis-3" "postgresql-client-$major"
    local found version name status
    found=$(local_cluster_on_port)
    if [[ -z $found ]]; then
        name=main
        if pg_lsclusters -h 2>/dev/null | awk -v v="$major" '$1 == v && $2 == "main"' | grep -q .; then
            name=terrane
        fi
        note "creating PostgreSQL $major cluster '$name' on port $PG_PORT"
        run_logged "pg_createcluster" "$TERRANE_CACHE/logs/pg_createcluster.log" \
            as_root pg_createcluster --port "$PG_PORT" "$major" "$name"
        found="$major $name down"
    fi
    read -r version name status <<<"$found"
    if [[ $status != online* ]]; then
        note "starting PostgreSQL cluster $version/$name (it keeps running after this script)"
        run_logged "starting PostgreSQL cluster $version/$name" "$TERRANE_CACHE/logs/pg_ctlcluster.log" \
            as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start
    fi
    wait_until 30 "PostgreSQL $version/$name" "" "/var/log/postgresql/postgresql-$version-$name.log" pg_answers
    pg_can_connect || allow_trust_auth "$version" "$name"
}

# Let loopback TCP connections in without a password (a development machine's cluster that
# these scripts started). Rules go first in pg_hba.conf because the first match wins.
allow_trust_auth() {
    local version=$1 name=$2
    local hba="/etc/postgresql/$version/$name/pg_hba.conf"
    local marker="# Added by terrane scripts/lib/provision.sh"
    as_root test -f "$hba" || die "cannot connect to PostgreSQL and $hba does not exist to allow it"
    if ! as_root grep -qF "$marker" "$hba"; then
        note "allowing passwordless (trust) connections from 127.0.0.1 and ::1 in $hba"
        local tmp
        tmp=$(mktemp)
        {
            printf '%s: local development, no passwords on loopback.\n' "$marker"
            printf 'host all all 127.0.0.1/32 trust\n'
            printf 'host all all ::1/128 trust\n\n'
            as_root cat "$hba"
        } >"$tmp"
        as_root cp "$tmp" "$hba"
        rm -f "$tmp"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$name" reload
        sleep 1
    fi
    pg_can_connect || explain_connection_failure
}

explain_connection_failure() {
    local err
    err=$(admin_psql -c 'select 1' 2>&1 >/dev/null | head -n 3 || true)
    die "PostgreSQL answers at ${PG_HOST:-local socket}:$PG_PORT but refuses the connection:
    $err
  Put the user's password in DATABASE_URL (postgres://user:password@host:port/db), or allow
  trust authentication for 127.0.0.1 in pg_hba.conf."
}

# Make sure the server answers, can run PostGIS, and has the database DATABASE_URL names.
ensure_postgres() {
    step "PostgreSQL + PostGIS"
    mkdir -p "$TERRANE_CACHE/logs"
    parse_database_url "$DATABASE_URL"
    ensure_command psql postgresql-client
    ensure_command pg_isready postgresql-client
    if pg_answers; then
        note "server answers at ${PG_HOST:-local socket}:$PG_PORT"
        pg_can_connect || explain_connection_failure
    elif pg_host_is_local; then
        note "no server answers at ${PG_HOST:-local socket}:$PG_PORT; installing/starting one"
        start_local_postgres
    else
        die "no PostgreSQL answers at $PG_HOST:$PG_PORT (from DATABASE_URL): start it, or unset DATABASE_URL to use a local one"
    fi
    ensure_postgis_available
    ensure_database "$PG_DB"
}

postgis_available() {
    [[ $(admin_psql -c "select 1 from pg_available_extensions where name = 'postgis'") == 1 ]]
}

ensure_postgis_available() {
    if postgis_available; then
        note "postgis extension available"
        return 0
    fi
    pg_host_is_local ||
        die "the PostgreSQL server at $PG_HOST:$PG_PORT has no postgis extension: install PostGIS 3 there"
    local major
    major=$(admin_psql -c 'show server_version_num')
    major=$((major / 10000))
    note "postgis missing on the server (PostgreSQL $major); installing it"
    apt_install "postgresql-$major-postgis-3"
    postgis_available ||
        die "installed postgresql-$major-postgis-3 but the server still lists no postgis extension"
}

# ensure_database NAME: create the database if it does not exist.
ensure_database() {
    local db=$1
    if [[ $(admin_psql -v db="$db" <<<"select 1 from pg_database where datname = :'db';") == 1 ]]; then
        note "database $db exists"
    else
        note "creating database $db"
        admin_psql -v db="$db" <<<'create database :"db";'
    fi
}

# recreate_database NAME: drop (disconnecting its users) and create an empty database.
recreate_database() {
    local db=$1
    admin_psql -v db="$db" <<<'drop database if exists :"db" with (force);'
    admin_psql -v db="$db" <<<'create database :"db";'
}

# database_url_for NAME: DATABASE_URL with another database name.
database_url_for() {
    printf '%s/%s%s' "$PG_URL_PREFIX" "$1" "$PG_URL_QUERY"
}

# ---------------------------------------------------------------------------------------------
# OSRM (road travel times) from the PyPI osrm-bindings wheel, on the Monaco extract

osrm_answers() {
    local body
    body=$(curl -s -m 3 "$1/nearest/v1/driving/$OSRM_PROBE_LONLAT" 2>/dev/null) || return 1
    [[ $body == *'"code"'* ]]
}

# Download (once) and unpack the wheel; sets OSRM_HOME to the folder holding bin/ and share/.
ensure_osrm_binaries() {
    local base="$TERRANE_CACHE/osrm"
    local unpacked="$base/$OSRM_VERSION"
    OSRM_HOME="$unpacked/osrm"
    if [[ -x $OSRM_HOME/bin/osrm-routed ]]; then
        note "OSRM $OSRM_VERSION binaries present ($OSRM_HOME/bin)"
        return 0
    fi
    [[ $(uname -m) == x86_64 ]] ||
        die "the OSRM wheel used here exists for x86_64 only; run osrm-routed yourself (docker compose up osrm) and set TERRANE_OSRM_PORT"
    local wheel_dir="$base/wheel" wheel
    wheel=$(compgen -G "$wheel_dir/osrm_bindings-$OSRM_VERSION-*.whl" | head -n 1 || true)
    if [[ -z $wheel ]]; then
        ensure_command python3 python3
        python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
        note "downloading osrm-bindings $OSRM_VERSION wheel from PyPI"
        local tmp
        mkdir -p "$base"
        tmp=$(mktemp -d "$base/wheel-download.XXXXXX")
        run_logged "pip download osrm-bindings==$OSRM_VERSION" "$TERRANE_CACHE/logs/pip-download.log" \
            env PIP_ROOT_USER_ACTION=ignore python3 -m pip download --disable-pip-version-check \
            --no-deps --only-binary=:all: --python-version 3.12 \
            --platform manylinux_2_28_x86_64 "osrm-bindings==$OSRM_VERSION" -d "$tmp"
        mkdir -p "$wheel_dir"
        mv "$tmp"/osrm_bindings-*.whl "$wheel_dir/"
        rm -rf "$tmp"
        wheel=$(compgen -G "$wheel_dir/osrm_bindings-$OSRM_VERSION-*.whl" | head -n 1 || true)
        [[ -n $wheel ]] || die "pip download finished but no osrm_bindings wheel is in $wheel_dir"
    fi
    note "unpacking $(basename "$wheel")"
    ensure_command python3 python3
    local tmp
    tmp=$(mktemp -d "$base/unpack.XXXXXX")
    run_logged "unpacking $wheel" "$TERRANE_CACHE/logs/osrm-unpack.log" python3 -m zipfile -e "$wheel" "$tmp"
    # zipfile does not keep the executable bit.
    chmod +x "$tmp"/osrm/bin/*
    if ! "$tmp/osrm/bin/osrm-routed" --version >/dev/null 2>&1; then
        "$tmp/osrm/bin/osrm-routed" --version >&2 || true
        rm -rf "$tmp"
        die "the unpacked osrm-routed does not run on this machine (missing libraries? try: apt-get install libstdc++6)"
    fi
    rm -rf "$unpacked"
    mv "$tmp" "$unpacked"
}

# Extract and contract the road graph (car profile, contraction hierarchies) once per extract
# content and OSRM version; sets OSRM_DATA to the .osrm base path.
ensure_osrm_data() {
    local pbf="$TERRANE_ROOT/seed-data/monaco.osm.pbf"
    [[ -f $pbf ]] || die "missing $pbf (see seed-data/README.md for where it comes from)"
    local sha name dir
    sha=$(sha256sum "$pbf" | cut -c 1-16)
    name=$(basename "$pbf" .osm.pbf)
    dir="$TERRANE_CACHE/osrm/data/$sha-osrm$OSRM_VERSION"
    OSRM_DATA="$dir/$name.osrm"
    if [[ -f $OSRM_DATA.hsgr ]]; then
        note "road graph ready ($dir)"
        return 0
    fi
    note "preparing the road graph from $(basename "$pbf") (car profile, CH)"
    local tmp log="$TERRANE_CACHE/logs/osrm-prepare.log"
    mkdir -p "$TERRANE_CACHE/osrm/data"
    tmp=$(mktemp -d "$TERRANE_CACHE/osrm/data/prepare.XXXXXX")
    cp "$pbf" "$tmp/$name.osm.pbf"
    run_logged "osrm-extract" "$log" \
        "$OSRM_HOME/bin/osrm-extract" -p "$OSRM_HOME/share/profiles/car.lua" "$tmp/$name.osm.pbf"
    run_logged "osrm-contract" "$log" "$OSRM_HOME/bin/osrm-contract" "$tmp/$name.osrm"
    rm -rf "$dir"
    mv "$tmp" "$dir"
}

# Make sure an OSRM server answers on 127.0.0.1:TERRANE_OSRM_PORT; start osrm-routed (tracked,
# stopped when the script exits) if nothing does. Sets OSRM_URL.
ensure_osrm() {
    step "OSRM road router"
    mkdir -p "$TERRANE_CACHE/logs"
    ensure_command curl curl ca-certificates
    OSRM_URL="http://127.0.0.1:$TERRANE_OSRM_PORT"
    if osrm_answers "$OSRM_URL"; then
        note "OSRM already answers at $OSRM_URL; using it"
        return 0
    fi
    if port_in_use "$TERRANE_OSRM_PORT"; then
        die "something that is not OSRM listens on 127.0.0.1:$TERRANE_OSRM_PORT: stop it, or set TERRANE_OSRM_PORT to a free port"
    fi
    ensure_osrm_binaries
    ensure_osrm_data
    local log="$TERRANE_CACHE/logs/osrm-routed-$TERRANE_OSRM_PORT.log"
    "$OSRM_HOME/bin/osrm-routed" --algorithm ch --max-table-size "$OSRM_MAX_TABLE_SIZE" \
        --ip 127.0.0.1 --port "$TERRANE_OSRM_PORT" "$OSRM_DATA" >"$log" 2>&1 &
    local pid=$!
    track_child "$pid" osrm-routed
    wait_until 60 "osrm-routed" "$pid" "$log" osrm_answers "$OSRM_URL"
    note "osrm-routed started at $OSRM_URL (pid $pid, log $log)"
}

# ---------------------------------------------------------------------------------------------
# npm packages of web/ (MapLibre GL served by the app; playwright-core for browser tests)

ensure_web_deps() {
    step "npm packages (web/)"
    local web="$TERRANE_ROOT/web"
    [[ -f $web/package.json ]] || die "missing $web/package.json"
    ensure_command node nodejs
    ensure_command npm npm
    local need
    need=$(node_major_needed)
    if [[ -n $need ]] && (($(node_major) < need)); then
        warn "web/package.json asks for Node.js >= $need but this is $(node --version): the server's" \
            "files install fine, the browser tests will not run"
    fi
    local stamp="$web/node_modules/.package-lock.json"
    # No browser downloads at install time: tests use Debian's chromium.
    export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
    if [[ ! -f $web/package-lock.json ]]; then
        note "no package-lock.json yet: npm install"
        (cd "$web" && npm install --no-audit --no-fund --loglevel=error)
    elif [[ ! -f $stamp || $web/package-lock.json -nt $stamp || $web/package.json -nt $stamp ]]; then
        note "npm ci"
        (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
    else
        note "node_modules up to date with package-lock.json"
    fi
}

node_major() {
    node -p 'process.versions.node.split(".")[0]'
}

# The major version in web/package.json's "engines": {"node": ">=N"}, if any.
node_major_needed() {
    sed -n 's/.*"node": *">= *\([0-9][0-9]*\).*/\1/p' "$TERRANE_ROOT/web/package.json" | head -n 1
}

# Stop unless Node.js is at least what web/package.json asks for (Debian 12 ships 18).
require_node_version() {
    local need
    need=$(node_major_needed)
    [[ -z $need ]] || (($(node_major) >= need)) ||
        die "Node.js $need or newer is needed (this is $(node --version); Debian 12's nodejs is 18):" \
            "install Node.js $need, e.g. from NodeSource's Debian repository"
}

# ---------------------------------------------------------------------------------------------
# Rust build

# Make sure cargo (Rust >= the crate's rust-version) is usable; sets CARGO_TARGET_DIR.
ensure_rust() {
    if ! command -v cargo >/dev/null 2>&1 && [[ -x $HOME/.cargo/bin/cargo ]]; then
        PATH="$HOME/.cargo/bin:$PATH"
    fi
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found: install Rust 1.89 or newer with rustup (https://rustup.rs); Debian's rustc is too old"
    local need have
    need=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$TERRANE_ROOT/Cargo.toml" | head -n 1)
    have=$(rustc --version | awk '{print $2}')
    if [[ -n $need ]] && ! version_at_least "$have" "$need"; then
        die "Rust $have is older than the $need this crate needs: rustup update stable"
    fi
    # rustc links with the system C compiler.
    command -v cc >/dev/null 2>&1 || apt_install gcc libc6-dev
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$TERRANE_CACHE/target}"
}

# version_at_least HAVE NEED: dotted versions, numeric comparison.
version_at_least() {
    [[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1) == "$2" ]]
}

# build_terrane release|debug: cargo build the server binary; sets TERRANE_BIN.
build_terrane() {
    local profile=$1 flags=()
    step "build terrane ($profile)"
    ensure_rust
    [[ $profile == release ]] && flags=(--release)
    (cd "$TERRANE_ROOT" && cargo build --locked "${flags[@]}" --bin terrane) ||
        die "cargo build failed"
    TERRANE_BIN="$CARGO_TARGET_DIR/$profile/terrane"
    [[ -x $TERRANE_BIN ]] || die "cargo build succeeded but $TERRANE_BIN is missing"
    note "binary: $TERRANE_BIN (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
}

# ---------------------------------------------------------------------------------------------
# Running terrane

# terrane_cmd ARGS...: run the binary from the repository root (its default paths are relative).
terrane_cmd() {
    (cd "$TERRANE_ROOT" && "$TERRANE_BIN" "$@")
}

# The demo's two CRM connections (demo-hubspot, demo-salesforce) pointing at a CRM simulator at
# $1, with the simulator's development credentials, HubSpot portal id and Salesforce path token
# (docs/crm-simulator.md); skips those that exist. Needs TERRANE_SECRET_KEY and DATABASE_URL.
add_demo_connections() {
    local sim_url=$1 existing
    existing=$(terrane_cmd connection list 2>/dev/null || true)
    if [[ $existing != *demo-hubspot* ]]; then
        TERRANE_CONNECTION_WEBHOOK_SECRET=terrane-dev-hubspot-client-secret \
        TERRANE_CONNECTION_CLIENT_ID=terrane-dev-hubspot-client \
        TERRANE_CONNECTION_CLIENT_SECRET=terrane-dev-hubspot-client-secret \
        TERRANE_CONNECTION_REFRESH_TOKEN=terrane-dev-hubspot-refresh-token \
            terrane_cmd connection add --kind hubspot --name demo-hubspot --api-base-url "$sim_url" \
            --org-id 4410001
    fi
    if [[ $existing != *demo-salesforce* ]]; then
        TERRANE_CONNECTION_WEBHOOK_SECRET=unused-by-salesforce \
        TERRANE_CONNECTION_CLIENT_ID=terrane-dev-salesforce-client \
        TERRANE_CONNECTION_CLIENT_SECRET=terrane-dev-salesforce-client-secret \
        TERRANE_CONNECTION_REFRESH_TOKEN=terrane-dev-salesforce-refresh-token \
        TERRANE_CONNECTION_PATH_TOKEN=terrane-dev-salesforce-path-token \
            terrane_cmd connection add --kind salesforce --name demo-salesforce \
            --api-base-url "$sim_url" --org-id 00DSm00000TeRRA
    fi
}

# Migrate and seed the database at DATABASE_URL (both idempotent). Without a committed
# seed-data/demo-crm.json, the dataset is built from the OSM extract into TERRANE_CACHE
# (never into the repository).
migrate_and_seed() {
    local seed="$TERRANE_ROOT/seed-data/demo-crm.json"
    note "terrane migrate"
    terrane_cmd migrate || die "terrane migrate failed"
    if [[ ! -f $seed ]]; then
        seed="$TERRANE_CACHE/seed/demo-crm.json"
        note "no seed-data/demo-crm.json in the repository: building $seed from the OSM extract"
        mkdir -p "$(dirname "$seed")"
        terrane_cmd seed-data build --out "$seed" || die "terrane seed-data build failed"
    fi
    note "terrane seed"
    terrane_cmd seed --file "$seed" || die "terrane seed failed"
}

http_status() {
    curl -s -o /dev/null -m 3 -w '%{http_code}' "$1" 2>/dev/null || true
}

readyz_ok() {
    [[ $(http_status "$1/readyz") == 200 ]]
}

# start_terrane_server BIND [LOG]: run `terrane serve` in the background (tracked) and wait
# for /readyz to answer 200. Without LOG its output goes to this script's output. Sets
# TERRANE_SERVER_PID.
start_terrane_server() {
    local bind=$1 log=${2:-}
    if [[ -n $log ]]; then
        (cd "$TERRANE_ROOT" && TERRANE_BIND=$bind exec "$TERRANE_BIN" serve) >"$log" 2>&1 &
    else
        (cd "$TERRANE_ROOT" && TERRANE_BIND=$bind exec "$TERRANE_BIN" serve) &
    fi
    TERRANE_SERVER_PID=$!
    track_child "$TERRANE_SERVER_PID" "terrane serve"
    wait_until 60 "terrane serve" "$TERRANE_SERVER_PID" "$log" readyz_ok "http://$bind"
}

# port_in_use PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A TCP port nobody listens on at 127.0.0.1 right now.
free_port() {
    ensure_command python3 python3
    python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}
