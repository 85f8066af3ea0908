"""Context decides which world places an article mentions.

A spelling found in an article may name several places, or a place and a person, a word, a
brand. What the article says decides, in this order:
- a country counts when named (an ambiguous one, Chad or Jordan, only with another sign of
  it); a demonym ("Malian troops") only supports its country;
- the first (most populous) unambiguous place of a spelling counts when it is big
  (`SMALL_ABROAD` people or more); a town under that counts where the article supports its
  country (names it or its demonym, or another place of it), or names a second town of that
  country, or names no country at all;
- a village (under `VILLAGE` people) needs more: its country supported, and either a word
  that announces a place right before it ("in", "near", "the village of", "camp"), its
  division named, or another of the article's places within `NEAR_KM`;
- a division counts with its country supported, or spelled as one ("Borno State"): its
  size says nothing (Distrito Nacional is "Nacional" in every Spanish weather report);
- an ambiguous spelling names the biggest of its places whose country is supported, unless
  an unsupported one is `LIKELIER` times bigger (the name more likely means that one);
  among supported ones close in size, the one of the country with most of the article's
  other places wins, then the nearest to one of them.
A spelling that is a common word of the article's language ("Como", "Natal") names its
places weakly (geonames.WorldLayer.scan): they count only once the rest of the article
supports their country (the countries named, and those of the places found without them),
and then as an ambiguous spelling does.
What has no support is dropped.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import NamedTuple

from watcher.gazetteer.worldfiles import WorldPlace

Occurrence = tuple[int, int, int]  # field index, start, end (as in matching/evaluate.py)

LIKELIER = 5  # a place this many times bigger is what an ambiguous name more likely means
# A town smaller than this, in a country the article gives no other sign of, is more likely
# a namesake (a village, a person, an outlet: Orum in Aleppo is not Orem, Utah).
SMALL_ABROAD = 50_000
VILLAGE = 15_000  # under this, a place needs a cue, its division or a neighbour as well
NEAR_KM = 150.0  # a place this close to another of the article's places is its neighbour
_DIVISION_WORDS = ("province", "governorate", "state", "region", "district")

Coordinates = tuple[float, float]


class WorldHit(NamedTuple):
    """A spelling found in a field: the places it may name (`cities`, place numbers, most
    populous first, case already checked) and the countries it names or supports.
    `before`/`after` are capitalised words written right against it that may make it part
    of a longer name ("Vladimir Putin", "Ahram Online"), unless they are places too."""

    occurrence: Occurrence
    value: str  # the match key
    cities: tuple[int, ...]
    big: tuple[int, ...]  # those named by their own name and of a million people or more
    countries: tuple[str, ...]
    before: Occurrence | None
    after: Occurrence | None
    cue: bool = False  # written after a word that announces a place ("in", "village of")
    # Those of `cities` named by a common word of the article's language, with no cue: they
    # count only where the rest of the article supports their country.
    weak: tuple[int, ...] = ()
    capitals: bool = False  # written in capitals ("SANA", the news agency, not Sanaa)


def resolve(place: Callable[[int], WorldPlace], hits: Sequence[WorldHit],
            candidates: list[tuple[Occurrence, tuple[int, ...]]], countries: set[str],
            anchors: list[Coordinates]) -> list[tuple[Occurrence, WorldPlace]]:
    """The places an article mentions, one per candidate spelling (module docstring).
    `countries` are those of the curated places found, `anchors` their coordinates."""
    supported = set(countries)
    for hit in hits:
        supported.update(hit.countries)
    cued = {hit.occurrence for hit in hits if hit.cue}
    keys = {hit.occurrence: hit.value for hit in hits}
    weak = {hit.occurrence: frozenset(hit.weak) for hit in hits if hit.weak}
    if weak:
        strong = [(occurrence, tuple(n for n in numbers if n not in weak.get(occurrence, ())))
                  for occurrence, numbers in candidates]
        found = _resolve(place, [c for c in strong if c[1]], supported, cued, keys, anchors)
        supported.update(p.country for _, p in found)
        points = [*anchors, *((p.lat, p.lon) for _, p in found if p.kind != "country")]
        done = {occurrence for occurrence, _ in found}
        for occurrence, numbers in candidates:
            named = tuple(n for n in numbers if n in weak.get(occurrence, ()))
            if named and occurrence not in done:
                chosen_place = _likeliest(place, named, supported, points, False,
                                          Counter(p.country for _, p in found))
                if chosen_place is not None:
                    found.append((occurrence, chosen_place))
        return sorted(found, key=lambda item: item[0])
    return _resolve(place, candidates, supported, cued, keys, anchors)


def _resolve(place: Callable[[int], WorldPlace],
             candidates: list[tuple[Occurrence, tuple[int, ...]]], supported: set[str],
             cued: set[Occurrence], keys: dict[Occurrence, str], anchors: list[Coordinates]
             ) -> list[tuple[Occurrence, WorldPlace]]:
    """`resolve` for candidates of no weak place."""
    chosen, towns, villages = _first_pass(place, candidates, supported, keys)
    chosen.update(_towns(towns, supported))
    points = [*anchors, *((p.lat, p.lon) for p in chosen.values() if p.kind != "country")]
    weights = Counter(p.country for p in chosen.values())
    divisions = {p.number for p in chosen.values() if p.kind == "region"}
    for occurrence, village in villages.items():
        if village.country in supported and (
                occurrence in cued or village.division in divisions
                or _near(village, points)):
            chosen[occurrence] = village
    found = []
    for occurrence, numbers in candidates:
        chosen_place = chosen.get(occurrence)
        if chosen_place is None:
            chosen_place = _likeliest(place, numbers, supported, points, occurrence in cued,
                                      weights)
        if chosen_place is not None:
            found.append((occurrence, chosen_place))
    return found


def _first_pass(place: Callable[[int], WorldPlace],
                candidates: list[tuple[Occurrence, tuple[int, ...]]], supported: set[str],
                keys: dict[Occurrence, str]) -> tuple[dict[Occurrence, WorldPlace], ...]:
    """The first unambiguous place of each spelling: those that count at once (countries,
    big cities, supported divisions), and the towns and villages decided afterwards."""
    chosen: dict[Occurrence, WorldPlace] = {}
    towns: dict[Occurrence, WorldPlace] = {}  # decided once the big places are
    villages: dict[Occurrence, WorldPlace] = {}
    for occurrence, numbers in candidates:
        first = next((p for n in numbers if not (p := place(n)).ambiguous), None)
        if first is None:
            continue
        if first.kind == "country" or (
                first.population >= SMALL_ABROAD and first.kind == "city"):
            chosen[occurrence] = first
            supported.add(first.country)
        elif first.kind == "region":
            if first.country in supported or keys[occurrence].endswith(_DIVISION_WORDS):
                chosen[occurrence] = first
                supported.add(first.country)
        elif first.population >= VILLAGE:
            towns[occurrence] = first
        else:
            villages[occurrence] = first
    return chosen, towns, villages


def _towns(towns: dict[Occurrence, WorldPlace], supported: set[str]
           ) -> dict[Occurrence, WorldPlace]:
    """The towns that count (module docstring); their countries become supported."""
    by_country: dict[str, set[int]] = {}
    for town in towns.values():
        by_country.setdefault(town.country, set()).add(town.number)
    nowhere = not supported
    counted = {occurrence: town for occurrence, town in towns.items()
               if nowhere or town.country in supported or len(by_country[town.country]) > 1}
    supported.update(town.country for town in counted.values())
    return counted


def _likeliest(place: Callable[[int], WorldPlace], numbers: tuple[int, ...],
               supported: set[str], points: list[Coordinates], cued: bool,
               weights: Counter[str]) -> WorldPlace | None:
    """The place an ambiguous spelling names (module docstring), or None."""
    biggest = place(numbers[0]).population
    fitting = []
    for number in numbers:
        candidate = place(number)
        if candidate.country not in supported:
            continue
        if candidate.population * LIKELIER < biggest:
            break  # an unsupported namesake this much bigger is what the name means
        if candidate.kind == "city" and candidate.population < VILLAGE and not (
                cued or _near(candidate, points)):
            continue
        fitting.append(candidate)
    if not fitting:
        return None
    if len(fitting) > 1 and points:
        # The one of the country most of the article's places are in, then the nearest
        # to one of them.
        return min(fitting, key=lambda p: (
            -weights[p.country], min(_km(p.lat, p.lon, *point) for point in points)))
    return fitting[0]


def _near(candidate: WorldPlace, points: list[Coordinates]) -> bool:
    return any(_km(candidate.lat, candidate.lon, *point) <= NEAR_KM for point in points)


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371.0 * math.asin(math.sqrt(a))
