#!/usr/bin/env bash
# Feed serving throughput: relops vs nginx serving the same files from disk.
#
#   [ROUNDS=3] bench/feed.sh [DURATION_S] [CONNECTIONS]      (defaults: 10, 32)
#
# Publishes one release (a 1 MiB artifact), exports the feed with `relops feed export`,
# serves the export with nginx (sendfile on, access log off, one worker per core), and runs
# the same load generator (wrk, 1 thread) against both, alternately, on loopback:
#   - GET /tuf/wizard/metadata/timestamp.json
#   - GET /tuf/wizard/targets/{sha256}.{name}   (1 MiB)
#   - GET /feeds/wizard/internal/appcast.xml     (Sparkle; docs/updaters.md)
#   - GET /feeds/wizard/internal/latest.yml      (electron-updater)
# (the export's feeds/ is linked to /feeds/wizard/ for nginx, as docs/updaters.md lays it out)
# Prints the median requests/s and p99 of ROUNDS runs each, and the ratio relops/nginx
# (target >= 1.0).
# Needs: apt-get install nginx-light wrk. Uses the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONNS=${2:-32}
ROUNDS=${ROUNDS:-3}
command -v nginx >/dev/null && command -v wrk >/dev/null || { echo "needs nginx and wrk: apt-get install nginx-light wrk" >&2; exit 2; }
cargo build --release -q -p relops
# RELOPS_BIN=FILE: another relops binary (an earlier build, for an A/B run).
BIN=${RELOPS_BIN:-${CARGO_TARGET_DIR:-target}/release/relops}

WORK=$(mktemp -d /tmp/relops-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$WORK"' EXIT

BENCH_DATA="$WORK/data"
export RELOPS_TOKEN=$("$BIN" init --data-dir "$WORK/data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_token"])')
RELOPS_LOG=warn "$BIN" serve --data-dir "$WORK/data" --listen 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break; sleep 0.1; done
export RELOPS_URL=$(sed -n 's/^relops listening on //p' "$WORK/serve.out")
. bench/lib.sh
"$BIN" release create 2.1.0 --go-live 2027-03-15 >/dev/null
head -c $((1024 * 1024)) /dev/urandom >"$WORK/W.dmg"
"$BIN" artifact upload 2.1.0 --platform macos-universal "$WORK/W.dmg" --notarization-id 2efe2717-0000-4000-8000-000000000001 >/dev/null
head -c $((1024 * 1024)) /dev/urandom >"$WORK/W-Setup.exe"
"$BIN" artifact upload 2.1.0 --platform windows-x64 "$WORK/W-Setup.exe" --authenticode-signer "CN=Wizard GmbH" >/dev/null
bench_approve 2.1.0
# The pilot stage: the internal channel is offered the release in full.
"$BIN" rollout start 2.1.0 >/dev/null
mkdir -p "$WORK/www/tuf" "$WORK/www/feeds"
"$BIN" feed export "$WORK/www/tuf/wizard" >/dev/null
ln -s ../tuf/wizard/feeds "$WORK/www/feeds/wizard"
TARGET=$(cd "$WORK/www/tuf/wizard/targets" && ls | grep '\.dmg$')

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
  types { application/json json; application/rss+xml xml; text/yaml yml; }
  default_type application/octet-stream;
  server { listen 127.0.0.1:$NGINX_PORT; root $WORK/www; }
}
CONF
nginx -c "$WORK/nginx.conf" &
PIDS+=($!)
sleep 0.5
NGINX="http://127.0.0.1:$NGINX_PORT"

# run_wrk URL -> "requests_per_s p99_ms"
run_wrk() {
  wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "$1" | awk '
    /Requests\/sec/ {rps=$2}
    /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; p99=v}
    END {printf "%.0f %.2f\n", rps, p99}'
}

report() { # NAME PATH: ROUNDS rounds of relops and nginx, alternating who goes first; medians
  local name=$1 path=$2 i
  local rs=() ns=()
  for i in $(seq 1 "$ROUNDS"); do
    if [ $((i % 2)) = 1 ]; then
      rs+=("$(run_wrk "$RELOPS_URL$path")"); ns+=("$(run_wrk "$NGINX$path")")
    else
      ns+=("$(run_wrk "$NGINX$path")"); rs+=("$(run_wrk "$RELOPS_URL$path")")
    fi
  done
  median() { printf '%s\n' "$@" | sort -n -k1,1 | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }
  local rr nr
  rr=$(median "${rs[@]}"); nr=$(median "${ns[@]}")
  echo "$name: relops $(echo "$rr" | awk '{print $1}') req/s (p99 $(echo "$rr" | awk '{print $2}') ms), nginx $(echo "$nr" | awk '{print $1}') req/s (p99 $(echo "$nr" | awk '{print $2}') ms), ratio $(echo "$rr $nr" | awk '{printf "%.2f", $1/$3}')"
  echo "  runs relops: $(printf '%s ' "${rs[@]}" | awk '{for(i=1;i<=NF;i+=2) printf "%s ", $i}')| nginx: $(printf '%s ' "${ns[@]}" | awk '{for(i=1;i<=NF;i+=2) printf "%s ", $i}')"
}

echo "wrk -t1 -c$CONNS -d${DUR}s, $ROUNDS runs each (alternating who goes first), medians:"
report "timestamp.json " "/tuf/wizard/metadata/timestamp.json"
report "target (1 MiB) " "/tuf/wizard/targets/$TARGET"
report "appcast.xml    " "/feeds/wizard/internal/appcast.xml"
report "latest.yml     " "/feeds/wizard/internal/latest.yml"
