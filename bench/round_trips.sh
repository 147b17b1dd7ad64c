#!/usr/bin/env bash
# bench/round_trips.sh: sequential round trips, bucket-server next to the
# seed's Python server, on one machine and in one run.
#
# Issue 5 sets sequential round trips at "a third of the seed's Python
# server's latency". This measures both with the same client (bkt-rtt: one
# line out, one line back, one request in flight, TCP_NODELAY) over
# 127.0.0.1:
#   - the seed's server (bench/seed_server.py, seed 004's recv/sendall
#     loop in CPython), echoing HELLO back;
#   - bkt-serve over MemStore, answering HELLO with its 100 line.
# Each in four settings, RUNS runs each (default 5, servers alternating):
#   idle       nothing pinned, nothing else running: both vCPUs may halt
#              between messages, and each wake-up crosses CPUs;
#   one-core   server and client pinned to one CPU (taskset): every wake-up
#              is a context switch on a running CPU;
#   busy-core  a busy loop pinned to the last CPU, the rest as in idle (the
#              condition the first round measured in, with fuzzers running);
#   busy-poll  as idle, but the client polls its socket instead of sleeping
#              (a diagnostic: it keeps one core busy).
# Prints a table of mean and median microseconds per round trip and round
# trips per second (median run), the CPU time each server spent per round
# trip, and the seed's latency over bucket-server's.
#
#   bash bench/round_trips.sh          # about a minute once built
#   RUNS=9 COUNT=50000 bash bench/round_trips.sh
#
# Needs python3 and taskset (util-linux); binds 127.0.0.1 only and stops
# everything it started on exit.
set -euo pipefail

RUNS=${RUNS:-5}
COUNT=${COUNT:-20000}
WARM_UP=1000
WORKSPACE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$WORKSPACE/target}"

# log, die, PIDS, TMP, cleanup on exit, median.
source "$WORKSPACE/bench/lib.sh"

command -v python3 >/dev/null || die "python3 is missing (apt-get install python3)"
command -v taskset >/dev/null || die "taskset is missing (apt-get install util-linux)"
# The CPUs this script may use, by their ids (a container or a CI job may
# be given CPUs 2-3, say, not 0-1).
ALL_CPUS=$(python3 -c 'import os; print(",".join(map(str, sorted(os.sched_getaffinity(0)))))')
CPUS=$(tr ',' '\n' <<<"$ALL_CPUS" | wc -l)
((CPUS >= 2)) || die "needs at least 2 CPUs to compare pinned and unpinned round trips"
FIRST_CPU=${ALL_CPUS%%,*}
LAST_CPU=${ALL_CPUS##*,}


log "building bkt-serve and bkt-rtt (release)"
cargo build --quiet --release -p bucket-bench --bins --manifest-path "$WORKSPACE/Cargo.toml" >&2
BKT_SERVE="$TARGET_DIR/release/bkt-serve"
BKT_RTT="$TARGET_DIR/release/bkt-rtt"
TMP=$(mktemp -d /tmp/bkt-rtt.XXXXXX)

# ---- servers -------------------------------------------------------------
SEED_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$WORKSPACE/bench/seed_server.py" "$SEED_PORT" >/dev/null 2>"$TMP/seed.log" &
PIDS+=("$!")
SEED_PID=$!
"$BKT_SERVE" --listen 127.0.0.1:0 --mem >"$TMP/bkt.out" 2>"$TMP/bkt.log" &
PIDS+=("$!")
BKT_PID=$!
for _ in $(seq 100); do
    [[ -s "$TMP/bkt.out" ]] && python3 -c "import socket; socket.create_connection(('127.0.0.1', $SEED_PORT)).close()" 2>/dev/null && break
    sleep 0.1
done
BKT_ADDR=$(awk '/^listening on / {print $3}' "$TMP/bkt.out")
[[ -n "$BKT_ADDR" ]] || die "bkt-serve did not start; see $TMP/bkt.log"
kill -0 "$SEED_PID" 2>/dev/null || die "the seed server did not start: $(cat "$TMP/seed.log")"
declare -A ADDR=([seed]="127.0.0.1:$SEED_PORT" [bucket]="$BKT_ADDR")
declare -A PID_OF=([seed]="$SEED_PID" [bucket]="$BKT_PID")

# ---- settings ------------------------------------------------------------
BUSY_PID=""
pin_servers() { # cpus: every thread of both servers (new threads inherit)
    local s
    for s in seed bucket; do taskset -a -p -c "$1" "${PID_OF[$s]}" >/dev/null; done
}
setting_on() {
    case $1 in
    one-core) pin_servers "$FIRST_CPU" ;;
    busy-core)
        taskset -c "$LAST_CPU" bash -c 'while :; do :; done' &
        BUSY_PID=$!
        PIDS+=("$BUSY_PID")
        ;;
    esac
}
setting_off() {
    case $1 in
    one-core) pin_servers "$ALL_CPUS" ;;
    busy-core)
        kill "$BUSY_PID"
        wait "$BUSY_PID" 2>/dev/null || true
        # Reaped: its PID may be reused, so the exit cleanup must not kill it.
        local kept=() pid
        for pid in "${PIDS[@]}"; do [[ $pid == "$BUSY_PID" ]] || kept+=("$pid"); done
        PIDS=("${kept[@]}")
        ;;
    esac
}
client() { # setting server: one bkt-rtt run, its output line
    local args=(--server "${ADDR[$2]}" --count "$COUNT" --warm-up "$WARM_UP" --line HELLO)
    case $1 in
    one-core) taskset -c "$FIRST_CPU" "$BKT_RTT" "${args[@]}" ;;
    busy-poll) "$BKT_RTT" "${args[@]}" --busy-poll ;;
    *) "$BKT_RTT" "${args[@]}" ;;
    esac
}
cpu_ticks() { # pid: user + system CPU of the process, its ended threads included
    awk '{print $14 + $15}' "/proc/$1/stat"
}
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }

