#!/usr/bin/env bash
# Thin-client update check and rollback latency (issue 4).
#
#   bench/update.sh [DURATION_S] [CONNECTIONS]      (defaults: 10, 32)
#
# 1. GET /v1/update from a warm server vs nginx serving a static timestamp.json — same load
#    generator (wrk, 1 thread), same run, alternating, on loopback. The relops requests
#    carry a different install id each (a wrk Lua script), so every answer is a real
#    bucketing decision over a feed with one release at 100 % and one at 25 %, and nginx
#    gets the same script (a counter in its query string) so that the generator costs the
#    same on both sides; a second pair runs without a script (relops with one fixed id).
# 2. Rollback latency: POST /v1/rollback until its answer (the new feed is signed, stored
#    and swapped in before the server answers), and `relops rollback` as a whole CLI
#    process, each without load and while wrk keeps /v1/update busy; afterwards an update
#    check confirms the downgrade is served.
# Needs: apt-get install nginx-light wrk. Uses the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONNS=${2:-32}
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "needs nginx and wrk: apt-get install nginx-light wrk" >&2; exit 2; }
cargo build --release -q -p relops
# RELOPS_BIN=FILE: another relops binary (an earlier build, for an A/B run).
BIN=${RELOPS_BIN:-${CARGO_TARGET_DIR:-target}/release/relops}

WORK=$(mktemp -d /tmp/relops-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$WORK"' EXIT

export RELOPS_TOKEN=$("$BIN" init --data-dir "$WORK/data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_token"])')
# RELOPS_METRICS=off: the same server recording no metrics ([http] metrics = false; bench/metrics.sh).
if [ "${RELOPS_METRICS:-on}" = off ]; then sed -i 's/^metrics = true$/metrics = false/' "$WORK/data/relops.toml"; fi
RELOPS_LOG=warn "$BIN" serve --data-dir "$WORK/data" --listen 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
export RELOPS_URL=$(sed -n 's/^relops listening on //p' "$WORK/serve.out")
BENCH_DATA="$WORK/data"  # bench_token confirms tokens with this data dir
. bench/lib.sh

release() { # VERSION STAGES(0..3 advances after start; -1 = approve only)
  "$BIN" release create "$1" --go-live 2027-03-15 >/dev/null
  head -c 65536 /dev/urandom >"$WORK/W-$1.dmg"
  "$BIN" artifact upload "$1" --platform macos-universal "$WORK/W-$1.dmg" --notarization-id 2efe2717-0000-4000-8000-000000000001 >/dev/null
  bench_approve "$1"
  [ "$2" -ge 0 ] || return 0
  "$BIN" rollout start "$1" >/dev/null
  for _ in $(seq 1 "$2"); do "$BIN" rollout advance "$1" --force --reason bench >/dev/null; done
}
release 2.0.0 3
release 2.1.0 1

mkdir -p "$WORK/www/tuf"
"$BIN" feed export "$WORK/www/tuf/wizard" >/dev/null
NGINX_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/nginx.conf" <<CONF
daemon off;
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  types { application/json json; }
  default_type application/octet-stream;
  server { listen 127.0.0.1:$NGINX_PORT; root $WORK/www; }
}
CONF
nginx -c "$WORK/nginx.conf" &
PIDS+=($!)
sleep 0.5
NGINX="http://127.0.0.1:$NGINX_PORT"

ids_script() { # FILE PATH: a wrk script requesting PATH with a counter appended to it
  cat >"$1" <<LUA
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "$2" .. counter)
end
LUA
}
ids_script "$WORK/ids.lua" "/v1/update?platform=macos-universal&channel=stable&version=2.0.0&install_id=install-"
FIXED="/v1/update?platform=macos-universal&channel=stable&version=2.0.0&install_id=install-1"
# nginx gets the same script shape (a counter in the query string, which it ignores), so
# that the generator spends the same per request on both sides.
ids_script "$WORK/nginx-ids.lua" "/tuf/wizard/metadata/timestamp.json?install_id=install-"

# run_wrk URL [SCRIPT] -> "requests_per_s p99_ms"
run_wrk() {
  local script=()
  [ -n "${2:-}" ] && script=(-s "$2")
  wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "${script[@]}" "$1" | awk '
    /Requests\/sec/ {rps=$2}
    /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; p99=v}
    END {printf "%.0f %.2f\n", rps, p99}'
}
mean() { echo "$1 $2" | awk '{printf "%.0f %.2f", ($1+$3)/2, ($2+$4)/2}'; }

# Sanity: the checks answer 200 for some installs and 204 for others.
codes=$(for i in $(seq 1 200); do curl -s -o /dev/null -w '%{http_code}\n' "$RELOPS_URL/v1/update?platform=macos-universal&channel=stable&version=2.0.0&install_id=install-$i"; done | sort | uniq -c | tr '\n' ' ')
echo "version=2.0.0, 200 installs: $codes(200 = 2.1.0 offered, 25 % expected; 204 = nothing)"

