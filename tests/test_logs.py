"""Log lines: JSON off a terminal, readable on one, each naming what it is about; secrets
scrubbed whatever put them in the line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from watcher.service.logs import setup_logging

SECRET = "https://hooks.example/T0KEN-abc123"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def emit(capsys: pytest.CaptureFixture[str], *, json_lines: bool) -> list[str]:
    setup_logging("debug", json_lines=json_lines, secrets=[SECRET])
    log = logging.getLogger("watcher.test")
    log.info("feed %s: fetched", "desk", extra={"feed": "desk"})
    log.warning("delivery to %s failed", SECRET, extra={"alert_id": "a1", "sink": "hook"})
    try:
        raise RuntimeError(f"boom at {SECRET}")
    except RuntimeError:
        log.exception("rule %s crashed", "r1", extra={"rule": "r1"})
    logging.getLogger("watcher.test").debug("no context")
    return capsys.readouterr().err.splitlines()


def test_json_lines_carry_context_and_no_secret(capsys: pytest.CaptureFixture[str]) -> None:
    lines = [json.loads(line) for line in emit(capsys, json_lines=True)]
    assert [line["level"] for line in lines] == ["info", "warning", "error", "debug"]
    assert lines[0]["feed"] == "desk" and lines[0]["msg"] == "feed desk: fetched"
    assert (lines[1]["alert_id"], lines[1]["sink"]) == ("a1", "hook")
    assert lines[1]["msg"] == "delivery to *** failed"
    assert lines[2]["rule"] == "r1" and "RuntimeError: boom at ***" in lines[2]["exc"]
    assert "feed" not in lines[3]
    assert all("T0KEN" not in json.dumps(line) for line in lines)


def test_readable_lines_carry_context_and_no_secret(
        capsys: pytest.CaptureFixture[str]) -> None:
    lines = emit(capsys, json_lines=False)
    assert lines[0].endswith("watcher.test: feed desk: fetched [feed=desk]")
    assert lines[1].endswith("delivery to *** failed [alert_id=a1 sink=hook]")
    assert lines[2].endswith("rule r1 crashed [rule=r1]")
    assert any("boom at ***" in line for line in lines)
    assert not any("T0KEN" in line for line in lines)


def test_level_is_applied(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("warning", json_lines=True)
    logging.getLogger("watcher.test").info("hidden")
    logging.getLogger("watcher.test").warning("shown")
    assert [json.loads(x)["msg"] for x in capsys.readouterr().err.splitlines()] == ["shown"]
