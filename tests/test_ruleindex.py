"""The index of terms to rules: learning which terms are rare changes which rules are looked
at, never which rules fire."""

from __future__ import annotations

from watcher.matching.index import FIRST_REVIEW, LONGEST_WAIT
from watcher.matching.matcher import Matcher, compile_rules, match_article
from watcher.models import Article
from watcher.rules.load import load_rules

GAZETTEER = """\
places:
  - {name: Raqqa, country: SY, lat: 35.95, lon: 39.01}
  - {name: Tabqa, country: SY, lat: 35.84, lon: 38.55}
groups:
  - {name: ISIL, aliases: [Daesh]}
"""
RULES = """\
rules:
  - id: isil-convoy
    title: ISIL and a convoy
    severity: high
    match: {groups: [ISIL], words: [convoy]}
  - id: two-of-three
    title: Two of three
    severity: low
    match:
      any:
        min: 2
        of: [{words: [ambush]}, {places: [Tabqa]}, {groups: [ISIL]}]
"""
ARTICLES = [Article(key=str(i), title=title) for i, title in enumerate([
    "Daesh claims attack", "Daesh fighters regroup", "ISIL cells active near Raqqa",
    "Convoy of Daesh fighters leaves Raqqa", "Ambush near Tabqa", "Daesh ambush kills four",
    "Aid convoy reaches Tabqa",
])]


def matcher() -> Matcher:
    ruleset = load_rules([], {"gazetteer.yaml": GAZETTEER, "rules.yaml": RULES})
    assert ruleset.problems == []
    return compile_rules(ruleset)


def fired(m: Matcher) -> list[list[str]]:
    return [[h.rule.id for h in match_article(m, a).hits] for a in ARTICLES]


def term(m: Matcher, label: str) -> int:
    return next(i for i, t in enumerate(m.terms) if t.label == label)


def test_learning_moves_a_rule_to_its_rarer_leaf_and_keeps_the_answers() -> None:
    m = matcher()
    before = fired(m)
    assert before == [[], [], [], ["isil-convoy"], ["two-of-three"], ["two-of-three"], []]
    isil, convoy = term(m, "ISIL"), term(m, "convoy")
    rule = next(i for i, c in enumerate(m.rules) if c.rule.id == "isil-convoy")
    # Before any article, both leaves are required by one rule each: the group is first.
    assert rule in m.index.by_term.get(isil, ())
    for _ in range(FIRST_REVIEW // len(ARTICLES) + 1):  # Daesh is in most articles
        fired(m)
    assert m.index.seen >= FIRST_REVIEW
    assert rule not in m.index.by_term.get(isil, ())
    assert rule in m.index.by_term[convoy]
    assert fired(m) == before


def test_at_least_n_of_k_is_indexed_under_k_minus_n_plus_one_leaves() -> None:
    m = matcher()
    rule = next(i for i, c in enumerate(m.rules) if c.rule.id == "two-of-three")
    indexed = [t for t, rules in m.index.by_term.items() if rule in rules]
    assert len(indexed) == 2  # two of the three leaves: one of them must hold
    m.index.found_in.update({term(m, "ISIL"): 100, term(m, "ambush"): 50, term(m, "Tabqa"): 1})
    m.index.review()
    assert sorted(m.terms[t].label for t, rules in m.index.by_term.items()
                  if rule in rules) == ["Tabqa", "ambush"]
    assert fired(m)[4:6] == [["two-of-three"], ["two-of-three"]]


def test_reviews_double_their_wait_then_keep_a_pace_and_halve_old_counts() -> None:
    m = matcher()
    index = m.index
    reviews = []
    for _ in range(LONGEST_WAIT * 2 + 1):
        before = index.next_review
        index.learn({term(m, "ISIL"): set()})
        if index.next_review != before:
            reviews.append(index.seen)
    assert reviews[:4] == [FIRST_REVIEW, 2 * FIRST_REVIEW, 4 * FIRST_REVIEW, 8 * FIRST_REVIEW]
    assert reviews[-2:] == [LONGEST_WAIT, 2 * LONGEST_WAIT]
    # Halved at each of the last two reviews, counted in between.
    assert index.found_in[term(m, "ISIL")] == (LONGEST_WAIT // 2 + LONGEST_WAIT) // 2 + 1
