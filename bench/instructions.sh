#!/usr/bin/env bash
# CPU instructions per request of a public route, counted by valgrind (callgrind): the
# same for the same binary and input whatever else the machine does, so two builds can be
# compared where wall-clock figures drift by tens of percent within the hour.
#
#   RELOPS_BIN=OTHER bench/instructions.sh [PATH] [N]
#       (defaults: /tuf/wizard/metadata/timestamp.json, 20000)
#
# Publishes one release (gates, checklist, go — bench/lib.sh), then serves a copy of the
# data dir under callgrind twice per build — 2,000 and 2,000 + N requests of PATH over one
# keep-alive connection — and prints (instructions of the longer run − of the shorter) / N:
# start-up and the idle background work cancel out. Each build runs on a data dir it made
# and published itself (the same steps; a newer build's migrations would stop an older one). Without RELOPS_BIN only this build is measured.
# Needs: valgrind. Uses the release build (takes a few minutes: valgrind is ~50× slower).
set -euo pipefail
cd "$(dirname "$0")/.."
REQ=${1:-/tuf/wizard/metadata/timestamp.json}
N=${2:-20000}
command -v valgrind >/dev/null || { echo "needs valgrind: apt-get install valgrind" >&2; exit 2; }
cargo build --release -q -p relops
BIN=${CARGO_TARGET_DIR:-target}/release/relops
WORK=$(mktemp -d /tmp/relops-bench.XXXXXX)
SERVE_PID=""
trap '[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

. bench/lib.sh
prepare() { # BINARY DIR: a data dir made and published by that build (its own migrations)
  local THIS_BIN=$BIN
  BIN=$1
  BENCH_TOKENS=()
  export RELOPS_TOKEN=$("$BIN" init --data-dir "$2" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_token"])')
  bench_serve "$2"
  bench_publish 2.1.0
  kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true; SERVE_PID=""
  BIN=$THIS_BIN
}
prepare "$BIN" "$WORK/data"
[ -n "${RELOPS_BIN:-}" ] && prepare "$RELOPS_BIN" "$WORK/data-other"

count() { # BINARY REQUESTS [DATA] -> instructions of the whole run
  rm -rf "$WORK/run"; cp -a "${3:-$WORK/data}" "$WORK/run"
  RELOPS_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" \
    "$1" serve --data-dir "$WORK/run" --listen 127.0.0.1:0 >"$WORK/s.out" 2>"$WORK/s.err" &
  SERVE_PID=$!
  for _ in $(seq 1 600); do grep -q "listening on" "$WORK/s.out" 2>/dev/null && break; sleep 0.2; done
  local url; url=$(sed -n 's/^relops listening on //p' "$WORK/s.out")
  sleep 2
  python3 - "$url" "$REQ" "$2" <<'PY'
import sys, http.client, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port)
for _ in range(int(sys.argv[3])):
    c.request("GET", sys.argv[2]); r = c.getresponse(); r.read()
    assert r.status < 400, r.status
PY
  kill -INT "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true; SERVE_PID=""
  sed -n 's/^summary: //p' "$WORK/cg.out"
}
per_request() { # BINARY [DATA] -> instructions per request
  local short long
  short=$(count "$1" 2000 "${2:-}"); long=$(count "$1" $((2000 + N)) "${2:-}")
  echo $(( (long - short) / N ))
}
echo "GET $REQ, instructions per request (callgrind, $N requests):"
this=$(per_request "$BIN")
echo "  this build:  $this"
if [ -n "${RELOPS_BIN:-}" ]; then
  other=$(per_request "$RELOPS_BIN" "$WORK/data-other")
  echo "  $RELOPS_BIN: $other"
  echo "  ratio this/other: $(echo "$this $other" | awk '{printf "%.3f", $1/$2}')"
fi
