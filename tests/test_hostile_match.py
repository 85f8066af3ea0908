"""Matching under hostile or unusual input (issue 17): a rules folder of only patterns still
lists GeoNames places; look-alike letters and bidi controls do not evade rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from watcher.matching.matcher import Matcher, compile_rules, match_article
from watcher.models import Article
from watcher.rules.load import load_rules

PATTERN_ONLY = ("rules:\n  - id: shelling\n    title: Shelling\n    severity: high\n"
                "    match:\n      pattern: [\"shell(ing|ed)\"]\n")


@pytest.fixture(scope="module")
def pattern_only(tmp_path_factory: pytest.TempPathFactory) -> Matcher:
    folder: Path = tmp_path_factory.mktemp("rules")
    (folder / "patterns.yaml").write_text(PATTERN_ONLY, encoding="utf-8")
    ruleset = load_rules([folder])
    assert ruleset.problems == []
    return compile_rules(ruleset)


def test_a_pattern_only_folder_lists_geonames_places(pattern_only: Matcher) -> None:
    article = Article(key="k", title="Shelling reported in Kharkiv overnight",
                      content="Residents of Aleppo were also shelled.")
    found = match_article(pattern_only, article)
    assert [h.rule.id for h in found.hits] == ["shelling"]
    assert [(p.name, p.country) for p in found.places] == [("Kharkiv", "UA"), ("Aleppo", "SY")]


def test_a_pattern_only_folder_without_a_hit_lists_nothing(pattern_only: Matcher) -> None:
    found = match_article(pattern_only, Article(key="k", title="Calm day in Kharkiv"))
    assert found.hits == () and found.places == ()
