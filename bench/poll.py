"""Polling throughput: N feeds through the real pipeline vs. raw HTTP GETs of the same URLs.

    .venv/bin/python bench/poll.py [--sizes 1000,10000] [--runs 3] [--changed 0.05]
    .venv/bin/python bench/poll.py --workload first-start [--sizes 1000,10000]
        [--concurrency 64] [--per-host 64] [--code OTHER_CHECKOUT] [--unchanged-only]

`--workload first-start` is issue 19's workload (bench/poll_workload.py): real-sized feeds on
one host with 50 ms of latency, four polls (first, unchanged, 5 new items per feed,
unchanged) in one process, alerts delivered vs. expected, raw httpx and raw aiohttp
alongside. `--code` runs the pipeline of another checkout (e.g. `git worktree add /tmp/base
main`) in the same run. The rest of this docstring is the default workload.

A local aiohttp server (its own process) plays `--hosts` outlets on 127.0.0.1, 127.0.0.2, …
(every 127/8 address is loopback on Linux). Feeds are spread evenly over them. It answers
304 when If-None-Match matches the feed's ETag, except for the `--changed` share of feeds,
which publish a new 10-entry document on every request (new entries, new ETag).

Each measured pass is the steady state of a running service: every feed's ETag is already in
the store (written before the clock starts), so most polls are 304 and the changed feeds are
fetched, parsed, deduped, matched against the shipped rules and recorded in a real SQLite
file. The pipeline pass is `poll_feed` for every feed at once (as `watcher once` does), with
the default fetch settings (16 in flight overall, 2 per host) and the address guard off
(loopback). The baseline, in the same run, is plain httpx: the same URLs with the same
If-None-Match headers, the same overall concurrency and client limits, bodies read, nothing
else. Each pass runs in a fresh process so its peak RSS is its own; figures are medians of
--runs passes. CPU is user+system seconds of that process (all its threads).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
if os.environ.get("PYTHONPATH"):  # --code: that checkout's watcher comes first
    sys.path.insert(0, os.environ["PYTHONPATH"].split(os.pathsep)[0])

ITEMS = 10


def feed_document(feed: int, version: int) -> bytes:
    items = "".join(
        f"<item><guid isPermaLink='false'>f{feed}-v{version}-{n}</guid>"
        f"<title>Bulletin {n} of feed {feed}: talks resume in Geneva</title>"
        f"<link>https://outlet{feed % 97}.example.org/{feed}/{version}/{n}?utm_source=rss</link>"
        f"<pubDate>Wed, 25 Nov 2026 10:{n:02d}:00 GMT</pubDate>"
        f"<description>&lt;p&gt;Delegations met for a third day; a convoy of aid trucks "
        f"waited at the crossing. Item {n}.&lt;/p&gt;</description></item>"
        for n in range(ITEMS))
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>Feed {feed}</title><link>https://outlet{feed % 97}.example.org/</link>"
            f"{items}</channel></rss>").encode()


# The server (a separate process: its CPU is not the watcher's).

def serve(hosts: int, changed_every: int) -> None:
    from aiohttp import web

    versions: dict[int, int] = {}

    async def handle(request: web.Request) -> web.StreamResponse:
        feed = int(request.match_info["n"])
        changing = changed_every > 0 and feed % changed_every == 0
        version = versions.get(feed, 0) + (1 if changing else 0)
        versions[feed] = version
        etag = f'"v{feed}-{version}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=feed_document(feed, version), headers={"ETag": etag},
                            content_type="application/rss+xml")

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{n}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        first = web.TCPSite(runner, "127.0.0.1", 0)
        await first.start()
        port = runner.addresses[0][1]
        for h in range(2, hosts + 1):
            await web.TCPSite(runner, f"127.0.0.{h}", port).start()
        print(port, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def feed_url(port: int, hosts: int, n: int) -> str:
    return f"http://127.0.0.{n % hosts + 1}:{port}/feed/{n}"


# One measured pass (a child process).

async def pipeline_pass(port: int, hosts: int, size: int, changed_every: int) -> dict[str, Any]:
    from watcher.config.settings import Config
    from watcher.feeds.fetch import make_client
    from watcher.matching.matcher import compile_rules
    from watcher.models import FeedState
    from watcher.pipeline import Pipeline, poll_feed
    from watcher.rules.load import load_rules
    from watcher.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        config = Config.model_validate({
            "base_dir": tmp, "fetch": {"allow_addresses": ["127.0.0.0/8", "::1/128"]},
            "sinks": [{"type": "jsonl", "name": "archive", "path": "a.jsonl"}],
            "feeds": [{"id": f"f{n}", "url": feed_url(port, hosts, n)} for n in range(size)],
        })
        store = await open_store(Path(tmp) / "w.db")
        for n in range(size):  # the steady state: every ETag already known
            await store.save_feed_state(FeedState(f"f{n}", feed_url(port, hosts, n),
                                                  etag=f'"v{n}-0"'))
        matcher = compile_rules(load_rules([ROOT / "rules"]))
        async with make_client(config.fetch) as client:
            pipe = Pipeline(config=config, store=store, client=client, matcher=matcher)
            started, cpu = time.perf_counter(), _cpu()
            reports = await asyncio.gather(*(poll_feed(pipe, f, force=True)
                                             for f in config.feeds))
            seconds, cpu = time.perf_counter() - started, _cpu() - cpu
        await store.close()
    errors = [r.error for r in reports if r.error]
    return {"seconds": seconds, "cpu": cpu, "not_modified": sum(r.status == 304 for r in reports),
            "new_articles": sum(r.new_articles for r in reports), "errors": len(errors),
            "first_error": errors[0] if errors else None}


async def baseline_pass(port: int, hosts: int, size: int, changed_every: int) -> dict[str, Any]:
    import httpx

    from watcher.config.settings import FetchSettings
    from watcher.feeds.fetch import make_client

    settings = FetchSettings.model_validate({"allow_addresses": ["127.0.0.0/8", "::1/128"]})
    slots = asyncio.Semaphore(settings.concurrency)
    statuses: list[int] = []

    async def get(client: httpx.AsyncClient, n: int) -> None:
        async with slots:
            response = await client.get(feed_url(port, hosts, n),
                                        headers={"If-None-Match": f'"v{n}-0"'})
            statuses.append(response.status_code)

    async with make_client(settings) as client:
        started, cpu = time.perf_counter(), _cpu()
        await asyncio.gather(*(get(client, n) for n in range(size)))
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    return {"seconds": seconds, "cpu": cpu, "not_modified": statuses.count(304),
            "new_articles": 0, "errors": sum(s >= 400 for s in statuses), "first_error": None}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(mode: str, port: int, hosts: int, size: int, changed_every: int) -> None:
    run = pipeline_pass if mode == "pipeline" else baseline_pass
    result = asyncio.run(run(port, hosts, size, changed_every))
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB
    print(json.dumps(result))


def measure(mode: str, port: int, hosts: int, size: int, changed_every: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--port", str(port),
                          "--hosts", str(hosts), "--size", str(size),
                          "--changed-every", str(changed_every)],
                         capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def report(size: int, runs: list[dict[str, Any]], base: list[dict[str, Any]]) -> None:
    def med(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    p_sec, b_sec = med(runs, "seconds"), med(base, "seconds")
    last = runs[-1]
    print(f"{size:>6} feeds  pipeline {size / p_sec:7.0f} feeds/s ({p_sec:5.1f} s, "
          f"CPU {med(runs, 'cpu'):5.1f} s, peak RSS {med(runs, 'rss_mb'):4.0f} MB)  |  "
          f"raw httpx {size / b_sec:7.0f} feeds/s ({b_sec:5.1f} s, CPU {med(base, 'cpu'):5.1f} s, "
          f"peak RSS {med(base, 'rss_mb'):4.0f} MB)  |  pipeline/raw time x{p_sec / b_sec:.2f}")
    print(f"{'':>13}{last['not_modified']} answered 304, {last['new_articles']} new articles, "
          f"{last['errors']} errors" + (f" (first: {last['first_error']})"
                                        if last["first_error"] else ""))


def first_start_child(mode: str, port: int, size: int, concurrency: int, per_host: int,
                      unchanged_only: bool) -> None:
    import poll_workload

    run = {"pipeline": poll_workload.pipeline_run, "baseline": poll_workload.baseline_run,
           "baseline-aiohttp": poll_workload.aiohttp_baseline_run}[mode]
    result = asyncio.run(run(port, size, concurrency, per_host, ROOT, unchanged_only))
    print(json.dumps(result))


def first_start(args: argparse.Namespace) -> None:
    import poll_workload

    server = subprocess.Popen([sys.executable, __file__, "--serve-first-start"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        print(f"first-start workload: one host, {poll_workload.LATENCY * 1000:.0f} ms latency, "
              f"{poll_workload.ITEMS} items of {poll_workload.WORDS} words per feed, "
              f"concurrency {args.concurrency}, per host {args.per_host}")
        kinds = [("raw httpx", "baseline", None), ("raw aiohttp", "baseline-aiohttp", None),
                 ("watcher", "pipeline", None)]
        if args.code:
            kinds.append((f"watcher at {args.code}", "pipeline", args.code))
        for size in (int(s) for s in args.sizes.split(",")):
            first, third = poll_workload.expected_alerts(size, ROOT)
            print(f"\nN = {size}: document {len(poll_workload.feed_document(0, 0)) / 1024:.0f} KB;"
                  f" alerts expected: first {first}, news {third}")
            for label, mode, code in kinds:
                env = dict(os.environ)
                if code:
                    env["PYTHONPATH"] = str(Path(code).resolve())
                out = subprocess.run(
                    [sys.executable, __file__, "--first-start-child", mode, "--port", str(port),
                     "--size", str(size), "--concurrency", str(args.concurrency),
                     "--per-host", str(args.per_host)]
                    + (["--unchanged-only"] if args.unchanged_only else []),
                    capture_output=True, text=True, env=env, check=False)
                if out.returncode:
                    print(f"  {label}: failed\n{out.stderr[-2000:]}")
                    continue
                result = json.loads(out.stdout.strip().splitlines()[-1])
                report_first_start(label, result,
                                   {} if args.unchanged_only else {0: first, 2: third})
    finally:
        server.terminate()
        server.wait()


def report_first_start(label: str, result: dict[str, Any], expected: dict[int, int]) -> None:
    if result["loaded_mb"]:
        print(f"  {label}: start {result['load_seconds']:.1f} s, RSS after imports "
              f"{result['imported_mb']:.0f} MB, after rules and gazetteer "
              f"{result['loaded_mb']:.0f} MB")
    else:
        print(f"  {label}:")
    delivered = 0
    for n, row in enumerate(result["polls"]):
        alerts = row["alerts_total"] - delivered
        delivered = row["alerts_total"]
        per_304 = ""
        if row["not_modified"] and row["new_articles"] == 0:
            per_304 = f", CPU per 304 {row['cpu'] / row['not_modified'] * 1000:.2f} ms"
        alerts_text = f", alerts {alerts}/{expected.get(n, 0)}" if result["loaded_mb"] else ""
        errors = f", {row['errors']} errors ({row['first_error']})" if row["errors"] else ""
        print(f"    {row['label']:<15} wall {row['seconds']:6.1f} s "
              f"(polls {row['poll_seconds']:5.1f} s), CPU {row['cpu']:6.1f} s, "
              f"peak RSS {row['rss_mb']:4.0f} MB, {row['not_modified']} x 304, "
              f"{row['new_articles']} new{alerts_text}{per_304}{errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=20)
    parser.add_argument("--changed", type=float, default=0.05,
                        help="share of feeds with new entries on every poll")
    parser.add_argument("--workload", choices=["default", "first-start"], default="default")
    parser.add_argument("--concurrency", type=int, default=64, help="first-start only")
    parser.add_argument("--per-host", type=int, default=64, help="first-start only")
    parser.add_argument("--code", help="first-start only: also run this checkout's pipeline")
    parser.add_argument("--unchanged-only", action="store_true",
                        help="first-start only: seed every feed's validators, poll once (304s)")
    parser.add_argument("--serve-first-start", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--first-start-child",
                        choices=["pipeline", "baseline", "baseline-aiohttp"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=["pipeline", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--changed-every", type=int, default=20, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_first_start:
        import poll_workload

        poll_workload.serve()
        return
    if args.first_start_child:
        first_start_child(args.first_start_child, args.port, args.size, args.concurrency,
                          args.per_host, args.unchanged_only)
        return
    if args.workload == "first-start":
        first_start(args)
        return
    if args.serve:
        serve(args.hosts, args.changed_every)
        return
    if args.child:
        child(args.child, args.port, args.hosts, args.size, args.changed_every)
        return
    changed_every = round(1 / args.changed) if args.changed > 0 else 0
    server = subprocess.Popen([sys.executable, __file__, "--serve", "--hosts", str(args.hosts),
                               "--changed-every", str(changed_every)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        changed = f"1 in {changed_every}" if changed_every else "no"
        print(f"{args.hosts} hosts on 127.0.0.1-{args.hosts}, {changed} feeds changed per "
              f"poll, medians of {args.runs} runs")
        for size in (int(s) for s in args.sizes.split(",")):
            runs, base = [], []
            for _ in range(args.runs):  # interleaved, so drift in load hits both alike
                base.append(measure("baseline", port, args.hosts, size, changed_every))
                runs.append(measure("pipeline", port, args.hosts, size, changed_every))
            report(size, runs, base)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
