#!/usr/bin/env bash
# The loop in one command: a throwaway relops server (SQLite, in a temp dir, soaks set to 0
# so that nothing waits 48 h), 2.0.0 released, then 10,000 virtual installs take two new
# releases through the staged rollout with `relops simulate`:
#   2.1.0 crashes on 0.5 % of installs -> the health gate passes each stage, 100 %, no alert;
#   2.2.0 crashes on 5 %              -> halted in the pilot, on-call files the rollback and the
#                                         product owner confirms it (two people decide); every
#                                         install goes back to 2.1.0.
# Then it shows the alert, the incident and the health gate.
#
#   examples/demo.sh            (needs the Rust toolchain and python3; takes about a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p relops
BIN=${CARGO_TARGET_DIR:-target}/release/relops
WORK=$(mktemp -d /tmp/relops-demo.XXXXXX)
SERVE_PID=
trap '[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
source bench/lib.sh
echo "== a fresh server with 2.0.0 at 100 %"
bench_fleet_setup
echo "   $RELOPS_URL"
bench_publish 2.1.0
echo "== 2.1.0, a good release (0.5 % of installs crash)"
"$BIN" simulate --token "$SIM" --installs 10000 --release 2.1.0 --crash-rate 0.005
bench_publish 2.2.0
echo "== 2.2.0, a bad release (5 % of installs crash)"
"$BIN" simulate --token "$SIM" --installs 10000 --release 2.2.0 --crash-rate 0.05 --seed 2
echo "== what on-call sees"
"$BIN" alert list --all
INC=$("$BIN" incident list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["incidents"][0]["id"])')
"$BIN" incident show "$INC" | cut -c1-200
"$BIN" health 2.2.0
