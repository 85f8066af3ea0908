"""The first-start workload of issue 19, for bench/poll.py --workload first-start.

N feeds on one host (127.0.0.1), each about 100 KB: 50 items with a title and a 230-word
description in English news style, 3% of them carrying a phrase that one shipped rule
(znpp-nuclear-safety) matches. The server (its own process) waits 50 ms before each answer
and honours ETag and Last-Modified. Four polls, in one process as a running service would:

    1 first       every feed new: 50 articles each
    2 unchanged   every feed answers 304
    3 news        every feed has 5 new items (the 5 oldest drop out)
    4 unchanged   304 again

After each poll the outbox is drained to a JSONL sink, so "alerts" counts alerts delivered,
compared with what the phrase-carrying items should give. The baselines in the same run are
raw httpx and raw aiohttp (what watcher's transport is built on): the same URLs and
conditional headers, the same concurrency, bodies read.
"""

from __future__ import annotations

import asyncio
import random
import resource
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from watcher.config.settings import Config

ITEMS = 50
NEW_ITEMS = 5
WORDS = 230
LATENCY = 0.05
PHRASE_EVERY = 33  # one item in 33 (3%) carries the phrase
PHRASE = ("Shelling damaged a transformer at the Zaporizhzhia nuclear power plant overnight, "
          "the operator said.")
SENTENCES = (
    "The committee said on Tuesday that the budget proposal would be reviewed by ministers "
    "before the summer recess.",
    "Analysts expected inflation to ease as energy prices fell and retailers reported steady "
    "sales in the second quarter.",
    "Officials from the transport department met union leaders for a third round of talks on "
    "pay and working hours.",
    "The central bank left its main interest rate unchanged, citing uncertainty about wages "
    "and the pace of growth.",
    "Local councils warned that repairs to schools and libraries would be delayed by rising "
    "construction costs.",
    "A spokesperson for the ministry declined to comment on the timing of the announcement.",
    "Farmers said the late spring had cut yields, and several cooperatives asked for emergency "
    "credit lines.",
    "The report found that train punctuality had improved slightly but remained below the "
    "national target.",
    "Shares in the largest lenders rose after quarterly results beat forecasts by a wide "
    "margin.",
    "Researchers at the university published new figures on household spending and savings.",
    "The opposition called for a public inquiry into the procurement of the new ferries.",
    "Weather forecasters expect heavy rain across the north of the country through the weekend.",
    "The court adjourned the hearing until next month to allow both parties to file documents.",
    "Electricity demand reached a record during the heatwave, the grid operator said.",
    "Negotiators said a draft agreement on fishing quotas could be signed before the end of the "
    "year.",
)


