#!/usr/bin/env bash
# The C example against a running relops server:
#
#   examples/c/run.sh RELOPS_URL ADMIN_TOKEN
#
# It builds the C library (crates/relops-sdk-ffi) and the relops CLI, creates a release with
# a unique version on the server and takes it through its gates, checklist and go to 100 %,
# builds wizard.c with `cc` against include/relops.h, and runs it (under valgrind when it is
# installed: any leak or memory error fails the run). Then it checks what the server counted,
# the ticket, the log bundle that came with the crash (opened as support: redacted), and
# what the app wrote to its logs. Exit 0 when all of it worked.
#
# The product owner's go needs a second person, as always: this script confirms that token
# as the operator on the server's host, with the server's data dir in RELOPS_DATA_DIR
# (default `relops-data`, as for `relops serve`).
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 RELOPS_URL ADMIN_TOKEN" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export RELOPS_URL=$1 RELOPS_TOKEN=$2
cargo build -q -p relops -p relops-sdk-ffi
TARGET=$(cd "${CARGO_TARGET_DIR:-target}/debug" && pwd)
BIN=$TARGET/relops
WORK=$(mktemp -d /tmp/relops-c-example.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
BENCH_DATA=${RELOPS_DATA_DIR:-relops-data}
source bench/lib.sh

# A version no earlier run used: 2.<seconds><random>.0, a minor release.
V="2.$(date +%s)$((RANDOM % 90 + 10)).0"
echo "== release $V: artifacts, gates, checklist, go, rollout to 100 %"
bench_publish "$V" --data-schema 7 --downgrades-to 5
"$BIN" rollout start "$V" >/dev/null
for _ in 1 2 3; do "$BIN" rollout advance "$V" --force --reason "C example" >/dev/null; done

json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
RELEASE_KEY=$("$BIN" keys list --json | json '[k for k in d["keys"] if k["role"]=="release"][0]["public_keys"][0]')
CRASH_KEY=$("$BIN" keys list --json | json '[k for k in d["keys"] if k["role"]=="crash"][0]["public_keys"][0]')
INGEST_KEY=$("$BIN" ingest dsn --json | json 'd["public_key"]')
python3 - "$RELOPS_URL/tuf/wizard/metadata/1.root.json" "$WORK/1.root.json" <<'PY'
import sys, urllib.request
open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1]).read())
PY
config() { # VERSION -> the app's configuration (JSON)
  python3 - "$1" <<PY
import json, sys
print(json.dumps({
    "server_url": "$RELOPS_URL", "product": "wizard", "trusted_root_file": "$WORK/1.root.json",
    "release_key": "$RELEASE_KEY", "ingest_key": "$INGEST_KEY", "crash_key": "$CRASH_KEY",
    "platform": "windows-x64", "channel": "stable", "version": sys.argv[1],
    "data_dir": "$WORK/app", "upload_interval_seconds": 0}))
PY
}
config 2.0.0 >"$WORK/installed.json"
config "$V" >"$WORK/updated.json"
# A log file 40 days old: the SDK prunes it when it starts (30 days are kept).
mkdir -p "$WORK/app/logs"
OLD_DAY=$(date -d '40 days ago' +%F)
echo "old" >"$WORK/app/logs/wizard_app.$OLD_DAY.log"

echo "== building the C example with cc"
INCLUDE=crates/relops-sdk-ffi/include
cc -std=c11 -Wall -Wextra -Werror -I "$INCLUDE" examples/c/wizard.c -L "$TARGET" -lrelops_sdk \
  -Wl,-rpath,"$TARGET" -o "$WORK/wizard"
# The static library links on its own too (with the system libraries Rust's std needs).
cc -std=c11 -Wall -Wextra -Werror -I "$INCLUDE" examples/c/wizard.c "$TARGET/librelops_sdk.a" \
  -lpthread -ldl -lm -o "$WORK/wizard-static"
# The C++ snippet in docs/sdk.md compiles against the same header (when there is a C++
# compiler: Debian's gcc package has none).
if command -v c++ >/dev/null; then
  sed -n '/^```cpp$/,/^```$/p' docs/sdk.md | sed '1d;$d' >"$WORK/sdk-doc.cpp"
  c++ -std=c++17 -Wall -Wextra -Werror -fsyntax-only -I "$INCLUDE" "$WORK/sdk-doc.cpp"
  echo "   the C++ snippet in docs/sdk.md compiles"
