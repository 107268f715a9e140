#!/usr/bin/env bash
# Upload throughput of `relops artifact upload` (1 GiB, end to end, to a server on this
# machine) against `openssl dgst -sha256` on the same file, in the same run; and the
# server's peak RSS above idle during the uploads.
#
#   bench/upload.sh [SIZE_MIB] [RUNS]      (defaults: 1024, 3)
#
# Prints one line per run and a summary with the ratio (target: >= 0.8) and the RSS
# figure (target: < 64 MiB above idle). Uses the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
RUNS=${2:-3}
cargo build --release -q -p relops
BIN=${CARGO_TARGET_DIR:-target}/release/relops

WORK=$(mktemp -d /tmp/relops-bench.XXXXXX)
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

TOKEN=$("$BIN" init --data-dir "$WORK/data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_token"])')
"$BIN" serve --data-dir "$WORK/data" --listen 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVER_PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
export RELOPS_URL=$(sed -n 's/^relops listening on //p' "$WORK/serve.out")
export RELOPS_TOKEN=$TOKEN
"$BIN" release create 2.1.0 --go-live 2027-03-15 >/dev/null

FILE="$WORK/wizard-2.1.0-macos-universal.dmg"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$FILE"
cat "$FILE" >/dev/null   # page cache warm for both contenders
BYTES=$(stat -c %s "$FILE")

rss_kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
IDLE=$(rss_kib "$SERVER_PID" VmRSS)

now() { date +%s.%N; }
ssl=(); up=()
for i in $(seq 1 "$RUNS"); do
  t0=$(now); openssl dgst -sha256 "$FILE" >/dev/null; t1=$(now)
  "$BIN" artifact upload 2.1.0 --platform macos-universal "$FILE" --json >/dev/null; t2=$(now)
  s=$(echo "$t1 - $t0" | bc -l); u=$(echo "$t2 - $t1" | bc -l)
  ssl+=("$s"); up+=("$u")
  printf 'run %d: openssl dgst -sha256 %.3f s (%.0f MB/s), relops artifact upload %.3f s (%.0f MB/s)\n' \
    "$i" "$s" "$(echo "$BYTES / $s / 1000000" | bc -l)" "$u" "$(echo "$BYTES / $u / 1000000" | bc -l)"
done
PEAK=$(rss_kib "$SERVER_PID" VmHWM)

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
MS=$(median "${ssl[@]}"); MU=$(median "${up[@]}")
printf '\nfile: %d MiB, %d runs, medians\n' "$SIZE_MIB" "$RUNS"
printf 'openssl dgst -sha256:   %.0f MB/s\n' "$(echo "$BYTES / $MS / 1000000" | bc -l)"
printf 'relops artifact upload: %.0f MB/s\n' "$(echo "$BYTES / $MU / 1000000" | bc -l)"
printf 'ratio upload/openssl:   %.2f  (target >= 0.80)\n' "$(echo "$MS / $MU" | bc -l)"
printf 'server RSS: idle %.1f MiB, peak %.1f MiB, peak above idle %.1f MiB  (target < 64 MiB)\n' \
  "$(echo "$IDLE / 1024" | bc -l)" "$(echo "$PEAK / 1024" | bc -l)" "$(echo "($PEAK - $IDLE) / 1024" | bc -l)"
