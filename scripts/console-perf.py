#!/usr/bin/env python3
"""How fast the console's pages answer on a large account.

Fills a fresh SQLite database (straight through SQL, after `herald
migrate`) with one account of --webhooks webhooks and --deliveries
deliveries spread over the last --days days (one attempt each; most
succeeded, some given up, a queue of pending ones), starts `herald serve`
(a release build) on it, signs in to the console and requests each page
--requests times over one kept-alive connection, one at a time. Prints
p50 and p99 per page, in milliseconds, measured at the client.

  cargo build --release --bin herald
  python3 scripts/console-perf.py [--webhooks 10000] [--deliveries 1000000] [--requests 200]
  python3 scripts/console-perf.py --keep /tmp/console-perf   # fill once, reuse after
"""

import argparse
import http.client
import os
import random
import re
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.parse

HERALD = os.path.join(os.path.dirname(__file__), "..", "target", "release", "herald")
SECRET_KEY = "dGVzdCBrZXkgb2YgdGhpcnR5LXR3byBieXRlcyEhISE="
EVENTS = ["request.create", "request.update", "problem.create", "change.create",
          "task.update", "project.create"]


def fill(path, webhooks, deliveries, days):
    """Bulk rows of account `perf` (whose token `herald token create` made)."""
    now = int(time.time())
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    rng = random.Random(26)
    db.executemany(
        "INSERT INTO webhooks (account_id, name, event, uri, description, disabled, source, "
        "attachments, last_error, verified, created_at, updated_at, consecutive_failures) "
        "VALUES ('perf', ?, ?, ?, ?, ?, 'perf', '[]', ?, TRUE, ?, ?, ?)",
        ((f"hook-{i}", EVENTS[i % len(EVENTS)], f"https://receiver-{i % 500}.example.com/hooks/{i}",
          f"webhook number {i}", i % 50 == 0,
          "HTTP 500" if i % 20 == 0 else None, now - 40 * 86400, now - 40 * 86400,
          3 if i % 20 == 0 else 0) for i in range(webhooks)))
    first_hook = db.execute("SELECT MIN(id) FROM webhooks").fetchone()[0]
    events = max(deliveries // 100, 1)
    db.executemany(
        "INSERT INTO events (account_id, kind, event, object_id, payload, created_at) "
        "VALUES ('perf', 'event', ?, ?, '{\"id\": 1}', ?)",
        ((EVENTS[i % len(EVENTS)], i, now - (events - i) * days * 86400 // events)
         for i in range(events)))
    first_event = db.execute("SELECT MIN(id) FROM events").fetchone()[0]
    message = '{"event":"request.create","object_id":1,"payload":{"id":1}}'

    def rows():
        for i in range(deliveries):
            created = now - (deliveries - i) * days * 86400 // deliveries
            roll = rng.random()
            status = "succeeded" if roll < 0.95 else "given_up" if roll < 0.99 else "pending"
            yield (f"perf-{i}", rng.randrange(webhooks) + first_hook,
                   first_event + i * events // deliveries, EVENTS[i % len(EVENTS)], i, status,
                   0 if status == "pending" else 1, (created + 60) * 1000,
                   None if status == "pending" else message, created, created)
    db.executemany(
        "INSERT INTO deliveries (uuid, account_id, webhook_id, event_id, event, object_id, kind, "
        "status, attempts, next_attempt_at, message, created_at, updated_at) "
        "VALUES (?, 'perf', ?, ?, ?, ?, 'event', ?, ?, ?, ?, ?, ?)", rows())
    db.execute(
        "INSERT INTO delivery_attempts (delivery_id, started_at, duration_ms, response_status, "
        "response_headers, response_body, error, remote_ip, trigger) "
        "SELECT id, created_at * 1000, 40, CASE status WHEN 'succeeded' THEN 200 ELSE 500 END, "
        "'{\"content-type\":\"text/plain\"}', 'ok', NULL, '192.0.2.1', 'automatic' "
        "FROM deliveries WHERE status <> 'pending'")
    db.commit()
    db.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """One kept-alive connection with the console's cookies."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies = {}

    def request(self, method, path, form=None):
        headers = {"cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["content-type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        answer = self.conn.getresponse()
        text = answer.read().decode()
        for name, value in answer.getheaders():
            if name.lower() == "set-cookie":
                key, val = value.split(";")[0].split("=", 1)
                self.cookies[key] = val
        return answer.status, text


def sign_in(client, token):
    _, page = client.request("GET", "/console/sign-in")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    status, _ = client.request("POST", "/console/sign-in", {"csrf": csrf, "token": token})
    assert status == 303, status


def percentile(samples, p):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--webhooks", type=int, default=10_000)
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--herald", default=HERALD)
    parser.add_argument("--keep", metavar="DIR",
                        help="fill the database in DIR once and reuse it on later runs "
                             "(the figures' ages then drift with the clock)")
    args = parser.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="console-perf-")
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, "herald.db")
    token_file = os.path.join(work, "token")
    database = f"sqlite://{path}"
    env = dict(os.environ, HERALD_SECRET_KEY=SECRET_KEY, HERALD_DATA_DIR=work)
    subprocess.run([args.herald, "migrate", "--database", database], check=True, env=env)
    if os.path.exists(token_file):
        token = open(token_file).read().strip()
        print(f"reusing the database filled in {work}")
    else:
        token = subprocess.run(
            [args.herald, "token", "create", "--account", "perf", "--role", "administrator",
             "--database", database], check=True, capture_output=True, text=True,
            env=env).stdout.strip()
        started = time.monotonic()
        fill(path, args.webhooks, args.deliveries, args.days)
        print(f"filled {args.webhooks} webhooks and {args.deliveries} deliveries "
              f"in {time.monotonic() - started:.0f} s")
        with open(token_file, "w") as f:
            f.write(token)
    port = free_port()
    # The API only: no delivery workers take the queue while pages are read.
    server = subprocess.Popen(
        [args.herald, "serve", "--database", database, "--listen", f"127.0.0.1:{port}",
         "--role", "api", "--rate-limit", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                client = Client(port)
                client.request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.2)
        sign_in(client, token)
        db = sqlite3.connect(path)
        hook = db.execute("SELECT webhook_id FROM deliveries GROUP BY webhook_id "
                          "ORDER BY COUNT(*) DESC LIMIT 1").fetchone()[0]
        delivery = db.execute("SELECT MAX(id) FROM deliveries WHERE webhook_id = ? "
                              "AND status = 'succeeded'", (hook,)).fetchone()[0]
        pending = db.execute("SELECT MAX(id) FROM deliveries WHERE status = 'pending'").fetchone()[0]
        db.close()
        pages = [
            ("overview", "/console"),
            ("webhooks", "/console/webhooks"),
            ("webhooks, failing", "/console/webhooks?state=failing"),
            ("webhooks, search", "/console/webhooks?q=receiver-42."),
            ("webhooks, page 200", "/console/webhooks?page=200"),
            ("webhook", f"/console/webhooks/{hook}"),
            ("webhook, given up", f"/console/webhooks/{hook}?status=given_up"),
            ("webhook edit form", f"/console/webhooks/{hook}/edit"),
            ("delivery", f"/console/deliveries/{delivery}"),
            ("delivery, not sent", f"/console/deliveries/{pending}"),
            ("policies", "/console/policies"),
            ("events", "/console/events"),
        ]
        print(f"{'page':<22} {'p50 ms':>8} {'p99 ms':>8}")
        for name, page in pages:
            samples = []
            for _ in range(args.requests):
                start = time.perf_counter()
                status, _ = client.request("GET", page)
                samples.append((time.perf_counter() - start) * 1000)
                assert status == 200, (page, status)
            print(f"{name:<22} {percentile(samples, 50):>8.1f} {percentile(samples, 99):>8.1f}")
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