def descriptions(count: int, seed: int) -> list[str]:
    """`count` descriptions of about WORDS words, made of the neutral sentences."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        words: list[str] = []
        while len(words) < WORDS:
            words.extend(rng.choice(SENTENCES).split())
        out.append(" ".join(words[:WORDS]) + ".")
    return out


POOL = descriptions(256, 19)


def carries_phrase(feed: int, item: int) -> bool:
    return (feed * 7919 + item) % PHRASE_EVERY == 0


def feed_document(feed: int, version: int) -> bytes:
    """Version 0 holds items 0-49; each later version adds NEW_ITEMS, newest first."""
    newest = ITEMS + NEW_ITEMS * version - 1
    parts = []
    for item in range(newest, newest - ITEMS, -1):
        text = POOL[(feed * 31 + item) % len(POOL)]
        if carries_phrase(feed, item):
            text = f"{PHRASE} {text}"
        parts.append(
            f"<item><guid isPermaLink='false'>feed{feed}-item{item}</guid>"
            f"<title>Report {item} from desk {feed}: ministers review the budget</title>"
            f"<link>https://news.example.org/{feed}/{item}</link>"
            f"<pubDate>Wed, 25 Nov 2026 {item % 24:02d}:{item % 60:02d}:00 GMT</pubDate>"
            f"<description>&lt;p&gt;{text}&lt;/p&gt;</description></item>")
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>Desk {feed}</title><link>https://news.example.org/</link>"
            f"<language>en</language>{''.join(parts)}</channel></rss>").encode()


def phrase_items(feeds: int, version: int) -> int:
    """How many items new in `version` carry the phrase."""
    if version == 0:
        items = range(ITEMS)
    else:
        items = range(ITEMS + NEW_ITEMS * (version - 1), ITEMS + NEW_ITEMS * version)
    return sum(carries_phrase(f, i) for f in range(feeds) for i in items)


# The server (its own process: its CPU is not the watcher's)

def serve() -> None:
    from aiohttp import web

    state = {"version": 0}
    stamps = STAMPS

    async def handle(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(LATENCY)
        feed, version = int(request.match_info["n"]), state["version"]
        etag, stamp = f'"{feed}-{version}"', stamps[version]
        if (request.headers.get("If-None-Match") == etag
                or request.headers.get("If-Modified-Since") == stamp):
            return web.Response(status=304, headers={"ETag": etag, "Last-Modified": stamp})
        return web.Response(body=feed_document(feed, version),
                            headers={"ETag": etag, "Last-Modified": stamp},
                            content_type="application/rss+xml")

    async def bump(request: web.Request) -> web.StreamResponse:
        state["version"] = int(request.match_info["v"])
        return web.Response(text="ok")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{n}", handle)
        app.router.add_get("/version/{v}", bump)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# One measured run (a child process): four polls

POLLS = (("first", 0), ("unchanged", 0), ("5 new per feed", 1), ("unchanged", 1))
UNCHANGED_ONLY = (("unchanged", 0),)  # --unchanged-only: validators seeded, one poll
STAMPS = ("Wed, 25 Nov 2026 10:00:00 GMT", "Wed, 25 Nov 2026 11:00:00 GMT")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that across exec, so a
    child would inherit its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def count_lines(path: Path) -> int:
    """Lines in `path` (0 if absent), read a block at a time: read whole, the alerts file
    (17 MB after a first poll at N=1,000) put the bench's bookkeeping in the watcher's
    measured peak RSS."""
    if not path.exists():
        return 0
    count = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 16):
            count += block.count(b"\n")
    return count


async def _set_version(port: int, version: int) -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        (await client.get(f"http://127.0.0.1:{port}/version/{version}")).raise_for_status()


def watcher_config(tmp: Path, port: int, size: int, concurrency: int, per_host: int,
                   root: Path) -> Config:
    """The watcher's configuration for the workload: `size` feeds, the shipped rules, a
    JSONL sink (alerts.jsonl), state in `tmp`."""
    from watcher.config.settings import Config

    return Config.model_validate({
        "base_dir": str(tmp), "state": str(tmp / "w.db"), "rules": [str(root / "rules")],
        "fetch": {"allow_addresses": ["127.0.0.0/8", "::1/128"], "concurrency": concurrency,
                  "per_host": per_host},
        "sinks": [{"type": "jsonl", "name": "archive", "path": "alerts.jsonl"}],
        # Alerts are counted per article: the synthetic items that carry the phrase are
        # near-duplicates, which per-story delivery (the default) would send once.
        "stories": {"per": "article"},
        "feeds": [{"id": f"f{n}", "url": f"http://127.0.0.1:{port}/feed/{n}"}
                  for n in range(size)]})


async def pipeline_run(port: int, size: int, concurrency: int, per_host: int,
                       root: Path, unchanged_only: bool = False) -> dict[str, Any]:
    from watcher.delivery.grouping import batch_policies
    from watcher.delivery.worker import drain_outbox
    from watcher.models import FeedState
    from watcher.pipeline import poll_feed
    from watcher.service.runner import open_runtime

    imported_mb = _peak_mb()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        config = watcher_config(Path(tmp), port, size, concurrency, per_host, root)
        started = time.perf_counter()
        async with open_runtime(config) as rt:
            loaded = time.perf_counter() - started
            loaded_mb = _peak_mb()
            if unchanged_only:  # the state a first poll leaves: every feed's validators
                for f in config.feeds:
                    await rt.pipe.store.save_feed_state(FeedState(
                        f.id, f.url, etag=f'"{f.id[1:]}-0"', last_modified=STAMPS[0]))
            for (label, version) in UNCHANGED_ONLY if unchanged_only else POLLS:
                await _set_version(port, version)
                wall, cpu = time.perf_counter(), _cpu()
                reports = await asyncio.gather(*(poll_feed(rt.pipe, f, force=True)
                                                 for f in config.feeds))
                polled = time.perf_counter() - wall
                await drain_outbox(rt.pipe.store, rt.sinks, config.delivery, rt.pipe.clock,
                                   deadline=300, metrics=rt.pipe.metrics,
                                   policies=batch_policies(config))
                wall, cpu = time.perf_counter() - wall, _cpu() - cpu
                lines = count_lines(Path(tmp) / "alerts.jsonl")
                errors = [r.error for r in reports if r.error]
                rows.append({"label": label, "poll_seconds": polled, "seconds": wall, "cpu": cpu,
                             "rss_mb": _peak_mb(), "alerts_total": lines,
                             "not_modified": sum(r.status == 304 for r in reports),
                             "new_articles": sum(r.new_articles for r in reports),
                             "errors": len(errors), "first_error": errors[0] if errors else None})
    return {"imported_mb": imported_mb, "loaded_mb": loaded_mb, "load_seconds": loaded,
            "polls": rows}


async def _baseline_polls(port: int, size: int, unchanged_only: bool,
                          get: Callable[[int], Awaitable[int]]) -> dict[str, Any]:
    """The polls of a baseline run: every feed fetched at once by `get`, which returns the
    status, timed and counted like `pipeline_run`'s rows."""
    rows = []
    for label, version in UNCHANGED_ONLY if unchanged_only else POLLS:
        await _set_version(port, version)
        wall, cpu = time.perf_counter(), _cpu()
        statuses = await asyncio.gather(*(get(n) for n in range(size)))
        wall, cpu = time.perf_counter() - wall, _cpu() - cpu
        rows.append({"label": label, "poll_seconds": wall, "seconds": wall, "cpu": cpu,
                     "rss_mb": _peak_mb(), "alerts_total": 0,
                     "not_modified": statuses.count(304), "new_articles": 0,
                     "errors": sum(s >= 400 for s in statuses), "first_error": None})
    return {"imported_mb": 0.0, "loaded_mb": 0.0, "load_seconds": 0.0, "polls": rows}


