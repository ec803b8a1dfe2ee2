#!/usr/bin/env python3
"""What an open client connection costs Herald in memory (resident set).

Starts `herald serve` (a release build) on a fresh SQLite file, then opens
N connections from loopback three times over and prints Herald's RSS after
each step:

  idle      connections that have sent nothing;
  stalled   connections that sent a request head announcing a body of
            --max-body-size bytes and all of it but its last byte (the
            most a body in flight can hold);
and how much each connection added, per step. Herald runs with the
per-client cap off (every connection comes from 127.0.0.1) and a request
timeout long enough for the whole measurement.

  cargo build --release --bin herald
  python3 scripts/connection-memory.py [--connections 400] [--body 1048576]
"""

import argparse
import os
import re
import socket
import subprocess
import tempfile
import time

HERALD = os.path.join(os.path.dirname(__file__), "..", "target", "release", "herald")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(r"VmRSS:\s+(\d+)", status.read()).group(1))


def settle(pid):
    """RSS once it stops moving (Herald reads what was sent meanwhile)."""
    last = rss_kib(pid)
    for _ in range(50):
        time.sleep(0.2)
        now = rss_kib(pid)
        if now == last:
            return now
        last = now
    return last


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=400)
    parser.add_argument("--body", type=int, default=1 << 20)
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    database = f"sqlite://{folder}/herald.db"
    token = subprocess.run(
        [HERALD, "token", "create", "--account", "wdc", "--role", "administrator",
         "--database", database],
        check=True, capture_output=True, text=True).stdout.strip()
    herald = subprocess.Popen(
        [HERALD, "serve", "--database", database, "--listen", "127.0.0.1:0",
         "--data-dir", folder, "--max-connections-per-client", "0",
         "--request-timeout", "10m", "--connection-idle-timeout", "10m",
         "--max-body-size", str(args.body), "--rate-limit", "0"],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "HERALD_LOG": "info"})
    try:
        for line in herald.stderr:
            found = re.search(r"address=(\S+)", line)
            if found:
                host, port = found.group(1).rsplit(":", 1)
                break
        baseline = settle(herald.pid)
        print(f"baseline                  {baseline / 1024:8.1f} MiB")
        held = []
        for _ in range(args.connections):
            held.append(socket.create_connection((host, int(port))))
        idle = settle(herald.pid)
        per_idle = (idle - baseline) / args.connections
        print(f"{args.connections} idle connections  {idle / 1024:8.1f} MiB"
              f"   {per_idle:7.1f} KiB each")
        head = (f"POST /v1/events HTTP/1.1\r\nHost: herald\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {args.body}\r\n\r\n").encode()
        body = b" " * (args.body - 1)
        for conn in held:
            conn.sendall(head + body)
        stalled = settle(herald.pid)
        per_stalled = (stalled - baseline) / args.connections
        print(f"{args.connections} stalled bodies    {stalled / 1024:8.1f} MiB"
              f"   {per_stalled:7.1f} KiB each (body {args.body / 1024:.0f} KiB)")
        for conn in held:
            conn.close()
    finally:
        herald.terminate()
        herald.wait()


if __name__ == "__main__":
    main()
