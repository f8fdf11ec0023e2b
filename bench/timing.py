"""Login timing: does a login for an unknown name take as long as one for a known name with
a wrong password? Interleaves the two kinds over one keep-alive connection each and
prints the medians.  usage: timing.py BASE_URL KNOWN_USERNAME SAMPLES"""
import http.client
import json
import statistics
import sys
import time
import urllib.parse

base, known, samples = sys.argv[1], sys.argv[2], int(sys.argv[3])
url = urllib.parse.urlparse(base)


def login_time(conn, username):
    body = json.dumps({"username": username, "password": "definitely-not-the-password"})
    started = time.perf_counter()
    conn.request("POST", "/login", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 401:
        raise SystemExit(f"expected 401, got {response.status}")
    return elapsed


conns = {kind: http.client.HTTPConnection(url.hostname, url.port, timeout=30) for kind in ("unknown", "known")}
times = {"unknown": [], "known": []}
for i in range(5):  # warm-up, not counted
    login_time(conns["known"], known)
    login_time(conns["unknown"], f"nobody-{i}")
for i in range(samples):
    # Alternate which kind goes first, so drift in machine load hits both alike.
    order = ("unknown", "known") if i % 2 == 0 else ("known", "unknown")
    for kind in order:
        name = known if kind == "known" else f"no-such-user-{i}"
        times[kind].append(login_time(conns[kind], name))
unknown, known_ms = statistics.median(times["unknown"]), statistics.median(times["known"])
diff = abs(unknown - known_ms) / known_ms * 100
print(f"RESULT samples={samples} unknown_p50_ms={unknown:.3f} known_p50_ms={known_ms:.3f} diff_pct={diff:.2f}")
