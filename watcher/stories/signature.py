"""What an article says about its event, reduced to what clustering compares (pure).

    Article + ArticleMatch ─▶ Signature: MinHash of its words, places and groups, figures
                          ─▶ keys: the places and groups, and the MinHash's LSH bands

Words are the article's normalised tokens (title, summary, the start of its content) without
the most common words of its language (wordfreq) and without numbers; numbers are kept apart
as figures (casualty counts agree across outlets and languages), leaving out years and days
of a date. Places that are whole countries are too common to tell events apart and are left
out. The MinHash estimates the Jaccard similarity of two word sets from 96
numbers; cut into 32 bands of 3, two articles whose words overlap by a third or more share a
band with high probability, so a store finds the few stories a new article may join by key.
The MinHash is the textbook one (as datasketch's, on numpy): datasketch itself imports scipy,
which costs seconds at every start of a process for 15 lines that it would give us.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from operator import eq
from typing import Any

from watcher.models import Article, ArticleMatch
from watcher.text.normalize import Memo, language_code, normalize_token, tokenize

PERMUTATIONS = 96
BAND_ROWS = 3
SEED = 15  # stored signatures are compared with new ones: never change SEED or the hashing
PRIME = (1 << 61) - 1  # a Mersenne prime
LOW32 = (1 << 32) - 1
CONTENT_CHARS = 1000  # the lead of a long article says what happened; the rest adds noise
LEAD_CHARS = 300  # where an article gives its own figures
COMMON_WORDS = 150  # per language, dropped before hashing
MIN_FIGURE, YEARS = 2, range(1900, 2101)
# Words beside which a number is part of a date, not a figure.
_MONTHS = frozenset((
    "jan", "january", "feb", "february", "mar", "march", "apr", "april", "may", "jun", "june",
    "jul", "july", "aug", "august", "sep", "sept", "september", "oct", "october", "nov",
    "november", "dec", "december", "mon", "tue", "wed", "thu", "fri", "sat", "sun", "monday",
    "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))


def _words(text: str) -> list[str]:
    return text.split()


# Figures written as words, as headlines do ("Six killed", "kills six"): English, French,
# Spanish; two and up (one is an article as often as a number).
_NUMBER_WORDS = {
    **dict(zip(_words("two three four five six seven eight nine ten eleven twelve thirteen "
                      "fourteen fifteen sixteen seventeen eighteen nineteen twenty"),
               range(2, 21), strict=True)),
    "thirty": 30, "forty": 40, "fifty": 50, "hundred": 100,
    **dict(zip(_words("deux trois quatre cinq six sept huit neuf dix onze douze"),
               range(2, 13), strict=True)),
    **dict(zip(_words("dos tres cuatro cinco seis siete ocho nueve diez once doce"),
               range(2, 13), strict=True)),
}


@dataclass(frozen=True)
class Signature:
    """One article's clustering view. `entities` are `place:NAME` and `group:NAME`."""

    minhash: tuple[int, ...]
    entities: frozenset[str]
    figures: frozenset[int]
    language: str

    def similarity(self, other: Signature) -> float:
        """Estimated Jaccard similarity of the two articles' word sets."""
        if not self.minhash or not other.minhash:
            return 0.0
        return sum(map(eq, self.minhash, other.minhash)) / len(self.minhash)

    def keys(self) -> tuple[str, ...]:
        """Where a store files the article so that later ones find it."""
        bands = []
        for start in range(0, len(self.minhash), BAND_ROWS):
            band = ",".join(map(str, self.minhash[start:start + BAND_ROWS]))
            digest = hashlib.blake2b(band.encode(), digest_size=8).hexdigest()
            bands.append(f"band{start // BAND_ROWS}:{digest}")
        return (*sorted(self.entities), *bands)

    def to_json(self) -> str:
        return json.dumps({"m": list(self.minhash), "e": sorted(self.entities),
                           "f": sorted(self.figures), "l": self.language},
                          separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Signature:
        data = json.loads(text)
        return cls(tuple(data["m"]), frozenset(data["e"]), frozenset(data["f"]), data["l"])


def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")


_WORD_HASHES = Memo(_word_hash)  # news repeats its words


@lru_cache(maxsize=1)
def _numpy() -> Any:
    import numpy  # imported by the first alerting article, not by every command's start

    return numpy


@lru_cache(maxsize=1)
def _permutations() -> tuple[Any, Any]:
    """The (a, b) of each hash function h(x) = (a·x + b) mod p: fixed by SEED forever."""
    np = _numpy()
    draw = np.random.default_rng(SEED)
    a = draw.integers(1, 1 << 32, PERMUTATIONS, dtype=np.uint64)
    b = draw.integers(0, 1 << 32, PERMUTATIONS, dtype=np.uint64)
    return a, b


@lru_cache(maxsize=64)
def _common_words(language: str) -> frozenset[str]:
    from wordfreq import top_n_list  # a second's import: paid by the first alerting article

    try:
        return frozenset(normalize_token(w) for w in top_n_list(language, COMMON_WORDS))
    except LookupError:  # a language wordfreq does not know: keep every word
        return frozenset()


def signature(article: Article, found: ArticleMatch) -> Signature:
    """The signature of `article`, given what matching found in it."""
    language = language_code(article.language)
    text = " \n ".join((article.title, article.summary, article.content[:CONTENT_CHARS]))
    norms = tokenize(text).norms
    common = _common_words(language)
    words: set[str] = set()
    figures: set[int] = set()
    lead = len(tokenize(" \n ".join((article.title, article.summary[:LEAD_CHARS],
                                     article.content[:LEAD_CHARS]))).norms)
    for i, token in enumerate(norms):
        if token.isdecimal() or token in _NUMBER_WORDS:
            if i >= lead:  # figures deep in the text are background (last week's toll)
                continue
            figure = _figure(token, norms, i)
            if figure is not None:
                figures.add(figure)
        elif len(token) > 1 and token not in common:
            words.add(token)
    # A country is too wide to tell events apart: only its towns and regions count.
    entities = {f"place:{p.name}" for p in found.places if p.kind != "country"}
    entities.update(f"group:{g.name}" for g in found.groups)
    return Signature(_minhash(words), frozenset(entities), frozenset(figures), language)


def _figure(token: str, norms: list[str], i: int) -> int | None:
    value = _NUMBER_WORDS.get(token)
    if value is not None:
        return value
    value = int(token)  # int() reads Arabic-Indic and other decimal digits too
    if value < MIN_FIGURE or value in YEARS:
        return None
    beside = {norms[j] for j in (i - 1, i + 1) if 0 <= j < len(norms)}
    return None if beside & _MONTHS else value


def _minhash(words: set[str]) -> tuple[int, ...]:
    """For each hash function, the smallest hash of any word (32-bit word hashes from blake2b,
    permuted by universal hashing modulo a Mersenne prime; a·x + b stays below 2**64)."""
    if not words:
        return ()
    np = _numpy()
    hashed = np.fromiter(map(_WORD_HASHES.__getitem__, words), dtype=np.uint64,
                         count=len(words))
    a, b = _permutations()
    permuted = (np.outer(hashed, a) + b) % np.uint64(PRIME) & np.uint64(LOW32)
    return tuple(int(v) for v in permuted.min(axis=0))
