#!/usr/bin/env bash
# Metrics on vs off (issue 26): update-check and ingest throughput with the Prometheus
# recorder installed and every request counted and timed, against the same server with
# `[http] metrics = false` — target: within 5 %.
#
#   bench/metrics.sh [DURATION_S] [CONNECTIONS] [ENVELOPES]   (defaults: 10, 32, 200000)
#
# METRICS_BENCHES="update ingest" (the default) picks the halves to run; ENVELOPES is the
# number of distinct session envelopes bench/ingest.sh makes for each of its runs.
#
# Runs bench/update.sh and bench/ingest.sh (their relops figures: /v1/update with a
# different install id per request, gzip'd session envelopes) with RELOPS_METRICS=on and
# off, alternating on-off-off-on, and prints the means and their ratio.
# Needs what those need (nginx-light, wrk). Uses the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONNS=${2:-32}
N=${3:-200000}
cargo build --release -q -p relops

rps() { # SCRIPT MODE LINE-PATTERN: the req/s of that line of the script's output
  local out
  out=$(RELOPS_METRICS=$2 "bench/$1" "$DUR" "$CONNS" "$N" 2>/dev/null)
  echo "$out" | grep -- "$3" | head -n1 | sed -E 's/.*: *([0-9]+) req\/s.*/\1/'
}
for bench in "update.sh|relops /v1/update, id each" "ingest.sh|relops ingest:"; do
  script=${bench%%|*}; line=${bench#*|}
  case " ${METRICS_BENCHES:-update ingest} " in *" ${script%.sh} "*) ;; *) continue ;; esac
  on1=$(rps "$script" on "$line"); off1=$(rps "$script" off "$line")
  off2=$(rps "$script" off "$line"); on2=$(rps "$script" on "$line")
  echo "$script ($line): metrics on $on1, $on2 req/s; off $off1, $off2 req/s;" \
    "on/off $(echo "$on1 $on2 $off1 $off2" | awk '{printf "%.3f", ($1+$2)/($3+$4)}')"
done
