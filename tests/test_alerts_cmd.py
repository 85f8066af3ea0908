"""`watcher alerts` and `watcher alerts retry` on a real store file, through the CLI."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.alertfactory import make_alert, make_article
from watcher.cli import main
from watcher.models import Delivery, StoryEntry
from watcher.store import open_store

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config whose store holds k1 delivered, k2 dead (to two sinks), k3 pending."""
    path = tmp_path / "watcher.yaml"
    path.write_text("state: var/w.db\nrules: []\nsinks:\n  - type: console\n")

    async def seed() -> None:
        store = await open_store(tmp_path / "var" / "w.db")
        keys = ["k1", "k2", "k3"]
        deliveries = [Delivery(make_alert(k), "console") for k in keys]
        deliveries.append(Delivery(make_alert("k2"), "hook"))
        await store.record_articles([make_article(k) for k in keys], deliveries, START)
        items = {(i.alert.article.key, i.sink): i.id
                 for i in await store.claim_due(START, 10, 60)}
        await store.mark_delivered(items["k1", "console"], START)
        await store.mark_dead(items["k2", "console"], "HTTP 404: no such hook", START)
        await store.mark_dead(items["k2", "hook"], "HTTP 410: gone", START)
        await store.release(items["k3", "console"], START + timedelta(hours=1))
        await store.close()

    asyncio.run(seed())
    return path


def listed(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, object]]:
    assert main(["alerts", "--config", str(config), "--json", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_lists_newest_first_and_by_status(config: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    rows = listed(config, capsys)
    assert [(r["id"], r["status"], r["sink"]) for r in rows] == [
        (4, "dead", "hook"), (3, "pending", "console"), (2, "dead", "console"),
        (1, "delivered", "console")]
    assert rows[0]["alert"] == make_alert("k2").to_dict()
    assert rows[0]["last_error"] == "HTTP 410: gone"
    dead = listed(config, capsys, "--status", "dead", "--limit", "1")
    assert [r["id"] for r in dead] == [4]


def test_table_for_people(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "--config", str(config), "--status", "dead"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "SINK", "TRIES", "CREATED", "SEVERITY", "RULE",
                                "TITLE", "ERROR"]
    assert lines[1].split()[:7] == ["4", "dead", "hook", "1", "2026-11-25", "12:00", "high"]
    assert lines[1].endswith("HTTP 410: gone")
    assert len(lines) == 3


def test_empty_listing(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (config.parent / "var" / "w.db").unlink()
    assert main(["alerts", "--config", str(config)]) == 0
    assert capsys.readouterr().out == "no alerts\n"


def test_retry_one_row_by_id(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "--config", str(config), "retry", "2"]) == 0
    assert "re-queued 1 delivery" in capsys.readouterr().err
    rows = {r["id"]: r for r in listed(config, capsys)}
    assert (rows[2]["status"], rows[2]["attempts"], rows[2]["finished_at"]) == ("pending", 0,
                                                                                 None)
    assert rows[4]["status"] == "dead"


def test_retry_every_sink_of_an_alert_id(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "retry", make_alert("k2").alert_id, "--config", str(config)]) == 0
    assert "re-queued 2 deliveries" in capsys.readouterr().err
    assert {r["id"] for r in listed(config, capsys, "--status", "pending")} == {2, 3, 4}


def test_retry_dead(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["alerts", "--config", str(config), "retry", "--dead"]) == 0
    assert "re-queued 2 deliveries" in capsys.readouterr().err
    assert listed(config, capsys, "--status", "dead") == []


@pytest.mark.parametrize(("args", "code", "message"), [
    (["retry"], 2, "give an ID or --dead"),
    (["retry", "1", "--dead"], 2, "give an ID or --dead"),
    (["retry", "3"], 1, "no delivered or dead row"),  # pending already
    (["retry", "nope"], 1, "no delivered or dead row with id or alert_id 'nope'"),
])
def test_retry_usage(config: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                     code: int, message: str) -> None:
    assert main(["alerts", "--config", str(config), *args]) == code
    assert message in capsys.readouterr().err


async def test_a_requeued_alert_gets_max_age_from_its_requeue(tmp_path: Path) -> None:
    store = await open_store(tmp_path / "w.db")
    await store.record_articles([make_article("k1")], [Delivery(make_alert("k1"), "s")], START)
    [item] = await store.claim_due(START, 1, 60)
    await store.mark_dead(item.id, "boom", START)
    later = START + timedelta(days=5)
    assert await store.requeue(str(item.id), later) == 1
    [again] = await store.claim_due(later, 1, 60)
    assert (again.created_at, again.queued_at, again.attempts) == (START, later, 0)
    await store.close()


def test_story_lists_every_article_of_a_story(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "watcher.yaml"
    path.write_text("state: var/w.db\nrules: []\nsinks:\n  - type: console\n")

    async def seed() -> None:
        store = await open_store(tmp_path / "var" / "w.db")
        entries = [StoryEntry(article_key=f"k{n}", source=source, url=f"https://{source}/{n}",
                              title=f"Convoy report {n}", at=START + timedelta(hours=n),
                              keys=("place:Raqqa",), signature="{}")
                   for n, source in enumerate(["afp", "bbc"])]
        await store.assign_stories(entries, START, lambda todo, _: ["s1"] * len(todo))
        await store.close()

    asyncio.run(seed())
    assert main(["alerts", "--config", str(path), "--story", "s1", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(x["key"], x["source"], x["url"]) for x in lines] == [
        ("k0", "afp", "https://afp/0"), ("k1", "bbc", "https://bbc/1")]
    assert main(["alerts", "--config", str(path), "--story", "s1"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert len(table) == 2 and "bbc  Convoy report 1  https://bbc/1" in table[1]
    assert main(["alerts", "--config", str(path), "--story", "nope"]) == 1
    assert "no story 'nope'" in capsys.readouterr().err
