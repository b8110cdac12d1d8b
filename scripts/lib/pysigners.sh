# shellcheck shell=bash
# Python tools from PyPI, each in its own virtualenv under $TERRANE_CACHE with pinned versions:
# the CRM vendors' own webhook signers (tests/it/crm_vectors.rs cross-checks Terrane's
# signatures with them) and schemathesis (scripts/api-check.sh). Sourced, not run, after
# scripts/lib/provision.sh (it uses step, note, die, run_logged, show_log_tail, can_be_root,
# apt_install and ensure_command from there).
#
# ensure_venv creates a virtualenv once and installs the pins; later calls only compare a
# stamp file and return at once. Bumping a pin reinstalls.

PYSIGNERS_PINS=(
    "hubspot-api-client==12.0.0"
    "standardwebhooks==1.1.0"
)
SCHEMATHESIS_PINS=(
    "schemathesis==4.32.5"
)

# ensure_venv NAME PIN...: $TERRANE_CACHE/NAME holds exactly these pins.
ensure_venv() {
    local name=$1
    shift
    local venv="$TERRANE_CACHE/$name"
    local python="$venv/bin/python"
    local stamp="$venv/.terrane-pins"
    local wanted="$*"
    # A venv whose base interpreter was removed still has bin/python; `-c ''` catches that.
    if [[ -x $python && -f $stamp && "$(<"$stamp")" == "$wanted" ]] && "$python" -c '' 2>/dev/null; then
        note "up to date in $venv"
        return 0
    fi
    command -v python3 >/dev/null 2>&1 || ensure_command python3 python3
    mkdir -p "$TERRANE_CACHE/logs"
    local log="$TERRANE_CACHE/logs/$name.log"
    if [[ ! -x $python ]] || ! "$python" -c '' 2>/dev/null; then
        rm -rf "$venv"
        note "python3 -m venv $venv"
        if ! python3 -m venv "$venv" >"$log" 2>&1; then
            # Debian ships venv's ensurepip separately.
            rm -rf "$venv"
            can_be_root || {
                show_log_tail "$log"
                die "python3 -m venv failed; on Debian install python3-venv (log: $log)"
            }
            apt_install python3-venv
            run_logged "python3 -m venv" "$log" python3 -m venv "$venv"
        fi
    fi
    note "pip install $*"
    run_logged "pip install $*" "$log" \
        "$python" -m pip install --quiet --disable-pip-version-check --no-input "$@"
    printf '%s' "$wanted" >"$stamp"
}

ensure_pysigners() {
    step "Python webhook signers (${PYSIGNERS_PINS[*]})"
    ensure_venv pysigners "${PYSIGNERS_PINS[@]}"
}

# Sets SCHEMATHESIS to the command.
ensure_schemathesis() {
    step "schemathesis (${SCHEMATHESIS_PINS[*]})"
    ensure_venv schemathesis "${SCHEMATHESIS_PINS[@]}"
    SCHEMATHESIS="$TERRANE_CACHE/schemathesis/bin/schemathesis"
}
