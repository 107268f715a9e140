#!/usr/bin/env bash
# Ingest throughput: small gzip'd Sentry session envelopes into relops (SQLite, durable
# acknowledgement) vs a bare axum handler that answers 200 without work
# (crates/relops-server/examples/bare_axum.rs). Same generator (wrk, 1 thread, a Lua script
# cycling through N pre-made envelopes, each ending a distinct session, so every request
# is a real write until the cycle repeats), same run, alternating. Then the latency at 80 %
# of relops' measured throughput: crates/relops-server/examples/paced_load.rs sends fresh
# envelopes at that fixed rate (open loop, timed from when each was due) and prints p99,
# then the same against the bare handler (the floor the machine and generator set).
#
#   bench/ingest.sh [DURATION_S] [CONNECTIONS] [ENVELOPES]   (defaults: 10, 32, 700000)
#
# CRASH_LOAD=R sends R minidump uploads per second beside the runs (see below).
#
# PACED_RATE=R paces at R requests/s instead of 80 % of the measured throughput, and
# PACED_SECONDS=S for S seconds instead of DURATION_S: a run much longer than the fold's
# lag (10 s) shows whether a latency holds with all of the fold's work inside the window.
#
# PACED_TRACE=FILE makes the paced runs write, per 100 ms of the run, the requests due and
# their slowest latency (the bare handler's run overwrites relops'; run paced_load by hand
# to keep both): ramps that line up with folds are the fold competing with the requests.
# Its first line is the run's start as Unix time, to line up with the server's log
# (RELOPS_LOG=relops_ops::services::ingest_writer=debug logs each fold).
#
# RELOPS_DATABASE_URL=postgres://… runs relops on PostgreSQL instead (an empty database:
# the script creates a release; the PostgreSQL path writes each batch directly, no journal).
#
# Needs: wrk. Uses the release build (RELOPS_BIN=FILE: another relops binary, for an A/B
# against a build kept from before a change — run both back to back, alternating, since
# this machine's speed drifts by tens of percent within the hour).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONNS=${2:-32}
N=${3:-700000}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 2; }
cargo build --release -q -p relops
cargo build --release -q -p relops-server --example bare_axum --example paced_load
T=${CARGO_TARGET_DIR:-target}/release
RELOPS=${RELOPS_BIN:-$T/relops}
WORK=$(mktemp -d /tmp/relops-bench.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$WORK"' EXIT

export RELOPS_TOKEN=$("$RELOPS" init --data-dir "$WORK/data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_token"])')
# RELOPS_METRICS=off: the same server recording no metrics ([http] metrics = false; bench/metrics.sh).
if [ "${RELOPS_METRICS:-on}" = off ]; then sed -i 's/^metrics = true$/metrics = false/' "$WORK/data/relops.toml"; fi
RELOPS_LOG=warn "$RELOPS" serve --data-dir "$WORK/data" --listen 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
export RELOPS_URL=$(sed -n 's/^relops listening on //p' "$WORK/serve.out")
"$RELOPS" release create 2.1.0 --go-live 2027-03-15 >/dev/null
KEY=$("$RELOPS" ingest dsn --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"])')
# The per-install limit would refuse a load generator's traffic: raise it for the run.
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true; PIDS=()
python3 - "$WORK/data/relops.toml" <<'PY'
import re, sys
p = sys.argv[1]; s = open(p).read()
s = re.sub(r"key_rate_per_second = \d+", "key_rate_per_second = 1000000", s)
s = re.sub(r"key_burst = \d+", "key_burst = 1000000", s)
open(p, "w").write(s)
PY
RELOPS_LOG=warn "$RELOPS" serve --data-dir "$WORK/data" --listen 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
RELOPS_URL=$(sed -n 's/^relops listening on //p' "$WORK/serve.out")
"$T/examples/bare_axum" 127.0.0.1:0 >"$WORK/bare.out" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/bare.out" 2>/dev/null && break; sleep 0.1; done
BARE="http://$(sed -n 's/^listening on //p' "$WORK/bare.out")"

# N gzip'd envelopes, one ended session each (a distinct install), as one file of
# length-prefixed bodies for the Lua script.
make_bodies() { # FILE N: N gzip'd envelopes, each ending a new session
python3 - "$1" "$2" <<'PY'
import gzip, json, struct, sys, uuid
out, n = sys.argv[1], int(sys.argv[2])
with open(out, "wb") as f:
    for i in range(n):
        sid = uuid.uuid4().hex
        head = json.dumps({"sent_at": "2026-11-26T10:00:00Z"})
        payload = json.dumps({"sid": sid, "did": f"install-{i}", "init": True, "status": "exited",
                              "errors": 0, "started": "2026-11-26T10:00:00Z", "duration": 60.0,
                              "attrs": {"release": "wizard@2.1.0", "environment": "stable"}})
        body = f'{head}\n{json.dumps({"type": "session", "length": len(payload)})}\n{payload}\n'.encode()
        z = gzip.compress(body)
        f.write(struct.pack(">I", len(z)) + z)
PY
}
make_bodies "$WORK/bodies.bin" "$N"
cat >"$WORK/post.lua" <<LUA
-- Whole requests made once, up front: request() then allocates nothing, so wrk's Lua
-- garbage collector never walks the large table of requests while the run is measured.
wrk.method = "POST"
wrk.headers["Content-Encoding"] = "gzip"
wrk.headers["Content-Type"] = "application/x-sentry-envelope"
wrk.headers["X-Sentry-Auth"] = "Sentry sentry_key=$KEY, sentry_version=7, sentry_client=bench/1"
local requests = {}
local f = io.open("$WORK/bodies.bin", "rb")
local data = f:read("*a"); f:close()
local pos = 1
while pos <= #data do
  local b1, b2, b3, b4 = data:byte(pos, pos + 3)
  local len = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  requests[#requests + 1] = wrk.format(nil, "/api/1/envelope/", nil, data:sub(pos + 4, pos + 3 + len))
  pos = pos + 4 + len
end
data = nil
collectgarbage()
local n = #requests
local i = 0
request = function()
  i = i % n + 1
  return requests[i]
end
LUA

run_wrk() { # URL -> "rps p99_ms non2xx"
  wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -s "$WORK/post.lua" "$1" | awk '
    /Requests\/sec/ {rps=$2}
    /Non-2xx/ {bad=$NF}
    /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; p99=v}
    END {printf "%.0f %.2f %d\n", rps, p99, bad}'
}
# CRASH_LOAD=R: while the runs go, R Crashpad minidump uploads per second (the fixture
# dump, each a new crash of a new install) keep the crash worker processing: issue 30's
# "ingest throughput unchanged while dumps are processed" (compare with a run without).
if [ -n "${CRASH_LOAD:-}" ]; then
python3 - "$RELOPS_URL" "$KEY" "$CRASH_LOAD" crates/relops/tests/data/minidump-segv.dmp >"$WORK/crash_load.out" 2>&1 <<'PY' &
import sys, time, uuid, urllib.request
url, key, rate, path = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
dump = open(path, "rb").read()
b = "relops-bench-boundary"
sent = failed = 0
start = time.monotonic()
while True:
    due = start + sent / rate
    now = time.monotonic()
    if due > now:
        time.sleep(due - now)
    fields = {"sentry[release]": "wizard@2.1.0", "sentry[event_id]": uuid.uuid4().hex,
              "sentry[user][id]": "crash-" + uuid.uuid4().hex[:12]}
    body = b"".join(f"--{b}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
                    for k, v in fields.items())
    body += (f"--{b}\r\nContent-Disposition: form-data; name=\"upload_file_minidump\"; "
             f"filename=\"d.dmp\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    body += dump + f"\r\n--{b}--\r\n".encode()
    req = urllib.request.Request(f"{url}/api/1/minidump/?sentry_key={key}", data=body,
                                 headers={"Content-Type": f"multipart/form-data; boundary={b}"})
    try:
        urllib.request.urlopen(req, timeout=10).read()
    except Exception as e:
        failed += 1
    sent += 1
    if sent % 500 == 0:
        print(f"sent {sent} dumps, {failed} failed, {sent / (time.monotonic() - start):.1f}/s", flush=True)
PY
PIDS+=($!)
echo "crash load: $CRASH_LOAD minidump uploads/s beside the runs"
sleep 2
fi
echo "wrk -t1 -c$CONNS -d${DUR}s, $N distinct gzip'd session envelopes, alternating:"
b1=$(run_wrk "$BARE"); r1=$(run_wrk "$RELOPS_URL"); r2=$(run_wrk "$RELOPS_URL"); b2=$(run_wrk "$BARE")
mean() { echo "$1 $2" | awk '{printf "%.0f %.2f %d", ($1+$4)/2, ($2+$5)/2, $3+$6}'; }
b=$(mean "$b1" "$b2"); r=$(mean "$r1" "$r2")
echo "bare axum:        $(echo "$b" | awk '{print $1 " req/s (p99 " $2 " ms)"}')"
echo "relops ingest:    $(echo "$r" | awk '{print $1 " req/s (p99 " $2 " ms), non-2xx " $3}'), ratio $(echo "$r $b" | awk '{printf "%.3f", $1/$4}')"
# `relops health` waits for the fold of everything answered (SQLite folds the journal
# into the ingest tables in the background, at a lower priority): how far behind it was.
t0=$(date +%s.%N)
"$RELOPS" health 2.1.0 --json | python3 -c 'import json,sys; h=json.load(sys.stdin); print("stored: sessions", h["sessions"], "active installs", h["active_installs"], end="")'
echo ", folded $(echo "$(date +%s.%N) $t0" | awk '{printf "%.1f", $1-$2}') s after the last run"
if [ -n "${CRASH_LOAD:-}" ]; then
  echo "crash load: $(tail -1 "$WORK/crash_load.out" 2>/dev/null); processed so far: $(curl -s "$RELOPS_URL/metrics" | awk '/^relops_crashes_processed_total/ {n+=$2} END {print n+0}'), backlog $(curl -s "$RELOPS_URL/metrics" | awk '/^relops_crash_backlog/ {print $2}')"
fi
# Latency at 80 % of the measured throughput, paced (open loop), fresh sessions.
RATE=${PACED_RATE:-$(echo "$r" | awk '{printf "%d", $1 * 0.8}')}
PDUR=${PACED_SECONDS:-$DUR}
make_bodies "$WORK/bodies2.bin" $((RATE * PDUR + 1000))
WHY=" (80 % of relops' throughput)"; [ -n "${PACED_RATE:-}" ] && WHY=" (fixed)"
echo "paced at $RATE req/s$WHY for $PDUR s, fresh sessions:"
"$T/examples/paced_load" "$RELOPS_URL" "$WORK/bodies2.bin" "$KEY" "$RATE" "$PDUR"
# The same generator at the same rate against the bare handler: the floor this machine and
# generator put under the p99 right now (it has ranged from 3 ms to 877 ms at 17,000 req/s
# on the two-core test machine, minutes apart, with nothing else running).
echo "the same, against the bare handler:"
"$T/examples/paced_load" "$BARE" "$WORK/bodies2.bin" "$KEY" "$RATE" "$PDUR"
