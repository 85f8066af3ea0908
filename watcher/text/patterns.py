"""Regular expressions in rules, run by RE2: linear time in the text, whatever the pattern.

A backtracking engine (Python's `re`) can take exponential time on a pattern such as
`(a+)+$`, so one careless or hostile rule file could stall matching for every feed. RE2
guarantees time linear in the text and bounded memory per pattern; the price is that it
refuses what cannot be done that way (backreferences, lookahead and lookbehind), and those
refusals become rule-file errors at load time.

Patterns run on a field's plain text (not the normalised tokens), so offsets are offsets into
that text and diacritics count: write `Mayad[iī]n`, or use a `places` leaf. They are
case-insensitive unless written `{regex: ..., case: true}`. RE2's `\\b` and `\\w` are ASCII
only; for other scripts use `\\pL` (any letter).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import re2

MAX_MATCHES_PER_FIELD = 50  # enough to explain an alert; bounds work on pathological texts
MAX_PROGRAM_MEMORY = 8 << 20  # bytes RE2 may use for one compiled pattern


class PatternError(ValueError):
    """RE2 refused a pattern; the message says why, in RE2's words."""


def _options(case: bool) -> Any:
    options = re2.Options()
    options.case_sensitive = case
    options.log_errors = False  # errors are reported as rule problems, not on stderr
    options.max_mem = MAX_PROGRAM_MEMORY
    return options


@lru_cache(maxsize=4096)
def compile_pattern(regex: str, case: bool = False) -> Any:
    """The compiled RE2 program for `regex`; raises PatternError if RE2 refuses it or if it
    matches the empty string (it would then hold on every article)."""
    try:
        program = re2.compile(regex, _options(case))
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid pattern"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(f"RE2 cannot run this pattern: {reason}"
                           + _hint(str(reason))) from None
    if program.search("") is not None:
        raise PatternError("the pattern matches the empty string, so it would hold on every "
                           "article; require at least one character")
    return program


def _hint(reason: str) -> str:
    if "perl operator" in reason and "(?" in reason:
        return " (lookahead and lookbehind are not supported; use a `none` condition)"
    if "escape sequence" in reason:
        return " (backreferences are not supported)"
    return ""


def find_spans(program: Any, text: str) -> Iterator[tuple[int, int]]:
    """Non-empty matches of `program` in `text`, as character offsets, at most
    MAX_MATCHES_PER_FIELD of them."""
    count = 0
    for found in program.finditer(text):
        start, end = found.span()
        if end > start:
            yield start, end
            count += 1
            if count >= MAX_MATCHES_PER_FIELD:
                return


class PatternSet:
    """Many patterns run as one RE2 set: one pass over a text says which of them occur."""

    def __init__(self, patterns: list[tuple[str, bool]]) -> None:
        self._sets: list[tuple[Any, list[int]]] = []
        for case in (False, True):
            members = [i for i, (_, c) in enumerate(patterns) if c == case]
            if not members:
                continue
            search_set = re2.Set.SearchSet(_options(case))
            for i in members:
                search_set.Add(patterns[i][0])
            search_set.Compile()
            self._sets.append((search_set, members))

    def occurring(self, text: str) -> list[int]:
        """Indices (into the list given at construction) of the patterns found in `text`."""
        found: list[int] = []
        for search_set, members in self._sets:
            found.extend(members[i] for i in search_set.Match(text) or ())
        return found
