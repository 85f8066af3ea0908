"""Nothing lost, repeats recognisable: `watcher run` is killed with SIGKILL in the middle of
delivering to a slow receiver, started again, and every alert arrives; an alert that arrives
twice carries the same alert_id and Idempotency-Key both times."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.loopback import LoopbackServer

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = 5
SLOW_SECONDS = 0.6


@dataclass
class SlowReceiver:
    """Records each POST when it arrives and again when it has been answered."""

    arrived: list[tuple[str, str]] = field(default_factory=list)  # (Idempotency-Key, alert_id)
    answered: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def in_flight(self) -> int:
        with self.lock:
            return len(self.arrived) - len(self.answered)


@pytest.fixture
def receiver() -> Iterator[tuple[SlowReceiver, str]]:
    state = SlowReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.arrived.append((self.headers["Idempotency-Key"], body["alert_id"]))
            time.sleep(SLOW_SECONDS)
            try:
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                return  # the sender was killed: it never heard the answer
            with state.lock:
                state.answered.append(body["alert_id"])

        def log_message(self, *args: object) -> None:
            pass

    server = LoopbackServer(Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def write_feed(path: Path) -> None:
    items = "".join(
        f"<item><guid isPermaLink='false'>kill-{i}</guid>"
        f"<title>Isil convoy number {i} leaves Raqqa for Deir Ezzor</title>"
        f"<link>https://news.example.org/kill-{i}</link>"
        f"<description>A convoy of Daesh fighters left Raqqa for Mayadin (report {i})."
        f"</description>"
        f"</item>" for i in range(ARTICLES))
    path.write_text(f"<?xml version='1.0'?><rss version='2.0'><channel><title>Kill desk</title>"
                    f"<link>https://news.example.org/</link>{items}</channel></rss>")


def watcher(*args: str) -> list[str]:
    return [sys.executable, "-m", "watcher", *args]


def wait_for(condition: Callable[[], bool], seconds: float, what: str,
             proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            raise AssertionError(f"watcher exited {proc.returncode} before {what}:\n"
                                 f"{log.read_text()[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds}s: {what}:\n{log.read_text()[-3000:]}")


@pytest.mark.timeout(240)  # two service starts on a shared machine; it takes ~12 s alone
def test_sigkill_mid_delivery_then_restart_delivers_everything(
        tmp_path: Path, receiver: tuple[SlowReceiver, str]) -> None:
    state, url = receiver
    write_feed(tmp_path / "feed.xml")
    config = tmp_path / "watcher.yaml"
    config.write_text(json.dumps({
        "state": "var/w.db", "rules": [str(ROOT / "rules")], "default_interval": "1h",
        "jitter": 0, "feeds": [{"id": "kill", "url": "feed.xml"}],
        "sinks": [{"type": "webhook", "name": "hook", "url": url, "timeout": 5}],
        "delivery": {"poll_interval": 0.1, "lease": 2, "initial_backoff": 0.2},
        "stories": {"per": "article"},  # its five look-alike articles each alert here
    }))
    expected = {json.loads(line)["alert_id"] for line in subprocess.run(
        watcher("match", "--rules", str(ROOT / "rules"), "--input", str(tmp_path / "feed.xml")),
        capture_output=True, check=True, timeout=60).stdout.splitlines()}
    assert len(expected) >= ARTICLES

    env = {**os.environ, "PYTHONWARNINGS": "error::RuntimeWarning"}
    log = tmp_path / "watcher.log"  # a file, not a pipe nobody reads while it runs
    with log.open("ab") as err:
        first = subprocess.Popen(watcher("run", "--config", str(config)), env=env,
                                 stdout=subprocess.DEVNULL, stderr=err)
    try:
        # Kill it while a delivery is on the wire and others are still queued.
        wait_for(lambda: len(state.answered) >= 1 and state.in_flight() == 1, 90,
                 "one delivery answered and the next in flight", first, log)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    with state.lock:
        cut_off = state.arrived[-1][1]  # sent, never acknowledged to the sender
        delivered_before = set(state.answered)
    assert delivered_before < expected, "everything was delivered before the kill"

    with log.open("ab") as err:
        second = subprocess.Popen(watcher("run", "--config", str(config)), env=env,
                                  stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_for(lambda: expected <= set(state.answered), 90, "every alert delivered", second,
                 log)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert second.returncode == 0, log.read_text()[-3000:]

    keys = [key for key, _ in state.arrived]
    ids = [alert_id for _, alert_id in state.arrived]
    assert keys == ids  # the idempotency key is the alert id, on every attempt
    assert set(ids) == expected
    assert ids.count(cut_off) == 2  # the one cut off was sent again, under the same key
    repeated = {i for i in ids if ids.count(i) > 1}
    assert repeated <= {cut_off} | (expected - delivered_before)
    assert not repeated & delivered_before - {cut_off}  # acknowledged ones are never resent
    status = subprocess.run(watcher("alerts", "--config", str(config), "--json"),
                            capture_output=True, check=True, timeout=60)
    rows = [json.loads(line) for line in status.stdout.splitlines()]
    assert {r["status"] for r in rows} == {"delivered"} and len(rows) == len(expected)
