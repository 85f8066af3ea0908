"""The rules and lists we ship: valid, every example passes, places found in real news."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.conftest import require_shared_data
from watcher.matching.examples import run_examples
from watcher.matching.matcher import Matcher, compile_rules, match_article
from watcher.models import Article
from watcher.rules.load import RuleSet, load_rules

ROOT = Path(__file__).resolve().parent.parent
# FA-KES labels places in lower case with its own spellings; map them to our names.
FAKES_LABELS = {"deir ezzor": "Deir ez-Zor", "hasakeh": "Hasakah", "lattakia": "Latakia",
                "tartous": "Tartus"}
FAKES_THRESHOLD = 0.90  # measured: 746 of 804 (92.8%)


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_rules([ROOT / "rules"])


@pytest.fixture(scope="module")
def matcher(shipped: RuleSet) -> Matcher:
    return compile_rules(shipped)


def test_shipped_rules_load_without_problems(shipped: RuleSet) -> None:
    assert [str(p) for p in shipped.problems] == []
    assert len(shipped.rules) >= 8
    assert len(shipped.gazetteer.places) >= 200
    assert len(shipped.gazetteer.groups) >= 25


def test_every_rule_has_both_kinds_of_examples(shipped: RuleSet) -> None:
    for rule in shipped.rules:
        assert rule.examples.match and rule.examples.no_match, rule.id
        assert rule.description, rule.id


def test_every_example_passes(shipped: RuleSet, matcher: Matcher) -> None:
    results = run_examples(shipped, matcher)
    assert len(results) >= 2 * len(shipped.rules)
    assert [str(r) for r in results if not r.ok] == []


def test_a_failing_example_names_file_rule_and_example(shipped: RuleSet) -> None:
    text = """\
rules:
  - id: wrong
    title: Wrong
    severity: low
    match: {words: [convoy]}
    examples:
      match: [Nothing here]
      no_match: [A convoy]
"""
    ruleset = load_rules([], {"w.yaml": text})
    results = run_examples(ruleset, compile_rules(ruleset))
    assert [str(r) for r in results] == [
        "w.yaml:7:15: rule 'wrong', match example 1: FAILED: the rule did not fire",
        "w.yaml:8:18: rule 'wrong', no_match example 1: FAILED: the rule fired but should "
        "not have; matched: convoy ('convoy' in title)",
    ]


@pytest.mark.parametrize(("country", "minimum"), [
    ("SY", 80), ("IQ", 20), ("UA", 30), ("SD", 15), ("YE", 12), ("PS", 15), ("IL", 8),
    ("LB", 10), ("ML", 8), ("BF", 8), ("NE", 6),
])
def test_gazetteer_covers_the_desk_regions(shipped: RuleSet, country: str,
                                           minimum: int) -> None:
    places = [p for p in shipped.gazetteer.places.values() if p.country == country]
    assert len(places) >= minimum


@pytest.mark.parametrize("alias", ["Deir Ezzor", "Deir al-Zor", "Deir el-Zour",
                                   "Dayr az Zawr", "Deir ez Zor", "دير الزور"])
def test_deir_ez_zor_spellings(matcher: Matcher, alias: str) -> None:
    found = match_article(matcher, Article(key="k", title=f"Clashes in {alias} today"),
                          all_entities=True)
    assert [p.name for p in found.places] == ["Deir ez-Zor"]


def test_fakes_corpus_place_detection(matcher: Matcher) -> None:
    path = require_shared_data() / "corpus" / "FA-KES-Dataset.csv"
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 804
    found = 0
    for i, row in enumerate(rows):
        label = row["location"].strip().lower()
        want = FAKES_LABELS.get(label, label.title())
        article = Article(key=str(i), title=row["article_title"],
                          content=row["article_content"])
        if want in {p.name for p in match_article(matcher, article, all_entities=True).places}:
            found += 1
    share = found / len(rows)
    print(f"FA-KES place detection: {found}/{len(rows)} = {share:.1%}")
    assert share >= FAKES_THRESHOLD


AMBIGUOUS_NAMES = ["Of", "Nice", "Reading", "Split", "Bar", "Mobile", "Batman"]


def test_names_that_are_common_words_are_absent_or_ambiguous(shipped: RuleSet) -> None:
    for name in AMBIGUOUS_NAMES:
        entry = shipped.gazetteer.find("place", name)
        assert entry is None or shipped.gazetteer.is_ambiguous(entry), name


@pytest.mark.parametrize(("title", "places"), [
    ("Nice to see the talks resume; reading of the bill is split", []),
    ("Bar owner says Batman film drew crowds", []),
    ("Split decision: Reading and Mobile fans react", []),
    ("Police in Bar, Montenegro, arrest smugglers", ["Bar", "Montenegro"]),
    ("Curfew in Batman after PKK clashes", ["Batman"]),
    ("Nice attack: France mourns", ["Nice", "France"]),
    ("Ferry from Split to Ancona cancelled as Croatia braces for storm",
     ["Split", "Ancona", "Croatia"]),
])
def test_ambiguous_places_only_with_supporting_context(matcher: Matcher, title: str,
                                                       places: list[str]) -> None:
    found = match_article(matcher, Article(key="k", title=title), all_entities=True)
    assert [p.name for p in found.places] == places
