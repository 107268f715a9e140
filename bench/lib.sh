# Shared by the benchmark scripts and examples/demo.sh: a server, releases taken through their
# gates, checklist and go the way a team would.
# Needs BIN, RELOPS_URL and RELOPS_TOKEN (admin) set, and WORK (a temp dir).
REPORTS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/crates/relops-gates/tests/data/reports"
declare -A BENCH_TOKENS
bench_token() { # ROLE -> token (made once); admin, product_owner and security_engineer
  # tokens are confirmed as the operator on this host (docs/permissions.md)
  if [ -z "${BENCH_TOKENS[$1]:-}" ]; then
    local created
    created=$("$BIN" token create --role "$1" --name "bench-$1" --json)
    if [ "$(echo "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("awaiting_confirmation"))')" = True ]; then
      "$BIN" token confirm "$(echo "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')" --data-dir "$BENCH_DATA" >/dev/null
    fi
    BENCH_TOKENS[$1]=$(echo "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  fi
  echo "${BENCH_TOKENS[$1]}"
}
bench_approve() { # VERSION: frozen, gates fed with real reports, notes, checklist signed, go
  "$BIN" release freeze "$1" >/dev/null
  "$BIN" gate coverage "$1" "$REPORTS/coverage-high.lcov.info" >/dev/null
  "$BIN" gate tests "$1" "$REPORTS/junit-pytest-pass.xml" "$REPORTS/junit-pytest-ui-smoke.xml" >/dev/null
  "$BIN" gate lint "$1" "$REPORTS/lint-clippy-clean.sarif" >/dev/null
  "$BIN" gate sbom "$1" "$REPORTS/sbom-python-env.cdx.json" >/dev/null
  "$BIN" gate scan "$1" "$REPORTS/vulns-cargo-audit-clean.json" >/dev/null
  "$BIN" gate scan "$1" "$REPORTS/secrets-clean.baseline.json" >/dev/null
  printf '# %s\n' "$1" >"$WORK/notes-$1.md"
  "$BIN" release notes "$1" "$WORK/notes-$1.md" >/dev/null
  "$BIN" kb add --title "WIZARD $1" "$WORK/notes-$1.md" --release "$1" --publish \
    --token "$(bench_token support_lead)" >/dev/null
  local item role
  for item in qa:qa_lead security:security_engineer ops:oncall_devops support:support_lead; do
    role=${item#*:}
    "$BIN" checklist sign "$1" "${item%%:*}" --token "$(bench_token "$role")" >/dev/null
  done
  "$BIN" approve "$1" --token "$(bench_token product_owner)" >/dev/null
}
bench_serve() { # DATA_DIR: starts `relops serve` on a free port; sets SERVE_PID, RELOPS_URL
  BENCH_DATA=$1
  RELOPS_LOG=${RELOPS_LOG:-warn} "$BIN" serve --data-dir "$1" --listen 127.0.0.1:0 >"$1/serve.out" 2>"$1/serve.err" &
  SERVE_PID=$!
  for _ in $(seq 1 100); do grep -q "listening on" "$1/serve.out" 2>/dev/null && break; sleep 0.1; done
  RELOPS_URL=$(sed -n 's/^relops listening on //p' "$1/serve.out")
  export RELOPS_URL
}
bench_publish() { # VERSION [release create flags…]: created, a Windows and a macOS artifact, approved
  "$BIN" release create "$1" --go-live 2027-03-15 "${@:2}" >/dev/null
  head -c 100000 /dev/urandom >"$WORK/WIZARD-$1.msi"
  head -c 100000 /dev/urandom >"$WORK/WIZARD-$1.dmg"
  "$BIN" artifact upload "$1" --platform windows-x64 "$WORK/WIZARD-$1.msi" --authenticode-signer "CN=Wizard GmbH" >/dev/null
  "$BIN" artifact upload "$1" --platform macos-universal "$WORK/WIZARD-$1.dmg" --notarization-id 2efe2717-0000-4000-8000-000000000001 >/dev/null
  bench_approve "$1"
}
bench_init() { # a fresh data dir in $WORK/data, its server started; RELOPS_TOKEN (admin) set
  RELOPS_TOKEN=$("$BIN" init --data-dir "$WORK/data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_token"])')
  export RELOPS_TOKEN
  bench_serve "$WORK/data"
}
bench_fleet_setup() { # a fresh server in $WORK with soaks of 0, 2.0.0 at 100 %, a simulator token in SIM
  RELOPS_TOKEN=$("$BIN" init --data-dir "$WORK/data" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["admin_token"])')
  export RELOPS_TOKEN
  sed -i -E 's/^(pilot|p25|p50)_soak_hours = [0-9]+/\1_soak_hours = 0/' "$WORK/data/relops.toml"
  bench_serve "$WORK/data"
  bench_publish 2.0.0
  "$BIN" rollout start 2.0.0 >/dev/null
  for _ in 1 2 3; do "$BIN" rollout advance 2.0.0 --force --reason "baseline at 100 %" >/dev/null; done
  SIM=$("$BIN" token create --role release_manager --role oncall_devops --name simulator --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  # The product owner who confirms the simulator's rollback decisions (two people decide).
  RELOPS_CONFIRM_TOKEN=$(bench_token product_owner)
  export RELOPS_CONFIRM_TOKEN
}
