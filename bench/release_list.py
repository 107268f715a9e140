#!/usr/bin/env python3
"""`relops release list` with 1,000 releases and 10,000 artifacts (target: < 50 ms).

    bench/release_list.py [RELOPS_BINARY]

Starts a server on a fresh data dir (SQLite, the embedded default), creates 1,000 releases
with 10 artifacts each through the HTTP API, then times GET /v1/releases (what
`relops release list` calls) 50 times over a kept-alive loopback connection and prints
the median and p95 against the 50 ms target. Time to first byte is the server's time: the
handler builds the whole answer before it sends a byte.
"""
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", "target"), "release", "relops")
RELEASES, PER_RELEASE, SAMPLES, TARGET_MS = 1000, 10, 50, 50.0
PLATFORMS = [("macos-universal", "dmg"), ("windows-x64", "msi"), ("windows-x64", "msix"),
             ("macos-arm64", "zip"), ("linux-x64", "tar.gz")]


def main():
    work = tempfile.mkdtemp(prefix="relops-bench-")
    data = os.path.join(work, "data")
    init = subprocess.run([BIN, "init", "--data-dir", data, "--json"], check=True,
                          capture_output=True, text=True)
    token = json.loads(init.stdout)["admin_token"]
    server = subprocess.Popen([BIN, "serve", "--data-dir", data, "--listen", "127.0.0.1:0"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        host, port = line.strip().rsplit("http://", 1)[1].split(":")
        conn = http.client.HTTPConnection(host, int(port))
        auth = {"Authorization": f"Bearer {token}"}

        def call(method, path, body=None, headers=None):
            conn.request(method, path, body=body, headers={**auth, **(headers or {})})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status >= 300:
                raise SystemExit(f"{method} {path}: {resp.status} {data[:200]!r}")
            return data

        t0 = time.time()
        for i in range(RELEASES):
            version = f"{1 + i // 100}.{(i // 10) % 10}.{i % 10}"
            call("POST", "/v1/releases",
                 json.dumps({"version": version, "go_live": "2027-03-15"}),
                 {"Content-Type": "application/json"})
            for j in range(PER_RELEASE):
                platform, ext = PLATFORMS[j % len(PLATFORMS)]
                name = f"wizard-{version}-{j}.{ext}"
                call("PUT", f"/v1/releases/{version}/artifacts/{name}?platform={platform}",
                     f"{version}/{j}".encode())
        print(f"seeded {RELEASES} releases, {RELEASES * PER_RELEASE} artifacts "
              f"in {time.time() - t0:.0f} s")

        samples = []
        for _ in range(SAMPLES + 5):
            start = time.perf_counter()
            conn.request("GET", "/v1/releases", headers=auth)
            resp = conn.getresponse()
            first = resp.read(1)
            ttfb = time.perf_counter() - start
            body = first + resp.read()
            samples.append(ttfb * 1000)
        samples = samples[5:]  # warm-up
        listed = json.loads(body)["releases"]
        assert len(listed) == RELEASES and sum(r["artifact_count"] for r in listed) == RELEASES * PER_RELEASE
        med = statistics.median(samples)
        p95 = sorted(samples)[int(len(samples) * 0.95) - 1]
        print(f"GET /v1/releases ({len(body)} bytes): median {med:.1f} ms, p95 {p95:.1f} ms "
              f"over {SAMPLES} requests")
        print(f"ratio median/target: {med / TARGET_MS:.2f} (target {TARGET_MS:.0f} ms; < 1.00 meets it)")
    finally:
        server.kill()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
