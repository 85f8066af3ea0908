"""What an article says about its event, reduced to what clustering compares (pure).

    Article + ArticleMatch ─▶ Signature: weighted words, places and groups, figures, days
                          ─▶ keys: the places and groups, and the rarest words

Words are the stems of the article's normalised tokens (title, summary, the start of its
content: the lead says what happened; the rest of a long article cites earlier tolls and
other towns), each weighted by how rare it is in its language (words.weights: "sarin"
or "Qamishli" far above "killed"), without the commonest words and without numbers. Two
articles' words are compared by the cosine of their weights. Numbers are kept apart as
figures (casualty counts agree across outlets and languages), leaving out years and days of
a date. The weekdays an article names ("on Tuesday") fix the days it reports (words.
event_days): two reports of different days tell of different events. Places that are whole
countries are too common to tell events apart and are left out.

A store files each article under its places and its KEY_WORDS rarest words, so a new article
finds the few stories it may join by key: a rewritten wire story shares its rare words, an
outlet's own report of an event its places (groups act everywhere: they never make an event,
and filing under them would only widen the search).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache
from itertools import compress, count
from operator import itemgetter, mul

import numpy as np
import numpy.typing as npt

from watcher.models import Article, ArticleMatch
from watcher.stories.kinds import event_kinds
from watcher.stories.words import event_days, weekdays, weights
from watcher.text.normalize import Memo, language_code, normalize_token, stemmer, tokenize

CONTENT_CHARS = 1000  # the lead of a long article says what happened; the rest adds noise
KEY_WORDS = 6  # the rarest words an article is filed under
LEAD_TOKENS = 40  # a headline naming no kind of event takes those of this many words after it
MIN_FIGURE, YEARS = 2, range(1900, 2101)
READ_SIGNATURES = 4096  # parsed signatures kept by their JSON (`read`)
VECTORISED = 8  # from this many articles compared with one, `similarities` uses arrays
# Words beside which a number is part of a date, not a figure.
_MONTHS = frozenset((
    "jan", "january", "feb", "february", "mar", "march", "apr", "april", "may", "jun", "june",
    "jul", "july", "aug", "august", "sep", "sept", "september", "oct", "october", "nov",
    "november", "dec", "december", "mon", "tue", "wed", "thu", "fri", "sat", "sun", "monday",
    "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))


def _words(text: str) -> list[str]:
    return text.split()


# Figures written as words, as headlines do ("Six killed", "kills six"): English, French,
# Spanish, Russian, Ukrainian, Arabic; two and up (one is an article as often as a
# number); French round counts ("une vingtaine de soldats") as the number other outlets
# give ("20 soldiers").
_NUMBER_WORDS = {
    **dict(zip(_words("two three four five six seven eight nine ten eleven twelve thirteen "
                      "fourteen fifteen sixteen seventeen eighteen nineteen twenty"),
               range(2, 21), strict=True)),
    "thirty": 30, "forty": 40, "fifty": 50, "hundred": 100,
    **dict(zip(_words("deux trois quatre cinq six sept huit neuf dix onze douze"),
               range(2, 13), strict=True)),
    **dict(zip(_words("dos tres cuatro cinco seis siete ocho nueve diez once doce"),
               range(2, 13), strict=True)),
    "dizaine": 10, "douzaine": 12, "quinzaine": 15, "vingtaine": 20, "trentaine": 30,
    "quarantaine": 40, "cinquantaine": 50, "centaine": 100,
    # Russian and Ukrainian, with the collective forms news uses for people ("четверо
    # погибших"); Arabic from three (اثنين is also Monday), folded as tokens are.
    **{normalize_token(word): value for words, first in (
        ("два три четыре пять шесть семь восемь девять десять", 2),
        ("двое трое четверо пятеро шестеро семеро", 2),
        ("дві три чотири", 2), ("двоє троє", 2), ("шість сім вісім", 6),
        ("шестеро семеро восьмеро", 6), ("ثلاثه اربعه خمسه سته سبعه ثمانيه تسعه عشره", 3),
    ) for value, word in enumerate(_words(words), start=first)},
}


@dataclass(frozen=True)
class Signature:
    """One article's clustering view. `words` maps stems to weights; `entities` are
    `place:NAME` and `group:NAME`; `days` the days its weekdays name; `kinds` the kinds of
    event it reports (kinds.event_kinds)."""

    words: dict[str, float]
    entities: frozenset[str]
    figures: frozenset[int]
    language: str
    days: frozenset[date] = field(default_factory=frozenset)
    kinds: frozenset[str] = field(default_factory=frozenset)

    @cached_property
    def norm(self) -> float:
        return math.sqrt(sum(w * w for w in self.words.values()))

    @cached_property
    def places(self) -> frozenset[str]:
        """The `place:NAME` entities."""
        return frozenset(e for e in self.entities if e.startswith("place:"))

    def similarity(self, other: Signature) -> float:
        """Cosine of the two articles' weighted words (0 when either has none)."""
        if not self.norm or not other.norm:
            return 0.0
        mine, theirs = self.words, other.words
        shared = mine.keys() & theirs.keys()  # products summed by C loops: compared often
        dot = sum(map(mul, map(mine.__getitem__, shared), map(theirs.__getitem__, shared)))
        return dot / (self.norm * other.norm)

    @cached_property
    def vector(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """The words as two arrays, ordered by the first: each stem's hash (64 bits: two
        stems of two articles that collide are a chance of one in 2**64 a pair), and its
        weight (`similarities`)."""
        ids = np.fromiter(map(hash, self.words), np.int64, len(self.words))
        order = np.argsort(ids, kind="stable")
        weights = np.fromiter(self.words.values(), np.float64, len(self.words))
        return ids[order], weights[order]

    def keys(self) -> tuple[str, ...]:
        """Where a store files the article so that later ones find it."""
        # Heaviest first, then by stem: a stable sort by weight of the words by stem.
        rarest = sorted(sorted(self.words.items()), key=itemgetter(1), reverse=True)[:KEY_WORDS]
        return (*sorted(self.places), *(f"word:{s}" for s, _ in rarest))

    def to_json(self) -> str:
        return json.dumps({"v": 2, "w": dict(sorted(self.words.items())),
                           "e": sorted(self.entities), "f": sorted(self.figures),
                           "d": sorted(d.isoformat() for d in self.days),
                           "k": sorted(self.kinds), "l": self.language},
                          separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Signature:
        """A stored signature; one of the first version (a MinHash, before words were
        weighed) keeps its places, groups and figures and has no words."""
        data = json.loads(text)
        return cls(dict(data.get("w", {})),
                   frozenset(data["e"]), frozenset(data["f"]), data["l"],
                   frozenset(date.fromisoformat(d) for d in data.get("d", ())),
                   frozenset(data.get("k", ())))


def similarities(mine: Signature, others: Sequence[Signature]) -> list[float]:
    """mine.similarity(other) for each of `others`: by array operations when they are many
    (an article is compared with every story it shares a place or a rare word with)."""
    worded = [i for i, other in enumerate(others) if other.norm]
    if len(worded) < VECTORISED or not mine.norm:
        return [mine.similarity(other) for other in others]
    ids, weights = mine.vector
    theirs = [others[i].vector for i in worded]
    their_ids = np.concatenate([v[0] for v in theirs])
    at = np.minimum(np.searchsorted(ids, their_ids), len(ids) - 1)  # where each would be
    products = np.where(ids[at] == their_ids,
                        np.concatenate([v[1] for v in theirs]) * weights[at], 0.0)
    starts = np.cumsum([0, *(len(v[0]) for v in theirs[:-1])])
    found = [0.0] * len(others)
    for i, dot in zip(worded, np.add.reduceat(products, starts).tolist(), strict=True):
        found[i] = dot / (mine.norm * others[i].norm)
    return found


def read(text: str) -> Signature:
    """The signature stored as `text` (Signature.from_json), parsed once: a batch's new
    entries were just written (`remember`), and stored ones come back batch after batch."""
    with _READ_LOCK:
        found = _READ.get(text)
    if found is None:
        found = Signature.from_json(text)
        remember(text, found)
    return found


def remember(text: str, sig: Signature) -> None:
    """Keep `sig` as what `read(text)` gives (the latest READ_SIGNATURES)."""
    with _READ_LOCK:
        if len(_READ) >= READ_SIGNATURES:
            del _READ[next(iter(_READ))]  # the oldest
        _READ[text] = sig


_READ: dict[str, Signature] = {}
_READ_LOCK = threading.Lock()


def signature(article: Article, found: ArticleMatch) -> Signature:
    """The signature of `article`, given what matching found in it."""
    language = language_code(article.language)
    headline = tokenize(article.title).norms
    body = tokenize(" \n ".join((article.summary[:CONTENT_CHARS],
                                 article.content[:CONTENT_CHARS]))).norms
    norms = headline + body
    distinct = dict.fromkeys(norms)  # news repeats its words
    words: dict[str, float] = {}
    numbers: list[str] = []
    for token, seen in zip(distinct, map(_vocabulary(language).__getitem__, distinct),
                           strict=True):
        if seen is _NUMBER:
            numbers.append(token)
        elif seen is not None:
            stem, weight = seen
            before = words.get(stem)
            if before is None or weight > before:
                words[stem] = weight
    figures: set[int] = set()
    if numbers:
        wanted = set(numbers)
        for i in compress(count(), map(wanted.__contains__, norms)):
            figure = _figure(norms[i], norms, i)
            if figure is not None:
                figures.add(figure)
    # A country is too wide to tell events apart: only its towns and regions count.
    entities = {f"place:{p.name}" for p in found.places if p.kind != "country"}
    entities.update(f"group:{g.name}" for g in found.groups)
    return Signature(dict(sorted(words.items())), frozenset(entities), frozenset(figures),
                     language, event_days(norms, article.published),
                     event_kinds(headline, body[:LEAD_TOKENS]))


# A token's part in the words of a signature: a number (a figure, written either way), none
# (a common word, a month, a weekday, one letter), or its stem and weight (rounded; a word of
# no weight is none). Worked out once per token and language: news repeats its words.
_NUMBER = ("", 0.0)
_Seen = tuple[str, float] | None


@lru_cache(maxsize=32)
def _vocabulary(language: str) -> Memo[_Seen]:
    known, skip, stem = weights(language), _skipped(language), stemmer(language)

    def seen(token: str) -> _Seen:
        if token.isdecimal() or token in _NUMBER_WORDS:
            return _NUMBER
        if len(token) < 2 or token in skip:
            return None
        weight = known.weight(token)
        return (stem(token), round(weight, 2)) if weight > 0 else None

    return Memo(seen)


@lru_cache(maxsize=32)
def _skipped(language: str) -> frozenset[str]:
    """Tokens that are not words of an event: the commonest of the language, months and
    weekdays (the days they name are kept apart), figures written as words."""
    return weights(language).common | _MONTHS | weekdays().keys() | _NUMBER_WORDS.keys()


def _figure(token: str, norms: list[str], i: int) -> int | None:
    value = _NUMBER_WORDS.get(token)
    if value is not None:
        return value
    value = int(token)  # int() reads Arabic-Indic and other decimal digits too
    if value < MIN_FIGURE or value in YEARS:
        return None
    dated = (i > 0 and norms[i - 1] in _MONTHS) or (i + 1 < len(norms)
                                                   and norms[i + 1] in _MONTHS)
    return None if dated else value


