"""The world layer of the gazetteer: GeoNames cities beneath the curated place lists.

The curated lists (`rules/lists/places-*.yaml`) hold the places a desk watches, with the
spellings the desk sees. Beneath them, every city of 15,000 people or more (GeoNames,
CC BY 4.0, via `tools/build_geonames.py`, which also decides which names are ambiguous) is
known too, so an alert lists Goma, Kinshasa or Moscow with country and coordinates.

The layer is read once per process and shared by every rule set (a hot reload does not
rebuild it): its own Aho-Corasick automaton finds its cities in an article, apart from the
rules' automaton, so compiling rules costs no more than before. What the curated lists say
wins (terms.py merges a GeoNames city into the curated entry it duplicates, and a spelling
of a curated place or group never names a GeoNames city). An ambiguous city counts only
when the article also names its country, or another city or place of that country.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import ahocorasick

from .normalize import Tokens, case_form

DATA = Path(__file__).resolve().parent / "data"
CITIES_FILE = DATA / "geonames.tsv.gz"
COUNTRIES_FILE = DATA / "countries.tsv"

Occurrence = tuple[int, int, int]  # field index, start, end (as in evaluate.py)
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


@dataclass(frozen=True)
class WorldHit:
    """A spelling of a city (`key`) or a country's name (`key` None) found in a field."""

    key: str | None
    country: str
    variant: Variant
    occurrence: Occurrence


# What a spelling stands for: a city (its index in `cities`) or a country (-1 - its index
# in `country_codes`), and for an ambiguous city the case forms the text must have.
_Target = tuple[int, tuple[str, ...] | None]


class WorldLayer:
    """Every GeoNames city and an automaton over city spellings and country names. The
    automaton stores an int per spelling (an index into `targets`): a Python object per
    spelling would double the layer's memory."""

    def __init__(self, rows: Iterable[tuple[WorldPlace, tuple[str, ...], tuple[str, ...]]],
                 countries: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]) -> None:
        self.cities: list[WorldPlace] = []
        self.places: dict[str, WorldPlace] = {}
        self.country_codes = sorted(countries)
        self.countries = {code: names for code, (names, _) in countries.items()}
        by_key: dict[str, list[_Target]] = {}
        for place, keys, cases in rows:  # most populous first: find() prefers the bigger
            index = len(self.cities)
            self.cities.append(place)
            self.places[place.key] = place
            for i, key in enumerate(keys):
                case = tuple(cases[i].split(" ")) if place.ambiguous else None
                found = by_key.setdefault(key, [])
                if all(t[0] != index for t in found):
                    found.append((index, case))
        for n, code in enumerate(self.country_codes):
            for key in countries[code][1]:
                by_key.setdefault(key, []).append((-1 - n, None))
        self.targets: list[tuple[int, int, tuple[_Target, ...]]] = []
        self.automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for key, found in by_key.items():
            self.automaton.add_word(f" {key} ", len(self.targets))
            self.targets.append((len(key) + 2, key.count(" ") + 1, tuple(found)))
        self.automaton.make_automaton()

    def cities_named(self, variant: Variant) -> list[str]:
        """Keys of the cities a spelling names, most populous first."""
        value = self.automaton.get(_joined(variant), None)
        if value is None:
            return []
        return [self.cities[i].key for i, _ in self.targets[value][2] if i >= 0]

    def scan(self, tokens: Tokens, field_index: int) -> list[WorldHit]:
        """Every city spelling and country name in one field's tokens (ambiguous cities
        only with their case as written)."""
        joined = " " + " ".join(tokens.norms) + " "
        spans, norms = tokens.spans, tokens.norms
        hits = []
        # As in match._scan: a hit's first token is the number of spaces before it, less one.
        cursor, spaces = 0, 0
        for end, value in self.automaton.iter(joined):
            key_len, ntok, targets = self.targets[value]
            start = end - key_len + 2
            if start >= cursor:
                spaces += joined.count(" ", cursor, start)
            else:
                spaces -= joined.count(" ", start, cursor)
            cursor = start
            first = spaces - 1
            occurrence = (field_index, spans[first][0], spans[first + ntok - 1][1])
            variant = tuple(norms[first:first + ntok])
            for index, case in targets:
                if case is not None and case != tuple(
                        case_form(tokens.original(first + k)) for k in range(ntok)):
                    continue
                if index >= 0:
                    city = self.cities[index]
                    hits.append(WorldHit(city.key, city.country, variant, occurrence))
                else:
                    hits.append(WorldHit(None, self.country_codes[-1 - index], variant,
                                         occurrence))
        return hits


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


def resolve_mentions(hits: Iterable[WorldHit], taken: Sequence[Occurrence],
                     countries: set[str], hidden: frozenset[str] | set[str],
                     claimed: set[Variant] | frozenset[Variant],
                     ambiguous: dict[str, bool]) -> list[tuple[Occurrence, str]]:
    """The cities an article mentions, from its hits: not a city merged into a curated
    entry (`hidden`), not a spelling the curated lists use (`claimed`), not inside a place
    or group the matcher found (`taken`) or a longer city name, and an ambiguous city only
    if its country is supported: named, or home to another place the article names
    (`countries` holds those of the matcher's places)."""
    kept = [h for h in hits if h.variant not in claimed
            and (h.key is None or h.key not in hidden)]
    covers = sorted({*taken, *(h.occurrence for h in kept)},
                    key=lambda o: (o[0], o[1], -o[2]))
    nested = _nested(covers)
    cities = [(h.occurrence, h.key, h.country) for h in kept if h.key is not None
              and h.occurrence not in nested and h.occurrence not in taken]
    supported = set(countries) | {h.country for h in kept if h.key is None}
    supported |= {country for _, key, country in cities if not ambiguous[key]}
    return [(occurrence, key) for occurrence, key, country in cities
            if not ambiguous[key] or country in supported]


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
