#!/usr/bin/env bash
# Issue 9 (the support desk), performance: the queue's first page over 100,000 open
# tickets, and full-text search over 100,000 tickets + 5,000 knowledge-base articles,
# against the same FTS5 query run directly in `sqlite3` on the same database.
#
# The server makes the schema (migrations); the rows are written straight into its SQLite
# database while it is stopped (what 100,000 tickets look like in the tables relops
# writes), then the server serves them. Times are measured by curl on this host (so they
# include HTTP), 200 requests each, after 20 to warm up.
#
# The corpus: by default a vocabulary of 20,000 words with Zipf-distributed frequencies
# (as in natural text) — the support desk's words ("absturz", "export", "netzlaufwerk", …)
# at the ranks a crash-and-support vocabulary would give them, the rest made-up words (full-
# text search does not care which language a token is from). DESK_CORPUS=worst uses 30
# words only, so that nearly every row matches every query: the worst case, not a real one.
#
#   bench/desk.sh [TICKETS] [ARTICLES]      (defaults: 100,000 and 5,000)
set -euo pipefail
cd "$(dirname "$0")/.."
TICKETS=${1:-100000}
ARTICLES=${2:-5000}
cargo build --release -q -p relops
BIN=${CARGO_TARGET_DIR:-target}/release/relops
WORK=$(mktemp -d /tmp/relops-desk.XXXXXX)
SERVE_PID=
trap '[ -n "$SERVE_PID" ] && kill "$SERVE_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
source bench/lib.sh
bench_init
AGENT=$(bench_token support_agent)
kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true; SERVE_PID=
python3 - "$WORK/data/relops.db" "$TICKETS" "$ARTICLES" "${DESK_CORPUS:-zipf}" <<'PY'
import bisect, itertools, random, sqlite3, sys, datetime as dt
db, n, k, corpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
c = sqlite3.connect(db)
random.seed(7)
desk = ("absturz öffnen projekt speichern netzlaufwerk lizenz export ebene drucken update "
        "crash open project save network drive license layer print window freeze slow memory "
        "startet nicht datenverlust schriftart vorlage template font plugin scanner").split()
if corpus == "worst":
    vocab, weights = desk, None
else:
    # 20,000 words, the r-th most frequent with weight 1/r (Zipf); the desk's words at
    # ranks 10..300 ("absturz" 20th, "export" 80th, "netzlaufwerk" 300th).
    syll = ["ka", "lo", "mi", "ter", "un", "sch", "ber", "ge", "ra", "ne", "ol", "vi", "st", "an", "ur", "pe"]
    made = ("".join(random.choice(syll) for _ in range(random.randint(2, 4))) for _ in itertools.count())
    vocab, seen = [], set(desk)
    ranks = {20: "absturz", 80: "export", 300: "netzlaufwerk"}
    rest = [w for w in desk if w not in ranks.values()]
    for i, w in enumerate(rest):
        ranks[10 + 9 * i] = w
    while len(vocab) < 20000:
        r = len(vocab) + 1
        if r in ranks:
            vocab.append(ranks[r]); continue
        w = next(made)
        if w not in seen:
            seen.add(w); vocab.append(w)
    weights = list(itertools.accumulate(1 / r for r in range(1, len(vocab) + 1)))
def pick(m):
    if weights is None:
        return " ".join(random.choice(vocab) for _ in range(m))
    return " ".join(vocab[bisect.bisect(weights, random.random() * weights[-1])] for _ in range(m))
now = dt.datetime.now(dt.timezone.utc)
def ts(t): return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
prio = ["critical", "high", "normal"]
rows, fts, ev = [], [], []
for i in range(1, n + 1):
    opened = now - dt.timedelta(minutes=random.randint(0, 60 * 24 * 20))
    due = opened + dt.timedelta(hours=random.choice([4, 8, 24, 48, 72]))
    subject = pick(5)
    body = pick(40)
    tid = f"WIZ-{i}"
    rows.append((tid, "wizard", subject, f"c{i}@example.com", random.choice(prio), "open", "[]",
                 ts(opened), ts(opened), ts(due), ts(due - dt.timedelta(hours=1))))
    fts.append(("ticket", tid, "wizard", "ticket", subject, body))
    ev.append((tid, ts(opened), "opened", f"c{i}@example.com", body, "{}"))
