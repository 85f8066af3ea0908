"""How much a word says about an event, and which day a weekday names (pure, small data).

    weights("en")["killed"] -> 1.7     rarer words weigh more; the commonest weigh nothing
    event_days(tokens, published)      "on Tuesday" in an article of Thursday -> that Tuesday
                                       ("a monitor said on Thursday": no day of the event)

Weights come from the word frequencies of wordfreq, built into `data/<language>.words.gz`
by tools/build_word_weights.py (the 10,000 commonest words of 14 languages with their Zipf
frequency), so the service neither imports wordfreq nor holds its lists (~30 MB). A word of
Zipf z weighs RARE_AT - z; a word rarer than every listed one weighs UNLISTED; in a language
without a file every word weighs 1.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from importlib.resources import files

from watcher.text.normalize import normalize_token

RARE_AT = 6.5  # Zipf 6.5 and above ("the", "and", "في"): no weight at all
UNLISTED = 4.5  # rarer than the 10,000th word (Zipf < ~3.8): a name, a weapon, a place
COMMON = 150  # the commonest words of a language are left out altogether


@dataclass(frozen=True)
class Weights:
    """One language's word weights: `common` words are dropped, others weigh `weight(w)`."""

    listed: dict[str, int]  # Zipf frequency in tenths (small ints: no object per word)
    common: frozenset[str]
    known: bool  # a language with a word list

    def weight(self, word: str) -> float:
        if not self.known:
            return 1.0
        tenths = self.listed.get(word)
        return UNLISTED if tenths is None else max(0.0, RARE_AT - tenths / 10)


@lru_cache(maxsize=32)
def weights(language: str) -> Weights:
    """The weights of `language` (an ISO 639-1 code), read once per process."""
    resource = files("watcher.stories") / "data" / f"{language}.words.gz"
    try:
        raw = gzip.decompress(resource.read_bytes()).decode()
    except FileNotFoundError:
        return Weights({}, frozenset(), known=False)
    listed: dict[str, int] = {}
    for line in raw.splitlines():  # words already folded by the normaliser, each once
        tenths, _, word = line.partition("\t")
        listed[word] = int(tenths)
    return Weights(listed, frozenset(list(listed)[:COMMON]), known=True)


# Weekday names as news writes them ("on Tuesday", "mardi", "во вторник", "يوم الثلاثاء"),
# Monday first, folded by the normaliser when first used. Languages whose weekday names are
# also common words (Portuguese "segunda", Turkish "pazar") are left out.
_WEEKDAYS = (
    "monday tuesday wednesday thursday friday saturday sunday",
    "lundi mardi mercredi jeudi vendredi samedi dimanche",
    "lunes martes miércoles jueves viernes sábado domingo",
    "montag dienstag mittwoch donnerstag freitag samstag sonntag",
    "lunedì martedì mercoledì giovedì venerdì sabato domenica",
    "понедельник вторник среду четверг пятницу субботу воскресенье",
    "понеділок вівторок середу четвер пятницю суботу неділю",
    "الاثنين الثلاثاء الأربعاء الخميس الجمعة السبت الأحد",
)


@lru_cache(maxsize=1)
def weekdays() -> dict[str, int]:
    """Folded weekday name -> weekday (Monday 0)."""
    found: dict[str, int] = {}
    for names in _WEEKDAYS:
        for day, name in enumerate(names.split()):
            found.setdefault(normalize_token(name), day)
    return found


# Words of saying: a weekday right after one ("a monitor said on Sunday", "a déclaré
# dimanche", "заявил в воскресенье") is the day of the statement, often the day after the
# event, so it fixes no day of the event.
def _folded(words: str) -> frozenset[str]:
    return frozenset(normalize_token(w) for w in words.split())


_SAID = _folded("said says told announced reported added stated confirmed declared declare "
                "indique annonce affirme precise dijo informo anuncio afirmo declaro заявил "
                "заявили сообщил сообщили заявив повідомив повідомили")
_BEFORE_DAY = _folded("on le el в у")


def event_days(tokens: Sequence[str], published: datetime | None) -> frozenset[date]:
    """The days an article's weekdays name, but for those of a statement (`_SAID`): the
    latest such day on or before it was published (news tells of the past week). None
    without a publication time."""
    if published is None:
        return frozenset()
    names = weekdays()
    days = set()
    for i, token in enumerate(tokens):
        day = names.get(token)
        if day is None and token.startswith("و"):  # Arabic "and": والثلاثاء
            day = names.get(token[1:])
        if day is not None and not _said_on(tokens, i):
            back = (published.weekday() - day) % 7
            days.add((published - timedelta(days=back)).date())
    return frozenset(days)


def _said_on(tokens: Sequence[str], i: int) -> bool:
    """Is token `i` (a weekday) the day of a statement: "said (on) Sunday"?"""
    before = i - 1
    if before >= 0 and tokens[before] in _BEFORE_DAY:
        before -= 1
    return before >= 0 and tokens[before] in _SAID
