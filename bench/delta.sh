#!/usr/bin/env bash
# Delta updates: relops's windowed zstd delta against `zstd --patch-from -19 --long` and
# bsdiff, on two consecutive releases of a real native program, in the same run.
#
#   bench/delta.sh
#
# Corpus: the ruff 0.8.0 and 0.8.1 wheels from PyPI (manylinux x86_64; a 31 MB native
# binary each), packaged as an uncompressed container (zip -0: how a .dmg/.msi holds
# files before compression) and as a compressed one (tar.gz). For each: the delta's size as
# a fraction of the full artifact, time to build and to apply, all byte-identical checked.
# Then the peak memory (RSS, /usr/bin/time) of applying a delta to a 200 MB artifact, above
# the same binary idle (target < 64 MiB: the apply streams block by block).
# Needs: zstd, bsdiff, /usr/bin/time (apt-get install zstd bsdiff time), pip (PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
for t in zstd bsdiff bspatch /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "needs $t: apt-get install zstd bsdiff time" >&2; exit 2; }
done
cargo build --release -q -p relops-delta --example delta
D=${CARGO_TARGET_DIR:-target}/release/examples/delta
W=$(mktemp -d /tmp/relops-delta.XXXXXX)
trap 'rm -rf "$W"' EXIT
PIP=${PIP:-pip3}
for v in 0.8.0 0.8.1; do
  "$PIP" download -q --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 \
    --python-version 3.12 "ruff==$v" -d "$W" >/dev/null
  mkdir -p "$W/x$v"
  (cd "$W/x$v" && python3 -m zipfile -e "$W"/ruff-$v-*.whl . && zip -q -0 -r "$W/stored-$v.zip" . && tar czf "$W/gz-$v.tar.gz" .)
done

secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
row() { # NAME OLD NEW
  local full z b r tz tb tr az ab ar
  full=$(stat -c%s "$3")
  tz=$(secs zstd -q -f -19 --long=27 --patch-from="$2" "$3" -o "$W/z.patch")
  az=$(secs zstd -q -f -d --long=27 --patch-from="$2" "$W/z.patch" -o "$W/z.out")
  cmp -s "$W/z.out" "$3"
  tb=$(secs bsdiff "$2" "$3" "$W/b.patch")
  ab=$(secs bspatch "$2" "$W/b.out" "$W/b.patch")
  cmp -s "$W/b.out" "$3"
  tr=$(secs "$D" diff "$2" "$3" "$W/r.delta")
  ar=$(secs "$D" apply "$2" "$W/r.delta" "$W/r.out")
  cmp -s "$W/r.out" "$3"
  z=$(stat -c%s "$W/z.patch"); b=$(stat -c%s "$W/b.patch"); r=$(stat -c%s "$W/r.delta")
  printf '%s (%d bytes): relops %d (%.3f, build %.1f s, apply %.2f s) | zstd --patch-from %d (%.3f, %.1f s, %.2f s) | bsdiff %d (%.3f, %.1f s, %.2f s) | relops/zstd %.2f, relops/bsdiff %.2f\n' \
    "$1" "$full" "$r" "$(echo "$r/$full" | bc -l)" "$tr" "$ar" "$z" "$(echo "$z/$full" | bc -l)" "$tz" "$az" \
    "$b" "$(echo "$b/$full" | bc -l)" "$tb" "$ab" "$(echo "$r/$z" | bc -l)" "$(echo "$r/$b" | bc -l)"
}
echo "sizes as a fraction of the full artifact; every rebuild byte-identical:"
row "uncompressed (zip -0)" "$W/stored-0.8.0.zip" "$W/stored-0.8.1.zip"
row "compressed (tar.gz)  " "$W/gz-0.8.0.tar.gz" "$W/gz-0.8.1.tar.gz"

# 200 MB: random bytes with four small patches (the apply's memory does not depend on them).
head -c 200000000 /dev/urandom >"$W/base200"
cp "$W/base200" "$W/new200"
for off in 1000000 50000000 120000000 190000000; do
  printf 'patched-bytes-here' | dd of="$W/new200" bs=1 seek=$off conv=notrunc status=none
done
DELTA_LEVEL=3 "$D" diff "$W/base200" "$W/new200" "$W/d200" >/dev/null
peak=$(/usr/bin/time -v "$D" apply "$W/base200" "$W/d200" "$W/o200" 2>&1 | awk '/Maximum resident/ {print $6}')
idle=$(/usr/bin/time -v "$D" idle 2>&1 | awk '/Maximum resident/ {print $6}')
cmp -s "$W/o200" "$W/new200"
echo "apply to a 200 MB artifact: peak RSS $((peak / 1024)) MiB, idle $((idle / 1024)) MiB: $(((peak - idle) / 1024)) MiB above idle (target < 64)"
