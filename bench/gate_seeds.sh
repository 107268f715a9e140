#!/usr/bin/env bash
# Issue 16, item 1: the demo's scenario (examples/demo.sh) with many seeds. One server
# (SQLite, soaks 0, 2.0.0 at 100 %), a fleet of virtual installs through `relops simulate`;
# for each seed a bad release (5 % of installs crash) must end halted or rolled back, then
# a good one (0.5 %) must be released to 100 %. Prints one line per seed and the figures:
# outcomes, the stage and sample size at which the bad release was stopped, and how often
# the verdict came from the end-of-soak truncation rather than the test deciding.
#
#   bench/gate_seeds.sh [SEEDS] [INSTALLS]      (defaults: 200 seeds, 10,000 installs)
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-200}
INSTALLS=${2:-10000}
cargo build --release -q -p relops
BIN=${CARGO_TARGET_DIR:-target}/release/relops
WORK=$(mktemp -d /tmp/relops-seeds.XXXXXX)
SERVE_PID=
trap '[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
source bench/lib.sh
bench_fleet_setup
mkdir -p "$WORK/runs"
start=$(date +%s)
for i in $(seq 1 "$SEEDS"); do
    bad="2.$i.0" good="2.$i.1"
    bench_publish "$bad"
    "$BIN" simulate --token "$SIM" --installs "$INSTALLS" --release "$bad" --crash-rate 0.05 \
        --seed "$i" --json >"$WORK/runs/bad-$i.json"
    "$BIN" health "$bad" --json >"$WORK/runs/health-$i.json"
    bench_publish "$good"
    "$BIN" simulate --token "$SIM" --installs "$INSTALLS" --release "$good" --crash-rate 0.005 \
        --seed "$((i + 1000000))" --json >"$WORK/runs/good-$i.json"
    python3 - "$WORK/runs" "$i" <<'PY'
import json, sys
d, i = sys.argv[1], sys.argv[2]
b = json.load(open(f"{d}/bad-{i}.json")); g = json.load(open(f"{d}/good-{i}.json"))
det = b["detection"] or {}
print(f"seed {i:>4}: bad {b['outcome']:<11} stage {(b['halted'] or {}).get('stage', '-'):<5} "
      f"at {det.get('crashed_installs', '-')}/{det.get('active_installs', '-')}; good {g['outcome']}", flush=True)
PY
done
python3 - "$WORK/runs" "$SEEDS" "$(( $(date +%s) - start ))" <<'PY'
import json, statistics, sys
d, n, took = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bad = [json.load(open(f"{d}/bad-{i}.json")) for i in range(1, n + 1)]
good = [json.load(open(f"{d}/good-{i}.json")) for i in range(1, n + 1)]
health = [json.load(open(f"{d}/health-{i}.json")) for i in range(1, n + 1)]
stopped = sum(b["outcome"] in ("rolled_back", "halted") for b in bad)
released = sum(g["outcome"] == "released" for g in good)
false_alarms = sum(bool(g["alerts"]) for g in good)
stages = {}
for b in bad:
    s = (b["halted"] or {}).get("stage", "never halted")
    stages[s] = stages.get(s, 0) + 1
sizes = [b["detection"]["active_installs"] for b in bad if b["detection"]]
truncated = sum(h["truncated"] for h in health)
reached = [b["ever_received"] for b in bad]
print(f"\n{n} seeds, {took} s")
print(f"bad releases (5 %) halted or rolled back: {stopped} of {n}; halted at stage: {stages}")
print(f"  active installs when the alert fired: median {statistics.median(sizes) if sizes else '-'}, "
      f"max {max(sizes) if sizes else '-'}; verdict by end-of-soak truncation: {truncated} of {n}")
print(f"  installs that ever ran the bad release: median {statistics.median(reached)}, max {max(reached)}")
print(f"good releases (0.5 %) released to 100 %: {released} of {n}; with any alert: {false_alarms}")
PY
