# Shared by the benchmark scripts: take a release through its gates, checklist and go the
# way a team would. Needs BIN, RELOPS_URL and RELOPS_TOKEN (admin) set, and WORK (a temp dir).
REPORTS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/crates/relops-gates/tests/data/reports"
declare -A BENCH_TOKENS
bench_token() { # ROLE -> token (made once)
  if [ -z "${BENCH_TOKENS[$1]:-}" ]; then
    BENCH_TOKENS[$1]=$("$BIN" token create --role "$1" --name "bench-$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  fi
  echo "${BENCH_TOKENS[$1]}"
}
bench_approve() { # VERSION: gates fed with real reports, notes, checklist signed, go
  "$BIN" gate coverage "$1" "$REPORTS/coverage-high.lcov.info" >/dev/null
  "$BIN" gate tests "$1" "$REPORTS/junit-pytest-pass.xml" >/dev/null
  "$BIN" gate sbom "$1" "$REPORTS/sbom-python-env.cdx.json" >/dev/null
  "$BIN" gate scan "$1" "$REPORTS/vulns-cargo-audit-clean.json" >/dev/null
  "$BIN" gate scan "$1" "$REPORTS/secrets-clean.baseline.json" >/dev/null
  printf '# %s\n' "$1" >"$WORK/notes-$1.md"
  "$BIN" release notes "$1" "$WORK/notes-$1.md" >/dev/null
  local item role
  for item in qa:qa_lead security:security_engineer ops:oncall_devops support:support_lead; do
    role=${item#*:}
    "$BIN" checklist sign "$1" "${item%%:*}" --token "$(bench_token "$role")" >/dev/null
  done
  "$BIN" approve "$1" --token "$(bench_token product_owner)" >/dev/null
}
