"""Hot reload: rule changes apply while running; a broken file keeps its last good version."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from watcher.config.settings import load_config
from watcher.matching.matcher import Matcher, match_article
from watcher.models import Article
from watcher.service.reload import RuleReloader, RulesStatus
from watcher.service.runner import run_service


def rule(rule_id: str, word: str) -> str:
    return (f"rules:\n  - id: {rule_id}\n    title: {rule_id}\n    severity: low\n"
            f"    match:\n      words: [{word}]\n")


def fired(matcher: Matcher | None, title: str) -> list[str]:
    assert matcher is not None
    return [h.rule.id for h in match_article(matcher, Article(key="k", title=title)).hits]


def test_a_broken_file_keeps_its_last_good_version(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(rule("convoys", "convoy"))
    (tmp_path / "b.yaml").write_text(rule("sieges", "siege"))
    loaded: list[RulesStatus] = []
    reloader = RuleReloader([tmp_path], on_load=lambda _, status: loaded.append(status))

    first = reloader.reload()
    assert (first.rules, first.files, first.problems, first.ok) == (2, 2, (), True)

    (tmp_path / "a.yaml").write_text("rules:\n  - id: convoys\n    title: [unclosed\n")
    (tmp_path / "b.yaml").write_text(rule("sieges", "blockade"))
    status = reloader.reload()
    assert len(status.problems) == 1
    assert str(status.problems[0]).startswith(f"{tmp_path / 'a.yaml'}:3:12: invalid YAML")
    assert status.stale_files == (str(tmp_path / "a.yaml"),)
    assert (status.rules, status.ok, status.reloads) == (2, False, 2)
    # a.yaml runs as it was; b.yaml runs as it is now.
    assert fired(reloader.matcher, "Convoy under blockade") == ["convoys", "sieges"]
    assert fired(reloader.matcher, "Siege") == []

    (tmp_path / "a.yaml").write_text(rule("convoys", "motorcade"))
    status = reloader.reload()
    assert (status.ok, status.stale_files) == (True, ())
    assert fired(reloader.matcher, "Convoy") == []
    assert fired(reloader.matcher, "Motorcade") == ["convoys"]
    assert len(loaded) == 3
    assert status.to_dict()["rules"] == 2

    (tmp_path / "a.yaml").unlink()  # a removed file's rules stop
    assert reloader.reload().rules == 1


def test_a_stale_file_says_since_when_until_it_is_fixed(tmp_path: Path) -> None:
    """`watcher status` shows "running last good version of X since …": the first load that
    found X broken, not the latest one."""
    times = iter(datetime(2026, 11, 25, 12, m, tzinfo=UTC) for m in range(10))
    (tmp_path / "a.yaml").write_text(rule("convoys", "convoy"))
    reloader = RuleReloader([tmp_path], clock=lambda: next(times))
    assert reloader.reload().stale_since == {}
    (tmp_path / "a.yaml").write_text("rules: [unclosed\n")
    broke = reloader.reload()
    name = str(tmp_path / "a.yaml")
    assert broke.stale_since == {name: datetime(2026, 11, 25, 12, 1, tzinfo=UTC)}
    assert reloader.reload().stale_since == broke.stale_since  # still broken: same since
    assert reloader.status.to_dict()["stale_since"] == {name: "2026-11-25T12:01:00+00:00"}
    (tmp_path / "a.yaml").write_text(rule("convoys", "motorcade"))
    assert reloader.reload().stale_since == {}


async def test_reload_async_tells_the_heartbeat_it_reloaded(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(rule("convoys", "convoy"))
    reloader = RuleReloader([tmp_path])
    assert not reloader.reloaded.is_set()
    await reloader.reload_async()
    assert reloader.reloaded.is_set()


def test_a_file_that_never_loaded_contributes_what_still_loads(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(rule("convoys", "convoy") + "  - id: bad\n    title: B\n"
                                     "    severity: low\n    match: {words: ['@nope']}\n")
    status = RuleReloader([tmp_path]).reload()
    assert (status.rules, status.errors, status.stale_files) == (1, 1, ())


async def until(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_watch_applies_a_saved_file_within_seconds(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    (rules / "sub").mkdir(parents=True)
    (rules / "a.yaml").write_text(rule("convoys", "convoy"))
    reloader = RuleReloader([rules])
    reloader.reload()
    stop = asyncio.Event()
    task = asyncio.create_task(reloader.watch(stop))
    try:
        await asyncio.sleep(0.3)  # let the watcher start
        (rules / "sub" / "b.yaml").write_text(rule("sieges", "siege"))
        await until(lambda: reloader.status.rules == 2)
        assert fired(reloader.matcher, "Siege of the city") == ["sieges"]
        # An editor's atomic save: write elsewhere, rename over the file.
        (tmp_path / "tmp.yaml").write_text(rule("convoys", "motorcade"))
        (tmp_path / "tmp.yaml").replace(rules / "a.yaml")
        await until(lambda: fired(reloader.matcher, "Motorcade") == ["convoys"])
        # Files that are not rules do not reload.
        reloads = reloader.status.reloads
        (rules / "notes.txt").write_text("hello")
        await asyncio.sleep(0.8)
        assert reloader.status.reloads == reloads
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


FEED = ("<?xml version='1.0'?><rss version='2.0'><channel><title>Desk</title>"
        "<link>https://news.example.org/</link>{items}</channel></rss>")


def write_feed(path: Path, titles: list[str]) -> None:
    items = "".join(f"<item><guid isPermaLink='false'>{i}</guid><title>{t}</title>"
                    f"<link>https://news.example.org/{i}</link></item>"
                    for i, t in enumerate(titles))
    path.write_text(FEED.format(items=items))
    # The feed's Last-Modified is its mtime to the second: move it on, so it is re-read.
    stamp = time.time() + 10 * len(titles)
    os.utime(path, (stamp, stamp))


def alerts(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    return [(a["rule"]["id"], a["article"]["title"])
            for a in map(json.loads, path.read_text().splitlines())]


async def test_running_service_reloads_on_change_and_on_sighup(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="watcher.reload")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "desk.yaml").write_text(rule("convoys", "convoy"))
    feed = tmp_path / "feed.xml"
    write_feed(feed, ["Convoy leaves Raqqa"])
    out = tmp_path / "alerts.jsonl"
    config = {"state": "state.db", "rules": ["rules"], "jitter": 0,
              "feeds": [{"id": "desk", "url": "feed.xml", "interval": "1s", "tags": ["syria"]}],
              "sinks": [{"name": "file", "type": "jsonl", "path": str(out)}],
              "delivery": {"poll_interval": "0.1s"}}
    (tmp_path / "w.yaml").write_text(json.dumps(config))
    stop = asyncio.Event()
    task = asyncio.create_task(run_service(load_config(tmp_path / "w.yaml", env={}), stop))
    try:
        await until(lambda: alerts(out) == [("convoys", "Convoy leaves Raqqa")], 15)
        # A new rule, scoped by the feed's tag from the config, applies without a restart.
        (rules / "more.yaml").write_text(rule("sieges", "siege").replace(
            "    match:", "    scope: {feed_tags: [syria]}\n    match:"))
        await until(lambda: "rules loaded: 2 rules" in caplog.text)
        # Broken now: its last good version keeps running, and the error is logged.
        (rules / "desk.yaml").write_text("rules: [unclosed\n")
        await until(lambda: "its last good version keeps running" in caplog.text)
        write_feed(feed, ["Convoy leaves Raqqa", "Siege of Deir Ezzor", "Convoy reaches Tabqa"])
        await until(lambda: len(alerts(out)) == 3, 15)
        assert alerts(out)[1:] == [("sieges", "Siege of Deir Ezzor"),
                                   ("convoys", "Convoy reaches Tabqa")]
        assert "invalid YAML" in caplog.text
        caplog.clear()
        os.kill(os.getpid(), signal.SIGHUP)
        await until(lambda: "rules loaded: 2 rules" in caplog.text)
        assert "reload requested" in caplog.text
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