fi

echo "== running it"
RUN=()
if command -v valgrind >/dev/null; then
  RUN=(valgrind --quiet --leak-check=full --error-exitcode=1)
  echo "   under valgrind --leak-check=full"
else
  echo "   (valgrind is not installed: running without the leak check)"
fi
"${RUN[@]}" "$WORK/wizard" "$WORK/installed.json" "$WORK/updated.json" \
  crates/relops/tests/data/minidump-segv.dmp | tee "$WORK/wizard.out"
grep -q "it reads data schema 7 (its down-migrations reach 5)" "$WORK/wizard.out"
grep -q '^install plan: {"kind":"msi","steps":\[{"step":"run","what":"Windows Installer (msiexec)","program":"msiexec.exe","args":\["/i",' "$WORK/wizard.out"
CRASH=$(sed -n 's/^crash \([0-9a-f]*\) queued$/\1/p' "$WORK/wizard.out")
BUNDLE=$(sed -n 's/^log bundle \([0-9a-f]*\) queued for the crash$/\1/p' "$WORK/wizard.out")
TICKET=$(sed -n 's/^ticket \(.*\) opened$/\1/p' "$WORK/wizard.out")

echo "== what the server counted for $V"
"$BIN" health "$V" --json >"$WORK/health.json"
python3 - "$WORK/health.json" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
s = h["sessions"]
assert s.get("exited") == 1 and s.get("crashed") == 1, f"sessions: {s}"
assert h["crash_reports_24h"] == 1, f"crash reports: {h['crash_reports_24h']}"
assert h["active_installs"] == 1 and h["crashed_installs"] == 1, h
print(f"   sessions {s}, crash reports {h['crash_reports_24h']}, installs {h['active_installs']} (crashed {h['crashed_installs']})")
PY

echo "== the ticket support sees"
"$BIN" ticket show "$TICKET" --json --token "$(bench_token support_agent)" >"$WORK/ticket.json"
python3 - "$WORK/ticket.json" "$CRASH" "$V" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
assert t["source"] == "app" and t["release"] == sys.argv[3], t
assert t["crashes"] == [sys.argv[2]], t["crashes"]
assert len(t.get("log_bundles", [])) == 1, t.get("log_bundles")
print(f"   {t['id']}: {t['subject']} (release {t['release']}, crash {t['crashes'][0]}, log bundle {t['log_bundles'][0]['id']})")
PY

echo "== the logs that came with the crash, opened as support"
"$BIN" crash show "$CRASH" --json | python3 -c 'import json, sys; b = json.load(sys.stdin)["log_bundles"]; assert [x["id"] for x in b] == [sys.argv[1]], b' "$BUNDLE"
"$BIN" logs get "$BUNDLE" -o "$WORK/bundle.tar.gz" --token "$(bench_token support_agent)"
mkdir -p "$WORK/bundle" && tar -xzf "$WORK/bundle.tar.gz" -C "$WORK/bundle"
grep -q "signed in as \[email\]" "$WORK/bundle/wizard_app.$(date +%F).log"
grep -q "cannot open \[file\]: schema 9" "$WORK/bundle/wizard_error.$(date +%F).log"
if grep -rq -e "anna@example.com" -e "Q3.wzp" "$WORK/bundle"; then
  echo "the log bundle was not redacted" >&2; exit 1
fi
echo "   $(ls "$WORK/bundle" | tr '\n' ' ')— redacted"

echo "== what the app wrote to its logs"
TODAY=$(date +%F)
LOGS=$WORK/app/logs
grep -q "INFO  wizard: started" "$LOGS/wizard_app.$TODAY.log"
grep -q "cannot open Q3.wzp" "$LOGS/wizard_error.$TODAY.log"
[ ! -e "$LOGS/wizard_app.$OLD_DAY.log" ] || { echo "the 40-day-old log was not pruned" >&2; exit 1; }
"$BIN" logs verify "$LOGS/wizard_audit.$TODAY.log"
echo "== the C example passed"
