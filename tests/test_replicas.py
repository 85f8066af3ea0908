"""Three `watcher run` replicas on one PostgreSQL schema: a local site of 100 feeds that gain
entries while they run, a local webhook receiver, and one replica killed with SIGKILL midway.

Every matching article is alerted exactly once (the same story published by two feeds
included); each feed is polled once per interval across the replicas, never by two in the
same interval, and none starves, also after the kill; nothing is lost, and an alert that
arrives twice (a delivery cut off by the kill) carries the same alert_id both times.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from itertools import pairwise
from pathlib import Path

import pytest

from tests.loopback import LoopbackServer
from watcher.feeds.health import DUE_SLACK
from watcher.matching.alerts import alert_id

FEEDS = 100
REPLICAS = 3
INTERVAL = 4.0  # seconds between polls of each feed (100 feeds: 25 polls/s in all)
FETCH_TIMEOUT, CONNECT_TIMEOUT = 2.0, 1.0
FEED_LEASE = 2 * (FETCH_TIMEOUT + CONNECT_TIMEOUT)  # pipeline.feed_lease_seconds
RUN_BEFORE_KILL = 12.0
RUN_AFTER_KILL = 12.0
RULE_ID = "convoy-watch"
RULES = f"""
rules:
  - id: {RULE_ID}
    title: Convoy seen
    severity: high
    match:
      words: ["convoy"]
