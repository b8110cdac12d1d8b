# shellcheck shell=bash
# The CRM vendors' own webhook signers, from PyPI, in a virtualenv that the integration test
# tests/it/crm_vectors.rs runs to cross-check Terrane's signatures. Sourced, not run, after
# scripts/lib/provision.sh (it uses step, note, die, run_logged, show_log_tail, can_be_root,
# apt_install and ensure_command from there).
#
# ensure_pysigners creates $TERRANE_CACHE/pysigners once and installs the pinned versions
# below; later calls only compare a stamp file and return at once. Bumping a pin reinstalls.

PYSIGNERS_PINS=(
    "hubspot-api-client==12.0.0"
    "standardwebhooks==1.1.0"
)

ensure_pysigners() {
    step "Python webhook signers (${PYSIGNERS_PINS[*]})"
    local venv="$TERRANE_CACHE/pysigners"
    local python="$venv/bin/python"
    local stamp="$venv/.terrane-pins"
    local wanted="${PYSIGNERS_PINS[*]}"
    # A venv whose base interpreter was removed still has bin/python; `-c ''` catches that.
    if [[ -x $python && -f $stamp && "$(<"$stamp")" == "$wanted" ]] && "$python" -c '' 2>/dev/null; then
        note "up to date in $venv"
        return 0
    fi
    command -v python3 >/dev/null 2>&1 || ensure_command python3 python3
    mkdir -p "$TERRANE_CACHE/logs"
    local log="$TERRANE_CACHE/logs/pysigners.log"
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
    note "pip install ${PYSIGNERS_PINS[*]}"
    run_logged "pip install ${PYSIGNERS_PINS[*]}" "$log" \
        "$python" -m pip install --quiet --disable-pip-version-check --no-input "${PYSIGNERS_PINS[@]}"
    printf '%s' "$wanted" >"$stamp"
}
