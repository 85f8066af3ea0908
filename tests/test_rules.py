"""Loading rule files: positioned problems, and a broken file never stops the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from watcher.rules.load import Branch, Leaf, RuleFile, load_rules

GOOD = """\
rules:
  - id: good
    title: Good rule
    severity: low
    match:
      words: [convoy]
"""
LISTS = """\
lists:
  movement: [convoy, fled]
places:
  - {name: Raqqa, country: SY, lat: 35.95, lon: 39.01, aliases: [Raqa, الرقة]}
groups:
  - {name: ISIL, aliases: [Daesh, {term: IS, case: true}]}
"""


def load_text(text: str, tmp_path: Path, name: str = "bad.yaml") -> tuple[str, list[str]]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    ruleset = load_rules([path])
    return str(path), [str(p) for p in ruleset.problems]


@pytest.mark.parametrize(("text", "position", "fragment"), [
    # schema: the value at fault
    ("rules:\n  - id: x\n    title: X\n    severity: apocalyptic\n    match: {words: [a]}\n",
     "4:15", "rules.0.severity"),
    # a typo in a key is an error, not a silent default
    ("rules:\n  - id: x\n    title: X\n    severity: low\n    match: {word: [a]}\n",
     "5:19", "rules.0.match.word: Extra inputs are not permitted"),
    ("rules:\n  - id: x\n    title: X\n    severity: low\n    match: {words: [a]}\n"
     "    notfy: [desk]\n", "6:12", "rules.0.notfy"),
    # an empty condition
    ("rules:\n  - id: x\n    title: X\n    severity: low\n    match: {}\n", "5:12",
     "a condition needs one of"),
    # an empty leaf
    ("rules:\n  - id: x\n    title: X\n    severity: low\n    match: {words: []}\n", "5:20",
     "at least 1 item"),
    # any with an unreachable minimum
    ("rules:\n  - id: x\n    title: X\n    severity: low\n    match:\n      any:\n"
     "        min: 3\n        of: [{words: [a]}, {words: [b]}]\n", "7:9", "min is 3"),
    # YAML syntax
    ("rules:\n  - id: x\n    title: [unclosed\n", "3:12", "invalid YAML"),
    # bad id
    ("rules:\n  - id: Bad Id\n    title: X\n    severity: low\n    match: {words: [a]}\n",
     "2:9", "rules.0.id"),
    # not a mapping
    ("- just\n- a list\n", "1:1", "a rule file is a mapping"),
    # unknown list reference, with a hint
    ("rules:\n  - id: x\n    title: X\n    severity: low\n    match:\n"
     "      words: [convoy, \"@movment\"]\n", "6:23", "unknown list '@movment'; did you mean"),
    # only `none`: would fire on every article
    ("rules:\n  - id: x\n    title: X\n    severity: low\n    match:\n"
     "      none: [{words: [a]}]\n", "6:7", "would fire on every article"),
    # an example without text
    ("rules:\n  - id: x\n    title: X\n    severity: low\n    match: {words: [a]}\n"
     "    examples: {match: [{expect: [a]}]}\n", "6:24", "needs a title"),
])
def test_problems_name_file_line_and_column(tmp_path: Path, text: str, position: str,
                                            fragment: str) -> None:
    lists = tmp_path / "lists.yaml"
    lists.write_text(LISTS, encoding="utf-8")
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    ruleset = load_rules([lists, path])
    errors = [str(p) for p in ruleset.problems if p.severity == "error"]
    assert not ruleset.ok
    assert any(e.startswith(f"{path}:{position}:") and fragment in e for e in errors), errors
    assert not ruleset.rules


def test_a_broken_file_does_not_disable_the_others(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "broken.yaml").write_text("rules:\n  - id: broken\n    title: [unclosed\n")
    (tmp_path / "invalid.yaml").write_text("rules:\n  - id: y\n    title: Y\n")
    ruleset = load_rules([tmp_path])
    assert [r.id for r in ruleset.rules] == ["good"]
    assert {Path(p.path).name for p in ruleset.problems} == {"broken.yaml", "invalid.yaml"}
    assert not ruleset.ok


def test_duplicate_rule_id_reports_the_second_and_keeps_the_first(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD)
    (tmp_path / "b.yaml").write_text(GOOD.replace("Good rule", "Second"))
    ruleset = load_rules([tmp_path])
    assert [(r.id, r.title) for r in ruleset.rules] == [("good", "Good rule")]
    [problem] = ruleset.problems
    assert (Path(problem.path).name, problem.line, problem.col) == ("b.yaml", 2, 9)
    assert "duplicate rule id 'good'" in problem.message
    assert f"{tmp_path / 'a.yaml'}:2" in problem.message


def test_a_bad_reference_drops_only_that_rule(tmp_path: Path) -> None:
    text = GOOD + ("  - id: bad-ref\n    title: B\n    severity: low\n"
                   "    match: {words: ['@nope']}\n")
    path, problems = load_text(text, tmp_path)
    ruleset = load_rules([Path(path)])
    assert [r.id for r in ruleset.rules] == ["good"]
    assert problems == [f"{path}:10:21: unknown list '@nope'"]


def test_unknown_place_is_a_warning_and_matched_as_written(tmp_path: Path) -> None:
    (tmp_path / "lists.yaml").write_text(LISTS, encoding="utf-8")
    (tmp_path / "r.yaml").write_text(GOOD.replace("words: [convoy]", "places: [Atlantis Prime]"))
    ruleset = load_rules([tmp_path])
    assert ruleset.ok
    [problem] = ruleset.problems
    assert problem.severity == "warning"
    assert str(problem).endswith("warning: unknown place 'Atlantis Prime': not in the gazetteer, "
                                 "matched as written")
    assert [r.id for r in ruleset.rules] == ["good"]


def test_missing_path_and_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("")
    ruleset = load_rules([tmp_path / "missing", tmp_path / "empty.yaml"])
    assert [(Path(p.path).name, p.severity) for p in ruleset.problems] == [
        ("missing", "error"), ("empty.yaml", "warning")]


def test_conditions_resolve_to_a_tree(tmp_path: Path) -> None:
    text = LISTS + """\
rules:
  - id: tree
    title: Tree
    severity: high
    notify: [desk]
    match:
      groups: [Daesh]
      places: [Raqa]
      any:
        min: 2
        of:
          - words: ["@movement"]
          - phrases: [moved its capital]
            fields: [title]
      none:
        - words: [exercise]
"""
    ruleset = load_rules([], {"t.yaml": text})
    assert ruleset.problems == []
    [rule] = ruleset.rules
    assert rule.notify == ("desk",)
    assert isinstance(rule.condition, Branch) and rule.condition.op == "all"
    leaves = [c for c in rule.condition.children if isinstance(c, Leaf)]
    assert [(leaf.kind, [t.text for t in leaf.terms]) for leaf in leaves] == [
        ("place", ["Raqqa"]), ("group", ["ISIL"])]
    branches = [c for c in rule.condition.children if isinstance(c, Branch)]
    assert [(b.op, b.min) for b in branches] == [("any", 2), ("none", 1)]
    phrase = branches[0].children[1]
    assert isinstance(phrase, Leaf)
    assert (phrase.kind, phrase.fields, phrase.terms[0].exact) == ("phrase", ("title",), True)


def test_rule_file_json_schema() -> None:
    schema = RuleFile.model_json_schema()
    text = json.dumps(schema)
    assert set(schema["properties"]) == {"rules", "lists", "places", "groups"}
    for key in ("severity", "notify", "examples", "phrases", "fields", "min"):
        assert key in text
