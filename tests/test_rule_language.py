"""The newer leaves and checks of the rule language: `pattern` (RE2), `near`, scope,
`enabled`, ambiguous places, and the authoring problems `rules check` reports."""

from __future__ import annotations

from typing import Any

import pytest

from watcher.matching.matcher import Matcher, compile_rules, match_article
from watcher.models import Article, ArticleMatch
from watcher.rules.load import load_rules

GAZETTEER = """\
places:
  - {name: Raqqa, country: SY, lat: 35.95, lon: 39.01, aliases: [Raqa]}
  - {name: Diyarbakir, country: TR, lat: 37.91, lon: 40.23}
  - {name: Batman, country: TR, lat: 37.887, lon: 41.132, ambiguous: true,
     context: [Turkey, Turkish, PKK]}
  - {name: Bar, country: ME, lat: 42.093, lon: 19.1, ambiguous: true, context: [Montenegro]}
groups:
  - {name: ISIL, aliases: [Daesh, Islamic State]}
  - {name: SDF, aliases: [Syrian Democratic Forces]}
"""


def matcher_for(rules: str, feed_tags: dict[str, list[str]] | None = None) -> Matcher:
    ruleset = load_rules([], {"gazetteer.yaml": GAZETTEER, "rules.yaml": rules})
    assert [str(p) for p in ruleset.problems] == []
    return compile_rules(ruleset, feed_tags=feed_tags)


def run(matcher: Matcher, title: str, **fields: str) -> ArticleMatch:
    return match_article(matcher, Article(key="k", title=title, **fields), all_entities=True)


def fired(matcher: Matcher, title: str, **fields: str) -> list[str]:
    return [h.rule.id for h in run(matcher, title, **fields).hits]


def problems(rules: str) -> list[str]:
    ruleset = load_rules([], {"gazetteer.yaml": GAZETTEER, "r.yaml": rules})
    return [str(p) for p in ruleset.problems]


def rule(match: str, extra: str = "", rule_id: str = "r") -> str:
    body = "\n".join("      " + line for line in match.strip().splitlines())
    return (f"rules:\n  - id: {rule_id}\n    title: R\n    severity: low\n{extra}"
            f"    match:\n{body}\n")


# --- pattern ---------------------------------------------------------------------------

PATTERN_RULES = rule(r"pattern: ['\b\d{2,} (?:fighters|militants)\b', {regex: 'SDF', case: true}]")


@pytest.mark.parametrize(("title", "fires"), [
    ("Some 40 fighters left Raqqa", True),
    ("Nearly 300 Militants surrendered", True),      # case-insensitive by default
    ("The SDF said so", True),
    ("the sdf said so", False),                       # case: true
    ("Five fighters left", False),
])
def test_pattern_leaf(title: str, fires: bool) -> None:
    assert fired(matcher_for(PATTERN_RULES), title) == (["r"] if fires else [])


def test_pattern_reports_kind_text_and_offsets_in_the_field() -> None:
    found = run(matcher_for(PATTERN_RULES), "Ḥasakah: 40 fighters",
                summary="Mayādīn, then 120 militants.")
    matched = [(m.kind, m.text, m.field, m.start, m.end) for m in found.hits[0].matched]
    assert matched == [("pattern", "40 fighters", "title", 9, 20),
                       ("pattern", "120 militants", "summary", 14, 27)]
    summary = "Mayādīn, then 120 militants."
    assert summary[14:27] == "120 militants"


def test_catastrophic_pattern_runs_in_linear_time() -> None:
    # (a+)+$ takes exponential time in a backtracking engine on "aaaa...!"; RE2 does not.
    matcher = matcher_for(rule("pattern: ['(a+)+$']"))
    assert fired(matcher, "a" * 50_000 + "!") == []
    assert fired(matcher, "a" * 50_000) == ["r"]


def test_patterns_of_a_rule_with_other_conditions_run_only_when_needed() -> None:
    matcher = matcher_for(rule("places: [Raqqa]\npattern: ['fighters?']"))
    assert matcher.eager == frozenset()  # indexed under Raqqa, not run for every article
    assert fired(matcher, "Fighters leave Raqqa") == ["r"]
    assert fired(matcher, "Fighters leave Aleppo") == []
    pattern_only = matcher_for(rule("any:\n  - pattern: ['fighters?']\n  - places: [Raqqa]"))
    assert len(pattern_only.eager) == 1
    assert fired(pattern_only, "Fighters leave Aleppo") == ["r"]


