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


WORDS = ("rules:\n  - id: convoy\n    title: Convoy\n    severity: high\n"
         "    match: {words: [convoy]}\n  - id: kyiv\n    title: Kyiv\n    severity: low\n"
         "    match: {words: [Київ]}\n")


@pytest.fixture(scope="module")
def words() -> Matcher:
    ruleset = load_rules([], {"rules.yaml": WORDS})
    assert ruleset.problems == []
    return compile_rules(ruleset)


@pytest.mark.parametrize("title", [
    "A c\u03bfnvoy left at dawn",          # Greek small omicron
    "A C\u039fNVOY LEFT",                  # Greek capital omicron
    "A \u0441onvoy left",                  # Cyrillic es for c
    "A conv\u043ey left",                  # Cyrillic o
    "A \u202eyovnoc\u202c left",           # shown as "convoy" by a right-to-left override
    "A con\u200evoy left",                 # a mark of direction inside the word
    "A \u2067convoy\u2069 left",           # wrapped in an isolate
])
def test_look_alikes_and_bidi_controls_do_not_evade_rules(words: Matcher, title: str) -> None:
    found = match_article(words, Article(key="k", title=title))
    assert [h.rule.id for h in found.hits] == ["convoy"], title
    [term] = found.hits[0].matched
    assert title[term.start:term.end] == term.text  # offsets into the text as published


@pytest.mark.parametrize("title", [
    "K\u0438\u0457\u0432 under fire",        # Latin K in a Cyrillic word: folded to К
    "Київ under fire",
])
def test_a_latin_letter_in_a_cyrillic_word_is_folded_too(words: Matcher, title: str) -> None:
    assert [h.rule.id for h in match_article(words, Article(key="k", title=title)).hits] == [
        "kyiv"]


@pytest.mark.parametrize("title", [
    "\u03ba\u03bf\u03bd\u03b2\u03bf\u03b9",  # a Greek word: never read as Latin
    "\u0441\u043e\u043d\u0432\u043e\u0439",  # all Cyrillic look-alikes of "convoy" but one
    "convey", "con voy", "c0nvoy",
])
def test_single_script_words_are_left_alone(words: Matcher, title: str) -> None:
    assert match_article(words, Article(key="k", title=title)).hits == ()


def test_an_override_around_right_to_left_letters_changes_nothing() -> None:
    ruleset = load_rules([], {"rules.yaml": WORDS.replace("Київ", "الرقة")})
    matcher = compile_rules(ruleset)
    found = match_article(matcher, Article(key="k", title="قصف \u202eالرقة\u202c اليوم"))
    assert [h.rule.id for h in found.hits] == ["kyiv"]
