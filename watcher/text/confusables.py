"""Look-alike letters folded before matching: "cοnvoy" with a Greek omicron is "convoy".

A word that mixes scripts (Latin with a Greek or Cyrillic letter that looks the same) is
almost always a spoof or a keyboard slip: every letter of the word's minority scripts that
has a look-alike in its main script (the script most of its letters are in; Latin on a tie)
is replaced by that look-alike. The table is Unicode's confusables.txt (TR39) as the
`confusable_homoglyphs` package ships it, with its script of every code point.

Only mixed-script words change. A word wholly in one script is left alone, so no Greek,
Cyrillic or Arabic word is ever read as a Latin one, and full TR39 skeletons (which also map
"rn" to "m" and "1" or "I" to "l") are not used: they would make new matches between
different Latin words.

Bidirectional controls are invisible in words (normalize.py drops them). A word under a
right-to-left override (U+202E) is shown reversed, so "\\u202eyovnoc" reads "convoy" on
screen: `display_order` folds such a word in the order the reader sees.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from functools import lru_cache

from confusable_homoglyphs.categories import alias
from confusable_homoglyphs.confusables import confusables_data

SCRIPTLESS = frozenset({"COMMON", "INHERITED", "Unknown"})
RIGHT_TO_LEFT_OVERRIDE = "\u202e"
# Bidi controls (ALM, LRM, RLM, embeddings, overrides, isolates): no letters of their own.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_OVERRIDE_ENDS = frozenset("\u202c\u202d\u2069")


MAX_REMEMBERED = 65_536


class _Scripts(dict[str, str]):
    """Character -> its script: a binary search in the package, so remembered (news uses a
    few hundred distinct characters; the bound keeps hostile text from growing it)."""

    def __missing__(self, ch: str) -> str:
        if len(self) >= MAX_REMEMBERED:
            self.clear()
        script = self[ch] = str(alias(ch))
        return script


_SCRIPTS = _Scripts()
_script = _SCRIPTS.__getitem__


@lru_cache(maxsize=4096)
def _look_alike(ch: str, script: str) -> str:
    """A one-letter look-alike of `ch` in `script`, or `ch` itself when it has none."""
    for glyph in confusables_data.get(ch, ()):
        found = glyph["c"]
        if len(found) == 1 and _script(found) == script:
            return str(found)
    return ch


def fold_confusables(token: str) -> str:
    """`token` with the letters of its minority scripts replaced by look-alikes in its main
    script (module docstring); a token in one script comes back unchanged."""
    if token.isascii():
        return token
    scripts = list(map(_script, token))
    if len(set(scripts) - SCRIPTLESS) < 2:
        return token
    counts = Counter(s for s in scripts if s not in SCRIPTLESS)
    main = max(counts, key=lambda s: (counts[s], s == "LATIN"))
    return "".join(_look_alike(ch, main) if script in counts and script != main else ch
                   for ch, script in zip(token, scripts, strict=True))


def display_order(token: str) -> str:
    """`token` as shown on screen: left-to-right letters after a right-to-left override (up
    to the end of the override) reversed. Right-to-left letters (Arabic, Hebrew) already run
    that way, so a run holding any is left as it is. Tokens without one come back unchanged."""
    start = token.find(RIGHT_TO_LEFT_OVERRIDE)
    if start < 0:
        return token
    end = next((i for i in range(start + 1, len(token)) if token[i] in _OVERRIDE_ENDS),
               len(token))
    run = token[start + 1:end]
    if not any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in run):
        run = run[::-1]
    return token[:start] + run + display_order(token[end:])
