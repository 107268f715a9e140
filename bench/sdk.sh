#!/usr/bin/env bash
# The SDK's leanness (issue 27, part 8), measured:
#   - the stripped size of the C library (librelops_sdk.so, release) and, as the reference
#     in the same run, of the relops server binary stripped the same way;
#   - how many crates the library links (normal dependencies, deduplicated);
#   - how often the SDK's threads wake while the app is idle: an app that starts the SDK
#     (uploads every 60 s, the default) and sleeps IDLE seconds (default 150); voluntary
#     context switches per thread from /proc, per minute (a thread that blocks once per
#     wake-up shows its wake-ups; `strace -f -e trace=epoll_wait,futex` shows the cause).
# The bytes of an update check when nothing changed are printed by the SDK test
# (`cargo test -p relops --test sdk -- --nocapture`, "a check with nothing changed").
#
#   bench/sdk.sh [IDLE_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE=${1:-150}
cargo build --release -q -p relops -p relops-sdk-ffi
TARGET=$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)
BIN=$TARGET/relops
WORK=$(mktemp -d /tmp/relops-sdk-bench.XXXXXX)
SERVE_PID=
trap '[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

strip -o "$WORK/lib.so" "$TARGET/librelops_sdk.so"
strip -o "$WORK/relops" "$BIN"
LIB=$(stat -c %s "$WORK/lib.so")
SRV=$(stat -c %s "$WORK/relops")
DEPS=$(cargo tree -q -p relops-sdk-ffi -e normal --prefix none | sed 's/ (\*)$//' | sort -u | wc -l)
SRV_DEPS=$(cargo tree -q -p relops -e normal --prefix none | sed 's/ (\*)$//' | sort -u | wc -l)
python3 - "$LIB" "$SRV" "$DEPS" "$SRV_DEPS" <<'PY'
import sys
lib, srv, deps, srv_deps = map(int, sys.argv[1:])
print(f"librelops_sdk.so stripped: {lib/2**20:.1f} MiB; relops (server + CLI) stripped: {srv/2**20:.1f} MiB; ratio {lib/srv:.2f}")
print(f"crates linked: SDK {deps}, server {srv_deps}; ratio {deps/srv_deps:.2f}")
PY

source bench/lib.sh
bench_init >/dev/null
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
KEYS=$("$BIN" keys list --json)
python3 - "$RELOPS_URL/tuf/wizard/metadata/1.root.json" "$WORK/1.root.json" <<'PY'
import sys, urllib.request
open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1]).read())
PY
CONFIG=$(python3 -c "
import json, sys
keys = {k['role']: k['public_keys'][0] for k in json.loads(sys.argv[1])['keys']}
print(json.dumps({'server_url': '$RELOPS_URL', 'product': 'wizard', 'trusted_root_file': '$WORK/1.root.json',
  'release_key': keys['release'], 'crash_key': keys['crash'], 'ingest_key': 'x', 'platform': 'linux-x64',
  'channel': 'stable', 'version': '2.0.0', 'data_dir': '$WORK/app'}))" "$KEYS")
cc -O2 -I crates/relops-sdk-ffi/include bench/sdk_idle.c -L "$TARGET" -lrelops_sdk -Wl,-rpath,"$TARGET" -o "$WORK/idle"
"$WORK/idle" "$CONFIG" "$((IDLE + 10))" >"$WORK/idle.out" &
APP=$!
for _ in $(seq 1 100); do grep -q ready "$WORK/idle.out" 2>/dev/null && break; sleep 0.1; done
sleep 5 # past the first upload round, which runs at start
count() { for t in /proc/$APP/task/*; do echo "$(cat "$t/comm") $(awk '/^voluntary_ctxt_switches/ {print $2}' "$t/status")"; done | sort; }
count >"$WORK/before"
sleep "$IDLE"
count >"$WORK/after"
wait "$APP"
python3 - "$WORK/before" "$WORK/after" "$IDLE" <<'PY'
import sys
def read(p):
    out = {}
    for i, line in enumerate(open(p)):
        name, n = line.rsplit(" ", 1)
        out[f"{name}#{i}"] = int(n)
    return out
before, after, idle = read(sys.argv[1]), read(sys.argv[2]), float(sys.argv[3])
print(f"idle for {idle:.0f} s: wake-ups per minute by thread (reference: at most 1)")
for k in sorted(after):
    d = after[k] - before.get(k, 0)
    print(f"  {k.split('#')[0]:<16} {d * 60 / idle:.2f}")
PY