@pytest.mark.parametrize(("regex", "fragment"), [
    (r"(a)\1", "backreferences are not supported"),
    ("(?<=x)y", "lookahead and lookbehind are not supported"),
    ("(?=x)y", "lookahead and lookbehind are not supported"),
    ("[unclosed", "missing ]"),
    ("x*", "matches the empty string"),
    ("(?:a{1000}){1000}", "invalid repetition size"),
])
def test_patterns_re2_refuses_are_positioned_errors(regex: str, fragment: str) -> None:
    found = problems(rule(f"pattern: [ok, '{regex}']"))
    assert len(found) == 1
    assert found[0].startswith("r.yaml:6:21: pattern ")
    assert fragment in found[0]


# --- near ------------------------------------------------------------------------------

NEAR_RULES = rule("near:\n  within: 2\n  of:\n    - words: [convoy]\n    - groups: ['*']")


@pytest.mark.parametrize(("title", "fires"), [
    ("Daesh convoy", True),
    ("A convoy of Islamic State fighters", True),       # one word between
    ("Convoys carrying Daesh fighters", True),          # inflection, two words between
    ("A convoy, later that day, attacked by Daesh", False),
    ("ISIL says nothing; a wedding convoy blocked the road", False),
])
def test_near_leaf(title: str, fires: bool) -> None:
    assert fired(matcher_for(NEAR_RULES), title) == (["r"] if fires else [])


def test_near_counts_within_one_field_only() -> None:
    matcher = matcher_for(NEAR_RULES)
    assert fired(matcher, "A convoy", summary="Daesh claimed it") == []
    found = run(matcher, "Raqqa", summary="Witnesses saw a Daesh convoy leave")
    assert [(m.term, m.field, m.text) for m in found.hits[0].matched] == [
        ("ISIL", "summary", "Daesh"), ("convoy", "summary", "convoy")]


def test_near_with_three_terms_and_fields() -> None:
    matcher = matcher_for(rule(
        "fields: [title]\nnear:\n  within: 3\n  of:\n    - words: [convoy]\n"
        "    - groups: [ISIL]\n    - places: [Raqqa]"))
    assert fired(matcher, "Daesh convoy leaves Raqqa") == ["r"]
    assert fired(matcher, "Daesh convoy leaves the city of Raqqa") == []
    assert fired(matcher, "News", summary="Daesh convoy leaves Raqqa") == []


# --- fields, scope, enabled ------------------------------------------------------------

def test_fields_per_leaf() -> None:
    matcher = matcher_for(rule("groups: [ISIL]\nany:\n  - fields: [title]\n"
                               "    words: [convoy]\n  - pattern: ['\\bfled\\b']"))
    assert fired(matcher, "Daesh convoy") == ["r"]
    assert fired(matcher, "Daesh", summary="a convoy") == []
    assert fired(matcher, "Daesh", content="They fled") == ["r"]


SCOPED = (rule("words: [convoy]", "    scope: {feeds: [sana]}\n", "by-feed")
          + rule("words: [convoy]", "    scope: {feed_tags: [syria]}\n", "by-tag")[7:]
          + rule("words: [convoy]", "    scope: {languages: [en-GB]}\n", "english")[7:])


@pytest.mark.parametrize(("feed", "language", "expected"), [
    ("sana", "en", ["by-feed", "english"]),
    ("rudaw", "en-US", ["by-tag", "english"]),
    ("rudaw", "fr", ["by-tag"]),
    ("other", None, ["english"]),   # no language: English, as for stemming
    ("", "ar", []),
])
def test_scope_by_feed_feed_tag_and_language(feed: str, language: str | None,
                                             expected: list[str]) -> None:
    matcher = matcher_for(SCOPED, feed_tags={"rudaw": ["iraq", "syria"], "sana": ["gov"]})
    article = Article(key="k", title="Convoy", feed=feed, language=language)
    assert [h.rule.id for h in match_article(matcher, article).hits] == expected


def test_disabled_rules_load_but_do_not_run() -> None:
    ruleset = load_rules([], {"r.yaml": rule("words: [convoy]", "    enabled: false\n")})
    assert [r.id for r in ruleset.rules] == ["r"]
    assert compile_rules(ruleset).rules == []