"""
# A feed falls due an interval after its last poll started. Each replica claims the feeds
# due at that moment, once a second or as soon as one of its 16 fetch slots frees, in one
# statement that hands each feed to one replica. The request reaches the site later, by a
# delay that grows with load (2 shared cores), so request gaps are the due gaps give or take
# that delay: a late request followed by a prompt one can come well before INTERVAL. Two
# replicas polling in the same interval, though, would be two claims of one due feed: under
# a second apart. And over the run no feed may get more polls than intervals passed (a poll
# that starts within 10% of its due time counts from it: feedhealth.DUE_SLACK).
MIN_GAP = 0.25 * INTERVAL
MAX_GAP = 3 * INTERVAL + 2.0  # the interval, a claim tick, and a slot and a CPU under load
MAX_GAP_ACROSS_KILL = FEED_LEASE + MAX_GAP  # a feed leased by the dead replica waits
DELIVERY_LEASE = 15.0  # a dead replica's claimed alerts come back after this
DRAIN_SECONDS = DELIVERY_LEASE + 15.0


@dataclass
class Entry:
    guid: str
    title: str
    url: str


@dataclass
class FeedSite:
    """100 RSS feeds with ETags; records every request (feed, when, which replica)."""

    feeds: list[list[Entry]] = field(default_factory=lambda: [[] for _ in range(FEEDS)])
    requests: list[tuple[int, float, str]] = field(default_factory=list)
    matching_urls: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    serial: int = 0

    def add(self, feeds: list[int], matching: bool) -> None:
        """One new story, published by each of `feeds` at once (same link: one article)."""
        with self.lock:
            self.serial += 1
            n = self.serial
            url = f"https://news.example.org/story/{n}"
            title = (f"Armed convoy number {n} seen on the road north" if matching
                     else f"Weather report number {n} for the coast")
            for i in feeds:
                self.feeds[i].append(Entry(f"g{n}", title, url))
            if matching:
                self.matching_urls.add(url)

    def body(self, i: int) -> tuple[str, bytes]:
        with self.lock:
            entries = list(self.feeds[i])
        items = "".join(f"<item><guid isPermaLink='false'>{e.guid}</guid><title>{e.title}"
                        f"</title><link>{e.url}</link></item>" for e in reversed(entries))
        doc = (f"<?xml version='1.0'?><rss version='2.0'><channel><title>Desk {i}</title>"
               f"<link>https://news.example.org/</link>{items}</channel></rss>")
        return f'"{i}-{len(entries)}"', doc.encode()


@dataclass
class Receiver:
    posts: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def alert_ids(self) -> set[str]:
        with self.lock:
            return {p["alert_id"] for p in self.posts}


def serve(handler: type[BaseHTTPRequestHandler]) -> tuple[LoopbackServer, int]:
    server = LoopbackServer(handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server_address[1])


@pytest.fixture
def site() -> Iterator[tuple[FeedSite, int]]:
    state = FeedSite()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            i = int(self.path.removeprefix("/feed/").removesuffix(".xml"))
            replica = self.headers.get("User-Agent", "").rpartition(" ")[2]
            with state.lock:
                state.requests.append((i, time.monotonic(), replica))
            etag, body = state.body(i)
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server, port = serve(Handler)
    try:
        yield state, port
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.posts.append({
                    "key": self.headers["Idempotency-Key"], "alert_id": body["alert_id"],
                    "rule": body["rule"]["id"], "article_key": body["article"]["key"],
                    "url": body["article"]["url"], "at": str(time.monotonic())})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server, port = serve(Handler)
    try:
        yield state, f"http://127.0.0.1:{port}/hook"
    finally:
        server.shutdown()
        server.server_close()


def write_config(tmp_path: Path, pg_url: str, site_port: int, hook: str) -> Path:
    (tmp_path / "rules.yaml").write_text(RULES)
    config = tmp_path / "watcher.yaml"
    config.write_text(json.dumps({
        "state": pg_url, "replica_id": "${REPLICA}", "rules": ["rules.yaml"],
        "default_interval": INTERVAL, "jitter": 0.2, "log_level": "warning",
        "feeds": [{"id": f"f{i:03}", "url": f"http://127.0.0.1:{site_port}/feed/{i}.xml"}
                  for i in range(FEEDS)],
        "fetch": {"allow_addresses": ["127.0.0.1/32", "::1/128"], "timeout": FETCH_TIMEOUT,
                  "connect_timeout": CONNECT_TIMEOUT, "user_agent": "watcher-test ${REPLICA}"},
        "sinks": [{"type": "webhook", "name": "hook", "url": hook, "timeout": 5}],
        # Workers renew their delivery leases while sending; the lease only has to outlast
        # a renewal interval under load (a lease/3 pause of a busy event loop).
        "delivery": {"poll_interval": 0.2, "lease": DELIVERY_LEASE, "initial_backoff": 0.2},
        # One alert per matching article is what this counts; its articles are alike by design.
        "stories": {"per": "article"},
    }))
    return config


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds}s: {what}")


def publish_for(site: FeedSite, seconds: float, rng: random.Random) -> None:
    """Two new stories every 0.5 s: most in one feed, some in two; half of them match."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(2):
            feeds = rng.sample(range(FEEDS), 2 if rng.random() < 0.25 else 1)
            site.add(feeds, matching=rng.random() < 0.5)
        time.sleep(0.5)


def poll_gaps(requests: list[tuple[int, float, str]], since: float
              ) -> dict[int, list[tuple[float, float]]]:
    """For each feed, (time, gap since the previous request) of its requests after `since`."""
    times: dict[int, list[float]] = defaultdict(list)
    for feed, at, _ in sorted(requests, key=lambda r: r[1]):
        times[feed].append(at)
    return {feed: [(b, b - a) for a, b in pairwise(ts) if b >= since]
            for feed, ts in times.items()}


