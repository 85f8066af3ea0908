"""Alert latency: from an entry appearing on a feed to the webhook receiving its alert, with
polling and with WebSub push.

    .venv/bin/python bench/latency.py [--samples 20] [--poll-interval 5]

This process plays the publisher (an Atom feed), a WebSub hub (tests/websubhub.py: verifies
intent, pushes signed content) and the webhook receiver, all on loopback. The watcher runs as
a real `watcher run` in its own process, once per mode, with a SQLite store:

    polling  the feed names no hub; the watcher polls it every --poll-interval seconds
             (jitter 0). An entry appears at a random moment; its latency is the wait for the
             next poll plus fetch, parse, match, outbox and delivery.
    websub   the feed names the hub; the watcher subscribes (callback on its http.listen).
             An entry appears and the hub pushes it at once, as hubs do on publish.

Each sample is one new matching entry, after a random pause (0.2 to 1 s with WebSub; U(0, T)
when polling, so that entries appear at a uniform phase of the poll schedule).
Figures are p50/p95 (nearest rank) in seconds, and their ratio in the same run.

The default poll interval (`default_interval`, 600 s) cannot be sampled in a short run: an
entry waits U(0, T) for the next poll, so the polling figures are also given projected to
T = 600 s: the U(0, 600) quantile plus the mean processing time measured here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port  # noqa: E402
from tests.websubhub import LoopbackHub  # noqa: E402

DEFAULT_INTERVAL = 600.0
RULES = ("rules:\n  - id: convoys\n    title: Convoys on the move\n    severity: high\n"
         "    match:\n      words: [convoy]\n")
STARTUP_TIMEOUT = 120.0
SAMPLE_TIMEOUT = 60.0


class Receiver:
    """The webhook receiver: when each alert's article title arrived (monotonic clock)."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.events: dict[str, asyncio.Event] = {}
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        title = json.loads(await request.read())["article"]["title"]
        self.arrived.setdefault(title, time.monotonic())
        self.events.setdefault(title, asyncio.Event()).set()
        return web.Response(text="ok")

    async def wait_for(self, title: str) -> float:
        event = self.events.setdefault(title, asyncio.Event())
        await asyncio.wait_for(event.wait(), SAMPLE_TIMEOUT)
        return self.arrived[title]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def write_config(folder: Path, feed_url: str, hook: str, *, interval: float,
                 websub_port: int | None) -> Path:
    (folder / "rules.yaml").write_text(RULES)
    lines = ["state: w.db", "rules: [rules.yaml]", "jitter: 0", "log_level: warning",
             "fetch: {allow_addresses: [127.0.0.0/8, '::1/128']}",
             f"feeds:\n  - {{id: desk, url: '{feed_url}', interval: {interval}}}",
             f"sinks:\n  - {{type: webhook, name: hook, url: '{hook}'}}"]
    if websub_port is not None:
        lines += [f"http: {{listen: '127.0.0.1:{websub_port}'}}",
                  f"websub: {{callback_url: 'http://127.0.0.1:{websub_port}/websub/'}}"]
    path = folder / "watcher.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def until(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("the watcher did not get ready in time")
        await asyncio.sleep(0.05)


async def run_mode(mode: str, samples: int, interval: float, rng: random.Random) -> list[float]:
    hub, receiver = LoopbackHub(lease_seconds=3600), Receiver()
    await hub.start()
    await receiver.start()
    entries = [("seed", "Quiet day in the capital")]
    hub.set_entries(entries)
    if mode == "polling":  # the same document without its hub link
        hub.feed_body = hub.feed_body.replace(f"<link rel='hub' href='{hub.hub_url}'/>".encode(),
                                              b"")
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), hub.topic, receiver.url, interval=interval,
                              websub_port=free_port() if mode == "websub" else None)
        watcher = subprocess.Popen([str(Path(sys.executable).parent / "watcher"), "run",
                                    "--config", str(config)], stdout=subprocess.DEVNULL)
        try:
            if mode == "websub":
                await until(lambda: any(v.ok for v in hub.verifications), STARTUP_TIMEOUT)
            else:
                await until(lambda: (Path(tmp) / "w.db").exists(), STARTUP_TIMEOUT)
                await asyncio.sleep(interval)  # past the first poll
            latencies = []
            for n in range(samples):
                # A poll just delivered the last one: a uniform pause makes the next entry
                # appear at a uniform phase of the poll schedule, as entries do.
                await asyncio.sleep(rng.uniform(0, interval) if mode == "polling"
                                    else rng.uniform(0.2, 1.0))
                title = f"Convoy number {n} leaves the city"
                entries.append((f"{mode}-{n}", title))
                body = hub.set_entries(entries[-10:])
                if mode == "polling":
                    hub.feed_body = hub.feed_body.replace(
                        f"<link rel='hub' href='{hub.hub_url}'/>".encode(), b"")
                appeared = time.monotonic()
                if mode == "websub":
                    await hub.publish(body)
                latencies.append(await receiver.wait_for(title) - appeared)
        finally:
            watcher.terminate()
            watcher.wait(30)
            await hub.close()
            await receiver.close()
    return latencies


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def projected(latencies: list[float], interval: float, q: float) -> float:
    """The q-quantile with `DEFAULT_INTERVAL`: the U(0, T) wait's quantile plus the mean
    processing time (the mean latency less the mean wait, T/2, of the measured interval)."""
    processing = max(0.0, statistics.fmean(latencies) - interval / 2)
    return q * DEFAULT_INTERVAL + processing


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--poll-interval", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    results = {}
    for mode in ("websub", "polling"):
        results[mode] = await run_mode(mode, args.samples, args.poll_interval, rng)
    push, poll = results["websub"], results["polling"]
    print(f"samples per mode: {args.samples}; poll interval {args.poll_interval:g}s (jitter 0)")
    print(f"{'mode':<28}{'p50 s':>10}{'p95 s':>10}")
    print(f"{'websub (push)':<28}{quantile(push, 0.5):>10.3f}{quantile(push, 0.95):>10.3f}")
    print(f"{f'polling every {args.poll_interval:g}s':<28}{quantile(poll, 0.5):>10.3f}"
          f"{quantile(poll, 0.95):>10.3f}")
    print(f"{'polling, default 600s (proj.)':<28}{projected(poll, args.poll_interval, 0.5):>10.1f}"
          f"{projected(poll, args.poll_interval, 0.95):>10.1f}")
    print(f"polling/websub p50 ratio (measured): {quantile(poll, 0.5) / quantile(push, 0.5):.0f}x;"
          f" websub p95 under 2 s: {'yes' if quantile(push, 0.95) < 2 else 'NO'}")


if __name__ == "__main__":
    asyncio.run(main())
