"""The world layer of the gazetteer: GeoNames cities beneath the curated place lists.

The curated lists (`rules/lists/places-*.yaml`) hold the places a desk watches, with the
spellings the desk sees. Beneath them, every city of 15,000 people or more (GeoNames,
CC BY 4.0, via `tools/build_geonames.py`, which also decides which names are ambiguous) is
known too, so an alert lists Goma, Kinshasa or Moscow with country and coordinates.

The layer is read once per process and shared by every rule set (a hot reload does not
rebuild it): its own Aho-Corasick automaton finds its cities in an article, apart from the
rules' automaton, so compiling rules costs no more than before. What the curated lists say
wins (rules/terms.py merges a GeoNames city into the curated entry it duplicates, and a spelling
of a curated place or group never names a GeoNames city). An ambiguous city counts only
when the article also names its country, or another city or place of that country; so does
a small city (under `SMALL_ABROAD` people) when the article places itself elsewhere. A name
inside a longer name is no place (al-Manar, Vladimir Putin: `WorldLayer.mentions`), and
one spelling names one city.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import ahocorasick

from watcher.text.normalize import Tokens, case_form, token_hits

DATA = Path(__file__).resolve().parent / "data"
CITIES_FILE = DATA / "geonames.tsv.gz"
COUNTRIES_FILE = DATA / "countries.tsv"

Occurrence = tuple[int, int, int]  # field index, start, end (as in matching/evaluate.py)
Variant = tuple[str, ...]


@dataclass(frozen=True)
class WorldPlace:
    """A GeoNames city. `key` ("Goma (CD)") is unique; `name` is what alerts show. The
    other spellings stay as the table holds them ("|"-joined: 32,000 cities, so one
    string each rather than a tuple of strings)."""

    key: str
    name: str
    country: str
    lat: float
    lon: float
    population: int
    ambiguous: bool
    joined_aliases: str = ""

    @property
    def aliases(self) -> tuple[str, ...]:
        return _split(self.joined_aliases)

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


# A name of a city this big is frequent because of the city: it counts even inside a longer
# capitalised name ("Tehran Times", "Moscow Mayor"), as in tools/build_geonames.py.
BIG_CITY = 1_000_000
# The Arabic article and the kin words that open Arabic names of people, tribes, papers and
# channels (al-Manar, Al-Ahram, Abu Omar, Bani Zeid, Umm Ali), as normalised tokens. A city
# name right after one is part of such a name: a city known with the article ("Al Mukalla")
# is found by that longer spelling. The sun-letter forms (ad-, ar-, as-, at-, az-, an-) are
# also English words, so they count only when joined by a hyphen.
PARTICLES = frozenset({"al", "el", "il", "ul", "abu", "abou", "bani", "beni", "bin", "ibn",
                       "bint", "umm", "um", "abd", "ould"})
HYPHENED_PARTICLES = frozenset({"ad", "ar", "as", "at", "az", "an", "ash", "ath", "adh"})
_ANY_PARTICLE = PARTICLES | HYPHENED_PARTICLES
_HYPHENS = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2212")
# Capitalised words that do not make a longer name: sentence openers, days, months, titles
# of headlines ("In Moscow Monday", "Moscow On Tuesday", "Says Ankara").
_FUNCTION_WORDS = """
a an the in on at of for to from by with and or but as after before near since when while
where if than that this these those amid over under into via about against between during
says said tells told is was are were has had have will would could should may can also
then thus meanwhile yesterday today tonight tomorrow monday tuesday wednesday thursday
friday saturday sunday january february march april may june july august september october
november december north south east west northern southern eastern western central
"""
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS.split())
LIKELIER = 5  # a city this many times bigger is what an ambiguous name more likely means
# A city smaller than this, in a country the article gives no other sign of, is more likely
# a namesake (a village, a person, an outlet: Orum in Aleppo is not Orem, Utah).
SMALL_ABROAD = 50_000
# A field this short with this share of its longer words capitalised is a headline in title
# case; a longer one is prose (and counting its words would cost more than the rest).
HEADLINE_CHARS, TITLE_SHARE = 300, 0.6
_LONG_WORD = re.compile(r"\b[^\W\d_]\w{3,}")
_CAPITALISED_WORD = re.compile(r"\b[A-Z\u00c0-\u00de\u0400-\u042f]\w{3,}")


class WorldHit(NamedTuple):
    """A spelling found in a field: the cities it may name (`cities`, indices into
    WorldLayer.cities, most populous first, case already checked) and the countries it
    names. `before`/`after` are capitalised words written right against it that may make it
    part of a longer name ("Vladimir Putin", "Ahram Online"), unless they are places too."""

    occurrence: Occurrence
    value: int
    cities: tuple[int, ...]
    big: tuple[int, ...]  # those named by their own name and of a million people or more
    countries: tuple[str, ...]
    before: Occurrence | None
    after: Occurrence | None


# What a spelling stands for, per automaton value: its length with the two spaces, its
# token count, the cities (index, for an ambiguous city the case forms the text must have,
# and whether it is a big city named by its own name) and the countries.
_Target = tuple[int, tuple[str, ...] | None, bool]
_Entry = tuple[int, int, tuple[_Target, ...], tuple[str, ...]]


class WorldLayer:
    """Every GeoNames city and an automaton over city spellings and country names. The
    automaton stores an int per spelling (an index into `entries`): a Python object per
    spelling would double the layer's memory."""

    def __init__(self, rows: Iterable[tuple[WorldPlace, tuple[str, ...], tuple[str, ...]]],
                 countries: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]) -> None:
        self.cities: list[WorldPlace] = []
        self.places: dict[str, WorldPlace] = {}
        self.countries = {code: names for code, (names, _) in countries.items()}
        by_key: dict[str, tuple[list[_Target], list[str]]] = {}
        for place, keys, cases in rows:  # most populous first: find() prefers the bigger
            index = len(self.cities)
            self.cities.append(place)
            self.places[place.key] = place
            big = place.population >= BIG_CITY
            for i, key in enumerate(keys):  # the first key is the city's own name
                case = tuple(cases[i].split(" ")) if place.ambiguous else None
                found = by_key.setdefault(key, ([], []))[0]
                if all(t[0] != index for t in found):
                    found.append((index, case, big and i == 0))
        for code in sorted(countries):
            for key in countries[code][1]:
                by_key.setdefault(key, ([], []))[1].append(code)
        self.ambiguous = [city.ambiguous for city in self.cities]
        self.entries: list[_Entry] = []
        self.automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for key, (cities, codes) in by_key.items():
            self.automaton.add_word(f" {key} ", len(self.entries))
            self.entries.append((len(key) + 2, key.count(" ") + 1, tuple(cities),
                                 tuple(codes)))
        self.automaton.make_automaton()

    def value_of(self, variant: Variant) -> int | None:
        """The automaton value of a spelling, if the layer knows it."""
        value: int | None = self.automaton.get(_joined(variant), None)
        return value

    def cities_named(self, variant: Variant) -> list[str]:
        """Keys of the cities a spelling names, most populous first."""
        value = self.value_of(variant)
        if value is None:
            return []
        return [self.cities[target[0]].key for target in self.entries[value][2]]

    def scan(self, tokens: Tokens, field_index: int,
             claimed: frozenset[int] | set[int] = frozenset()) -> list[WorldHit]:
        """Every city spelling and country name in one field's tokens, but those spellings
        the curated lists use (`claimed`, automaton values: they name the curated entry).
        A city is dropped here when it cannot count, cheapest test first: written in lower
        case (names are capitalised: "barrage", "roundabout" are words, whatever GeoNames
        lists), right after an Arabic particle (`PARTICLES`), an ambiguous city not in its
        case as written."""
        spans, norms, text = tokens.spans, tokens.norms, tokens.text
        entries = self.entries
        hits: list[WorldHit] = []
        titled: bool | None = None
        for first, value in token_hits(self.automaton, norms, lambda v: entries[v][0]):
            if value in claimed:
                continue
            _, ntok, targets, countries = entries[value]
            begin, stop = spans[first][0], spans[first + ntok - 1][1]
            if not targets:  # a country's name: kept for support and as a neighbour
                hits.append(WorldHit((field_index, begin, stop), value, (), (), countries,
                                     None, None))
                continue
            surface = text[begin:stop]
            if surface.islower() or (first and norms[first - 1] in _ANY_PARTICLE
                                     and _after_particle(tokens, first)):
                cities: tuple[int, ...] = ()
                big: tuple[int, ...] = ()
            else:
                cities, big = _in_case(targets, tokens, first, ntok)
            if not cities and not countries:
                continue
            before = after = None
            if cities and len(big) < len(cities) and not surface.isupper():
                before = _name_before(tokens, first, field_index)
                after = _name_after(tokens, first + ntok, field_index)
                if before and norms[first] in PARTICLES:
                    cities = big = ()  # "Aleppo al-Jadida", "Bustan al-Qasr": one name
                elif (before or after) and titled is None:
                    titled = len(text) <= HEADLINE_CHARS and _title_case(text)
                if titled:
                    before = after = None
            hits.append(WorldHit((field_index, begin, stop), value, cities, big, countries,
                                 before, after))
        return hits

    def mentions(self, hits: list[WorldHit], taken: Iterable[Occurrence],
                 countries: set[str], hidden: frozenset[int] | set[int]
                 ) -> list[tuple[Occurrence, str]]:
        """The cities an article mentions, from its hits (`scan`, which leaves out the
        spellings the curated lists use), one per spelling found:
        - not one of a city merged into a curated entry (`hidden`, city indices): that
          names the entry;
        - not inside a place or group the matcher found (`taken`) or a longer GeoNames name;
        - not part of a longer capitalised name (a word written right against it that is
          neither a curated place or group nor a country: "Vladimir Putin", "Ahram Online"),
          unless a city of a million or more named by its own name ("Tehran Times");
        - the first (most populous) unambiguous city of the spelling, else the first
          ambiguous one whose country is supported: named, or home to another place the
          article names (`countries` holds those of the matcher's places), unless a city of
          that spelling `LIKELIER` times bigger is not supported: the name more likely
          means that one (Geneva in an article that names the U.S.);
        - an unambiguous city under `SMALL_ABROAD` people counts only where the article
          supports its country, or another such city of that country is named, or the
          article names no country at all: in an article on Syria, "Orum" is a Syrian
          village and not Orem, Utah, and "Ramadan" is no town in Saudi Arabia."""
        if not any(h.cities for h in hits):
            return []
        supported = set(countries)
        for hit in hits:
            supported.update(hit.countries)
        candidates = _candidates(hits, set(taken), hidden)
        chosen: dict[Occurrence, int] = {}
        small: dict[Occurrence, int] = {}  # small cities abroad, decided once the rest are
        for occurrence, cities in candidates:
            i = next((i for i in cities if not self.ambiguous[i]), None)
            if i is None:
                continue
            city = self.cities[i]
            if city.population >= SMALL_ABROAD or city.country in supported:
                chosen[occurrence] = i
                supported.add(city.country)
            else:
                small[occurrence] = i
        if small:
            chosen.update(self._small_abroad(small, supported))
        found = []
        for occurrence, cities in candidates:
            index = chosen.get(occurrence)
            if index is None:
                index = self._likeliest(cities, supported)
            if index is not None:
                found.append((occurrence, self.cities[index].key))
        return found


    def _small_abroad(self, small: dict[Occurrence, int], supported: set[str]
                      ) -> dict[Occurrence, int]:
        """The small cities that count (`mentions`, last point); their countries become
        supported."""
        by_country: dict[str, set[int]] = {}
        for i in small.values():
            by_country.setdefault(self.cities[i].country, set()).add(i)
        nowhere = not supported
        counted = {occurrence: i for occurrence, i in small.items()
                   if nowhere or self.cities[i].country in supported
                   or len(by_country[self.cities[i].country]) > 1}
        supported.update(self.cities[i].country for i in counted.values())
        return counted

    def _likeliest(self, cities: tuple[int, ...], supported: set[str]) -> int | None:
        """The biggest of a spelling's ambiguous cities whose country is supported, unless
        an unsupported one is `LIKELIER` times bigger."""
        biggest = self.cities[cities[0]].population
        for i in cities:
            city = self.cities[i]
            if city.country in supported:
                return i if city.population * LIKELIER >= biggest else None
        return None


