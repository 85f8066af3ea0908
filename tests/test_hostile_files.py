"""Hostile rule and config files (issue 17): duplicate keys are refused at the second
occurrence; bytes that cannot be read are placed at their own line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.config.settings import load_config
from watcher.errors import ConfigError
from watcher.rules.load import load_rules

RULE = ("rules:\n  - id: convoy\n    title: Convoy\n    severity: low\n"
        "    match: {words: [convoy]}\n")


def rule_errors(tmp_path: Path, content: bytes) -> tuple[Path, list[str]]:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    ruleset = load_rules([path])
    assert not ruleset.ok and not ruleset.rules
    return path, [str(p) for p in ruleset.problems if p.severity == "error"]


def config_error(tmp_path: Path, content: bytes) -> tuple[Path, str]:
    path = tmp_path / "watcher.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    return path, str(caught.value)


@pytest.mark.parametrize(("text", "position", "key"), [
    (RULE.replace("    title:", "    id: other\n    title:"), "3:5", "id"),
    (RULE + "    severity: high\n", "6:5", "severity"),
    (RULE.replace("{words: [convoy]}", "{words: [convoy], words: [tank]}"), "5:30", "words"),
    ("rules: []\nrules:\n" + RULE[len("rules:\n"):], "2:1", "rules"),
])
def test_a_rule_key_written_twice_is_refused_at_the_second(tmp_path: Path, text: str,
                                                           position: str, key: str) -> None:
    path, errors = rule_errors(tmp_path, text.encode())
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{path}:{position}: duplicate key {key!r} (first at line ")
    assert errors[0].endswith("); each key may appear once")


def test_the_first_occurrence_is_named(tmp_path: Path) -> None:
    _, errors = rule_errors(tmp_path, RULE.replace("    title:", "    id: x\n    title:").encode())
    assert "(first at line 2, column 5)" in errors[0]


def test_a_config_key_written_twice_is_refused_at_the_second(tmp_path: Path) -> None:
    path, error = config_error(tmp_path, b"state: a.db\nlog_level: info\nstate: b.db\n")
    assert f"{path}:3:1: duplicate key 'state' (first at line 1, column 1)" in error


def test_a_nested_config_key_written_twice_is_refused(tmp_path: Path) -> None:
    path, error = config_error(tmp_path, b"fetch:\n  timeout: 5s\n  timeout: 50s\n")
    assert f"{path}:3:3: duplicate key 'timeout'" in error


@pytest.mark.parametrize(("content", "position", "fragment"), [
    (b"rules:\n  - id: x\xff\n", "2:10", "not UTF-8: invalid start byte (byte 0xff)"),
    (b"# caf\xc3\xa9\nrules:\n  - id: \xc3\xa9\xc3\n", "3:10", "not UTF-8"),
    (b"rules:\n  - id: a\x01b\n", "2:10", "control character U+0001 is not allowed"),
    (b"rules:\n  - id: \xc3\xa9\x1b[31m\n", "2:10", "control character U+001B"),
    (b"\xef\xbb\xbfrules:\n  - id: \x7f\n", "2:9", "control character U+007F"),
])
def test_unreadable_bytes_are_placed_where_they_are(tmp_path: Path, content: bytes,
                                                    position: str, fragment: str) -> None:
    path, errors = rule_errors(tmp_path, content)
    assert len(errors) == 1 and errors[0].startswith(f"{path}:{position}: "), errors
    assert fragment in errors[0]


def test_a_config_with_a_control_character_is_placed(tmp_path: Path) -> None:
    path, error = config_error(tmp_path, b"state: a.db\nlog_level: in\x00fo\n")
    assert f"{path}:2:14: control character U+0000 is not allowed" in error


def test_a_rule_text_with_a_lone_surrogate_is_a_problem_not_a_crash() -> None:
    ruleset = load_rules([], texts={"inline.yaml": "rules:\n  - id: \ud800\n"})
    assert [str(p) for p in ruleset.problems] == [
        "inline.yaml:2:9: lone surrogate U+D800 is not allowed"]
