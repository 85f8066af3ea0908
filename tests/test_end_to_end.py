"""The whole flow through the real command line: feeds served on loopback, alerts delivered
to a real local webhook receiver, a real SMTP server and a JSON Lines file. Every `watcher`
run is a fresh process, so each second run is also a restart."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.conftest import MailBox
from watcher.models import Alert

ROOT = Path(__file__).resolve().parent.parent

ISIL_CONVOY = (
    "Isil fighters leave Raqqa in a convoy for Deir Ezzor",
    "A convoy of Daesh fighters left Raqqa for Mayadin; an SDF commander said one of "
    "them had defected near Tabqa.",
)
AID_WORKERS = (
    "Two aid workers killed as humanitarian convoy is shelled near Aleppo",
    "Shells struck a relief convoy west of Aleppo, killing two aid workers.",
)
TRADE_FAIR = ("Damascus trade fair draws record crowds", "Exhibitors from eleven countries.")


def rss(items: list[tuple[str, str, str]]) -> str:
    """An RSS 2.0 document of (guid, title, description) items."""
    body = "".join(
        f"<item><guid isPermaLink='false'>{guid}</guid><title>{title}</title>"
        f"<link>https://news.example.org/{guid}</link><description>{text}</description></item>"
        for guid, title, text in items
    )
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>Test desk</title><link>https://news.example.org/</link>{body}"
            f"</channel></rss>")


class FeedSite:
    """Feeds served by a local HTTP server, changeable between polls, with ETag support,
    and a webhook receiver that records every POST."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.feeds: dict[str, str] = {}
        self.hook_bodies: list[dict[str, object]] = []
        self.hook_headers: list[dict[str, str]] = []
        self.feed_requests: dict[str, int] = {}

    def set_feed(self, name: str, items: list[tuple[str, str, str]]) -> str:
        self.feeds[name] = rss(items)
        self.server.expect_request(f"/{name}").respond_with_handler(self._serve)
        return self.server.url_for(f"/{name}")

    def _serve(self, request: Request) -> Response:
        name = request.path.lstrip("/")
        self.feed_requests[name] = self.feed_requests.get(name, 0) + 1
        if name not in self.feeds:
            return Response("gone wrong", status=500)
        body = self.feeds[name]
        etag = f'"{abs(hash(body))}"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(body, content_type="application/rss+xml", headers={"ETag": etag})

    def hook_url(self) -> str:
        self.server.expect_request("/hook", method="POST").respond_with_handler(self._receive)
        return self.server.url_for("/hook")

    def _receive(self, request: Request) -> Response:
        self.hook_bodies.append(json.loads(request.get_data()))
        self.hook_headers.append(dict(request.headers))
        return Response("ok", status=200)


@pytest.fixture
def site(httpserver: HTTPServer) -> FeedSite:
    return FeedSite(httpserver)


def write_config(tmp_path: Path, feeds: dict[str, str], *, hook: str | None = None,
                 smtp_port: int | None = None, rules: Path | None = None,
                 interval: str = "1h") -> Path:
    sinks: list[dict[str, object]] = [{"name": "archive", "type": "jsonl",
                                       "path": "alerts.jsonl"}]
    if hook:
        sinks.append({"name": "hook", "type": "webhook", "url": hook})
    if smtp_port:
        sinks.append({"name": "mail", "type": "email", "host": "127.0.0.1", "port": smtp_port,
                      "security": "none", "from": "watcher@example.org",
                      "to": ["desk@example.org"]})
    config = {
        "state": "state/watcher.db",
        "rules": [str(rules or ROOT / "rules")],
        "jitter": 0,
        "fetch": {"allow_addresses": ["127.0.0.1/32", "::1/128"], "timeout": "10s"},
        "feeds": [{"id": fid, "url": url, "interval": interval} for fid, url in feeds.items()],
        "sinks": sinks,
        "delivery": {"poll_interval": "0.2s", "initial_backoff": "1s"},
    }
    path = tmp_path / "watcher.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def watcher(*args: str, stdin: bytes | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"}
    return subprocess.run([sys.executable, "-m", "watcher", *args], input=stdin,
                          capture_output=True, timeout=timeout, env=env, check=False)


