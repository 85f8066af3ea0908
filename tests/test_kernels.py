"""The C kernels of matching (watcher/text/_speedups.c) against their Python versions
(watcher/text/kernels.py): the same answers on any input, and the same matches end to end."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import ahocorasick
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watcher.matching import explain as explain_module
from watcher.matching import matcher as matcher_module
from watcher.matching.matcher import compile_rules, match_article
from watcher.models import Article, RuleHit
from watcher.rules.load import load_rules
from watcher.text import kernels
from watcher.text import normalize as normalize_module
from watcher.text.normalize import _BREAKS, _SEPARATORS, tokenize

FAST = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
# ASCII words and punctuation, and what news mixes in: curly quotes, dashes, no-break
# spaces, accents, Cyrillic, Arabic, CJK full stops, line and paragraph separators.
ALPHABET = ("abcXYZ019 .,;:!?-_'\"\n\t()" "\u2019\u201c\u201d\u2014\u00a0\u00e9\u0436"
            "\u0627\u3002\uff0c\u2028\u2026\u00ad\u200b")
TEXT = st.text(alphabet=ALPHABET, max_size=80)


@pytest.fixture(scope="module")
def compiled() -> ModuleType:
    built = kernels.load()
    assert built is not None, "watcher.text._speedups is not built: run `make install`"
    return built


@FAST
@given(text=TEXT)
def test_plain_tokens_and_breaks_agree(compiled: ModuleType, text: str) -> None:
    assert compiled.plain_tokens(text, _SEPARATORS) == kernels.plain_tokens(text, _SEPARATORS)
    spans = tokenize(text).spans
    assert compiled.breaks(text, spans, _BREAKS) == kernels.breaks(text, spans, _BREAKS)


def test_plain_tokens_leave_other_scripts_to_the_regex(compiled: ModuleType) -> None:
    for module in (compiled, kernels):
        assert module.plain_tokens("the “convoy”\u00a0left—north", _SEPARATORS) == (
            [(0, 3), (5, 11), (13, 17), (18, 23)], ["the", "convoy", "left", "north"])
        assert module.plain_tokens("Mayādīn fell", _SEPARATORS) is None
        assert module.plain_tokens("东京。", _SEPARATORS) is None


def test_term_spots_and_decided_hits_agree(compiled: ModuleType) -> None:
    found = {0: {(1, 5, 9), (0, 2, 4), (1, 0, 3)}, 2: {(2, 7, 8)}}
    labels, kinds = ["convoy", "unused", "Raqqa"], ["word", "word", "place"]
    answers = []
    for module in (compiled, kernels):
        cache: dict[int, object] = {}
        spots = [module.term_spots(cache, labels, kinds, found, lambda: repr, key)
                 for key in (0, 2, 0, frozenset([2]))]
        assert spots[0] is spots[2]  # made once
        prepared = [("r0", ("ops",), 0), None, ("r2", (), 2)]
        hits, left = module.decided_hits([0, 1, 2], prepared, RuleHit, "why")
        assert left == 1 and hits[1] == 1
        answers.append((spots, cache, [(h.rule, h.notify, h._key, h._explanation, h._matched)
                                       for h in (hits[0], hits[2])]))
    assert answers[0] == answers[1]
    assert answers[0][0][0] == (((0, 2, 4), (1, 0, 3), (1, 5, 9)), ("convoy",) * 3,
                                ("word",) * 3)
    assert answers[0][0][3] == "frozenset({2})"
    with pytest.raises(KeyError):
        compiled.term_spots({}, labels, kinds, found, lambda: repr, 1)
    for module in (compiled, kernels):
        with pytest.raises(ReferenceError):
            module.term_spots({}, labels, kinds, found, lambda: None, frozenset())


def _automaton(keys: list[str]) -> Any:
    automaton = ahocorasick.Automaton()
    for i, key in enumerate(keys):
        ntok = len(key.split())
        checked = ("case",) if i % 3 == 2 else ()
        automaton.add_word(f" {key} ", (len(key) + 2, ntok, (i, i + 100), checked, ntok == 1))
    automaton.make_automaton()
    return automaton


WORDS = st.sampled_from(["a", "b", "cd", "a b", "b cd", "cd a b"])


@FAST
@given(keys=st.lists(WORDS, min_size=1, max_size=5, unique=True),
       stream=st.lists(st.sampled_from(["a", "b", "cd", "e"]), max_size=30),
       looked=st.lists(st.one_of(st.none(), st.tuples(st.integers(0, 5))), max_size=30))
def test_scan_and_collect_agree(compiled: ModuleType, keys: list[str], stream: list[str],
                                looked: list[tuple[int, ...] | None]) -> None:
    automaton = _automaton(keys)
    joined = " " + " ".join(stream) + " "
    spans = [(3 * i, 3 * i + 2) for i in range(len(stream))]
    answers = []
    for module in (compiled, kernels):
        found: dict[int, set[tuple[int, int, int]]] = {}
        calls: list[tuple[object, ...]] = []

        def broken(first: int, last: int, calls: list[tuple[object, ...]] = calls) -> bool:
            calls.append(("broken", first, last))
            return (first + last) % 2 == 1

        def check(first: int, ntok: int, entries: tuple[object, ...], span: object,
                  calls: list[tuple[object, ...]] = calls) -> None:
            calls.append(("check", first, ntok, entries, span))

        module.scan(automaton.iter(joined), joined, spans, 1, found, broken, check)
        module.collect(looked[:len(spans)], spans, 0, found)
        answers.append((list(found.items()), calls))
    assert answers[0] == answers[1]


RULES = """\
places:
  - {name: Raqqa, country: SY, lat: 35.95, lon: 39.01, aliases: [الرقة]}
rules:
  - id: convoy
    title: Convoy
    severity: high
    match: {words: [convoy, attack], places: [Raqqa]}
  - id: phrase
    title: Phrase
    severity: low
    match: {phrases: ["front lines", "aid convoy"]}
  - id: acronym
    title: Acronym
    severity: low
    match: {words: [{term: SDF, case: true}]}
  - id: near
    title: Near
    severity: low
    match: {near: {within: 2, of: [{words: [convoy]}, {places: [Raqqa]}]}}
"""
ARTICLES = [
    "An aid convoy was attacked near Raqqa; the front lines moved. SDF said so.",
    "Aid. Convoy seen at the front, lines drawn near the “Raqqa” road — SDF and sdf.",
    "Mayādīn: the convoy left الرقة at dawn.\nFront\nlines held. WHAT SDF SAYS",
]


def test_matches_are_the_same_with_either(compiled: ModuleType,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ruleset = load_rules([], {"rules.yaml": RULES})
    assert ruleset.ok, ruleset.problems
    matcher = compile_rules(ruleset)
    articles = [Article(key=str(i), title=text[:30], content=text)
                for i, text in enumerate(ARTICLES)]

    def everything() -> list[object]:
        matches = [match_article(matcher, article) for article in articles]
        return [(m.hits, [h.spots() for h in m.hits], m.places, m.groups) for m in matches]

    with_c = everything()
    assert {h.rule.id for m in with_c for h in m[0]} == {"convoy", "phrase", "acronym", "near"}
    for module in (matcher_module, explain_module, normalize_module):
        monkeypatch.setattr(module, "KERNELS", kernels)
    assert everything() == with_c
