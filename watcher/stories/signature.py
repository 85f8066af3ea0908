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
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache

from watcher.models import Article, ArticleMatch
from watcher.stories.kinds import event_kinds
from watcher.stories.words import event_days, weekdays, weights
from watcher.text.normalize import language_code, normalize_token, stem_tokens, tokenize

CONTENT_CHARS = 1000  # the lead of a long article says what happened; the rest adds noise
KEY_WORDS = 6  # the rarest words an article is filed under
LEAD_TOKENS = 40  # a headline naming no kind of event takes those of this many words after it
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

    def similarity(self, other: Signature) -> float:
        """Cosine of the two articles' weighted words (0 when either has none)."""
        if not self.norm or not other.norm:
            return 0.0
        mine, theirs = self.words, other.words
        dot = sum(mine[s] * theirs[s] for s in mine.keys() & theirs.keys())
        return dot / (self.norm * other.norm)

    def keys(self) -> tuple[str, ...]:
        """Where a store files the article so that later ones find it."""
        rarest = sorted(self.words.items(), key=lambda sw: (-sw[1], sw[0]))[:KEY_WORDS]
        places = sorted(e for e in self.entities if e.startswith("place:"))
        return (*places, *(f"word:{s}" for s, _ in rarest))

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


def signature(article: Article, found: ArticleMatch) -> Signature:
    """The signature of `article`, given what matching found in it."""
    language = language_code(article.language)
    headline = tokenize(article.title).norms
    body = tokenize(" \n ".join((article.summary[:CONTENT_CHARS],
                                 article.content[:CONTENT_CHARS]))).norms
    norms = headline + body
    known = weights(language)
    figures: set[int] = set()
    numbers = [i for i, token in enumerate(norms) if token.isdecimal() or token in _NUMBER_WORDS]
    for i in numbers:
        figure = _figure(norms[i], norms, i)
        if figure is not None:
            figures.add(figure)
    skip = _skipped(language)
    distinct = [t for t in dict.fromkeys(norms)  # news repeats its words
                if len(t) > 1 and t not in skip and not t.isdecimal()]
    words: dict[str, float] = {}
    for token, stem in zip(distinct, stem_tokens(distinct, language), strict=True):
        weight = known.weight(token)
        if weight > words.get(stem, 0.0):
            words[stem] = weight
    words = {stem: round(weight, 2) for stem, weight in words.items()}
    # A country is too wide to tell events apart: only its towns and regions count.
    entities = {f"place:{p.name}" for p in found.places if p.kind != "country"}
    entities.update(f"group:{g.name}" for g in found.groups)
    return Signature(words, frozenset(entities), frozenset(figures), language,
                     event_days(norms, article.published),
                     event_kinds(headline, body[:LEAD_TOKENS]))


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
    beside = {norms[j] for j in (i - 1, i + 1) if 0 <= j < len(norms)}
    return None if beside & _MONTHS else value


