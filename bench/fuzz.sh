#!/usr/bin/env bash
# Runs every fuzz target of crates/relops-fuzz coverage-guided (libFuzzer through
# cargo-bolero, AddressSanitizer on) for RUNS executions each, starting from the real files
# (the seed corpus is written first), and prints executions, seconds and executions per
# second per target; a crash stops the script with libFuzzer's report and the input.
#
#   bench/fuzz.sh [RUNS] [TARGET…]      (defaults: 10000000, every target)
#
# Needs a nightly toolchain (`rustup toolchain install nightly`) and cargo-bolero
# (`cargo install cargo-bolero --no-default-features`). Builds go to
# $FUZZ_TARGET_DIR (default /var/cache/relops-fuzz). The bounded run in `cargo test`
# (stable, 1,000 generated inputs per target and variant) needs neither.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10000000}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(envelope minidump_form coverage junit lint msi mail sbom scan tuf sealed)
DIR=${FUZZ_TARGET_DIR:-/var/cache/relops-fuzz}
command -v cargo-bolero >/dev/null || { echo "needs cargo-bolero: cargo install cargo-bolero --no-default-features" >&2; exit 2; }
cargo test -q -p relops-fuzz -- --ignored write_seed_corpus >/dev/null
printf '%-14s %12s %8s %10s %6s\n' target runs seconds runs/s cov
for t in "${TARGETS[@]}"; do
    log=$(mktemp)
    start=$(date +%s.%N)
    if ! cargo bolero test "tests::$t" -p relops-fuzz --toolchain nightly --target-dir "$DIR" \
        -r "$RUNS" >"$log" 2>&1; then
        grep -a -m1 -A12 "panicked\|ERROR: " "$log" >&2 || true
        tail -40 "$log" >&2
        echo "fuzz target $t failed: the input is in crates/relops-fuzz/src/__fuzz__/tests__$t/crashes" >&2
        exit 1
    fi
    end=$(date +%s.%N)
    done_line=$(grep -a '^Done ' "$log" | tail -1)
    runs=$(echo "$done_line" | awk '{print $2}')
    cov=$(grep -a 'DONE' "$log" | tail -1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    secs=$(python3 -c "print(f'{$end - $start:.0f}')")
    rate=$(python3 -c "print(f'{$runs / max($end - $start, 1e-9):.0f}')")
    printf '%-14s %12s %8s %10s %6s\n' "$t" "$runs" "$secs" "$rate" "${cov:-?}"
    rm -f "$log"
done
