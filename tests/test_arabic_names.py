"""The Arabic fold (text/normalize.py) must not turn a curated name into another word.

Terms and text go through the same fold, so a name always meets itself; what can go wrong
is that a name folds to an everyday word (an old fold that peeled every prefix letter made
"لبنان" the Persian and Urdu "نان", bread, and "البوكمال" the Arabic "مال", money) or to
another entry's form. Checked for the Arabic-script spelling of every place and group in
rules/lists against the 50,000 most frequent words of Arabic, Persian and Urdu (wordfreq,
a dev dependency)."""

from __future__ import annotations

import re
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest
import yaml
from wordfreq import top_n_list

from watcher.text.normalize import fold_arabic_letters, normalize_token

LISTS = Path(__file__).resolve().parent.parent / "rules" / "lists"
COMMON = 50_000
ARTICLES = ("ال", "وال", "بال", "كال", "فال", "لل")
_ARABIC_WORD = re.compile(r"[\u0621-\u064a\u0671-\u06d3]+")


def _spellings() -> list[tuple[str, str, str]]:
    """(file, entry name, Arabic-script spelling) of every curated name and alias."""
    found = []
    for path in sorted(LISTS.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key in ("places", "groups"):
            for entry in document.get(key) or []:
                for spec in [entry["name"], *entry.get("aliases", [])]:
                    term = spec["term"] if isinstance(spec, dict) else str(spec)
                    if _ARABIC_WORD.search(term):
                        found.append((path.name, entry["name"], term))
    return found


SPELLINGS = _spellings()


@cache
def common_words() -> frozenset[str]:
    return frozenset(fold_arabic_letters(word) for language in ("ar", "fa", "ur")
                     for word in top_n_list(language, COMMON) if _ARABIC_WORD.fullmatch(word))


def test_the_lists_have_arabic_spellings() -> None:
    assert len(SPELLINGS) > 300
    assert sum(bool(_ARABIC_WORD.fullmatch(s)) for _, _, s in SPELLINGS) > 150


@pytest.mark.parametrize(("path", "name", "spelling"),
                         [s for s in SPELLINGS if _ARABIC_WORD.fullmatch(s[2])])
def test_no_name_folds_to_a_common_word(path: str, name: str, spelling: str) -> None:
    """Names in one word. (A name in several words matches only with all of them, so a
    word of it that folds to another word, "ولاية" to the Persian "لایه", finds nothing.)"""
    for word in [spelling]:
        letters, folded = fold_arabic_letters(word), normalize_token(word)
        # A fold that strips nothing, or only an article ("العراق" is "عراق", which Persian
        # writes so; "والجهاد" is "جهاد"), leaves the name itself: a common word then is
        # the name. A lone letter stripped ("لبنان" -> "نان") must not make a word.
        if folded == letters or any(folded == letters.removeprefix(article)
                                    for article in ARTICLES):
            continue
        assert folded not in common_words(), (
            f"{path}: {name}: {word!r} folds to the common word {folded!r}")


def test_no_two_entries_share_a_folded_form() -> None:
    """Different spellings of different entries never fold together (one spelling written
    for two entries on purpose, such as the two Asayish forces' "الأسايش", is no fold's
    doing)."""
    forms: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for _, name, spelling in SPELLINGS:
        words = tuple(map(normalize_token, _ARABIC_WORD.findall(spelling)))
        forms[" ".join(words)].add((name, fold_arabic_letters(spelling)))
    clashes = {form: owners for form, owners in forms.items()
               if len({name for name, _ in owners}) > 1
               and len({written for _, written in owners}) > 1}
    assert not clashes