SETTINGS=(idle one-core busy-core busy-poll)
declare -A MEAN P50 P99 TICKS
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "measuring: $COUNT round trips per run, $RUNS runs per server and setting"
for setting in "${SETTINGS[@]}"; do
    setting_on "$setting"
    for ((i = 0; i < RUNS; i++)); do
        for server in seed bucket; do
            before=$(cpu_ticks "${PID_OF[$server]}")
            out=$(client "$setting" "$server") || die "bkt-rtt failed against $server ($setting)"
            key="$setting/$server"
            TICKS[$key]=$((${TICKS[$key]:-0} + $(cpu_ticks "${PID_OF[$server]}") - before))
            MEAN[$key]+="$(field mean_us <<<"$out") "
            P50[$key]+="$(field p50_us <<<"$out") "
            P99[$key]+="$(field p99_us <<<"$out") "
        done
    done
    setting_off "$setting"
    for server in seed bucket; do log "  $setting/$server: mean µs ${MEAN[$setting/$server]}"; done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- table ---------------------------------------------------------------
echo "== sequential round trips over 127.0.0.1: $COUNT per run, median of $RUNS runs =="
echo "machine: $CPUS cores, $(uname -r); load average $LOAD_START at start, $LOAD_END at end"
# In a VM, whether an idle vCPU polls before it halts decides the idle row.
HALTPOLL=/sys/module/haltpoll/parameters/guest_halt_poll_ns
if [[ -r $HALTPOLL ]]; then
    echo "cpuidle: $(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo '?'), guest_halt_poll_ns=$(cat "$HALTPOLL")"
fi
echo "client: bkt-rtt (one HELLO line out, one line back, TCP_NODELAY); $(python3 --version)"
echo
CLK_TCK=$(getconf CLK_TCK)
printf '%-10s %-24s %8s %8s %8s %8s %12s   %s\n' setting server "mean µs" "p50 µs" "p99 µs" "per s" "server CPU µs" "seed/bucket"
for setting in "${SETTINGS[@]}"; do
    seed_mean=$(median <<<"${MEAN[$setting/seed]}")
    for server in seed bucket; do
        key="$setting/$server"
        mean=$(median <<<"${MEAN[$key]}")
        label="seed 004 (Python echo)"
        ratio=""
        if [[ $server == bucket ]]; then
            label="bucket-server HELLO"
            ratio=$(awk -v s="$seed_mean" -v b="$mean" 'BEGIN {printf "%.2fx", s / b}')
        fi
        cpu=$(awk -v t="${TICKS[$key]}" -v hz="$CLK_TCK" -v n=$((RUNS * (COUNT + WARM_UP))) \
            'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
        printf '%-10s %-24s %8.2f %8.2f %8.2f %8.0f %12s   %s\n' "$setting" "$label" "$mean" \
            "$(median <<<"${P50[$key]}")" "$(median <<<"${P99[$key]}")" \
            "$(awk -v m="$mean" 'BEGIN {print 1e6 / m}')" "$cpu" "$ratio"
    done
done
echo
echo "notes:"
echo "- seed/bucket: the seed server's mean latency over bucket-server's (the target asks 3x)."
echo "- idle: nothing pinned. one-core: both servers and the client on CPU $FIRST_CPU. busy-core: a busy"
echo "  loop on CPU $LAST_CPU. busy-poll: the client polls instead of sleeping (burns a core)."
echo "- per s = 1e6 / mean µs; percentiles are per round trip within a run (median over runs)."
echo "- server CPU: the server process's user + system time (/proc/PID/stat, $CLK_TCK Hz ticks) over"
echo "  every round trip of the setting, warm-up included: its own share of a round trip, kernel"
echo "  send and receive paths included; the rest is the client and the wake-ups between them."
