"""Phrases, names and `near` stay within a sentence or clause: a sentence end, a comma, a
semicolon or a line break between their words parts them (docs/rules.md)."""

from __future__ import annotations

import pytest

from tests.test_rule_language import fired, matcher_for, rule, run
from watcher.text.normalize import tokenize

PHRASE = rule('phrases: ["Africa Corps lines"]')


@pytest.mark.parametrize(("title", "fires"), [
    ("Africa Corps lines held", True),
    ("The Africa Corps lines, drawn in 1942", True),       # punctuation after it: fine
    ("Africa Corps. Lines were drawn", False),             # a sentence end
    ("Africa Corps! Lines were drawn", False),
    ("Was it the Africa Corps? Lines were drawn", False),
    ("Africa Corps… lines were drawn", False),             # an ellipsis
    ("Africa Corps, lines and depots", False),             # a comma
    ("Africa Corps; lines and depots", False),             # a semicolon
    ("Africa\nCorps lines", False),                        # a line break
    ("Africa Corps\r\nlines", False),
    ("Africa-Corps lines", True),                          # hyphens, quotes, brackets: no
    ("'Africa Corps' lines", True),
    ("Africa (Corps) lines", True),
    ("Africa Corps: lines", True),                         # a colon is no clause end
])
def test_a_phrase_does_not_run_over_punctuation(title: str, fires: bool) -> None:
    assert fired(matcher_for(PHRASE), title) == (["r"] if fires else [])


@pytest.mark.parametrize(("title", "fires"), [
    ("نقل قوات الدعم السريع إلى الخرطوم", True),
    ("نقل قوات الدعم، السريع إلى الخرطوم", False),          # the Arabic comma
    ("نقل قوات الدعم؛ السريع", False),                      # the Arabic semicolon
])
def test_breaks_of_other_scripts(title: str, fires: bool) -> None:
    matcher = matcher_for(rule('phrases: ["الدعم السريع"]'))
    assert fired(matcher, title) == (["r"] if fires else [])


@pytest.mark.parametrize(("phrase", "title", "fires"), [
    ("U.S. Army", "The U.S. Army said", True),             # written with its punctuation
    ("St. Petersburg", "Talks in St. Petersburg", True),
    ("Raqqa, Syria", "Back in Raqqa, Syria", True),
    ("Raqqa, Syria", "Back in Raqqa Syria", True),         # punctuation is never required
    ("St Petersburg", "Talks in St. Petersburg", False),   # written without it: parted
])
def test_a_term_written_with_punctuation_may_match_over_it(phrase: str, title: str,
                                                           fires: bool) -> None:
    matcher = matcher_for(rule(f'phrases: ["{phrase}"]'))
    assert fired(matcher, title) == (["r"] if fires else [])


@pytest.mark.parametrize(("title", "groups"), [
    ("Islamic State fighters withdrew", ["ISIL"]),
    ("The state was Islamic. State media said so", []),   # a name runs over nothing either
    ("Syrian Democratic Forces advance", ["SDF"]),
    ("Syrian Democratic, Forces", []),
])
def test_names_of_several_words_stay_within_a_clause(title: str, groups: list[str]) -> None:
    matcher = matcher_for(rule("words: [qwzx]"))
    assert [g.name for g in run(matcher, title).groups] == groups


NEAR = "near:\n  within: 3\n  of:\n    - words: [convoy]\n    - groups: ['*']"


@pytest.mark.parametrize(("title", "fires", "fires_across"), [
    ("Daesh convoy leaves", True, True),
    ("A Daesh-led convoy", True, True),
    ("Daesh said so. A convoy left", False, True),         # a sentence end between them
    ("A convoy, Daesh said", False, True),                 # a comma
    ("A convoy left; Daesh", False, True),
    ("A convoy\nDaesh", False, True),
    ("A convoy. Then a long time later Daesh", False, False),  # too far in any case
])
def test_near_stays_within_a_clause_unless_told_otherwise(title: str, fires: bool,
                                                          fires_across: bool) -> None:
    within = matcher_for(rule(NEAR))
    across = matcher_for(rule(NEAR.replace("near:\n", "near:\n  across_punctuation: true\n")))
    assert fired(within, title) == (["r"] if fires else [])
    assert fired(across, title) == (["r"] if fires_across else [])


@pytest.mark.parametrize(("text", "breaks", "clauses"), [
    ("a b c", [], [0, 0, 0]),
    ("a. b, c", [0, 1], [0, 1, 2]),
    ("a .. ;b c.", [0], [0, 1, 1]),                        # several marks: one break
    ("…a b", [], [0, 0]),                                  # before the first token: none
    ("3.5 million", [0], [0, 1, 1]),
])
def test_breaks_between_tokens(text: str, breaks: list[int], clauses: list[int]) -> None:
    tokens = tokenize(text)
    assert tokens.breaks == breaks
    assert [tokens.clause(i) for i in range(len(tokens.spans))] == clauses
    assert [tokens.broken(i, i + 1) for i in range(len(tokens.spans) - 1)] == [
        i in breaks for i in range(len(tokens.spans) - 1)]
