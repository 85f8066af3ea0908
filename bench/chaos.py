"""Chaos: `watcher run` killed with SIGKILL at random moments, restarted, against a slow
receiver. Nothing may be lost, and no alert may arrive twice under different ids.

    .venv/bin/python bench/chaos.py [--runs 50] [--kill-within 6] [--seed 17]

A webhook receiver in this process answers each POST after `--slow` seconds and records
every arrival (alert_id, rule id, article key). Three feed files are read from disk; before
each run two new entries are added to each (names, groups and places the shipped rules
fire on), so every run has fresh work to fetch, match, store and deliver. Each run starts
`watcher run` and kills it with SIGKILL at a random moment: one run in five during
start-up (uniform up to the last start-up time), the others once the service logs that it
runs, after a further uniform delay up to `--kill-within` seconds (polling, matching,
storing or a delivery on the wire). Start-up takes seconds on a busy machine; counting
from it keeps the kills where the work is.
After the last kill the service runs once more until every expected alert has arrived (or
`--settle` seconds pass) and is stopped with SIGTERM.

Expected alerts are what `watcher match` gives for the final feed files. Printed:
- lost: expected alert ids that never arrived (must be 0);
- twice under different ids: (rule, article) pairs that arrived under more than one
  alert id (must be 0);
- repeats under the same id (allowed: at-least-once delivery; receivers drop them by id).
Exit status 1 when either must-be-0 figure is not.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.loopback import LoopbackServer  # noqa: E402

FEEDS = ("levant", "north", "east")
NEW_PER_RUN = 2
TITLES = ("Isil convoy {n} leaves Raqqa for Deir Ezzor",
          "Airstrike hits hospital in Idlib, MSF says ({n})",
          "SDF fighters advance on Raqqa, report {n}")


@dataclass
class Receiver:
    """Every arrival: (alert_id, rule id, article key)."""

    slow: float
    arrived: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ids(self) -> set[str]:
        with self.lock:
            return {alert_id for alert_id, _, _ in self.arrived}


def start_receiver(receiver: Receiver) -> tuple[LoopbackServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with receiver.lock:
                receiver.arrived.append((body["alert_id"], body["rule"]["id"],
                                         body["article"]["key"]))
            time.sleep(receiver.slow)
            try:
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:
                pass  # the sender was killed while waiting

        def log_message(self, *args: object) -> None:
            pass

    server = LoopbackServer(Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook"


def write_feeds(folder: Path, entries: int) -> None:
    """Each feed with its first `entries` entries (newest first, as feeds list them)."""
    for f, feed in enumerate(FEEDS):
        items = "".join(
            f"<item><guid isPermaLink='false'>{feed}-{i}</guid>"
            f"<title>{TITLES[(i + f) % len(TITLES)].format(n=f'{feed} {i}')}</title>"
            f"<link>https://news.example.org/{feed}/{i}</link>"
            f"<description>Daesh fighters and a convoy near Mayadin, report {i}.</description>"
            f"</item>" for i in reversed(range(entries)))
        draft = folder / f"{feed}.xml.new"  # replaced whole: never read half-written
        draft.write_text(f"<?xml version='1.0'?><rss version='2.0'><channel><title>{feed}"
                         f"</title><link>https://news.example.org/</link>{items}</channel></rss>")
        draft.replace(folder / f"{feed}.xml")


def watcher(*args: str) -> list[str]:
    return [sys.executable, "-m", "watcher", *args]


def expected_alerts(folder: Path) -> set[str]:
    ids: set[str] = set()
    for feed in FEEDS:
        out = subprocess.run(watcher("match", "--rules", str(ROOT / "rules"), "--input",
                                     str(folder / f"{feed}.xml")),
                             capture_output=True, check=True, timeout=120).stdout
        ids |= {json.loads(line)["alert_id"] for line in out.splitlines()}
    return ids


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--kill-within", type=float, default=4.0)
    parser.add_argument("--slow", type=float, default=0.3)
    parser.add_argument("--settle", type=float, default=240.0)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    receiver = Receiver(slow=args.slow)
    server, url = start_receiver(receiver)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = folder / "watcher.yaml"
        config.write_text(json.dumps({
            "state": "w.db", "rules": [str(ROOT / "rules")], "default_interval": "1s",
            "jitter": 0, "feeds": [{"id": feed, "url": f"{feed}.xml"} for feed in FEEDS],
            "sinks": [{"type": "webhook", "name": "hook", "url": url, "timeout": 5}],
            "delivery": {"poll_interval": 0.1, "lease": 2, "initial_backoff": 0.2,
                         "max_backoff": 2},
        }))
        log = folder / "watcher.log"
        delays: list[float] = []
        startup, during_startup = 3.0, 0
        for run in range(args.runs):
            write_feeds(folder, NEW_PER_RUN * (run + 1))
            log.write_bytes(b"")
            with log.open("ab") as err:
                proc = subprocess.Popen(watcher("run", "--config", str(config)),
                                        stdout=subprocess.DEVNULL, stderr=err)
            launched = time.monotonic()
            if rng.random() < 0.2:
                during_startup += 1
                time.sleep(rng.uniform(0.3, startup))
                when = "during start-up"
            else:
                while (b"watcher running" not in log.read_bytes()
                       and time.monotonic() - launched < 120 and proc.poll() is None):
                    time.sleep(0.05)
                startup = time.monotonic() - launched
                time.sleep(rng.uniform(0, args.kill_within))
                when = f"{time.monotonic() - launched - startup:.1f}s after start-up"
            delays.append(time.monotonic() - launched)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            print(f"run {run + 1:2}/{args.runs}: killed {when} ({delays[-1]:.1f}s); "
                  f"{len(receiver.ids())} alert ids arrived so far", flush=True)
        expected = expected_alerts(folder)
        with log.open("ab") as err:
            final = subprocess.Popen(watcher("run", "--config", str(config)),
                                     stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + args.settle
        while time.monotonic() < deadline and not expected <= receiver.ids():
            time.sleep(0.2)
        final.send_signal(signal.SIGTERM)
        final.wait(timeout=60)
        tail = log.read_text(errors="replace")[-2000:]  # the last run's
    server.shutdown()
    with receiver.lock:
        arrived = list(receiver.arrived)
    ids_by_story: dict[tuple[str, str], set[str]] = defaultdict(set)
    for alert_id, rule, key in arrived:
        ids_by_story[(rule, key)].add(alert_id)
    lost = expected - {alert_id for alert_id, _, _ in arrived}
    different_ids = {story: ids for story, ids in ids_by_story.items() if len(ids) > 1}
    unexpected = {alert_id for alert_id, _, _ in arrived} - expected
    repeats = len(arrived) - len({alert_id for alert_id, _, _ in arrived})
    print(f"\n{args.runs} runs killed with SIGKILL ({during_startup} during start-up; "
          f"{min(delays):.1f}-{max(delays):.1f}s after launch, median "
          f"{sorted(delays)[len(delays) // 2]:.1f}s), then one run to the end; "
          f"{time.monotonic() - started:.0f}s in all")
    print(f"expected alerts:                   {len(expected)}")
    print(f"arrivals at the receiver:          {len(arrived)}")
    print(f"lost (must be 0):                  {len(lost)}")
    print(f"twice under different ids (0):     {len(different_ids)}")
    print(f"ids never expected:                {len(unexpected)}")
    print(f"repeats under the same id:         {repeats} (at-least-once; dropped by id)")
    if lost or different_ids or unexpected:
        print(f"\nlost: {sorted(lost)[:10]}\ndifferent ids: {list(different_ids.items())[:5]}"
              f"\nwatcher log tail:\n{tail}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