# --- ambiguous places ------------------------------------------------------------------

@pytest.mark.parametrize(("title", "places"), [
    ("Batman Returns tops the box office", []),
    ("Clashes in Batman, south-east Turkey", ["Batman", "Turkey"]),  # context term
    ("Curfew in Batman and Diyarbakir", ["Batman", "Diyarbakir"]),  # a place of its country
    ("Police raid bar in Raqqa", ["Raqqa"]),                       # case as written
    ("Bar mayor resigns", []),
    ("Bar, Montenegro: port closed", ["Bar", "Montenegro"]),
])
def test_ambiguous_places_need_supporting_context(title: str, places: list[str]) -> None:
    matcher = matcher_for(rule("places: ['*']"))
    assert [p.name for p in run(matcher, title).places] == places


def test_a_rule_naming_an_ambiguous_place_matches_it_without_context() -> None:
    matcher = matcher_for(rule("places: [Batman]", rule_id="explicit")
                          + rule("places: ['*']", rule_id="any-place")[7:])
    found = run(matcher, "Batman Returns tops the box office")
    assert [h.rule.id for h in found.hits] == ["explicit"]
    assert [(m.term, m.kind, m.text) for m in found.hits[0].matched] == [
        ("Batman", "place", "Batman")]
    assert found.places == ()  # not listed among the article's places without support


# --- authoring problems ----------------------------------------------------------------

@pytest.mark.parametrize(("match", "message"), [
    ("words: [convoy]\nnone:\n  - words: [convoy, wedding]",
     "r.yaml:6:7: rule 'r' can never fire: `none` excludes 'convoy', which the rule itself "
     "requires"),
    ("all:\n  - groups: [ISIL]\n  - any:\n      - words: [x]\n"
     "none:\n  - groups: [ISIL]",
     "r.yaml:6:7: rule 'r' can never fire: `none` excludes 'ISIL', which the rule itself "
     "requires"),
    ("words: ['@nope']", "r.yaml:6:15: unknown list '@nope'"),
])
def test_unsatisfiable_and_unknown_references_are_errors(match: str, message: str) -> None:
    assert problems(rule(match)) == [message]


def test_a_none_in_other_fields_does_not_make_a_rule_unsatisfiable() -> None:
    assert problems(rule("words: [convoy]\nnone:\n  - fields: [title]\n"
                         "    words: [convoy]")) == []
    assert problems(rule("words: [convoy]\nnone:\n  - words: [{term: convoy, exact: true}]")
                    ) == []


def test_duplicate_ids_across_files() -> None:
    ruleset = load_rules([], {"a.yaml": rule("words: [convoy]"),
                              "b.yaml": rule("words: [siege]")})
    assert [str(p) for p in ruleset.problems] == [
        "b.yaml:2:9: duplicate rule id 'r' (first defined at a.yaml:2); this one is skipped"]


@pytest.mark.parametrize(("match", "warned"), [
    ("words: [said]", ["'said' is a common word"]),
    ("any:\n  - words: [people, convoy]\n  - groups: [ISIL]", ["'people' is a common word"]),
    ("words: [said]\ngroups: [ISIL]", []),                 # not enough on its own
    ("words: [{term: IS, case: true}]", []),               # an explicit acronym
    ("words: [convoy]", []),
])
def test_lone_common_words_are_warnings(match: str, warned: list[str]) -> None:
    found = problems(rule(match))
    assert len(found) == len(warned)
    for line, fragment in zip(found, warned, strict=True):
        assert line.startswith("r.yaml:6:7: warning: rule 'r' would fire on most news")
        assert fragment in line


def test_a_pattern_that_does_not_occur_is_never_run_alone() -> None:
    # One RE2 set pass tells which patterns occur; only those search for their offsets.
    matcher = matcher_for(rule("places: [Raqqa]\npattern: ['fighters?', 'convoys?']"))
    runs: list[str] = []
    for term_id, program in list(matcher.programs.items()):
        matcher.programs[term_id] = _Counting(program, runs)
    assert fired(matcher, "Fighters leave Raqqa") == ["r"]
    assert runs == ["fighters?"]


class _Counting:
    def __init__(self, program: Any, runs: list[str]) -> None:
        self.program, self.runs = program, runs

    def finditer(self, text: str) -> Any:
        self.runs.append(self.program.pattern)
        return self.program.finditer(text)
