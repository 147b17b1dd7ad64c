# shellcheck shell=bash
# Shared by bench/compare.sh and bench/round_trips.sh (sourced, not run):
# logging, the cleanup of every process a script started and of its
# temporary folder, and the median of a list of numbers.
#
# A script appends the PID of each process it starts to PIDS and sets TMP
# to its temporary folder; on exit (normal, error, Ctrl-C or SIGTERM) every
# such process is killed and waited for, then `bench_cleanup_hook` runs if
# the script defines one, then TMP is removed.

PIDS=()
TMP=""

log() { printf '%s\n' "$*" >&2; }
die() { log "$(basename "$0"): $*"; exit 1; }

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if declare -F bench_cleanup_hook >/dev/null; then bench_cleanup_hook; fi
    if [[ -n "$TMP" && -d "$TMP" ]]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The median of the numbers on standard input (separated by spaces or
# newlines; empty input prints nothing useful).
median() {
    tr ' ' '\n' | grep . | sort -g |
        awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}