def read_jsonl(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_once_delivers_each_new_matching_article_once_across_restarts(
        tmp_path: Path, site: FeedSite, mailbox: tuple[MailBox, int]) -> None:
    box, port = mailbox
    feed = site.set_feed("desk.xml", [("a1", *ISIL_CONVOY), ("a2", *TRADE_FAIR)])
    config = write_config(tmp_path, {"desk": feed}, hook=site.hook_url(), smtp_port=port)

    first = watcher("once", "--config", str(config))
    assert first.returncode == 0, first.stderr.decode()
    isil_alerts = len(site.hook_bodies)
    assert isil_alerts >= 1
    assert {b["article"]["title"] for b in site.hook_bodies} == {ISIL_CONVOY[0]}  # type: ignore[index]
    assert len(box.messages()) == isil_alerts
    for body, headers in zip(site.hook_bodies, site.hook_headers, strict=True):
        alert = Alert.model_validate(body)
        assert alert.to_dict() == body
        assert headers["Idempotency-Key"] == alert.alert_id
    assert box.messages()[0]["Subject"]

    # The feed gains an entry: only the new article alerts.
    site.set_feed("desk.xml", [("a3", *AID_WORKERS), ("a1", *ISIL_CONVOY), ("a2", *TRADE_FAIR)])
    second = watcher("once", "--config", str(config))
    assert second.returncode == 0, second.stderr.decode()
    new_titles = {b["article"]["title"] for b in site.hook_bodies[isil_alerts:]}  # type: ignore[index]
    assert new_titles == {AID_WORKERS[0]}
    assert len(box.messages()) == len(site.hook_bodies)

    # Nothing changed: a third process sends nothing (304, and every key already seen).
    sent = len(site.hook_bodies)
    third = watcher("once", "--config", str(config))
    assert third.returncode == 0, third.stderr.decode()
    assert len(site.hook_bodies) == sent
    assert len(box.messages()) == sent
    archive = read_jsonl(tmp_path / "alerts.jsonl")
    assert sorted(a["alert_id"] for a in archive) == sorted(  # type: ignore[type-var]
        b["alert_id"] for b in site.hook_bodies)  # type: ignore[type-var]


def test_broken_feed_and_broken_rule_file_do_not_stop_the_rest(
        tmp_path: Path, site: FeedSite) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    (rules / "broken.yaml").write_text("rules:\n  - id: broken\n    title: [unclosed\n")
    good = site.set_feed("good.xml", [("g1", *ISIL_CONVOY)])
    bad = site.server.url_for("/missing.xml")
    config = write_config(tmp_path, {"bad": bad, "good": good}, hook=site.hook_url(),
                          rules=rules)

    result = watcher("once", "--config", str(config))
    stderr = result.stderr.decode()
    assert result.returncode == 1  # a feed failed, and says so
    assert "broken.yaml:3:" in stderr
    assert "bad" in stderr
    assert {b["article"]["title"] for b in site.hook_bodies} == {ISIL_CONVOY[0]}  # type: ignore[index]


def test_run_polls_on_schedule_delivers_and_stops_cleanly_on_sigterm(
        tmp_path: Path, site: FeedSite) -> None:
    feed = site.set_feed("live.xml", [("l1", *ISIL_CONVOY)])
    config = write_config(tmp_path, {"live": feed}, hook=site.hook_url(), interval="1s")
    proc = subprocess.Popen([sys.executable, "-m", "watcher", "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: len(site.hook_bodies) >= 1, 20)
        site.set_feed("live.xml", [("l2", *AID_WORKERS), ("l1", *ISIL_CONVOY)])
        _wait_for(lambda: any(b["article"]["title"] == AID_WORKERS[0]  # type: ignore[index]
                              for b in site.hook_bodies), 20)
        assert site.feed_requests["live.xml"] >= 2
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()
    ids = [b["alert_id"] for b in site.hook_bodies]
    assert len(ids) == len(set(ids)), "an alert was delivered twice"


def _wait_for(condition: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")
