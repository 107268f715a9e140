#!/usr/bin/env bash
# Crash processing throughput (issue 30): the same dump and symbols processed by relops'
# crash processor (one symbolizer, symbol files parsed once) and by rust-minidump's own
# CLI, `minidump-stackwalk` (one process per dump, as a pipeline that shells out to it
# would run), in the same run. Prints dumps per second of each and the ratio.
#
# Needs `minidump-stackwalk` on PATH or in $STACKWALK
# (`cargo install minidump-stackwalk --version 0.27.0 --locked`).
# Usage: bench/crash.sh [N]   (N dumps each, default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
STACKWALK=${STACKWALK:-$(command -v minidump-stackwalk || true)}
[ -x "$STACKWALK" ] || { echo "minidump-stackwalk not found: set STACKWALK or install it" >&2; exit 2; }
T=${CARGO_TARGET_DIR:-target}
cargo build -q --release -p relops-crashme
cargo build -q --release -p relops-crash --example throughput
cargo build -q -p relops
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# A real crash of a release build, and its symbols in a Breakpad symbol store.
("$T/release/relops-crashme" crash "$work/crash.dmp") 2>/dev/null || true
[ -s "$work/crash.dmp" ] || { echo "relops-crashme wrote no dump" >&2; exit 1; }
"$T/debug/relops" symbols convert "$T/release/relops-crashme" -o "$work/crashme.sym" 2>/dev/null
read -r _ _ _ id name < "$work/crashme.sym"
mkdir -p "$work/symbols/$name/$id"
mv "$work/crashme.sym" "$work/symbols/$name/$id/$name.sym"

echo "dump: $(stat -c %s "$work/crash.dmp") bytes; symbols: $(stat -c %s "$work/symbols/$name/$id/$name.sym") bytes; $N dumps each"
ours=$("$T/release/examples/throughput" "$work/crash.dmp" "$work/symbols" "$N")
echo "$ours"
"$STACKWALK" --symbols-path "$work/symbols" "$work/crash.dmp" > "$work/first.txt" 2>/dev/null
grep -q wizard_open_project "$work/first.txt" || { echo "minidump-stackwalk did not name the function" >&2; exit 1; }
start=$(date +%s.%N)
for _ in $(seq "$N"); do
  "$STACKWALK" --symbols-path "$work/symbols" "$work/crash.dmp" > /dev/null 2>&1
done
end=$(date +%s.%N)
theirs=$(echo "$N / ($end - $start)" | bc -l)
printf 'minidump-stackwalk: %d dumps in %.3f s = %.1f dumps/s\n' "$N" "$(echo "$end - $start" | bc -l)" "$theirs"
ourrate=$(echo "$ours" | head -1 | sed -E 's/.*= ([0-9.]+) dumps\/s.*/\1/')
coldrate=$(echo "$ours" | tail -1 | sed -E 's/.*= ([0-9.]+) dumps\/s.*/\1/')
printf 'ratio without the symbol cache / minidump-stackwalk: %.2f\n' "$(echo "$coldrate / $theirs" | bc -l)"
printf 'ratio relops / minidump-stackwalk: %.2f (target >= 1.0)\n' "$(echo "$ourrate / $theirs" | bc -l)"
