"""A threaded loopback HTTP server for the ops tests: feeds to poll and webhook receivers
that can answer slowly or with an error. Threaded, so a slow webhook does not hold up a feed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback import LoopbackServer

CONVOY = ("Isil fighters leave Raqqa in a convoy for Deir Ezzor",
          "A convoy of Daesh fighters left Raqqa for Mayadin.")
FAIR = ("Damascus trade fair draws record crowds", "Exhibitors from eleven countries.")

RULES = """\
rules:
  - id: convoys
    title: Convoys on the move
    severity: high
    match:
      words: [convoy]
"""


def rss(items: list[tuple[str, str, str]]) -> str:
    body = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{title}</title>"
        f"<link>https://news.example.org/{guid}</link><description>{text}</description></item>"
        for guid, title, text in items)
    return ("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>Test desk</title><link>https://news.example.org/</link>{body}"
            "</channel></rss>")


@dataclass
class Hook:
    status: int = 200
    delay: float = 0.0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    started: int = 0


class LocalSite:
    def __init__(self) -> None:
        self.feeds: dict[str, tuple[int, str]] = {}
        self.hooks: dict[str, Hook] = {}
        self.polls: dict[str, int] = {}
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                name = self.path.strip("/")
                with site.lock:
                    site.polls[name] = site.polls.get(name, 0) + 1
                    status, body = site.feeds.get(name, (404, "no such feed"))
                self._answer(status, body, "application/rss+xml")

            def do_POST(self) -> None:
                hook = site.hooks.get(self.path.strip("/"))
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if hook is None:
                    self._answer(404, "no such hook", "text/plain")
                    return
                with site.lock:
                    hook.started += 1
                time.sleep(hook.delay)
                if hook.status < 300:
                    with site.lock:
                        hook.bodies.append(json.loads(data))
                self._answer(hook.status, "ok" if hook.status < 300 else "nope", "text/plain")

            def _answer(self, status: int, body: str, content_type: str) -> None:
                raw = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:
                    pass  # the watcher hung up (it was stopped mid-delivery)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = LoopbackServer(Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def set_feed(self, name: str, items: list[tuple[str, str, str]], status: int = 200) -> str:
        with self.lock:
            self.feeds[name] = (status, rss(items))
        return self.url(name)

    def hook(self, name: str, status: int = 200, delay: float = 0.0) -> str:
        self.hooks[name] = Hook(status, delay)
        return self.url(name)

    def delivered_ids(self, name: str) -> list[str]:
        with self.lock:
            return [str(b["alert_id"]) for b in self.hooks[name].bodies]


def local_site() -> Iterator[LocalSite]:
    site = LocalSite()
    site.thread.start()
    try:
        yield site
    finally:
        site.server.shutdown()
        site.server.server_close()


def wait_for(condition: Any, seconds: float, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {seconds}s")
