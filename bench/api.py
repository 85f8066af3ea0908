"""The desk with many alerts: the first screen and API pages, timed over HTTP.

    .venv/bin/python bench/api.py [--alerts 100000] [--rounds 7] [--postgres URL [--no-sqlite]]

Fills a fresh store (a SQLite file; with --postgres, also a throwaway schema there) with
--alerts alerts through the real `record_articles` (the outbox trigger indexes each one for
the desk): 60 rules, 40 places, 12 groups, 8 feeds, one alert a few seconds apart. Then
serves the desk on 127.0.0.1 (the aiohttp server of `watcher run`, desk mounted) and times,
with one keep-alive httpx client, the median of --rounds requests of:

    first screen        GET /desk/                     (page, map, silences: what a desk opens)
    API page            GET /api/v1/alerts             (50 newest)
    deep page           GET /api/v1/alerts?cursor=…    (a cursor half-way back)
    rule / place / tag  GET /api/v1/alerts?rule=… etc. (one facet)
    rule+place          two facets together
    rare feed+severity  a combination few alerts have
    title words         ?q=…  (a substring of titles: scans)
    live poll           GET /desk/alerts?after=newest  (what the page polls)

The baseline, in the same run and the same server, is GET /healthz (the cheapest answer the
server gives): each line shows the median in ms and its ratio to the baseline. The target is
under 200 ms for the first screen and an API page.

What indexing costs the pipeline: `--trigger-cost N` records N alerts into two fresh SQLite
files, one with the desk's trigger and one with it dropped, alternating batches, and prints
both rates and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from watcher.config.settings import Config  # noqa: E402
from watcher.desk import desk_mount  # noqa: E402
from watcher.metrics import Metrics  # noqa: E402
from watcher.models import (  # noqa: E402
    Alert,
    Article,
    ArticleRef,
    Delivery,
    Group,
    MatchedTerm,
    Place,
    RuleRef,
)
from watcher.service.httpapi import Readiness, start_http  # noqa: E402
from watcher.store import Store, open_store  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)
WORDS = ("convoy", "attack", "shelling", "defection", "militia", "drone", "ceasefire", "border",
         "fighters", "strike", "airport", "market", "checkpoint", "army", "rebels", "talks",
         "refugees", "village", "bridge", "port")
SEVERITIES = ("low", "medium", "high", "critical")
BATCH = 500


def make_alerts(count: int, rng: random.Random) -> list[tuple[Article, Alert]]:
    places = [Place(name=f"Place {i}", country="SY", lat=rng.uniform(-60, 70),
                    lon=rng.uniform(-170, 170)) for i in range(40)]
    groups = [Group(name=f"Group {i}") for i in range(12)]
    rules = [RuleRef(id=f"rule-{i:02d}", title=f"Rule {i}", severity=SEVERITIES[i % 4],
                     tags=[f"tag-{i % 7}", f"region-{i % 3}"]) for i in range(60)]
    pairs = []
    for n in range(count):
        title = " ".join(rng.choice(WORDS) for _ in range(9)) + f" report {n}"
        key = f"bench:{n}"
        feed = f"feed-{n % 8}"
        article = Article(key=key, url=f"https://news.example.org/{n}", title=title,
                          summary=title, source=feed, feed=feed)
        rule = rules[int(rng.paretovariate(1.2)) % len(rules)]
        alert = Alert(alert_id=f"{rule.id}.{n}", rule=rule,
                      article=ArticleRef(key=key, url=article.url, title=title,
                                         summary=title, source=feed),
                      matched=[MatchedTerm(term="convoy", kind="word", text=title[:6],
                                           field="title", start=0, end=6)],
                      places=rng.sample(places, 2), groups=rng.sample(groups, 1),
                      detected_at=START + timedelta(seconds=5 * n))
        pairs.append((article, alert))
    return pairs


async def fill(store: Store, count: int) -> float:
    rng = random.Random(7)
    pairs = make_alerts(count, rng)
    began = time.perf_counter()
    for i in range(0, count, BATCH):
        chunk = pairs[i:i + BATCH]
        await store.record_articles([a for a, _ in chunk],
                                    [Delivery(alert, "hook") for _, alert in chunk],
                                    START + timedelta(seconds=5 * i))
    return time.perf_counter() - began


async def timed(client: httpx.AsyncClient, path: str, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        response = await client.get(path)
        response.raise_for_status()
        await response.aread()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


async def bench(location: Path | str, label: str, count: int, rounds: int) -> None:
    store = await open_store(location)
    try:
        seconds = await fill(store, count)
        print(f"{label}: {count} alerts recorded in {seconds:.1f}s "
              f"({count / seconds:.0f}/s, trigger included)")
        config = Config.model_validate({"http": {"listen": "127.0.0.1:0"}})
        mount = desk_mount(config, store, list, lambda: START + timedelta(days=30))
        assert mount is not None
        ready = Readiness(store, rules_loaded=lambda: 1, clock=lambda: START)
        server = await start_http("127.0.0.1:0", Metrics(), ready, [mount])
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}",
                                         timeout=60) as client:
                newest = (await client.get("/api/v1/alerts?limit=1")).json()["items"][0]
                seq = newest["desk"]["seq"]
                cases = [
                    ("baseline /healthz", "/healthz"),
                    ("first screen", "/desk/"),
                    ("API page", "/api/v1/alerts"),
                    ("deep page", f"/api/v1/alerts?cursor={seq // 2}"),
                    ("rule", "/api/v1/alerts?rule=rule-05"),
                    ("place", "/api/v1/alerts?place=Place%2017"),
                    ("tag", "/api/v1/alerts?tag=tag-3"),
                    ("rule+place", "/api/v1/alerts?rule=rule-01&place=Place%203"),
                    ("rare feed+severity",
                     "/api/v1/alerts?feed=feed-3&severity=critical&rule=rule-59"),
                    ("title words", "/api/v1/alerts?q=bridge%20port"),
                    ("live poll", f"/desk/alerts?after={seq}"),
                ]
                await timed(client, "/desk/", 2)  # warm caches and templates
                base = await timed(client, "/healthz", rounds)
                for name, path in cases:
                    ms = base if name.startswith("baseline") else await timed(client, path,
                                                                              rounds)
                    print(f"  {name:20} {ms:8.1f} ms  {ms / base:7.1f}x baseline")
        finally:
            await server.close()
    finally:
        await store.close()


async def trigger_cost(count: int) -> None:
    """record_articles with and without the desk's trigger, batches alternated."""
    import sqlite3

    pairs = make_alerts(count, random.Random(11))
    with tempfile.TemporaryDirectory() as tmp:
        stores = {name: await open_store(Path(tmp) / f"{name}.db")
                  for name in ("with trigger", "without")}
        with sqlite3.connect(Path(tmp) / "without.db") as conn:
            conn.execute("DROP TRIGGER desk_index_alert")
        spent = dict.fromkeys(stores, 0.0)
        try:
            for i in range(0, count, BATCH):
                chunk = pairs[i:i + BATCH]
                for name, store in stores.items():
                    began = time.perf_counter()
                    await store.record_articles([a for a, _ in chunk],
                                                [Delivery(alert, "hook") for _, alert in chunk],
                                                START + timedelta(seconds=5 * i))
                    spent[name] += time.perf_counter() - began
        finally:
            for store in stores.values():
                await store.close()
    rates = {name: count / seconds for name, seconds in spent.items()}
    for name, rate in rates.items():
        print(f"record_articles {name:13} {rate:8.0f} alerts/s")
    print(f"  the trigger costs {rates['without'] / rates['with trigger']:.2f}x")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--postgres", help="also on this PostgreSQL (a throwaway schema)")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--trigger-cost", type=int, metavar="N",
                        help="only time recording N alerts with and without the trigger")
    args = parser.parse_args()
    if args.trigger_cost:
        await trigger_cost(args.trigger_cost)
        return
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            await bench(Path(tmp) / "w.db", "SQLite", args.alerts, args.rounds)
    if args.postgres:
        import psycopg
        from psycopg import sql

        schema = f"bench_{uuid.uuid4().hex[:12]}"
        sep = "&" if "?" in args.postgres else "?"
        try:
            await bench(f"{args.postgres}{sep}options=-csearch_path%3D{schema}",
                        "PostgreSQL", args.alerts, args.rounds)
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(schema)))


if __name__ == "__main__":
    asyncio.run(main())