def _candidates(kept: list[WorldHit], taken: set[Occurrence], hidden: frozenset[int] | set[int]
                ) -> list[tuple[Occurrence, tuple[int, ...]]]:
    """Each hit's cities that may count (WorldLayer.mentions, first three points)."""
    covers = {*taken, *(h.occurrence for h in kept)}
    nested = _nested(sorted(covers, key=lambda o: (o[0], o[1], -o[2])))
    known = [*taken, *(h.occurrence for h in kept if h.countries)]
    starts = {(o[0], o[1]) for o in known}
    ends = {(o[0], o[2]) for o in known}
    candidates = []
    for hit in kept:
        cities = hit.cities
        if not cities or hit.occurrence in nested or hit.occurrence in taken:
            continue
        if hidden and not hidden.isdisjoint(cities):
            continue
        if (hit.before is not None and (hit.before[0], hit.before[2]) not in ends) or (
                hit.after is not None and (hit.after[0], hit.after[1]) not in starts):
            cities = hit.big
        if cities:
            candidates.append((hit.occurrence, cities))
    return candidates


def _after_particle(tokens: Tokens, first: int) -> bool:
    """Whether the token before `first` is an Arabic particle that opens a longer name."""
    norm = tokens.norms[first - 1]
    if norm in PARTICLES:
        gap = tokens.text[tokens.spans[first - 1][1]:tokens.spans[first][0]]
        return gap.isspace() or gap in _HYPHENS
    if norm in HYPHENED_PARTICLES:
        return tokens.text[tokens.spans[first - 1][1]:tokens.spans[first][0]] in _HYPHENS
    return False


