#!/usr/bin/env python3
"""Round trips to the database per request, from an strace of the server (bench/throughput.sh).

  db_round_trips.py STRACE_FILE PID DB_PORT REQUESTS

STRACE_FILE is `strace -f -qq -e trace=sendto,sendmsg,write,writev -o FILE -p PID` taken
while exactly REQUESTS requests ran one after another. Every send on a socket whose peer is
DB_PORT is one message to the database: sqlx sends a statement with its parameters and
sync in one write, then waits for the answer, so each is one round trip. The sockets are
looked up in /proc/PID/fd and /proc/net/tcp{,6} after the run (the pool keeps its
connections open). Other sends (HTTP answers, eventfd wake-ups) are counted apart.
Prints one line: `RESULT db_sends_per_request=F other_sends=N`.
"""
import os
import re
import sys

SEND = re.compile(r"^\d+\s+(sendto|sendmsg|write|writev)\((\d+),")


def remote_ports():
    """socket inode -> remote port, for every TCP socket on the machine."""
    ports = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    ports[cols[9]] = int(cols[2].rsplit(":", 1)[1], 16)
        except OSError:
            continue
    return ports


def database_fds(pid, db_port):
    ports = remote_ports()
    fds = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            m = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            continue
        if m and ports.get(m.group(1)) == db_port:
            fds.add(int(fd))
    return fds


def main(argv):
    if len(argv) != 5:
        sys.exit(__doc__)
    path, pid, db_port, requests = argv[1], argv[2], int(argv[3]), int(argv[4])
    db = database_fds(pid, db_port)
    to_db = other = 0
    with open(path) as f:
        for line in f:
            m = SEND.match(line)
            if not m:
                continue
            if int(m.group(2)) in db:
                to_db += 1
            else:
                other += 1
    if requests <= 0 or to_db + other == 0:
        sys.exit(f"no sends seen in {path} (is strace allowed to attach?)")
    print(f"RESULT db_sends_per_request={to_db / requests:.2f} other_sends={other}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
