#!/usr/bin/env bash
# Capacity (issue 28 part 7): how many installs one 2-core node carries under the fleet
# model, and what several replicas on PostgreSQL cost in coordination.
#
# The fleet model, per install: an update check every hour (GET timestamp.json — the SDK
# fetches the rest of the chain only when it changed), one session a day (two envelopes,
# its start and its end), a crash upload a day for 1 % of installs (Crashpad multipart, the
# fixture minidump), and a 20 MB download a week from the static feed export behind nginx
# (bandwidth, not relops: see docs/scaling.md). Per 2,400 install-hours: 2,400 checks, 200
# envelopes, 1 crash upload = 2,601 requests, i.e. 1.084 requests per install-hour. wrk
# sends pre-made requests in exactly that mix (shuffled; every session and crash new within
# the list) for DURATION seconds; installs carried = mix req/s × 3600 / 1.084.
#
#   bench/capacity.sh [DURATION_S] [CONNECTIONS]        (defaults: 15, 64)
#
# 1. embedded: one `relops serve` on SQLite and local blobs, the default deployment;
# 2. with BENCH_PG_URL (a PostgreSQL superuser URL; a database per run is made) and
#    BENCH_S3S (the s3s-fs binary, as .ci/run installs it): nginx with
#    deploy/nginx/relops.conf in front of 1 replica, then of 3 replicas, on one PostgreSQL
#    and one S3 server, all on this machine — the same CPU for both, so the ratio
#    (3 replicas ÷ 1) is what running 3 replicas instead of 1 costs on the same CPU.
#    REPLICA_THREADS=N gives each of the 3 replicas N runtime threads (TOKIO_WORKER_THREADS;
#    default: one per core each, so 3 replicas run 3× the threads of 1 on 2 cores).
#    Each run also prints the database's committed and rolled-back transactions
#    (pg_stat_database) and the CPU that relops, postgres and nginx used during the run, in
#    cores (user + system, from /proc: where three replicas spend more than one).
# MIX=checks, envelopes, crashes or nocrashes sends only those requests of the mix (which
# side the replicas' cost is on); EMBEDDED=0 skips step 1.
# Needs: wrk, nginx (apt-get install wrk nginx-light). Uses the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-15}
CONNS=${2:-64}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 2; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
cargo build --release -q -p relops
BIN=${RELOPS_BIN:-${CARGO_TARGET_DIR:-target}/release/relops}
WORK=$(mktemp -d /tmp/relops-capacity.XXXXXX)
chmod 755 "$WORK"
PIDS=()
stop_all() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; PIDS=(); }
trap 'stop_all; rm -rf "$WORK"' EXIT
DUMP=crates/relops/tests/data/minidump-segv.dmp
LIMITS='[http]
trusted_proxies = ["127.0.0.1"]
[ingest]
key_rate_per_second = 1000000
key_burst = 1000000
installs_per_network = 100000000'

