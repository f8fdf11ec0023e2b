#!/usr/bin/env python3
"""Small load client for bench/callgrind.sh and bench/throughput.sh: exactly N requests over ONE keep-alive connection.

  keepalive_client.py get  HOST PORT PATH N [--token T | --tokens FILE]
      GET PATH N times; with --token every request carries `Authorization: Bearer T`;
      with --tokens request i carries line i of FILE (FILE must have N lines or more).
      Prints `RESULT sent=N ok=K statuses=200:K,...`; exits 1 unless every answer is 200.
  keepalive_client.py tokens HOST PORT USER PASSWORD COUNT OUT
      Registers USER (409 = already there), logs in once and refreshes COUNT times over one
      connection, writing each distinct access token (the login's first) to OUT, one a line.
  keepalive_client.py refreshes HOST PORT REFRESH_TOKEN N
      N chained refreshes over one connection (each sends the token the last one returned).
  keepalive_client.py registers HOST PORT PREFIX PASSWORD N
      N registrations of new names PREFIX0, PREFIX1, ... over one connection (all must be 201).

Stdlib only; it is never run under valgrind.
"""
import http.client
import json
import sys


def get(host, port, path, n, tokens):
    conn = http.client.HTTPConnection(host, port, timeout=600)
    statuses = {}
    for i in range(n):
        headers = {}
        if tokens is not None:
            headers["Authorization"] = "Bearer " + tokens[i if len(tokens) > 1 else 0]
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        resp.read()
        statuses[resp.status] = statuses.get(resp.status, 0) + 1
    conn.close()
    ok = statuses.get(200, 0)
    desc = ",".join(f"{k}:{v}" for k, v in sorted(statuses.items()))
    print(f"RESULT sent={n} ok={ok} statuses={desc}")
    return 0 if ok == n else 1


def post(conn, path, body):
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, (json.loads(data) if data else {})


def tokens(host, port, user, password, count, out):
    conn = http.client.HTTPConnection(host, port, timeout=60)
    status, body = post(conn, "/register", {"username": user, "password": password})
    if status not in (201, 409):
        sys.exit(f"register answered {status}: {body}")
    status, body = post(conn, "/login", {"username": user, "password": password})
    if status != 200:
        sys.exit(f"login answered {status}: {body}")
    seen = [body["access_token"]]
    refresh = body["refresh_token"]
    for _ in range(count):
        status, body = post(conn, "/refresh", {"refresh_token": refresh})
        if status != 200:
            sys.exit(f"refresh answered {status}: {body} (after {len(seen)} tokens)")
        refresh = body["refresh_token"]
        seen.append(body["access_token"])
    if len(set(seen)) != len(seen):
        sys.exit("refresh returned a repeated access token")
    with open(out, "w") as f:
        f.write("\n".join(seen) + "\n")
    print(f"RESULT tokens={len(seen)}")
    return 0


def refreshes(host, port, refresh, n):
    conn = http.client.HTTPConnection(host, port, timeout=60)
    for i in range(n):
        status, body = post(conn, "/refresh", {"refresh_token": refresh})
        if status != 200:
            sys.exit(f"refresh answered {status}: {body} (request {i + 1})")
        refresh = body["refresh_token"]
    print(f"RESULT sent={n} ok={n}")
    return 0


def registers(host, port, prefix, password, n):
    conn = http.client.HTTPConnection(host, port, timeout=60)
    for i in range(n):
        status, body = post(conn, "/register", {"username": f"{prefix}{i}", "password": password})
        if status != 201:
            sys.exit(f"register answered {status}: {body} (request {i + 1})")
    print(f"RESULT sent={n} ok={n}")
    return 0


def main(argv):
    if len(argv) >= 6 and argv[1] == "get":
        host, port, path, n = argv[2], int(argv[3]), argv[4], int(argv[5])
        toks = None
        if len(argv) == 8 and argv[6] == "--token":
            toks = [argv[7]]
        elif len(argv) == 8 and argv[6] == "--tokens":
            with open(argv[7]) as f:
                toks = [line.strip() for line in f if line.strip()]
            if len(toks) < n:
                sys.exit(f"{argv[7]}: {len(toks)} tokens for {n} requests")
        elif len(argv) != 6:
            sys.exit(__doc__)
        return get(host, port, path, n, toks)
    if len(argv) == 6 and argv[1] == "refreshes":
        return refreshes(argv[2], int(argv[3]), argv[4], int(argv[5]))
    if len(argv) == 7 and argv[1] == "registers":
        return registers(argv[2], int(argv[3]), argv[4], argv[5], int(argv[6]))
    if len(argv) == 8 and argv[1] == "tokens":
        return tokens(argv[2], int(argv[3]), argv[4], argv[5], int(argv[6]), argv[7])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
