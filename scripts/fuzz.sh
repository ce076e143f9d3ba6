#!/usr/bin/env bash
# Fuzzes the focus's stanza handling, reservation API answers and configuration with
# cargo-fuzz (libFuzzer on the nightly toolchain). See fuzz/README.md.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]   every target (or those named) for N s (default 20)
#   FUZZ_RUNS=10000000 scripts/fuzz.sh [target...]     every target for N executions instead
#
# Each target starts from its seed corpus (fuzz/seeds/<target>/) copied to a scratch corpus,
# so the committed seeds never change. Exits non-zero if any target crashed (a panic, a
# timeout or a stack overflow); the input is saved under fuzz/artifacts/<target>/ and
# `cargo +nightly fuzz tmin <target> <file>` minimises it.
#
# Environment:
#   FUZZ_RUNS=N             run each target for N executions (-runs=N) instead of a time limit
#   FUZZ_SANITIZER=none     or address (slower to build and run; see fuzz/README.md)
#   FUZZ_BUILD=release      or dev (unoptimised: quicker to build from scratch, slower to run);
#                           the default is dev for time-limited runs, release with FUZZ_RUNS
#   FUZZ_WORK=DIR           keep scratch corpora and logs in DIR (default: a temporary directory)
#   FUZZ_BUILD_JOBS=1       parallel rustc jobs for the build (the CI machine has 2 shared cores)
#   FUZZ_MAX_LEN=4096       longest input libFuzzer generates (a whole configuration file fits)
set -euo pipefail

# All in a function, so that bash has read the whole script before it runs: editing it during
# a long campaign cannot change the running one.
main() {
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"

seconds=20
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
    seconds=$1
    shift
fi
sanitizer="${FUZZ_SANITIZER:-none}"
export CARGO_BUILD_JOBS="${FUZZ_BUILD_JOBS:-1}"

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz.sh: cargo-fuzz needs the nightly toolchain: rustup toolchain install nightly --profile minimal" >&2
    exit 1
fi
if ! command -v cargo-fuzz >/dev/null; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
fi

# -a: debug assertions and overflow checks, as in `cargo test`: an overflow is a finding.
build=(-s "$sanitizer" -a)
profile="${FUZZ_BUILD:-$([[ -n ${FUZZ_RUNS:-} ]] && echo release || echo dev)}"
case $profile in
    release) ;;
    dev) build+=(--dev) ;;
    *) echo "fuzz.sh: FUZZ_BUILD must be release or dev, not $profile" >&2; exit 1 ;;
esac
started=$SECONDS
cargo +nightly fuzz build "${build[@]}"
echo "fuzz targets built in $((SECONDS - started)) s ($profile, sanitizer $sanitizer)"

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

if [[ -n ${FUZZ_WORK:-} ]]; then
    work="$FUZZ_WORK"
    mkdir -p "$work"
else
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
fi

if [[ -n ${FUZZ_RUNS:-} ]]; then
    limit=(-runs="$FUZZ_RUNS")
else
    limit=(-max_total_time="$seconds")
fi

failed=()
for target in "${targets[@]}"; do
    seeds="$root/fuzz/seeds/$target"
    if [[ ! -d $seeds ]]; then
        echo "fuzz.sh: no seed corpus $seeds for target $target" >&2
        exit 1
    fi
    corpus="$work/corpus/$target"
    mkdir -p "$corpus"
    cp "$seeds"/* "$corpus/"
    log="$work/$target.log"
    # One process, one job: the machine is shared. -timeout catches inputs that hang the core
    # (a busy loop).
    status=0
    cargo +nightly fuzz run "${build[@]}" "$target" "$corpus" -- \
        "${limit[@]}" -max_len="${FUZZ_MAX_LEN:-4096}" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
    if [[ -z $runs ]]; then
        # Without final stats (a crash), the last status line has the count: "#12345  NEW …".
        runs="$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')"
    fi
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
    units="$(find "$corpus" -type f | wc -l)"
    if [[ $status -eq 0 ]]; then
        echo "fuzz $target: ${runs:-?} executions, ${rate:-?} exec/s, corpus $units inputs, no crash"
    else
        echo "fuzz $target: CRASH after ${runs:-?} executions (exit $status); log $log" >&2
        grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written to|Base64' "$log" | head -20 >&2 || true
        failed+=("$target")
        if [[ -z ${FUZZ_WORK:-} ]]; then
            # The scratch directory goes away; keep the log next to the artifact.
            mkdir -p "$root/fuzz/artifacts/$target"
            cp "$log" "$root/fuzz/artifacts/$target/"
        fi
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz.sh: crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
}

main "$@"
