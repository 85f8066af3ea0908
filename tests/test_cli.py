"""The command-line contract of DESIGN.md, through real `watcher` processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_shared_data
from watcher import __version__
from watcher.models import Alert

ROOT = Path(__file__).resolve().parent.parent


def watcher(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "watcher", *args], input=stdin,
                          capture_output=True, timeout=60, check=False,
                          text=stdin is None)


def test_version() -> None:
    result = watcher("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"watcher {__version__}"


@pytest.mark.parametrize("command", [[], ["run"], ["once"], ["rules"], ["rules", "check"],
                                     ["rules", "test"], ["match"], ["schema"]])
def test_every_command_explains_itself(command: list[str]) -> None:
    result = watcher(*command, "--help")
    assert result.returncode == 0
    assert "usage: watcher" in result.stdout
    assert len(result.stdout.splitlines()) > 3


@pytest.mark.parametrize(("document", "key"), [("rules", "rules"), ("config", "feeds"),
                                               ("alert", "alert_id")])
def test_schema_prints_json_schema(document: str, key: str) -> None:
    result = watcher("schema", document)
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert key in json.dumps(schema)
    assert schema.get("type") == "object" or "$defs" in schema


def test_alert_schema_names_the_contract_fields() -> None:
    schema = json.loads(watcher("schema", "alert").stdout)
    assert set(schema["properties"]) == {"schema", "alert_id", "rule", "article", "matched",
                                         "places", "groups", "story", "detected_at"}


def test_rules_check_passes_on_shipped_rules() -> None:
    result = watcher("rules", "check", str(ROOT / "rules"))
    assert result.returncode == 0, result.stderr


def test_rules_check_names_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: x\n    title: X\n    severity: apocalyptic\n")
    result = watcher("rules", "check", str(bad))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith(f"{bad}:") for line in lines)
    assert any(line.startswith(f"{bad}:4:15:") for line in lines), lines


def test_rules_test_runs_shipped_examples() -> None:
    result = watcher("rules", "test", str(ROOT / "rules"))
    assert result.returncode == 0, result.stderr
    assert "0 failed" in result.stdout


def test_config_error_names_file_line_and_column(tmp_path: Path) -> None:
    config = tmp_path / "watcher.yaml"
    config.write_text("feeds:\n  - id: a\n    url: x.xml\n    interval: soon\n")
    result = watcher("once", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{config}:4:15: feeds.0.interval:"), result.stderr


def test_match_reads_a_feed_document_from_a_file(tmp_path: Path) -> None:
    feed = ROOT / "config" / "demo-feeds" / "levant-desk.xml"
    result = watcher("match", "--rules", str(ROOT / "rules"), "--input", str(feed))
    assert result.returncode == 0, result.stderr
    alerts = [Alert.model_validate_json(line) for line in result.stdout.splitlines()]
    assert alerts
    assert all("<script>" not in a.article.summary for a in alerts)


def test_match_reports_bad_lines_and_goes_on() -> None:
    lines = b'{"title": "Convoy leaves Raqqa with Isil fighters"}\nnot json\n{"summary": "x"}\n'
    result = watcher("match", "--rules", str(ROOT / "rules"), stdin=lines)
    assert result.returncode == 0
    err = result.stderr.decode()
    assert "<stdin>:2:" in err
    assert "<stdin>:3:" in err


def seed_article() -> dict[str, str]:
    text = (require_shared_data() / "seed" / "raqqa-foreign-fighters.txt").read_text()
    title, _, content = text.partition("\n")
    return {"title": title.strip(), "content": content, "id": "seed",
            "url": "https://example.org/seed"}


def test_seed_article_through_match_says_exactly_why() -> None:
    article = seed_article()
    result = watcher("match", "--rules", str(ROOT / "rules"),
                     stdin=(json.dumps(article) + "\n").encode())
    assert result.returncode == 0, result.stderr
    alerts = [Alert.model_validate_json(line) for line in result.stdout.splitlines()]
    assert alerts, "no shipped rule fired on the seed article"
    found = {(m.kind, m.term, m.text) for a in alerts for m in a.matched}
    texts = {m.text.casefold() for a in alerts for m in a.matched}
    for expected in ("raqqa", "deir ezzor", "mayadin", "tabqa", "isil", "daesh", "sdf",
                     "defected", "convoy"):
        assert expected in texts, (expected, sorted(found))
    from watcher.feeds.parse import article_from_record
    from watcher.models import ArticleIn
    plain = article_from_record(ArticleIn.model_validate(article))
    for alert in alerts:
        for m in alert.matched:
            assert plain.field_text(m.field)[m.start:m.end] == m.text
        assert alert.article.title == plain.title
        names = {p.name for p in alert.places}
        assert {"Raqqa", "Mayadin", "Tabqa"} <= names
