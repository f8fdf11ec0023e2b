"""One real user logging in during a login flood (bench/flood.sh): a login every INTERVAL
seconds for DURATION seconds, from one client address (X-Forwarded-For), with or without
the device token of its previous login. Prints one RESULT line: attempts, successes, the
success rate, p50/p99/max latency of every attempt and the statuses seen.

usage: [DEVICE_TOKEN=…] flood_probe.py BASE_URL NAME PASSWORD ADDRESS DURATION INTERVAL device|plain"""
import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse

base, name, password, address = sys.argv[1:5]
duration, interval, mode = float(sys.argv[5]), float(sys.argv[6]), sys.argv[7]
url = urllib.parse.urlparse(base)
headers = {"Content-Type": "application/json", "X-Forwarded-For": address}


def login(token):
    body = {"username": name, "password": password}
    if token:
        body["device_token"] = token
    # A new connection per login, as a user's browser or app would open after a while.
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    started = time.perf_counter()
    try:
        conn.request("POST", "/login", json.dumps(body), headers)
        response = conn.getresponse()
        text = response.read()
        status = response.status
    except OSError:
        text, status = b"", 0
    finally:
        conn.close()
    return status, (time.perf_counter() - started) * 1000, text


# device: the token of this user's last login before the flood (from bench/flood.sh).
token = os.environ.get("DEVICE_TOKEN") if mode == "device" else None
if mode == "device" and not token:
    raise SystemExit("device mode needs DEVICE_TOKEN")

times, statuses = [], {}
end = time.monotonic() + duration
while time.monotonic() < end:
    started = time.monotonic()
    status, ms, text = login(token)
    times.append(ms)
    statuses[status] = statuses.get(status, 0) + 1
    if status == 200 and mode == "device":
        token = json.loads(text).get("device_token") or token
    time.sleep(max(0.0, interval - (time.monotonic() - started)))

ok = statuses.get(200, 0)
q = statistics.quantiles(times, n=100, method="inclusive") if len(times) >= 2 else times * 99
print(
    f"RESULT mode={mode} attempts={len(times)} ok={ok} success_pct={100 * ok / max(1, len(times)):.1f} "
    f"p50_ms={statistics.median(times):.1f} p99_ms={q[98]:.1f} max_ms={max(times):.1f} "
    "statuses=" + ",".join(f"{s}:{n}" for s, n in sorted(statuses.items()))
)