c.executemany("INSERT INTO tickets (id, product, subject, customer_email, priority, status, source, pauses, opened_at, updated_at, due_at, warn_at) VALUES (?,?,?,?,?,?,'mail',?,?,?,?,?)", rows)
c.executemany("INSERT INTO ticket_events (ticket, at, kind, author, body, detail) VALUES (?,?,?,?,?,?)", ev)
c.execute("INSERT INTO ticket_numbers (product, last) VALUES ('wizard', ?)", (n,))
arts = []
for j in range(1, k + 1):
    title = pick(6)
    body = pick(150)
    aid = f"FAQ-{j}"
    arts.append((aid, title, body))
    fts.append(("faq", aid, "wizard", "published", title, body))
c.executemany("INSERT INTO kb_articles (id, product, kind, title, body, status, revision, created_at, updated_at, updated_by) VALUES (?, 'wizard', 'faq', ?, ?, 'published', 1, '2026-12-01T00:00:00.000000Z', '2026-12-01T00:00:00.000000Z', 'bench')", arts)
c.executemany("INSERT INTO search_fts (kind, ref, product, status, title, body) VALUES (?,?,?,?,?,?)", fts)
c.commit()
c.execute("ANALYZE")
c.commit()
PY
bench_serve "$WORK/data"
time_of() { # URL -> p50 p99 max in ms over 200 requests (after 20 warm-up)
  python3 - "$@" <<'PY'
import subprocess, sys, statistics
url, token = sys.argv[1], sys.argv[2]
def one():
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                          "-H", f"Authorization: Bearer {token}", url], capture_output=True, text=True).stdout.split()
    assert out[0] == "200", out
    return float(out[1]) * 1000
for _ in range(20): one()
t = sorted(one() for _ in range(200))
print(f"p50 {statistics.median(t):.1f} ms, p99 {t[int(len(t)*0.99)-1]:.1f} ms, max {t[-1]:.1f} ms")
PY
}
Q="export%20netzlaufwerk%20absturz"
echo "queue, first page of 50 ($TICKETS open tickets): $(time_of "$RELOPS_URL/v1/tickets?limit=50" "$AGENT")"
echo "search over tickets + KB, 20 hits, via relops: $(time_of "$RELOPS_URL/v1/search?q=$Q&limit=20" "$AGENT")"
python3 - "$WORK/data/relops.db" <<'PY'
import sqlite3, statistics, sys, time
c = sqlite3.connect(sys.argv[1])
# What relops runs: the rows with every word, best 200 ranked, grouped per ticket; and,
# when that gives fewer than 20 hits, the same with any word.
words = ["export", "netzlaufwerk", "absturz"]
sql = ("WITH m AS MATERIALIZED (SELECT kind, ref, title, status, bm25(search_fts, 0, 0, 0, 0, 4.0, 1.0) AS r "
       "FROM search_fts WHERE search_fts MATCH ? AND product = 'wizard' AND status IN ('published','draft','ticket') "
       "ORDER BY r LIMIT 200) "
       "SELECT kind, ref, MIN(title), MIN(status), MIN(r) FROM m GROUP BY kind, ref ORDER BY MIN(r) LIMIT 20")
def search():
    hits = c.execute(sql, (" AND ".join(f'"{w}"*' for w in words),)).fetchall()
    if len(hits) < 20:
        hits += c.execute(sql, (" OR ".join(f'"{w}"*' for w in words),)).fetchall()
    return hits
for _ in range(5): search()
t = []
for _ in range(200):
    a = time.perf_counter(); search(); t.append((time.perf_counter() - a) * 1000)
t.sort()
n_all = c.execute("SELECT COUNT(*) FROM search_fts WHERE search_fts MATCH ?",
                  (" AND ".join(f'"{w}"*' for w in words),)).fetchone()[0]
print(f"the same FTS5 queries in SQLite directly (Python's sqlite3): p50 {statistics.median(t):.1f} ms, p99 {t[int(len(t)*0.99)-1]:.1f} ms ({n_all} rows hold all three words)")
PY
