"""Replicas on one PostgreSQL: feeds polled per minute and alerts delivered per second with
1, 2 and 3 `watcher run` processes on this machine, as ratios against one replica measured in
the same run; and PostgreSQL round trips per poll (statements counted in-process).

    .venv/bin/python bench/scale.py [--feeds 300] [--seconds 15] [--runs 1]

Every feed gains a matching story on every request, and the interval (1 s) asks for more
polls than the machine can do, so the figures are capacity, not demand. Needs the server
at $PG_TEST_URL (default postgresql://postgres@127.0.0.1:5432/test); each run uses a
schema of its own, dropped after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import pgtest
from tests.loopback import LoopbackServer
from watcher.config.settings import load_config
from watcher.service.runner import open_runtime
from watcher.service.scheduler import CLAIM_TICK, FeedClaimer, SharedFeeds

STARTUP_TIMEOUT = 90.0
SETTLE = 3.0

RULES = 'rules:\n  - id: convoy\n    title: Convoy\n    severity: high\n    match:\n' \
        '      words: ["convoy"]\n'


class Site:
    """Feeds that publish a new matching story on every request; a webhook that counts."""

    def __init__(self) -> None:
        self.polls: list[float] = []
        self.pollers: set[str] = set()  # replica ids, from the User-Agent
        self.alerts: list[float] = []
        self.lock = threading.Lock()
        self.serial = 0
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with site.lock:
                    site.serial += 1
                    n = site.serial
                    site.polls.append(time.monotonic())
                    site.pollers.add(self.headers.get("User-Agent", "").rpartition(" ")[2])
                body = (f"<?xml version='1.0'?><rss version='2.0'><channel><title>d</title>"
                        f"<item><title>Convoy {n} seen</title>"
                        f"<link>https://news.example.org/{n}</link></item></channel></rss>")
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.end_headers()
                self.wfile.write(body.encode())

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                with site.lock:
                    site.alerts.append(time.monotonic())
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = LoopbackServer(Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def rates(self, start: float, end: float) -> tuple[float, float]:
        with self.lock:
            polls = sum(1 for t in self.polls if start <= t < end)
            alerts = sum(1 for t in self.alerts if start <= t < end)
        return polls / (end - start) * 60, alerts / (end - start)


def write_config(folder: Path, url: str, port: int, feeds: int, interval: float = 1) -> Path:
    (folder / "rules.yaml").write_text(RULES)
    config = folder / "watcher.yaml"
    config.write_text(json.dumps({
        "state": url, "replica_id": "${REPLICA}", "rules": ["rules.yaml"],
        "default_interval": interval, "jitter": 0.5, "log_level": "error",
        "feeds": [{"id": f"f{i}", "url": f"http://127.0.0.1:{port}/{i}.xml"}
                  for i in range(feeds)],
        "fetch": {"allow_addresses": ["127.0.0.0/8", "::1/128"], "user_agent": "bench ${REPLICA}"},
        "sinks": [{"type": "webhook", "name": "hook", "url": f"http://127.0.0.1:{port}/hook"}],
        "delivery": {"poll_interval": 0.2},
    }))
    return config


def measure(replicas: int, feeds: int, seconds: float, folder: Path) -> tuple[float, float]:
    site = Site()
    schema = pgtest.new_schema_name()
    config = write_config(folder, pgtest.schema_url(schema), site.port, feeds)
    procs = [subprocess.Popen([sys.executable, "-m", "watcher", "run", "--config", str(config)],
                              env={**os.environ, "REPLICA": f"r{n}"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for n in range(replicas)]
    try:
        # On a busy machine a replica can take many seconds to start: measure once all poll.
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while len(site.pollers) < replicas and time.monotonic() < deadline:
            time.sleep(0.2)
        if len(site.pollers) < replicas:
            raise SystemExit(f"only {len(site.pollers)} of {replicas} replicas polled within "
                             f"{STARTUP_TIMEOUT:.0f}s")
        time.sleep(SETTLE)  # past the first burst of polls
        start = time.monotonic()
        time.sleep(seconds)
        return site.rates(start, time.monotonic())
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
        site.server.shutdown()
        pgtest.drop_schema(schema)


async def round_trips_per_poll(folder: Path, feeds: int) -> tuple[float, float]:
    """Statements per poll while one replica's `FeedClaimer` polls `feeds` due feeds, each
    finding a new story: (all statements, of which batch claims). Counted on psycopg's
    cursor, in this process; creating the feeds' rows at start is not counted."""
    site = Site()
    schema = pgtest.new_schema_name()
    path = write_config(folder, pgtest.schema_url(schema), site.port, feeds, interval=3600)
    config = load_config(path, env={**os.environ, "REPLICA": "bench"})
    count = [0]
    original = psycopg.AsyncCursor.execute

    async def counting(self: psycopg.AsyncCursor, *args: object, **kwargs: object) -> object:
        count[0] += 1
        return await original(self, *args, **kwargs)  # type: ignore[arg-type]

    psycopg.AsyncCursor.execute = counting  # type: ignore[assignment,method-assign]
    try:
        async with open_runtime(config) as rt:
            store = rt.pipe.store
            assert isinstance(store, SharedFeeds)
            claims = [0]
            claim_due_feeds = store.claim_due_feeds

            async def counted(*args: Any) -> list[str]:
                claims[0] += 1
                return await claim_due_feeds(*args)

            store.claim_due_feeds = counted  # type: ignore[assignment,method-assign]
            claimer = FeedClaimer(rt.pipe, config.feeds, store)
            await claimer.start()
            count[0] = 0
            while len(site.polls) < feeds or claimer.in_flight:
                await asyncio.sleep(0.01)
            total = count[0]
            await claimer.stop(5)
    finally:
        psycopg.AsyncCursor.execute = original  # type: ignore[method-assign]
        site.server.shutdown()
        pgtest.drop_schema(schema)
    return total / feeds, claims[0] / feeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--runs", type=int, default=1, help="runs per replica count (median)")
    args = parser.parse_args()
    if (error := pgtest.server_error()) is not None:
        raise SystemExit(f"bench/scale.py needs PostgreSQL at {pgtest.BASE_URL}: {error}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        per_poll, claims = asyncio.run(round_trips_per_poll(folder, 50))
        print(f"round trips per poll: {per_poll:.2f} (new story found), of which "
              f"{claims:.2f} batch claims; a replica with nothing due: "
              f"{1 / CLAIM_TICK:.0f} claim/s")
        baseline: tuple[float, float] | None = None
        for replicas in (1, 2, 3):
            runs = [measure(replicas, args.feeds, args.seconds, folder)
                    for _ in range(args.runs)]
            polls = statistics.median(r[0] for r in runs)
            alerts = statistics.median(r[1] for r in runs)
            baseline = baseline or (polls, alerts)
            print(f"{replicas} replica(s): {polls:7.0f} feeds/min ({polls / baseline[0]:.2f}x), "
                  f"{alerts:6.1f} alerts/s ({alerts / baseline[1]:.2f}x)", flush=True)


if __name__ == "__main__":
    main()