async def baseline_run(port: int, size: int, concurrency: int, per_host: int,
                       root: Path, unchanged_only: bool = False) -> dict[str, Any]:
    import httpx

    validators: dict[int, tuple[str, str]] = {}
    if unchanged_only:
        validators = {n: (f'"{n}-0"', STAMPS[0]) for n in range(size)}
    slots = asyncio.Semaphore(min(concurrency, per_host))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def get(client: httpx.AsyncClient, n: int) -> int:
        headers = {}
        if n in validators:
            headers = {"If-None-Match": validators[n][0], "If-Modified-Since": validators[n][1]}
        async with slots:
            response = await client.get(f"http://127.0.0.1:{port}/feed/{n}", headers=headers)
        validators[n] = (response.headers["ETag"], response.headers["Last-Modified"])
        return response.status_code

    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        return await _baseline_polls(port, size, unchanged_only, lambda n: get(client, n))


async def aiohttp_baseline_run(port: int, size: int, concurrency: int, per_host: int,
                               root: Path, unchanged_only: bool = False) -> dict[str, Any]:
    """`baseline_run` with aiohttp alone: the floor of the transport watcher's fetches use
    (watcher/feeds/transport.py)."""
    import aiohttp

    validators: dict[int, tuple[str, str]] = {}
    if unchanged_only:
        validators = {n: (f'"{n}-0"', STAMPS[0]) for n in range(size)}
    slots = asyncio.Semaphore(min(concurrency, per_host))

    async def get(session: aiohttp.ClientSession, n: int) -> int:
        headers = {}
        if n in validators:
            headers = {"If-None-Match": validators[n][0], "If-Modified-Since": validators[n][1]}
        async with slots, session.get(f"http://127.0.0.1:{port}/feed/{n}",
                                      headers=headers) as response:
            await response.read()
        validators[n] = (response.headers["ETag"], response.headers["Last-Modified"])
        return response.status

    connector = aiohttp.TCPConnector(limit=concurrency * 4, limit_per_host=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        return await _baseline_polls(port, size, unchanged_only, lambda n: get(session, n))


def expected_alerts(size: int, root: Path) -> tuple[int, int]:
    """Alerts the first and the third poll should deliver: phrase items times the alerts one
    such article gives with the shipped rules; a neutral description must give none."""
    from watcher.matching.matcher import compile_rules, match_article
    from watcher.models import Article
    from watcher.rules.load import load_rules

    matcher = compile_rules(load_rules([root / "rules"]))
    neutral = [len(match_article(matcher, Article(key=str(n), title="Report", summary=text)).hits)
               for n, text in enumerate(POOL)]
    assert not any(neutral), "a neutral description fires a rule: change SENTENCES"
    per = {len(match_article(matcher, Article(key="p", title="Report",
                                              summary=f"{PHRASE} {text}")).hits) for text in POOL}
    assert per == {1}, "the phrase must fire exactly one rule with every description"
    return phrase_items(size, 0), phrase_items(size, 1)