# The mix: a file of (kind, length, body) records the Lua script turns into requests.
python3 - "$WORK/mix.bin" "$DUMP" "${MIX:-fleet}" <<'PY'
import gzip, json, random, struct, sys, uuid
out, dump, mix = sys.argv[1], open(sys.argv[2], "rb").read(), sys.argv[3]
rng = random.Random(1)
BLOCKS = 150
entries = []
for b in range(BLOCKS):
    entries += [(0, b"")] * 2400
    for s in range(100):
        sid, did = uuid.UUID(int=rng.getrandbits(128)).hex, f"install-{b}-{s}"
        for status, init in (("ok", True), ("exited", False)):
            payload = json.dumps({"sid": sid, "did": did, "init": init, "status": status,
                                  "errors": 0, "started": "2026-12-06T10:00:00Z", "duration": 60.0,
                                  "attrs": {"release": "wizard@2.0.0", "environment": "stable"}})
            body = f'{{}}\n{json.dumps({"type": "session", "length": len(payload)})}\n{payload}\n'
            entries.append((1, gzip.compress(body.encode())))
    bnd = "relops-capacity"
    fields = {"sentry[release]": "wizard@2.0.0", "sentry[event_id]": uuid.UUID(int=rng.getrandbits(128)).hex,
              "sentry[user][id]": f"crash-{b}"}
    body = b"".join(f"--{bnd}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
                    for k, v in fields.items())
    body += (f"--{bnd}\r\nContent-Disposition: form-data; name=\"upload_file_minidump\"; "
             f"filename=\"d.dmp\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    body += dump + f"\r\n--{bnd}--\r\n".encode()
    entries.append((2, body))
if mix != "fleet":
    keep = {"checks": {0}, "envelopes": {1}, "crashes": {2}, "nocrashes": {0, 1}}[mix]
    entries = [e for e in entries if e[0] in keep]
rng.shuffle(entries)
with open(out, "wb") as f:
    for kind, body in entries:
        f.write(struct.pack(">BI", kind, len(body)) + body)
PY

mix_lua() { # KEY -> the wrk script
cat <<LUA
local requests = {}
local f = io.open("$WORK/mix.bin", "rb")
local data = f:read("*a"); f:close()
-- Built before wrk adds its Host header: named here (nginx refuses HTTP/1.1 without one).
local get = {["Host"] = "relops"}
local envelope = {["Host"] = "relops", ["Content-Encoding"] = "gzip",
  ["Content-Type"] = "application/x-sentry-envelope",
  ["X-Sentry-Auth"] = "Sentry sentry_key=$1, sentry_version=7, sentry_client=capacity/1"}
local crash = {["Host"] = "relops", ["Content-Type"] = "multipart/form-data; boundary=relops-capacity"}
local pos = 1
while pos <= #data do
  local kind = data:byte(pos)
  local b1, b2, b3, b4 = data:byte(pos + 1, pos + 4)
  local len = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  local body = data:sub(pos + 5, pos + 4 + len)
  if kind == 0 then
    requests[#requests + 1] = wrk.format("GET", "/tuf/wizard/metadata/timestamp.json", get)
  elseif kind == 1 then
    requests[#requests + 1] = wrk.format("POST", "/api/1/envelope/", envelope, body)
  else
    requests[#requests + 1] = wrk.format("POST", "/api/1/minidump/?sentry_key=$1", crash, body)
  end
  pos = pos + 5 + len
end
data = nil
collectgarbage()
local n, i = #requests, 0
request = function() i = i % n + 1; return requests[i] end
LUA
}

run_mix() { # URL KEY -> "rps p99_ms non2xx"
  mix_lua "$2" >"$WORK/mix.lua"
  wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -s "$WORK/mix.lua" "$1" | awk '
    /Requests\/sec/ {rps=$2}
    /Non-2xx/ {bad=$NF}
    /^ +99%/ {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; p99=v}
    END {printf "%.0f %.2f %d\n", rps, p99, bad}'
}
installs() { echo "$1" | awk '{printf "%.1f million", $1 * 3600 / (2601 / 2400) / 1e6}'; }

start_serve() { # DATA_DIR [THREADS]: starts relops there; sets SERVE_URL and SERVE_PID (joins PIDS)
  env ${2:+TOKIO_WORKER_THREADS=$2} RELOPS_LOG=error "$BIN" serve --data-dir "$1" --listen 127.0.0.1:0 >"$1/serve.out" 2>"$1/serve.err" &
  SERVE_PID=$!
  PIDS+=($SERVE_PID)
  for _ in $(seq 1 200); do grep -q "listening on" "$1/serve.out" 2>/dev/null && break; sleep 0.1; done
  SERVE_URL=$(sed -n 's/^relops listening on //p' "$1/serve.out")
}
ingest_key() { RELOPS_URL=$1 RELOPS_TOKEN=$2 "$BIN" ingest dsn --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"])'; }
rss_mib() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }

# --- 1. embedded -------------------------------------------------------------------------
[ -n "${MIX:-}" ] && echo "MIX=$MIX: only those requests of the mix"
if [ "${EMBEDDED:-1}" != 0 ]; then
D="$WORK/embedded"
mkdir -p "$D"
printf 'listen = "127.0.0.1:0"\n%s\n' "$LIMITS" >"$D/relops.toml"
TOKEN=$("$BIN" init --data-dir "$D" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_token"])')
start_serve "$D"
URL=$SERVE_URL
KEY=$(ingest_key "$URL" "$TOKEN")
echo "fleet mix per install-hour: 1 update check, 1/12 session envelope, 1/2400 crash upload (1.084 requests)"
echo "wrk -t1 -c$CONNS -d${DUR}s, $(python3 -c "print(150*2601)") pre-made requests"
r=$(run_mix "$URL" "$KEY")
echo "embedded (SQLite, local blobs): $(echo "$r" | awk '{print $1 " req/s of the mix, p99 " $2 " ms, non-2xx " $3}') → $(installs "$r") installs; relops RSS $(rss_mib "$SERVE_PID") MiB after it"
stop_all
fi

# --- 2. replicas on PostgreSQL + S3 behind nginx -------------------------------------------
if [ -z "${BENCH_PG_URL:-}" ] || [ -z "${BENCH_S3S:-}" ]; then
  echo "(set BENCH_PG_URL and BENCH_S3S for 1 vs 3 replicas on PostgreSQL + S3)"
  exit 0
fi
S3_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/s3/relops-bench"
"$BENCH_S3S" --host 127.0.0.1 --port "$S3_PORT" --access-key bench --secret-key bench-secret "$WORK/s3" >"$WORK/s3.log" 2>&1 &
S3_PID=$!
trap 'stop_all; kill $S3_PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$S3_PORT/" && break; sleep 0.1; done

# The CPU time (user, system, in clock ticks) of every process, as JSON: pid -> [name, u, s].
cpu_by_process() {
  python3 -c '
import json, os
out = {}
for p in filter(str.isdigit, os.listdir("/proc")):
    try:
        s = open(f"/proc/{p}/stat").read()
    except OSError:
        continue
    f = s[s.rindex(")") + 2:].split()
    out[p] = [s[s.index("(") + 1:s.rindex(")")], int(f[11]), int(f[12])]
print(json.dumps(out))'
}
# What relops, postgres and nginx used between two cpu_by_process files, in cores.
cpu_used() {
  python3 - "$1" "$2" "$DUR" <<'PY'
import json, os, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
hz, dur = os.sysconf("SC_CLK_TCK"), float(sys.argv[3])
used = {}
for pid, (name, u, s) in b.items():
    _, u0, s0 = a.get(pid, (name, 0, 0))
    cu, cs = used.get(name, (0, 0))
    used[name] = (cu + u - u0, cs + s - s0)
print("  CPU used (cores, user + system): " + ", ".join(
    f"{n} {used.get(n, (0, 0))[0] / hz / dur:.2f} + {used.get(n, (0, 0))[1] / hz / dur:.2f}"
    for n in ("relops", "postgres", "nginx")))
PY
}

replicas_run() { # N -> prints the run's line
  local n=$1 db="relops_capacity_$RANDOM$RANDOM" base=${BENCH_PG_URL%/*}
  psql "$BENCH_PG_URL" -qc "CREATE DATABASE $db" >/dev/null
  local d="$WORK/$db-1"
  mkdir -p "$d"
  cat >"$d/relops.toml" <<TOML
listen = "127.0.0.1:0"
database_url = "$base/$db"
$LIMITS
[blob]
kind = "s3"
bucket = "relops-bench"
endpoint = "http://127.0.0.1:$S3_PORT"
access_key_id = "bench"
secret_access_key = "bench-secret"
prefix = "$db"
allow_http = true
TOML
  local token upstream="" i url key
  token=$("$BIN" init --data-dir "$d" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_token"])')
  for i in $(seq 2 "$n"); do cp -r "$d" "$WORK/$db-$i"; done
  for i in $(seq 1 "$n"); do
    if [ "$n" -gt 1 ]; then start_serve "$WORK/$db-$i" "${REPLICA_THREADS:-}"; else start_serve "$WORK/$db-$i"; fi
    [ -n "$SERVE_URL" ] || { echo "replica $i did not start:"; cat "$WORK/$db-$i/serve.err"; exit 1; }
    url=$SERVE_URL
    upstream="$upstream    server ${url#http://} max_fails=1 fail_timeout=2s;\n"
  done
  key=$(ingest_key "$url" "$token")
  local ng="$WORK/nginx-$n" port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$ng"
  python3 - deploy/nginx/relops.conf "$ng/site.conf" "$port" "$upstream" <<'PY'
import sys
src, dst, port, upstream = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].replace("\\n", "\n")
out, done = [], False
for line in open(src):
    if line.strip().startswith("server 10.0.0."):
        if not done:
            out.append(upstream); done = True
    elif line.strip() == "listen 80;":
        out.append(f"    listen 127.0.0.1:{port};\n")
    else:
        out.append(line)
open(dst, "w").write("".join(out))
PY
  cat >"$ng/nginx.conf" <<CONF
worker_processes 1;
error_log $ng/error.log warn;
pid $ng/nginx.pid;
daemon off;
events { worker_connections 4096; }
http {
access_log off;
client_body_temp_path $ng/body; proxy_temp_path $ng/proxy; fastcgi_temp_path $ng/f; uwsgi_temp_path $ng/u; scgi_temp_path $ng/s;
include $ng/site.conf;
}
CONF
  "$NGINX" -e "$ng/error.log" -p "$ng" -c "$ng/nginx.conf" &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  local check
  check=$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$port/tuf/wizard/metadata/timestamp.json")
  [ "$check" = 200 ] || { echo "nginx → replicas answered $check:"; cat "$ng/error.log"; exit 1; }
  local r x0 x1
  xacts() { psql "$BENCH_PG_URL" -Atc "SELECT xact_commit FROM pg_stat_database WHERE datname = '$db'"; }
  rollbacks() { psql "$BENCH_PG_URL" -Atc "SELECT xact_rollback FROM pg_stat_database WHERE datname = '$db'"; }
  local rb0; rb0=$(rollbacks)
  cpu_by_process >"$WORK/cpu0"
  x0=$(xacts)
  r=$(run_mix "http://127.0.0.1:$port" "$key")
  x1=$(xacts)
  cpu_by_process >"$WORK/cpu1"
  echo "$r" >>"$WORK/result-$n"
  echo "nginx → $n replica(s) on PostgreSQL + S3: $(echo "$r" | awk '{print $1 " req/s of the mix, p99 " $2 " ms, non-2xx " $3}') → $(installs "$r") installs; $(( (x1 - x0) / DUR )) database commits/s, $(( ($(rollbacks) - rb0) / DUR )) rollbacks/s"
  cpu_used "$WORK/cpu0" "$WORK/cpu1"
  stop_all
  psql "$BENCH_PG_URL" -qc "DROP DATABASE $db WITH (FORCE)" >/dev/null
}
replicas_run 1
replicas_run 3
replicas_run 1
replicas_run 3
python3 - "$WORK/result-1" "$WORK/result-3" <<'PY'
import sys
one, three = ([float(l.split()[0]) for l in open(p)] for p in sys.argv[1:3])
print(f"3 replicas ÷ 1 replica: {sum(three)/len(three):.0f} ÷ {sum(one)/len(one):.0f} req/s = "
      f"{sum(three)/len(three) / (sum(one)/len(one)):.3f} (runs alternating: 1: {one}, 3: {three})")
PY
