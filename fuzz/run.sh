#!/usr/bin/env bash
# Builds every fuzz target of bucket-proto and runs each for SECONDS
# (default 60). docs/fuzzing.md explains the targets and the figures.
#
#   bash fuzz/run.sh [SECONDS] [--asan] [TARGET...]
#
# TARGET names limit the run to those targets (default: all five).
# Default: `cargo fuzz run -s none` on the stable toolchain (no sanitizer,
# about six times faster; what CI runs). --asan: `cargo +nightly fuzz run`
# with AddressSanitizer, for long runs.
#
# Each target starts from its checked-in seeds (fuzz/seeds/<target>/, read
# only) plus a scratch corpus (fuzz/corpus/<target>/, git-ignored, kept
# between local runs; FUZZ_CORPUS_ROOT moves it; FUZZ_LOG_DIR moves the logs
# from fuzz/target/logs). Prints each target's final
# libFuzzer stats and exits non-zero when any target found a crash, a leak or
# a timeout; the input is then in fuzz/artifacts/<target>/ and
#   cargo fuzz run [-s none] <target> <artifact>
# reproduces it.
set -euo pipefail

all_targets=(request_line reply server_session client_session roundtrip)
usage="usage: $0 [SECONDS] [--asan] [TARGET...] (targets: ${all_targets[*]})"
seconds=60
asan=false
targets=()
for arg in "$@"; do
    case "$arg" in
        --asan) asan=true ;;
        ''|*[!0-9]*)
            if [[ " ${all_targets[*]} " == *" $arg "* ]]; then
                targets+=("$arg")
            else
                echo "$usage" >&2; exit 2
            fi
            ;;
        *) seconds=$arg ;;
    esac
done
if [ "${#targets[@]}" -eq 0 ]; then
    targets=("${all_targets[@]}")
fi

fuzz_dir="$(cd "$(dirname "$0")" && pwd)"
cd "$fuzz_dir/.."

corpus_root="${FUZZ_CORPUS_ROOT:-$fuzz_dir/corpus}"
log_dir="${FUZZ_LOG_DIR:-$fuzz_dir/target/logs}"
mkdir -p "$log_dir"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: installing it"
    cargo install cargo-fuzz --locked
fi

# libfuzzer-sys compiles libFuzzer, which is C++.
if ! command -v c++ >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "no C++ compiler (libFuzzer needs one): installing g++"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ </dev/null ||
            { apt-get update -qq </dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ </dev/null; }
    else
        echo "no C++ compiler: libFuzzer needs one (install g++ or clang)" >&2
        exit 1
    fi
fi

if $asan; then
    fuzz=(cargo +nightly fuzz)
    sanitizer=(--sanitizer address)
else
    fuzz=(cargo fuzz)
    sanitizer=(--sanitizer none)
fi

# libFuzzer options: inputs up to 12 KiB so over-long request (4096) and
# reply (8192) lines are reachable; the dictionary of BKT/1 tokens.
libfuzzer_opts=(
    -max_total_time="$seconds"
    -max_len=12288
    -rss_limit_mb=2048
    -timeout=10
    -dict="$fuzz_dir/bkt.dict"
    -print_final_stats=1
)

echo "=== building ${#targets[@]} fuzz targets (${fuzz[*]} ${sanitizer[*]})"
"${fuzz[@]}" build "${sanitizer[@]}"

failed=()
for t in "${targets[@]}"; do
    corpus="$corpus_root/$t"
    log="$log_dir/$t.log"
    mkdir -p "$corpus"
    echo "=== $t: ${seconds}s"
    status=0
    "${fuzz[@]}" run "${sanitizer[@]}" "$t" "$corpus" "$fuzz_dir/seeds/$t" \
        -- "${libfuzzer_opts[@]}" >"$log" 2>&1 || status=$?
    # The last status line (DONE, or the last pulse before a crash) and the
    # final stats.
    grep -E '^#[0-9]+' "$log" | tail -n 1 || true
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
    echo "corpus: $(find "$corpus" -type f | wc -l) files in $corpus"
    if [ "$status" -ne 0 ]; then
        echo "!!! $t failed (exit $status); the end of $log:"
        tail -n 60 "$log"
        failed+=("$t")
    fi
done

if [ "${#failed[@]}" -ne 0 ]; then
    echo "=== fuzzing found problems in: ${failed[*]} (inputs in fuzz/artifacts/)"
    exit 1
fi
echo "=== fuzzing: ${#targets[@]} targets ran ${seconds}s each, no crash"
