#!/usr/bin/env python3
"""The console's server time and /metrics with 1,000 releases and 50 open alerts.

    bench/console.py [RELOPS_BINARY]

Starts a server on a fresh data dir (SQLite, the embedded default), creates 1,000 releases
through the HTTP API, then — server stopped — gives each a rollout (40 active, the rest
completed) and opens 50 alerts straight in the database (taking 1,000 releases through
gates, checklist and go would take an hour and measure nothing more here). Restarted, it
logs in to the console and times, over a kept-alive loopback connection:

- GET / (the overview) and GET /console/wizard/releases: target p99 < 30 ms;
- GET /metrics (every release's series): target p99 < 20 ms;
- GET /v1/releases, the same releases as JSON, as the reference in the same run.

Time to first byte is the server's time: each handler builds its whole answer before it
sends a byte.
"""
import http.client
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "release", "relops")
RELEASES, ACTIVE, ALERTS, SAMPLES = 1000, 40, 50, 200


def version(i):
    return f"{1 + i // 100}.{(i // 10) % 10}.{i % 10}"


def serve(data):
    server = subprocess.Popen([BIN, "serve", "--data-dir", data, "--listen", "127.0.0.1:0"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline()
    host, port = line.strip().rsplit("http://", 1)[1].split(":")
    return server, http.client.HTTPConnection(host, int(port))


def timed(conn, path, headers, n=SAMPLES):
    samples = []
    for _ in range(n + 10):
        start = time.perf_counter()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        first = resp.read(1)
        ttfb = time.perf_counter() - start
        body = first + resp.read()
        if resp.status != 200:
            raise SystemExit(f"GET {path}: {resp.status} {body[:300]!r}")
        samples.append(ttfb * 1000)
    samples = sorted(samples[10:])  # warm-up
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1], len(body)


def main():
    work = tempfile.mkdtemp(prefix="relops-bench-")
    data = os.path.join(work, "data")
    init = subprocess.run([BIN, "init", "--data-dir", data, "--json"], check=True,
                          capture_output=True, text=True)
    token = json.loads(init.stdout)["admin_token"]
    auth = {"Authorization": f"Bearer {token}"}
    server, conn = serve(data)
    try:
        for i in range(RELEASES):
            conn.request("POST", "/v1/releases",
                         json.dumps({"version": version(i), "go_live": "2027-03-15"}),
                         {**auth, "Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            assert r.status == 201, r.status
    finally:
        server.kill()
        server.wait()
    db = sqlite3.connect(os.path.join(data, "relops.db"))
    now = "2026-12-01T00:00:00.000000Z"
    for i in range(RELEASES):
        active = i >= RELEASES - ACTIVE
        db.execute("UPDATE releases SET state = ? WHERE product = 'wizard' AND version = ?",
                   ("rolling_out" if active else "released", version(i)))
        db.execute(
            "INSERT INTO rollouts (product, version, salt, stage, state, percent, since, "
            "started_at, started_by, updated_at) VALUES ('wizard', ?, ?, ?, ?, ?, ?, ?, 'bench', ?)",
            (version(i), "00" * 32, "25" if active else "100", "active" if active else "completed",
             2500 if active else 10000, now, now, now))
    evidence = json.dumps({"condition": "bench", "at_trigger": {
        "active_installs": 100, "crashed_installs": 5, "critical_installs": 0,
        "memory_warnings": 0, "errors": {}}})
    for i in range(ALERTS):
        db.execute(
            "INSERT INTO alerts (id, seq, product, release, rule, rule_key, severity, summary, "
            "evidence, actions, status, open_key, fired_at) VALUES (?, ?, 'wizard', ?, "
            "'error_code', ?, 'high', 'bench alert', ?, '[]', 'firing', ?, ?)",
            (f"ALR-{i + 1}", i + 1, version(RELEASES - 1 - i % ACTIVE), f"E{i}", evidence,
             f"bench-{i}", now))
    db.commit()
    db.close()

    server, conn = serve(data)
    try:
        conn.request("POST", "/login", urllib.parse.urlencode({"token": token}),
                     {"Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        r.read()
        cookie = r.getheader("Set-Cookie").split(";")[0]
        page = {"Cookie": cookie}
        results = [
            ("GET /v1/releases (JSON, reference)", *timed(conn, "/v1/releases", auth), None),
            ("GET / (overview)", *timed(conn, "/", page), 30.0),
            ("GET /console/wizard/releases", *timed(conn, "/console/wizard/releases", page), 30.0),
            ("GET /metrics", *timed(conn, "/metrics", {}), 20.0),
        ]
        ref = results[0][1]
        print(f"{RELEASES} releases ({ACTIVE} rolling out), {ALERTS} open alerts; "
              f"{SAMPLES} requests each, kept-alive loopback")
        for name, med, p99, size, target in results:
            line = f"{name}: median {med:.1f} ms, p99 {p99:.1f} ms, {size / 1024:.0f} KiB; " \
                   f"median/reference {med / ref:.2f}"
            if target:
                line += f"; p99/target {p99 / target:.2f} (target {target:.0f} ms; < 1.00 meets it)"
            print(line)
    finally:
        server.kill()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