echo "wrk -t1 -c$CONNS -d${DUR}s, each contender twice (alternating), means:"
n1=$(run_wrk "$NGINX/tuf/wizard/metadata/timestamp.json"); f1=$(run_wrk "$RELOPS_URL$FIXED")
s1=$(run_wrk "$NGINX" "$WORK/nginx-ids.lua"); r1=$(run_wrk "$RELOPS_URL/v1/update" "$WORK/ids.lua")
r2=$(run_wrk "$RELOPS_URL/v1/update" "$WORK/ids.lua"); s2=$(run_wrk "$NGINX" "$WORK/nginx-ids.lua")
f2=$(run_wrk "$RELOPS_URL$FIXED"); n2=$(run_wrk "$NGINX/tuf/wizard/metadata/timestamp.json")
n=$(mean "$n1" "$n2"); s=$(mean "$s1" "$s2"); r=$(mean "$r1" "$r2"); f=$(mean "$f1" "$f2")
rate() { echo "$1" | awk '{print $1 " req/s (p99 " $2 " ms)"}'; }
ratio() { echo "$1 $2" | awk '{printf "%.2f", $1/$3}'; }
echo "no script — nginx timestamp.json:       $(rate "$n")"
echo "            relops /v1/update, one id:  $(rate "$f"), ratio $(ratio "$f" "$n")"
echo "Lua script with a counter in the query, both sides:"
echo "            nginx timestamp.json:       $(rate "$s")"
echo "            relops /v1/update, id each: $(rate "$r"), ratio $(ratio "$r" "$s")"

# Rollback latency. A release to withdraw each time: roll 2.1.0 back to 2.0.0 (no load),
# then ship 2.1.1, put 2.2.0 at 25 % and roll it back to 2.1.1 under load; the same again
# with the CLI.
# Two people decide a rollback (R-RB-2): on-call files it (not timed), the product owner's
# confirmation runs it — that call is what is timed.
ONCALL=$(bench_token oncall_devops); PO=$(bench_token product_owner)
rollback_api() { # TO -> seconds
  curl -s -o "$WORK/rb.json" -X POST -H "authorization: Bearer $ONCALL" \
    -H 'content-type: application/json' -d "{\"to\":\"$1\",\"reason\":\"bench\"}" "$RELOPS_URL/v1/rollback"
  curl -s -o "$WORK/rb.json" -w '%{time_total}' -X POST -H "authorization: Bearer $PO" \
    -H 'content-type: application/json' -d '{"reason":"","confirm":true}' "$RELOPS_URL/v1/rollback"
  grep -q incident "$WORK/rb.json" || { cat "$WORK/rb.json" >&2; exit 1; }
}
rollback_cli() { # TO -> seconds
  local t0 t1
  "$BIN" rollback --to "$1" --reason bench --token "$ONCALL" >/dev/null
  t0=$(date +%s.%N); "$BIN" rollback --confirm --token "$PO" >/dev/null; t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{printf "%.3f", $2-$1}'
}
served_downgrade() { # FROM TO: an install on FROM is sent to TO now
  curl -s "$RELOPS_URL/v1/update?platform=macos-universal&channel=stable&version=$1&install_id=x" | grep -q "\"version\":\"$2\".*\"downgrade\":true"
}
a1=$(rollback_api 2.0.0); served_downgrade 2.1.0 2.0.0
release 2.1.1 3; release 2.2.0 1
wrk -t1 -c"$CONNS" -d"$((DUR + 5))s" -s "$WORK/ids.lua" "$RELOPS_URL/v1/update" >/dev/null & WRK=$!; PIDS+=($WRK)
sleep 2; a2=$(rollback_api 2.1.1); served_downgrade 2.2.0 2.1.1; wait $WRK
release 2.2.1 3; release 2.3.0 1
c1=$(rollback_cli 2.2.1); served_downgrade 2.3.0 2.2.1
release 2.3.1 3; release 2.4.0 1
wrk -t1 -c"$CONNS" -d"$((DUR + 5))s" -s "$WORK/ids.lua" "$RELOPS_URL/v1/update" >/dev/null & WRK=$!; PIDS+=($WRK)
sleep 2; c2=$(rollback_cli 2.3.1); served_downgrade 2.4.0 2.3.1; wait $WRK
echo "rollback, POST /v1/rollback until answered (feed swapped): idle $(awk "BEGIN{printf \"%.1f\", $a1*1000}") ms, under update-check load $(awk "BEGIN{printf \"%.1f\", $a2*1000}") ms (target < 1000 ms)"
echo "rollback, \`relops rollback\` CLI process:                     idle $(awk "BEGIN{printf \"%.1f\", $c1*1000}") ms, under update-check load $(awk "BEGIN{printf \"%.1f\", $c2*1000}") ms"
