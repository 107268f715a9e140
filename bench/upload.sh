#!/usr/bin/env bash
# Upload throughput of `relops artifact upload` (1 GiB, end to end, to a server on this
# machine) against `openssl dgst -sha256` on the same file, in the same run; and the
# server's peak RSS above idle during the uploads.
#
#   bench/upload.sh [SIZE_MIB] [RUNS]      (defaults: 1024, 3)
#
# Three contenders per run, page cache warm:
#   openssl   `openssl dgst -sha256 FILE` — the reference the issue names;
#   disk      `cp FILE X && sync X` — what this disk allows for a durable write;
#   relops    `relops artifact upload` to a server whose data dir is on this disk (blobs
#             fsync'd before the 201: bounded by the disk), and once more to a server whose
#             data dir is on tmpfs (/dev/shm), which isolates the software path (HTTP,
#             hashing, staging, signing, database) from the disk, as openssl's read from the
#             page cache is.
# Uses the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MIB=${1:-1024}
RUNS=${2:-3}
cargo build --release -q -p relops
BIN=${CARGO_TARGET_DIR:-target}/release/relops

WORK=$(mktemp -d /tmp/relops-bench.XXXXXX)
SHM=$(mktemp -d /dev/shm/relops-bench.XXXXXX)
SERVER_PID=""
stop() { if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; fi; }
trap 'stop; rm -rf "$WORK" "$SHM"' EXIT

FILE="$WORK/wizard-2.1.0-macos-universal.dmg"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$FILE"
BYTES=$(stat -c %s "$FILE")

rss_kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
now() { date +%s.%N; }
mbps() { echo "$BYTES / $1 / 1000000" | bc -l; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# start_server DIR: a fresh data dir in DIR and its server; sets RELOPS_URL/TOKEN.
start_server() {
  local data="$1/data"
  export RELOPS_TOKEN=$("$BIN" init --data-dir "$data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_token"])')
  "$BIN" serve --data-dir "$data" --listen 127.0.0.1:0 >"$1/serve.out" 2>"$1/serve.err" &
  SERVER_PID=$!
  for _ in $(seq 1 100); do grep -q "listening on" "$1/serve.out" 2>/dev/null && break; sleep 0.1; done
  export RELOPS_URL=$(sed -n 's/^relops listening on //p' "$1/serve.out")
}

# upload I: a new release 2.1.I and a file whose first byte is I, so that every run stores
# a new blob (uploading the same bytes again would replace an identical blob instead).
upload() {
  printf "\\$(printf '%03o' "$1")" | dd of="$FILE" bs=1 seek=0 conv=notrunc status=none
  "$BIN" release create "2.1.$1" --go-live 2027-03-15 >/dev/null
  "$BIN" artifact upload "2.1.$1" --platform macos-universal "$FILE" --json >/dev/null
}

ssl=(); disk=(); durable=(); soft=()
start_server "$WORK"
IDLE=$(rss_kib "$SERVER_PID" VmRSS)
for i in $(seq 1 "$RUNS"); do
  cat "$FILE" >/dev/null
  t0=$(now); openssl dgst -sha256 "$FILE" >/dev/null; t1=$(now)
  cp "$FILE" "$WORK/copy" && sync "$WORK/copy"; t2=$(now); rm -f "$WORK/copy"
  upload "$i"; t3=$(now)
  ssl+=("$(echo "$t1 - $t0" | bc -l)"); disk+=("$(echo "$t2 - $t1" | bc -l)"); durable+=("$(echo "$t3 - $t2" | bc -l)")
  printf 'run %d: openssl %.0f MB/s, disk cp+sync %.0f MB/s, relops upload (durable) %.0f MB/s\n' \
    "$i" "$(mbps "${ssl[-1]}")" "$(mbps "${disk[-1]}")" "$(mbps "${durable[-1]}")"
done
PEAK=$(rss_kib "$SERVER_PID" VmHWM)
stop

start_server "$SHM"
for i in $(seq 1 "$RUNS"); do
  cat "$FILE" >/dev/null
  t0=$(now); upload "$((i + 100))"; t1=$(now)
  soft+=("$(echo "$t1 - $t0" | bc -l)")
  printf 'run %d: relops upload (tmpfs) %.0f MB/s\n' "$i" "$(mbps "${soft[-1]}")"
done
stop

MS=$(median "${ssl[@]}"); MD=$(median "${disk[@]}"); MU=$(median "${durable[@]}"); MF=$(median "${soft[@]}")
printf '\nfile: %d MiB, %d runs each, medians\n' "$SIZE_MIB" "$RUNS"
printf 'openssl dgst -sha256:                %5.0f MB/s\n' "$(mbps "$MS")"
printf 'disk (cp + sync):                    %5.0f MB/s\n' "$(mbps "$MD")"
printf 'relops artifact upload, durable:     %5.0f MB/s  ratio to openssl %.2f, to disk %.2f\n' \
  "$(mbps "$MU")" "$(echo "$MS / $MU" | bc -l)" "$(echo "$MD / $MU" | bc -l)"
printf 'relops artifact upload, tmpfs:       %5.0f MB/s  ratio to openssl %.2f  (target >= 0.80)\n' \
  "$(mbps "$MF")" "$(echo "$MS / $MF" | bc -l)"
printf 'server RSS (durable runs): idle %.1f MiB, peak %.1f MiB, above idle %.1f MiB  (target < 64 MiB)\n' \
  "$(echo "$IDLE / 1024" | bc -l)" "$(echo "$PEAK / 1024" | bc -l)" "$(echo "($PEAK - $IDLE) / 1024" | bc -l)"
