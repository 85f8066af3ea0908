"""The per-token and per-hit loops of matching, here in Python; watcher/text/_speedups.c holds
the same functions in C, built by `pip install` when a compiler is at hand (setup.py; the
extension is optional). `load()` gives the C ones when built, else these: the answers are
the same (tests/test_kernels.py), the C ones several times faster on a busy article.

Found terms go into `found`: term id -> a set of occurrences (field index, start, end),
each term's set made on its first occurrence, in the order the hits come.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable
from functools import lru_cache
from itertools import accumulate, compress, count
from operator import add, itemgetter
from types import ModuleType
from typing import Any

Span = tuple[int, int]
_START = itemgetter(0)
Occurrence = tuple[int, int, int]
Found = dict[int, set[Occurrence]]
# What an automaton value holds (matcher.py): key length, tokens, term ids, case-sensitive
# entries, loose (may run over punctuation).
Value = tuple[int, int, tuple[int, ...], tuple[Any, ...], bool]


def separator_table(separators: Iterable[int]) -> bytes:
    """The bit set of `plain_tokens`: bit c (byte c // 8, bit c % 8) set for each code
    point c in `separators`, up to the highest."""
    codes = list(separators)
    table = bytearray(max(codes, default=-1) // 8 + 1)
    for code in codes:
        table[code >> 3] |= 1 << (code & 7)
    return bytes(table)


@lru_cache(maxsize=4)
def _blanking(separators: bytes) -> dict[int, str]:
    return {code: " " for code in range(len(separators) * 8)
            if separators[code >> 3] >> (code & 7) & 1}


def plain_tokens(text: str, separators: bytes) -> tuple[list[Span], list[str]] | None:
    """The tokens of a text whose every character is ASCII or a separator (`separators`,
    a `separator_table`), as (start, end) and in lower case: the runs of characters that
    are not separators. None for any other text."""
    # Once the separators are blanked out, the tokens are the runs between spaces: found
    # by C loops (split, map, accumulate, compress).
    blanked = text.translate(_blanking(separators))
    if not blanked.isascii():
        return None
    parts = blanked.split(" ")
    originals = list(filter(None, parts))
    starts = list(compress(map(add, accumulate(map(len, parts), initial=0), count()), parts))
    spans = list(zip(starts, map(add, starts, map(len, originals)), strict=True))
    return spans, list(filter(None, blanked.lower().split(" ")))


@lru_cache(maxsize=4)
def _one_of(table: bytes) -> re.Pattern[str]:
    return re.compile("[" + "".join(re.escape(chr(code)) for code in range(len(table) * 8)
                                    if table[code >> 3] >> (code & 7) & 1) + "]")


def breaks(text: str, spans: list[Span], table: bytes) -> list[int]:
    """The tokens (by their `spans` in `text`) followed by a break character (`table`, a
    `separator_table`) before the next token, in order, each once; not the last token."""
    found: list[int] = []
    last = len(spans) - 1
    for match in _one_of(table).finditer(text):
        i = bisect_right(spans, match.start(), key=_START) - 1  # the token before it
        if 0 <= i < last and spans[i][1] <= match.start() and (not found or found[-1] != i):
            found.append(i)
    return found


def _add(found: Found, term_id: int, span: Occurrence) -> None:
    occurrences = found.get(term_id)
    if occurrences is None:
        found[term_id] = {span}
    else:
        occurrences.add(span)


def collect(looked_up: list[tuple[int, ...] | None], spans: list[Span], field_index: int,
            found: Found) -> None:
    """Each token's span into `found` under each term id looked up for it (None: none)."""
    for ids, (start, end) in zip(looked_up, spans, strict=False):
        if ids is not None:
            span = (field_index, start, end)
            for term_id in ids:
                _add(found, term_id, span)


def scan(hits: Iterable[tuple[int, Value]], joined: str, spans: list[Span], field_index: int,
         found: Found, broken: Callable[[int, int], bool],
         check: Callable[[int, int, tuple[Any, ...], Occurrence], object]) -> None:
    """The hits (end, value) of an Aho-Corasick automaton on `joined`, a token stream joined
    by spaces with a space either side (its keys are so too, so hits fall on whole tokens),
    into `found`. A hit's first token is the number of spaces before it, less one; hits
    come in order of their end, so counting from the previous hit's start costs one pass
    over the text in all. A hit that is not loose and runs over a break (`broken(first,
    last)`) is skipped; one with case-sensitive entries goes to `check(first, tokens,
    entries, span)` once its term ids are in."""
    cursor, spaces = 0, 0
    for end, (key_length, ntok, ids, checked, loose) in hits:
        start = end - key_length + 2
        if start >= cursor:
            spaces += joined.count(" ", cursor, start)
        else:
            spaces -= joined.count(" ", start, cursor)
        cursor = start
        first = spaces - 1
        if not loose and broken(first, first + ntok - 1):
            continue  # a phrase does not run over a sentence end, comma...
        span = (field_index, spans[first][0], spans[first + ntok - 1][1])
        for term_id in ids:
            _add(found, term_id, span)
        if checked:
            check(first, ntok, checked, span)


def term_spots(cache: dict[int, Any], labels: list[str], kinds: list[str], found: Found,
               other: Callable[[], Callable[[object], Any] | None], key: object) -> Any:
    """The spots (models.Spots) of every occurrence of a found term (`key`, an int), made
    once (`cache`): its occurrences in order, its label and its kind (`labels`, `kinds`:
    by term id) as many times. Any other key is for the method `other` refers to (a
    weakref.WeakMethod: the caller keeps this function, the method's object keeps it)."""
    if type(key) is not int:
        method = other()
        if method is None:
            raise ReferenceError("the explanation is gone")
        return method(key)
    made = cache.get(key)
    if made is None:
        occurrences = tuple(sorted(found[key]))
        count = len(occurrences)
        made = cache[key] = (occurrences, (labels[key],) * count, (kinds[key],) * count)
    return made


_new = object.__new__


def decided_hits(candidates: list[int], prepared: list[tuple[Any, Any, Any] | None],
                 hit_type: type, explanation: object) -> tuple[list[Any], int]:
    """The hits of candidate rules that fire whenever the index makes them candidates
    (`prepared[rule]`: the hit's rule, notify and key; None for a rule to evaluate), in
    order of `candidates`, and how many are left to evaluate: those are in the list as
    their rule's number. A hit is a `hit_type` (models.RuleHit) given its slots outright,
    as its __init__ would (its explanation `explanation`, no matched terms yet)."""
    hits: list[Any] = []
    left = 0
    for index in candidates:
        ready = prepared[index]
        if ready is None:
            hits.append(index)
            left += 1
            continue
        hit: Any = _new(hit_type)
        hit.rule, hit.notify, hit._key = ready
        hit._matched = None
        hit._explanation = explanation
        hits.append(hit)
    return hits, left


def load() -> ModuleType | None:
    """The C kernels (watcher.text._speedups) if built, else None."""
    try:
        from watcher.text import _speedups  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _speedups