def _in_case(targets: tuple[_Target, ...], tokens: Tokens, first: int, ntok: int
             ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The cities whose case the surface has (an unambiguous city has any case), and those
    of them that are big cities named by their own name."""
    surface: tuple[str, ...] | None = None
    cities, big = [], []
    for index, case, named_big in targets:
        if case is not None:
            if surface is None:
                surface = tuple(case_form(tokens.original(first + k)) for k in range(ntok))
            if case != surface:
                continue
        cities.append(index)
        if named_big:
            big.append(index)
    return tuple(cities), tuple(big)


def _title_case(text: str) -> bool:
    """Whether a field is written in title case (a headline), where every word is
    capitalised and a capitalised neighbour says nothing. Words of four letters or more
    are counted."""
    longer = len(_LONG_WORD.findall(text))
    return longer > 0 and len(_CAPITALISED_WORD.findall(text)) >= TITLE_SHARE * longer


def _name_before(tokens: Tokens, first: int, field_index: int) -> Occurrence | None:
    """The capitalised word written right before token `first` (a space apart), if any."""
    if first == 0:
        return None
    (start, end), text = tokens.spans[first - 1], tokens.text
    if (not text[end:tokens.spans[first][0]].isspace() or not text[start].isupper()
            or tokens.norms[first - 1] in FUNCTION_WORDS):
        return None
    return (field_index, start, end)


def _name_after(tokens: Tokens, after: int, field_index: int) -> Occurrence | None:
    """The capitalised word written right after the hit ending before token `after`, or an
    Arabic particle hyphened to the next word ("Orum al-Kubra"), if any."""
    spans, text = tokens.spans, tokens.text
    if after >= len(spans):
        return None
    start, end = spans[after]
    if not text[spans[after - 1][1]:start].isspace():
        return None
    norm = tokens.norms[after]
    if norm in PARTICLES or norm in HYPHENED_PARTICLES:
        hyphened = after + 1 < len(spans) and text[end:spans[after + 1][0]] in _HYPHENS
        return (field_index, start, end) if hyphened else None
    if not text[start].isupper() or norm in FUNCTION_WORDS:
        return None
    return (field_index, start, end)


def _joined(variant: Variant) -> str:
    return " " + " ".join(variant) + " "


def read_places(path: Path = CITIES_FILE
                ) -> list[tuple[WorldPlace, tuple[str, ...], tuple[str, ...]]]:
    """The cities of the table written by tools/build_geonames.py, most populous first,
    each with its match keys and (if ambiguous) their case forms."""
    rows = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            _id, name, country, lat, lon, population, ambiguous, aliases, keys, cases = (
                line.rstrip("\n").split("\t"))
            place = WorldPlace(f"{name} ({country})", name, country, float(lat), float(lon),
                               int(population), ambiguous == "1", aliases)
            rows.append((place, _split(keys), _split(cases)))
    rows.sort(key=lambda row: -row[0].population)
    return rows


def _split(column: str) -> tuple[str, ...]:
    return tuple(column.split("|")) if column else ()


def read_countries(path: Path = COUNTRIES_FILE
                   ) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Country code -> its names and demonyms, and their match keys."""
    countries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            code, names, keys = line.split("\t")
            countries[code] = (_split(names), _split(keys))
    return countries


@lru_cache(maxsize=1)
def world_layer() -> WorldLayer:
    """The packaged layer, read on first use and shared for the life of the process."""
    return WorldLayer(read_places(), read_countries())


def _nested(spans: list[Occurrence]) -> set[Occurrence]:
    """Spans strictly inside another one (sorted by field, start, longest first)."""
    inside: set[Occurrence] = set()
    field_index, cover_end = -1, -1
    for span in spans:
        fi, _start, end = span
        if fi != field_index:
            field_index, cover_end = fi, end
            continue
        if end <= cover_end:
            inside.add(span)
        else:
            cover_end = end
    return inside
