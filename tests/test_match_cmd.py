"""`watcher match` for backtesting: `--since` reads the state store, `--summary` counts."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watcher.cli import main
from watcher.models import Article
from watcher.store import open_store

RULES = """\
rules:
  - id: convoys
    title: Convoys
    severity: medium
    match: {words: [convoy]}
  - id: sieges-in-syria-feeds
    title: Sieges
    severity: high
    scope: {feed_tags: [syria]}
    match: {words: [siege]}
  - id: quiet
    title: Never fires here
    severity: low
    match: {words: [armistice]}
"""


def stored(key: str, title: str, feed: str = "desk") -> Article:
    return Article(key=key, title=title, source="Desk", feed=feed)


@pytest.fixture
def desk(tmp_path: Path) -> Path:
    (tmp_path / "rules.yaml").write_text(RULES)
    config = {"state": "state.db", "rules": ["rules.yaml"],
              "feeds": [{"id": "desk", "url": "feed.xml", "tags": ["syria"]},
                        {"id": "other", "url": "other.xml"}]}
    (tmp_path / "w.yaml").write_text(json.dumps(config))

    async def fill() -> None:
        store = await open_store(tmp_path / "state.db")
        now = datetime.now(UTC)
        await store.record_articles([stored("old", "Old convoy")], [], now - timedelta(days=9))
        await store.record_articles(
            [stored("a", "Convoy leaves Raqqa"), stored("b", "Siege of Deir Ezzor"),
             stored("c", "Siege elsewhere", feed="other"), stored("d", "Convoys and siege")],
            [], now - timedelta(days=1))
        await store.close()

    asyncio.run(fill())
    return tmp_path


def test_since_backtests_stored_articles(desk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["match", "--rules", str(desk / "rules.yaml"), "--config",
                 str(desk / "w.yaml"), "--since", "7d"])
    out = capsys.readouterr().out
    assert code == 0
    found = [(a["rule"]["id"], a["article"]["title"]) for a in map(json.loads, out.splitlines())]
    assert found == [("convoys", "Convoy leaves Raqqa"),
                     ("sieges-in-syria-feeds", "Siege of Deir Ezzor"),
                     ("convoys", "Convoys and siege"),
                     ("sieges-in-syria-feeds", "Convoys and siege")]


def test_summary_counts_per_rule(desk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["match", "--rules", str(desk / "rules.yaml"), "--config",
                 str(desk / "w.yaml"), "--since", "30d", "--summary"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert [line.split()[:3] for line in lines[1:4]] == [
        ["3", "60.0%", "convoys"], ["2", "40.0%", "sieges-in-syria-feeds"],
        ["0", "0.0%", "quiet"]]
    assert lines[-1] == "5 articles, 5 alerts, 2 of 3 rules fired"


def test_summary_over_an_input_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    articles = tmp_path / "in.jsonl"
    articles.write_text('{"title": "Convoy"}\n{"title": "Siege", "source": "desk"}\n')
    code = main(["match", "--rules", str(tmp_path / "rules.yaml"), "--input", str(articles),
                 "--summary"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    # Without a config no feed has tags, so the tag-scoped rule cannot fire.
    assert lines[-1] == "2 articles, 1 alerts, 1 of 3 rules fired"


def test_since_without_a_store_says_so(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "w.yaml").write_text(json.dumps({"state": "none.db"}))
    code = main(["match", "--rules", str(tmp_path / "rules.yaml"), "--config",
                 str(tmp_path / "w.yaml"), "--since", "1d"])
    captured = capsys.readouterr()
    assert code == 0
    assert captured.out == ""
    assert "no state store at" in captured.err
    assert not (tmp_path / "none.db").exists()


def test_since_and_input_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["match", "--rules", "r", "--input", "x", "--since", "1d"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        main(["match", "--rules", "r", "--since", "soon"])
    assert "not a duration" in capsys.readouterr().err


def test_a_reader_that_stops_early_ends_it_quietly(tmp_path: Path) -> None:
    # `watcher match ... | head`: once the reader has gone, no traceback, the pipe's status.
    (tmp_path / "rules.yaml").write_text(RULES)
    articles = tmp_path / "in.jsonl"
    articles.write_text("".join(json.dumps({"key": str(i), "title": f"Convoy number {i}"})
                                + "\n" for i in range(2000)))
    process = subprocess.Popen(
        [sys.executable, "-m", "watcher", "match", "--rules", str(tmp_path / "rules.yaml"),
         "--input", str(articles)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.read(200).startswith(b'{"schema":"watcher.alert/v1"')
    process.stdout.close()
    with process.stderr:
        errors = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert "Traceback" not in errors


def test_alerts_name_the_story_of_their_event(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Three outlets report one convoy, a fourth another event: two stories."""
    (tmp_path / "rules.yaml").write_text(RULES)
    lines = [
        {"id": "1", "source": "afp", "published": "2026-11-25T08:00:00Z",
         "title": "Convoy of 40 buses leaves Raqqa for Deir Ezzor under a deal"},
        {"id": "2", "source": "bbc", "published": "2026-11-25T09:00:00Z",
         "title": "40 buses in a convoy leave Raqqa for Deir Ezzor"},
        {"id": "3", "source": "afp", "published": "2026-11-25T10:00:00Z",
         "title": "Aid convoy reaches Aleppo after weeks of shelling"},
        {"id": "4", "source": "dpa", "published": "2026-11-25T11:00:00Z",
         "title": "Convoy of 40 buses from Raqqa heads to Deir Ezzor"},
    ]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert main(["match", "--rules", str(tmp_path / "rules.yaml"),
                 "--input", str(tmp_path / "in.jsonl")]) == 0
    alerts = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    stories = {a["article"]["title"][:12]: a["story"] for a in alerts}
    assert len(alerts) == 4 and len({s["id"] for s in stories.values()}) == 2
    raqqa = stories["Convoy of 40"]
    assert raqqa["articles"] == 3 and raqqa["sources"] == ["afp", "bbc", "dpa"]
    assert raqqa["first_seen"] == "2026-11-25T08:00:00Z"
    assert stories["Aid convoy r"]["articles"] == 1