@pytest.mark.timeout(150)
def test_three_replicas_poll_each_feed_once_and_alert_once_through_a_kill(
        tmp_path: Path, pg_url: str, site: tuple[FeedSite, int],
        receiver: tuple[Receiver, str]) -> None:
    feeds, port = site
    hooks, hook_url = receiver
    rng = random.Random(7)
    for i in range(FEEDS):  # a story in every feed to start with; a few shared by two
        feeds.add([i, (i + 100) % FEEDS] if i % 20 == 0 else [i], matching=i % 2 == 0)
    config = write_config(tmp_path, pg_url, port, hook_url)

    procs = {f"r{n}": subprocess.Popen(
        [sys.executable, "-m", "watcher", "run", "--config", str(config)],
        env={**os.environ, "REPLICA": f"r{n}"}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE) for n in range(REPLICAS)}
    try:
        wait_for(lambda: len({r[0] for r in feeds.requests}) == FEEDS, 40,
                 "every feed polled once")
        started = time.monotonic()
        publish_for(feeds, RUN_BEFORE_KILL, rng)
        killed_at = time.monotonic()
        procs["r1"].send_signal(signal.SIGKILL)
        procs["r1"].communicate(timeout=10)
        publish_for(feeds, RUN_AFTER_KILL, rng)
        stopped_publishing = time.monotonic()
        expected = set(feeds.matching_urls)
        wait_for(lambda: len({p["url"] for p in hooks.posts}) >= len(expected), DRAIN_SECONDS,
                 "every matching article delivered")
    finally:
        errors = {}
        for name, proc in procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            errors[name] = proc.communicate(timeout=30)[1].decode()
    for name in ("r0", "r2"):
        assert procs[name].returncode == 0, errors[name]

    # Alerts: every matching article exactly once; a repeat only from the kill, same id.
    posts = list(hooks.posts)
    by_url: dict[str, set[str]] = defaultdict(set)
    for post in posts:
        assert post["key"] == post["alert_id"] == alert_id(RULE_ID, post["article_key"])
        by_url[post["url"]].add(post["alert_id"])
    assert set(by_url) == expected  # nothing lost, nothing that does not match
    assert all(len(ids) == 1 for ids in by_url.values())
    repeats = [p for p in posts if float(p["at"]) < killed_at]
    assert len(repeats) == len({p["alert_id"] for p in repeats}), "a repeat before the kill"
    assert len(posts) - len(hooks.alert_ids()) <= 100  # at most the dead replica's batch

    # Polls: never two in one interval; none starves, also while the dead replica's leases
    # run out; all three replicas shared the work, and only two after the kill.
    gaps = poll_gaps(feeds.requests, since=started)
    assert len(gaps) == FEEDS
    too_soon = [(f, round(g, 2)) for f, gs in gaps.items() for _, g in gs if g < MIN_GAP]
    assert not too_soon, f"polled twice in one interval: {too_soon[:10]}"
    late = [(f, round(g, 2)) for f, gs in gaps.items() for at, g in gs
            if g > (MAX_GAP_ACROSS_KILL if killed_at < at < killed_at + MAX_GAP_ACROSS_KILL
                    else MAX_GAP) and at < stopped_publishing]
    assert not late, f"feeds waited too long between polls: {late[:10]}"
    before = {r for _, at, r in feeds.requests if started <= at < killed_at}
    after = {r for _, at, r in feeds.requests if at > killed_at + 1}
    assert before == {"r0", "r1", "r2"} and after == {"r0", "r2"}
    window = max(at for _, at, _ in feeds.requests) - started
    most = window / (0.9 * INTERVAL) + 1
    crowded = {f: len(gs) for f, gs in gaps.items() if len(gs) > most}
    assert not crowded, f"more polls than intervals ({most:.1f}): {crowded}"
    # The mean time between two polls of a feed, over all feeds. (Counting polls in the
    # window instead would over-count: a feed's first poll after `started` can come up to
    # one interval early in the window.) A poll may run DUE_SLACK early, never more often.
    all_gaps = [g for gs in gaps.values() for _, g in gs]
    mean_gap = sum(all_gaps) / len(all_gaps)
    assert INTERVAL * (1 - DUE_SLACK) <= mean_gap <= 2.5 * INTERVAL, (
        f"mean gap {mean_gap:.2f}s between polls of a feed, interval {INTERVAL}s")
