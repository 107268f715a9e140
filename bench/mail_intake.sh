#!/usr/bin/env bash
# Issue 9 (the support desk), mail intake: customers' mail delivered the way an MTA does —
# `relops ticket mail-in < message`, several deliveries at once — measured in messages per
# second, with the server killed (-9) halfway and restarted. Then every message the pipe
# acknowledged (exit 0) must be a ticket or a reply, and the ones refused with 75
# (EX_TEMPFAIL) are delivered again, as an MTA retries them: in the end each message is in
# the desk exactly once.
#
# The mail: Python's `email` package writes 2 × MESSAGES customer mails (the second half
# measures the sustained rate on a server not killed) — German and English,
# one in ten a reply to an earlier one (`[WIZ-n]` in the subject), one in ten with a
# 200 kB attachment.
#
#   bench/mail_intake.sh [MESSAGES] [PARALLEL]      (defaults: 2,000 and 4)
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-2000}
PARALLEL=${2:-4}
cargo build --release -q -p relops
BIN=$(realpath "${CARGO_TARGET_DIR:-target}/release/relops")
WORK=$(mktemp -d /tmp/relops-mail.XXXXXX)
SERVE_PID=
trap '[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
source bench/lib.sh
bench_init
GATE=$(bench_token support_agent)
mkdir "$WORK/mail" "$WORK/fresh"
python3 - "$WORK" "$MESSAGES" <<'PY'
import os, random, sys
from email.message import EmailMessage
from email.utils import formatdate
work, n = sys.argv[1], int(sys.argv[2])
random.seed(9)
subjects = ["Absturz beim Öffnen", "Export nach PDF hängt", "Lizenz wird nicht erkannt",
            "Crash when saving to a network drive", "Fonts missing after update", "Datenverlust nach Speichern"]
for i in range(1, 2 * n + 1):
    m = EmailMessage()
    m["From"] = f"Kunde {i} <kunde{i}@example.de>"
    m["To"] = "support@wizard.example"
    m["Date"] = formatdate()
    m["Message-ID"] = f"<bench-{i}@mail.example.de>"
    if i > 50 and random.random() < 0.1:
        m["Subject"] = f"Re: [WIZ-{random.randint(1, 40)}] noch offen"
    else:
        m["Subject"] = random.choice(subjects)
    m.set_content("Guten Tag,\n\n" + "WIZARD 2.1.0 stürzt ab, wenn ich das Projekt öffne. " * 20 + "\n\nGrüße\n")
    if random.random() < 0.1:
        m.add_attachment(os.urandom(200_000), maintype="application", subtype="octet-stream", filename="wizard.log")
    out = os.path.join(work, "mail" if i <= n else "fresh")
    with open(os.path.join(out, f"{i:06}.eml"), "wb") as f:
        f.write(bytes(m))
PY
python3 - "$BIN" "$WORK/mail" "$PARALLEL" "$GATE" "$SERVE_PID" "$WORK/acks" <<'PY'
import os, signal, subprocess, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
binary, mail, parallel, token, pid, acks = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6]
files = sorted(os.listdir(mail))
env = dict(os.environ, RELOPS_TOKEN=token)
lock = threading.Lock()
done = {"ok": 0, "tempfail": 0, "other": 0}
killed = threading.Event()
log = open(acks, "w")
def deliver(name):
    with open(os.path.join(mail, name), "rb") as f:
        r = subprocess.run([binary, "ticket", "mail-in"], stdin=f, capture_output=True, env=env)
    with lock:
        if r.returncode == 0:
            done["ok"] += 1
            log.write(f"{name} {r.stdout.decode().strip()}\n"); log.flush()
        elif r.returncode == 75:
            done["tempfail"] += 1
        else:
            done["other"] += 1
            print(name, r.returncode, r.stderr.decode()[:200], file=sys.stderr)
        if not killed.is_set() and done["ok"] >= len(files) // 2:
            os.kill(pid, signal.SIGKILL)
            killed.set()
            print(f"kill -9 after {done['ok']} acknowledged", flush=True)
start = time.perf_counter()
with ThreadPoolExecutor(parallel) as pool:
    list(pool.map(deliver, files))
took = time.perf_counter() - start
print(f"first pass: {done['ok']} acknowledged, {done['tempfail']} told to retry (75), {done['other']} refused; "
      f"{done['ok'] / took:.1f} acknowledged messages/s over {took:.1f} s ({parallel} deliveries at once; the rate counts until the kill and after it)")
PY
# The server stays dead until the pass is over, as after a crash; then it restarts.
wait "$SERVE_PID" 2>/dev/null || true
SERVE_PID=
bench_serve "$WORK/data"
# The messages not yet taken (the MTA's retries), then MESSAGES new ones on the running
# server, no kill: the sustained rate.
python3 - "$BIN" "$WORK/mail" "$PARALLEL" "$GATE" "$WORK/acks" "$WORK/fresh" <<'PY'
import os, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
binary, mail, parallel, token, acks, fresh = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
env = dict(os.environ, RELOPS_TOKEN=token)
acked = {l.split()[0] for l in open(acks)}
files = sorted(os.listdir(mail))
retry = [f for f in files if f not in acked]
def deliver(path):
    with open(path, "rb") as f:
        return subprocess.run([binary, "ticket", "mail-in"], stdin=f, capture_output=True, env=env).returncode
retry = [os.path.join(mail, f) for f in retry]
start = time.perf_counter()
with ThreadPoolExecutor(parallel) as pool:
    codes = list(pool.map(deliver, retry))
took = time.perf_counter() - start
assert all(c == 0 for c in codes), codes
print(f"retries after the restart: {len(retry)} messages, all taken, {len(retry) / max(took, 1e-9):.1f} messages/s")
new = [os.path.join(fresh, f) for f in sorted(os.listdir(fresh))]
start = time.perf_counter()
with ThreadPoolExecutor(parallel) as pool:
    codes = list(pool.map(deliver, new))
took = time.perf_counter() - start
assert all(c == 0 for c in codes), codes
rate = len(new) / took
print(f"sustained on a running server: {len(new)} new messages in {took:.1f} s = {rate:.1f} messages/s, "
      f"{rate / 50:.1f}x the target of 50 messages/s")
PY
kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true; SERVE_PID=
python3 - "$WORK/data/relops.db" "$WORK/acks" "$MESSAGES" <<'PY'
import sqlite3, sys
db, acks, n = sqlite3.connect(sys.argv[1]), sys.argv[2], int(sys.argv[3])
acked = [l.split()[0] for l in open(acks)]
ids = {f"bench-{int(name.split('.')[0])}@mail.example.de" for name in acked}
have = {r[0]: r[1] for r in db.execute(
    "SELECT message_id, COUNT(*) FROM ticket_events WHERE message_id LIKE 'bench-%' GROUP BY message_id")}
lost = [i for i in ids if i not in have]
twice = [i for i, c in have.items() if c > 1]
print(f"after kill -9 and restart: {len(ids)} acknowledged in the first pass, {len(lost)} of them lost; "
      f"{len(have)} of {2 * n} messages in the desk, {len(twice)} twice")
assert not lost and not twice and len(have) == 2 * n
PY
