"""Authoring checks on resolved rules: conditions that can never hold, and rules that would
fire on ordinary news.

Pure functions over the resolved tree (load.py); load.py turns what they find into
positioned problems. How common a word is comes from wordfreq (word frequencies of many
languages, from subtitles, news, books and the web), on the Zipf scale: 7 is "the", 6 is
"said", 5 is about once in 10,000 words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from watcher.rules.terms import Term
from watcher.rules.tree import Branch, Leaf, NearLeaf, Node

COMMON_WORD_ZIPF = 5.0  # a lone word this frequent turns up in a large share of news


@lru_cache(maxsize=20_000)
def word_zipf(text: str, language: str) -> float:
    """Zipf frequency of `text` in `language` (0.0 when wordfreq has no list for it)."""
    from wordfreq import zipf_frequency  # loads its tables on first use: import lazily

    try:
        return float(zipf_frequency(text, language))
    except LookupError:
        return 0.0


# Terms in lower-case ASCII words: wordfreq splits them at the spaces and changes nothing
# else, in every language it splits with regular expressions.
_PLAIN_WORDS = re.compile(r"[a-z]+(?: [a-z]+)*")
# Below this frequency (a share of words) no word is at COMMON_WORD_ZIPF, rounding aside.
_RARER = 0.5 * 10 ** (COMMON_WORD_ZIPF - 9)


def is_common(text: str, language: str) -> bool:
    """Whether `text` is at least COMMON_WORD_ZIPF in `language` (`word_zipf`). wordfreq
    tokenises each text it is asked about (a tenth of a millisecond): a text of lower-case
    ASCII words with one word not among the language's common words is answered without it,
    since a phrase is never more frequent than its rarest word."""
    if _PLAIN_WORDS.fullmatch(text):
        common = _common_words(language)
        if common is not None and not common.issuperset(text.split()):
            return False
    return word_zipf(text, language) >= COMMON_WORD_ZIPF


@lru_cache(maxsize=64)
def _common_words(language: str) -> frozenset[str] | None:
    """The words of `language` at COMMON_WORD_ZIPF or more, as `word_zipf` rates them alone
    (None when wordfreq does not split this language at spaces, or has no list for it)."""
    from wordfreq import get_frequency_dict, get_language_info

    try:
        if get_language_info(language)["tokenizer"] != "regex":
            return None
        frequencies = get_frequency_dict(language)
    except LookupError:
        return None
    return frozenset(word for word, share in frequencies.items()
                     if share >= _RARER and word_zipf(word, language) >= COMMON_WORD_ZIPF)


def never_holds(node: Node, excluded: Sequence[Leaf] = ()) -> str | None:
    """Why `node` can never hold, for the cases a static look can decide: a required leaf
    every term of which a `none` beside it excludes (in the same fields or more)."""
    if isinstance(node, Leaf):
        if not node.terms:
            return f"its `{node.kind}s` condition has nothing to look for"
        for other in excluded:
            if _covers(other, node):
                names = ", ".join(repr(t.text) for t in node.terms[:3])
                return f"`none` excludes {names}, which the rule itself requires"
        return None
    if isinstance(node, NearLeaf):
        return next((r for s in node.slots if (r := never_holds(s, excluded))), None)
    if node.op == "none":
        return None
    if node.op == "all":
        excluded = [*excluded, *(leaf for c in node.children
                                 if isinstance(c, Branch) and c.op == "none"
                                 for leaf in c.children if isinstance(leaf, Leaf))]
        return next((r for c in node.children if (r := never_holds(c, excluded))), None)
    reasons = [never_holds(c, excluded) for c in node.children]
    if sum(r is None for r in reasons) < node.min:
        return next(r for r in reasons if r)
    return None


def _covers(excluding: Leaf, required: Leaf) -> bool:
    if excluding.kind != required.kind or not set(required.fields) <= set(excluding.fields):
        return False
    return {_plain(t) for t in required.terms} <= {_plain(t) for t in excluding.terms}


def _plain(term: Term) -> Term:
    return Term(term.text, term.exact, term.case, term.entry)


def lone_common_terms(node: Node, language: str) -> list[str]:
    """Common words (or phrases) that fire the rule on their own: each, alone in an
    article, makes the whole condition hold."""
    found = []
    for term in dict.fromkeys(_word_terms(node)):
        # The cheap structural test first: wordfreq loads its tables on first use.
        if not term.case and _holds_with(node, term) and is_common(term.text, language):
            found.append(term.text)
    return found


def _word_terms(node: Node) -> Iterable[Term]:
    if isinstance(node, Leaf):
        if node.kind in ("word", "phrase"):
            yield from node.terms
    elif isinstance(node, Branch) and node.op != "none":
        for child in node.children:
            yield from _word_terms(child)


def _holds_with(node: Node, term: Term) -> bool:
    """Would `node` hold on an article in which `term` is the only term found?"""
    if isinstance(node, Leaf):
        return node.kind in ("word", "phrase") and term in node.terms
    if isinstance(node, NearLeaf):
        return False
    held = sum(_holds_with(c, term) for c in node.children)
    if node.op == "all":
        return held == len(node.children)
    if node.op == "any":
        return held >= node.min
    return held == 0
