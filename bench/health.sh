#!/usr/bin/env bash
# Issue 6: the health engine's figures.
#  1. In process (crates/relops-core/examples/health_bench.rs): detection sample size at a
#     true crash rate of 5 % over 1,000 fleets of 10,000 installs vs the SPRT's expected
#     sample size (target <= 2x); false halts over 100 good releases at 0.5 % (target 0);
#     heap for 1,000,000 installs (target < 256 MiB) and time per event at 10k/100k/1M
#     installs (O(1)).
#  2. End to end: `relops simulate` with 10,000 installs at 5 % against a real server
#     (SQLite): the installs the crash-rate alert fired on vs the expected sample size, and
#     how long from rollout start to the halt.
#
#   bench/health.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p relops
cargo build --release -q -p relops-core --example health_bench
T=${CARGO_TARGET_DIR:-target}/release
BIN=$T/relops
echo "== 1. health engine core, in process"
"$T/examples/health_bench"

echo "== 2. end to end: relops simulate, 10,000 installs, true crash rate 5 %"
WORK=$(mktemp -d /tmp/relops-bench.XXXXXX)
SERVE_PID=
trap '[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
source bench/lib.sh
bench_fleet_setup
bench_publish 2.1.0
ASN=$("$T/examples/health_bench" asn 0.05)
"$BIN" simulate --token "$SIM" --installs 10000 --release 2.1.0 --crash-rate 0.05 --seed 11 --json >"$WORK/sim.json"
python3 - "$WORK/sim.json" "$ASN" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); asn = float(sys.argv[2])
d = r["detection"] or {}; h = r["halted"] or {}
n = d.get("active_installs")
print(f"outcome {r['outcome']}; halted at stage {h.get('stage')} in round {h.get('round')}, "
      f"{h.get('seconds', 0):.1f} s after the rollout started; {r['ever_received']} of {r['installs']} installs ever got it")
if n:
    print(f"alert fired on {d['crashed_installs']} crashed of {n} active installs: "
          f"{n / asn:.2f}x the expected sample size {asn:.0f} (target <= 2x)")
PY
