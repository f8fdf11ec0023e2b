"""Per-operation latency of tessera servers, for bench/scale.sh: sequential requests over one
keep-alive connection per server, the servers' samples interleaved (A, B, A, B, ...) so that
a change in machine load hits all of them alike.
  usage: scale_probe.py SAMPLES URL [URL ...]   -> {"URL": {"op": {"p50_ms", ...}}, ...}
  usage: scale_probe.py --during MAX_SECONDS STOP_FILE URL
      refreshes and logins back to back until STOP_FILE exists (while a purge runs)
      -> {"refresh": {...}, "login": {...}}"""
import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse

PASSWORD = "scale-bench-passphrase"


class Client:
    def __init__(self, base, tag):
        url = urllib.parse.urlparse(base)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        self.tag, self.n = tag, 0
        self.user = f"probe_{tag}_{int(time.time() * 1000)}"
        self.call("POST", "/register", {"username": self.user, "password": PASSWORD}, expect=201)
        body = json.loads(self.login()[1])
        self.access, self.refresh_token = body["access_token"], body["refresh_token"]

    def call(self, method, path, body=None, token=None, expect=200):
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        started = time.perf_counter()
        self.conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != expect:
            raise SystemExit(f"{method} {path}: expected {expect}, got {response.status}: {data[:200]!r}")
        return elapsed, data

    def login(self):
        return self.call("POST", "/login", {"username": self.user, "password": PASSWORD})

    def register(self):
        self.n += 1
        name = f"reg_{self.user}_{self.n}"
        return self.call("POST", "/register", {"username": name, "password": PASSWORD}, expect=201)

    def refresh(self):
        elapsed, data = self.call("POST", "/refresh", {"refresh_token": self.refresh_token})
        body = json.loads(data)
        self.refresh_token, self.access = body["refresh_token"], body["access_token"]
        return elapsed, data

    def sessions(self):
        return self.call("GET", "/sessions", token=self.access)

    def metrics(self):
        return self.call("GET", "/metrics")

    def protected(self):
        return self.call("GET", "/protected", token=self.access)


def summary(times):
    if not times:
        return None
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50_ms": round(statistics.median(ordered), 3), "p99_ms": round(p99, 3),
            "max_ms": round(ordered[-1], 3), "n": len(ordered)}


def during(max_seconds, stop_file, base):
    client = Client(base, "purge")
    deadline = time.monotonic() + max_seconds
    refreshes, logins = [], []
    while time.monotonic() < deadline and not os.path.exists(stop_file):
        refreshes.append(client.refresh()[0])
        if len(refreshes) % 10 == 0:
            logins.append(client.login()[0])
    return {"refresh": summary(refreshes), "login": summary(logins)}


def compare(samples, bases):
    clients = [Client(base, f"s{i}") for i, base in enumerate(bases)]
    # Operation: samples per server (the cheap ones get more).
    plan = [("login", samples), ("register", samples), ("refresh", samples),
            ("sessions", samples * 2), ("metrics", samples), ("protected", samples * 10)]
    times = {base: {op: [] for op, _ in plan} for base in bases}
    for op, count in plan:
        for i in range(count):
            # Alternate which server goes first, so drift hits both alike.
            order = clients if i % 2 == 0 else list(reversed(clients))
            for client, base in ((c, bases[clients.index(c)]) for c in order):
                times[base][op].append(getattr(client, op)()[0])
    return {base: {op: summary(t) for op, t in ops.items()} for base, ops in times.items()}


if sys.argv[1] == "--during":
    print(json.dumps(during(float(sys.argv[2]), sys.argv[3], sys.argv[4])))
else:
    print(json.dumps(compare(int(sys.argv[1]), sys.argv[2:])))
