"""The world layer of the gazetteer: GeoNames places beneath the curated place lists.

The curated lists (`rules/lists/places-*.yaml`) hold the places a desk watches, with the
spellings the desk sees. Beneath them, every country, first-level division and populated
place of 500 people or more (GeoNames, CC BY 4.0, via `tools/build_geonames.py`, which also
decides which names are ambiguous) is known too, so an alert lists Goma, Kinshasa or Moscow
with kind, country and coordinates.

The layer lives in two memory-mapped files (worldfiles.py), shared by every process and every
rule set (a hot reload does not rebuild it). Each token position of a field is looked up in
its trie, apart from the rules' automaton, so compiling rules costs no more than before. What
the curated lists say wins (rules/terms.py merges a GeoNames place into the curated entry it
duplicates, and a spelling of a curated place or group never names a GeoNames place). A name
inside a longer name is no place (al-Manar, Vladimir Putin: `scan`), and one spelling names
one place; which one, if any, context.py decides from what the article says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from itertools import accumulate, compress
from itertools import count as counter
from operator import add, itemgetter, not_
from typing import Protocol

from watcher.gazetteer.context import Occurrence, WorldHit, resolve
from watcher.gazetteer.worldfiles import (
    DIVISION_WORDS,
    GIVEN,
    OWN_NAME,
    SUPPORT,
    WorldFiles,
    WorldPlace,
    language_bits,
)
from watcher.text.normalize import Tokens, case_form, term_variants

Variant = tuple[str, ...]


class PlaceNumbers(Protocol):
    """Place numbers asked about a few at a time (a set, or one worked out on demand)."""

    def __bool__(self) -> bool: ...

    def isdisjoint(self, numbers: Iterable[int], /) -> bool: ...

__all__ = ["Occurrence", "PlaceNumbers", "Variant", "WorldLayer", "WorldPlace", "world_layer"]


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
# Those that open no place name (North Kivu, South Sudan and Central African Republic do).
_NO_START = FUNCTION_WORDS - frozenset(["north", "south", "east", "west", "northern",
                                        "southern", "eastern", "western", "central"])
# A field this short with this share of its longer words capitalised is a headline in title
# case; a longer one is prose (and counting its words would cost more than the rest).
HEADLINE_CHARS, TITLE_SHARE = 300, 0.6
_LONG_WORD = re.compile(r"\b[^\W\d_]\w{3,}")
_CAPITALISED_WORD = re.compile(r"\b[A-Z\u00c0-\u00de\u0400-\u042f]\w{3,}")


# What a match key stands for: its token count, the places (number, for an ambiguous place
# the case forms the text must have, whether it is a big city named by its own name, and
# the languages in which the key is a common word, worldfiles.COMMON_MASK), the countries it
# names or supports, and those of them named by a spelling that is a common word (with
# its languages).
_Target = tuple[int, tuple[str, ...] | None, bool, int]
_Entry = tuple[int, tuple[_Target, ...], tuple[str, ...], tuple[tuple[str, int], ...]]
MEMO = 16_384  # keys and places remembered per process
# The longest run of tokens looked up: 99.4% of the match keys have four tokens or fewer,
# and each token more costs a lookup per capitalised word.
MAX_TOKENS = 4
_START = itemgetter(0)
_KEY = re.compile(r"^(?P<name>.+?)(?: \((?P<country>[A-Z]{2})(?:, region)?\))?$")
# Words after which a capitalised name is a place rather than a person or a brand.
_CUES = """
in near outside around at from into across towards toward between
town village city camp district province governorate region state county municipality
commune locality area outskirts suburb neighbourhood neighborhood capital
"""
CUES = frozenset(_CUES.split())
# Words that, with "of", announce a first-level division ("the state of Washington").
DIVISION_CUES = frozenset(["state", "province", "governorate", "region"])
# Words after which a name that is also a common word of the article's language is a place
# (normalised: "à" is "a", so it is not among them; nor "de", "da": "festas de Natal"):
# prepositions of place in the languages the build checks, and Urdu's and Persian's
# postpositions written after the name.
_WEAK_CUES = """
en em no na nos nas num numa desde hacia cerca dans pres vers nel nella nelle negli
w we v vo ve vo za pri u iz v во в из под около під біля у
في فى ف بمدينه بلده مدينه در
"""
WEAK_CUES = CUES | frozenset(_WEAK_CUES.split())
POSTPOSITIONS = frozenset(["میں", "ميں", "مىں", "سے"])
_SENTENCE_ENDS = (".", "!", "?", ":", "\n", "\"", "\u201c", "\u00ab", "\u2014", "|", "\u06d4",
                  "\u061f")
# Words before a name that make it a sea's, a gulf's or a bay's (normalised).
SEAS = frozenset(zip(["sea", "gulf", "bay", "mar", "mar", "golfo", "golfo", "mer", "golfe",
                      "mare", "golfo", "baia", "bahia"],
                     ["of", "of", "of", "de", "del", "de", "del", "de", "de", "di", "di",
                      "de", "de"], strict=True))
# Words after a name that make it the name of a disease or its agent ("Lassa fever", "Marburg
# virus", "Reston ebolavirus"), or of a street or a neighbourhood named after it ("Baghdad
# Street", "the city's Alexandria neighbourhood"): no mention of the place, and no sign of
# its country. Likewise a name right after "Ebola" ("Ebola Reston"), a species of the virus.
# A country's name is left alone: "the United States flu season", "Sudan virus" are rare.
# Not "flu": "the Texas flu season" is in Texas.
NAMED_AFTER = frozenset(["virus", "viruses", "ebolavirus", "fever", "disease", "encephalitis",
                         "street", "avenue", "boulevard", "square", "neighborhood",
                         "neighbourhood"])
PATHOGENS = frozenset(["ebola", "ebolavirus"])
# Words after a name that make it an outlet's or a wire's name ("Ahram Online", "China
# Daily", "Agence France-Presse"), even in a headline in title case, where a capitalised
# neighbour otherwise says nothing; a city of a million or more still counts inside one
# ("Tehran Times"), as in any longer name.
OUTLET_WORDS = frozenset(["online", "times", "news", "post", "herald", "tribune",
                          "independent", "journal", "gazette", "daily", "express", "observer",
                          "telegraph", "chronicle", "monitor", "courier", "insider", "today",
                          "presse"])
SPEECH = frozenset(["said", "says", "told", "added", "explained", "noted", "wrote", "argued",
                    "stated", "asked", "replied", "recalled", "insisted", "warned"])


class WorldLayer:
    """The world gazetteer, read through its mapped files (gazetteer/worldfiles.py): the
    process keeps only a bounded memo of the keys and places it has met."""

    def __init__(self, files: WorldFiles) -> None:
        self.files = files
        self._entry = lru_cache(maxsize=MEMO)(self._read_entry)
        self.given_name = lru_cache(maxsize=MEMO)(self.given_name)  # type: ignore[method-assign]
        self.place = lru_cache(maxsize=MEMO)(files.place)

    def _read_entry(self, key: str) -> _Entry | None:
        targets: list[_Target] = []
        countries: list[str] = []
        common_countries: list[tuple[str, int]] = []
        for number, flags, cases, mask in self.files.targets(key):
            if flags & GIVEN:
                continue
            place = self.files.place(number)
            if flags & SUPPORT:
                countries.append(place.country)
                continue
            if place.kind == "country" and not place.ambiguous:
                countries.append(place.country)
                if mask:
                    common_countries.append((place.country, mask))
            big = bool(flags & OWN_NAME) and place.population >= BIG_CITY
            targets.append((number, cases, big, mask))
        if not targets and not countries:
            return None
        return (key.count(" ") + 1, tuple(targets), tuple(dict.fromkeys(countries)),
                tuple(common_countries))

    def given_name(self, norm: str) -> bool:
        """Whether a normalised token is a common given name (tools/build_geonames.py)."""
        return norm in self.files.trie and any(  # type: ignore[operator]
            flags & GIVEN for _, flags, _, _ in self.files.targets(norm))

    def value_of(self, variant: Variant) -> str | None:
        """The match key of a spelling, if the layer knows it."""
        key = " ".join(variant)
        return key if key in self.files.trie else None

    def numbers_named(self, variant: Variant) -> list[int]:
        """Numbers of the places a spelling names (not those it only supports), most
        populous first."""
        entry = self._entry(" ".join(variant)) if variant else None
        return [target[0] for target in entry[1]] if entry else []

    def by_key(self, key: str) -> WorldPlace | None:
        """The place of a key ("Tripoli (LY)", "Nord Kivu (CD, region)", "Chad")."""
        match = _KEY.match(key.strip())
        if match is None:
            return None
        names = [match["name"]]
        if key.endswith(", region)"):
            names += [f"{match['name']} {word}" for word in DIVISION_WORDS]
        for variant in (v for name in names for v in term_variants(name)):
            entry = self._entry(" ".join(variant))
            for number, *_ in entry[1] if entry else ():
                place = self.place(number)
                if place.key == key.strip():
                    return place
        return None

    def spellings(self, place: WorldPlace) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The match keys of a place (rules naming it match each), and their case forms if
        its names are case-checked."""
        return self.files.keys_of(place.number)

    def scan(self, tokens: Tokens, field_index: int,
             claimed: frozenset[str] | set[str] = frozenset(),
             language: str | None = None) -> list[WorldHit]:
        """Every place spelling and country name in one field's tokens, but those spellings
        the curated lists use (`claimed`, match keys: they name the curated entry).
        A place is dropped here when it cannot count, cheapest test first: written in lower
        case (names are capitalised: "barrage", "roundabout" are words, whatever GeoNames
        lists), right after an Arabic particle (`PARTICLES`), an ambiguous place not in its
        case as written. A spelling that is a common word in the article's `language` (in
        any language the build checks when it is not known: "Como", "Este", "Natal", Mali
        in Urdu) counts only with support: after a word announcing a place (`WEAK_CUES`),
        it counts as any other; opening a sentence, not at all; elsewhere its places are
        `weak` (context.py: they need their country supported by the rest of the article)."""
        spans, norms, text = tokens.spans, tokens.norms, tokens.text
        hits: list[WorldHit] = []
        titled: bool | None = None
        bits = language_bits(language)
        for first, key in _key_hits(self.files.trie, tokens):
            if key in claimed:
                continue
            entry = self._entry(key)
            if entry is None:
                continue
            ntok, targets, countries, _ = entry
            begin, stop = spans[first][0], spans[first + ntok - 1][1]
            if not targets or _names_something_else(tokens, first, ntok, countries):
                # A demonym: kept for support and as a neighbour. A virus's or a street's
                # name: no place, but it covers the names inside it ("New York Avenue").
                hits.append(WorldHit((field_index, begin, stop), key, (), (), countries,
                                     None, None, _cue_before(tokens, first)))
                continue
            surface = text[begin:stop]
            person = self._surname(tokens, first, field_index, surface)
            if surface.islower() or _compound(text, stop) or _at_sea(norms, first) or (
                    first and norms[first - 1] in _ANY_PARTICLE
                    and _after_particle(tokens, first)) or person:
                cities: tuple[int, ...] = ()
                big: tuple[int, ...] = ()
            else:
                cities, big = self._divisions_if_said(
                    key, norms, first, *_in_case(targets, tokens, first, ntok))
                if cities and _speaks(tokens, first + ntok):
                    cities = big
                big = _named_by_a_name(targets, big)
            cities, big, countries, weak = _weaken(entry, bits, cities, big, countries,
                                                   tokens, first, surface)
            if not (cities or countries or person):
                continue
            # A surname keeps its given name, so that the article's bare repeats of it are
            # the person too (_candidates).
            before = _name_before(tokens, first, field_index) if person else None
            after = None
            if cities and len(big) < len(cities) and not surface.isupper():
                before = _name_before(tokens, first, field_index)
                after = _name_after(tokens, first + ntok, field_index)
                if before and norms[first] in PARTICLES:
                    cities = big = ()  # "Aleppo al-Jadida", "Bustan al-Qasr": one name
                elif (before or after) and titled is None:
                    titled = len(text) <= HEADLINE_CHARS and _title_case(text)
                if titled:
                    before, after = None, _outlet(tokens, first + ntok, after)
            hits.append(WorldHit((field_index, begin, stop), key, cities, big, countries,
                                 before, after, _cue_before(tokens, first), weak,
                                 surface.isupper()))
        return self._in_lists_of_divisions(hits, text)

    def _in_lists_of_divisions(self, hits: list[WorldHit], text: str) -> list[WorldHit]:
        """The hits, a town's name written in a list beside a division of its country
        ("Virginia, Washington and West Virginia", "Colorado, Delaware, Idaho") made the
        division so named ("Washington State"): a list names things of one kind."""
        regional = [self.place(h.cities[0]).country
                    if h.cities and self.place(h.cities[0]).kind == "region" else None
                    for h in hits]
        if not any(regional):
            return hits
        for i, hit in enumerate(hits):
            if not hit.cities or regional[i]:
                continue
            country = self.place(hit.cities[0]).country
            if not any(regional[j] == country
                       and _listed_together(text, hit.occurrence, hits[j].occurrence)
                       for j in (i - 1, i + 1) if 0 <= j < len(hits)):
                continue
            regions = tuple(n for word in DIVISION_WORDS
                            for n in self.numbers_named((*hit.value.split(" "), word.lower()))
                            if (p := self.place(n)).kind == "region" and p.country == country)
            if regions:  # the country is named either way
                hits[i] = hit._replace(cities=regions[:1], big=(), weak=(),
                                       countries=(*hit.countries, country))
        return hits

    def _divisions_if_said(self, key: str, norms: list[str], first: int,
                           cities: tuple[int, ...], big: tuple[int, ...]
                           ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The divisions a hit's key names, alone or with a division word ("Washington
        State": the city holds "Washington"), if the text says it names one ("the state
        of Washington", "the province of Hunan"); else its places as they are."""
        if first < 2 or norms[first - 1] != "of" or norms[first - 2] not in DIVISION_CUES:
            return cities, big
        numbers = [*cities, *(n for word in DIVISION_WORDS
                              for n in self.numbers_named((*key.split(" "), word.lower())))]
        regions = tuple(dict.fromkeys(n for n in numbers if self.place(n).kind == "region"))
        return (regions, ()) if regions else (cities, big)

    def _surname(self, tokens: Tokens, first: int, field_index: int, surface: str) -> bool:
        """Whether the name at token `first` is a person's surname: the word written right
        before it is a capitalised common given name ("Diego Lima", "Fernando Valencia",
        even for a big city, even in a headline), with no word announcing a place before
        that ("in")."""
        return (not surface.isupper() and _name_before(tokens, first, field_index) is not None
                and self.given_name(tokens.norms[first - 1])
                and not _cue_before(tokens, first - 1))

    def mentions(self, hits: list[WorldHit], taken: Iterable[Occurrence],
                 countries: set[str], hidden: PlaceNumbers,
                 anchors: Iterable[tuple[float, float]] = ()
                 ) -> list[tuple[Occurrence, WorldPlace]]:
        """The places an article mentions, from its hits (`scan`, which leaves out the
        spellings the curated lists use), one per spelling found (context.py decides
        which; `anchors` are the coordinates of the curated places found)."""
        if not any(h.cities for h in hits):
            return []
        candidates, merged = _candidates(hits, set(taken), hidden)
        found = resolve(self.place, hits, candidates, countries, list(anchors))
        if not merged:
            return found
        # A curated place named by a spelling its list leaves out counts only where the
        # article supports its country: "Sana" in Syrian news is the agency, not Sanaa.
        supported = {*countries, *(c for hit in hits for c in hit.countries),
                     *(p.country for _, p in found)}
        named = [(o, p) for o, n in merged if (p := self.place(n)).country in supported]
        return sorted([*found, *named], key=_START)


def _candidates(kept: list[WorldHit], taken: set[Occurrence], hidden: PlaceNumbers
                ) -> tuple[list[tuple[Occurrence, tuple[int, ...]]], list[tuple[Occurrence, int]]]:
    """Each hit's cities that may count (WorldLayer.mentions, first three points), and the
    hits that name first a place merged into a curated entry (`hidden`), with that place:
    a spelling the curated list lacks ("Hassake") still names the curated place, unless
    written in capitals (the curated lists leave out such acronyms: "SANA" is a news
    agency, not Sanaa)."""
    covers = {*taken, *(h.occurrence for h in kept)}
    nested = _nested(sorted(covers, key=lambda o: (o[0], o[1], -o[2])))
    # A country's name beside a name keeps it a place ("Syria Aleppo"); a demonym does not
    # ("Germán Castelli" is a judge).
    known = [*taken, *(h.occurrence for h in kept if h.countries and h.cities)]
    starts = {(o[0], o[1]) for o in known}
    ends = {(o[0], o[2]) for o in known}
    # A spelling that ends a longer name once ("Eduardo Barreiro") is that name wherever
    # the article repeats it bare ("Barreiro said"), unless a cue says place ("in Barreiro").
    surnames = {hit.value for hit in kept
                if hit.before is not None and (hit.before[0], hit.before[2]) not in ends}
    candidates, merged = [], []
    for hit in kept:
        cities = hit.cities
        if not cities or hit.occurrence in nested or hit.occurrence in taken:
            continue
        if (hit.before is not None and (hit.before[0], hit.before[2]) not in ends) or (
                hit.after is not None and (hit.after[0], hit.after[1]) not in starts) or (
                hit.value in surnames and not hit.cue):
            cities = hit.big
        if cities and hidden and not hidden.isdisjoint(cities):
            if not (hit.capitals or cities[0] in hit.weak or hidden.isdisjoint(cities[:1])):
                merged.append((hit.occurrence, cities[0]))
        elif cities:
            candidates.append((hit.occurrence, cities))
    return candidates, merged


def _key_hits(trie: object, tokens: Tokens) -> list[tuple[int, str]]:
    """(first token, match key) of every key of the trie found on whole tokens: each run of
    up to MAX_TOKENS tokens is looked up (a membership test is a microsecond; the trie's
    `prefixes()` is fifty times that). A name starts with a capital (or an Arabic particle,
    or in a script without case): a token written in lower case starts no run, nor does a
    number or a capitalised function word ("The", "After"). The tokens that may start one
    are picked out by C loops (most tokens of prose are in lower case), and what the trie
    holds of a run (a key? the start of a longer one?) is remembered (`_opening`): news
    repeats its names, and a run that starts no longer key is not made longer."""
    norms, spans, text = tokens.norms, tokens.spans, tokens.text
    count = len(norms)
    if not count:
        return []
    lower = map(str.islower, map(text.__getitem__, map(_START, spans)))
    may_start = set(compress(range(count), map(not_, lower)))
    may_start.update(compress(range(count), map(_ANY_PARTICLE.__contains__, norms)))
    if not may_start:
        return []
    opening = _opening(trie)
    joined = " ".join(norms) + " "
    starts = list(map(add, accumulate(map(len, norms), initial=0), counter()))
    found = []
    firsts = sorted(may_start)
    states = list(map(opening.__getitem__, map(norms.__getitem__, firsts)))
    for i, (alone, longer) in compress(zip(firsts, states, strict=True), map(any, states)):
        if alone:
            found.append((i, norms[i]))
        begin = starts[i]
        for stop in range(i + 2, min(i + MAX_TOKENS, count) + 1):
            if not longer:
                break
            key = joined[begin:starts[stop] - 1]
            alone, longer = opening[key]
            if alone:
                found.append((i, key))
    return found


class _Runs(dict[str, tuple[bool, bool]]):
    """Tokens joined by spaces -> (they are a match key of the trie, some key of more tokens
    starts with them) (`_key_hits`); both False for a token that starts no name (a number,
    a function word). Bounded: at most MEMO runs, none longer than LONGEST_REMEMBERED
    characters (no place name is; a hostile text's long words are looked up, not kept)."""

    def __init__(self, trie: object) -> None:
        super().__init__()
        self.trie = trie
        self.keys_from = trie.iterkeys  # type: ignore[attr-defined]

    def __missing__(self, key: str) -> tuple[bool, bool]:
        if key in _NO_START or key.isdigit():
            found = (False, False)
        else:
            found = (key in self.trie,  # type: ignore[operator]
                     next(self.keys_from(key + " "), None) is not None)
        if len(key) <= LONGEST_REMEMBERED:
            if len(self) >= MEMO:
                self.clear()
            self[key] = found
        return found


LONGEST_REMEMBERED = 120


def _opening(trie: object) -> _Runs:
    """The memo of runs (`_Runs`) of `trie`, one per trie."""
    known = _OPENINGS.get(id(trie))
    if known is not None and known.trie is trie:
        return known
    if len(_OPENINGS) >= 4:
        _OPENINGS.clear()
    runs = _OPENINGS[id(trie)] = _Runs(trie)
    return runs


_OPENINGS: dict[int, _Runs] = {}


def _at_sea(norms: list[str], first: int) -> bool:
    """Whether the name at token `first` names a sea, gulf or bay ("Sea of Azov", "Mar de
    Azov", "Gulf of Aden"): not the town of that name. Its country still supports."""
    return first > 1 and (norms[first - 2], norms[first - 1]) in SEAS


_LIST_GAP = re.compile(r"\s*(?:,|,? and|,? or)\s*")


def _listed_together(text: str, one: Occurrence, other: Occurrence) -> bool:
    """Whether two spans of a field are next to each other in a list ("A, B", "A and B")."""
    first, second = sorted((one, other))
    return (first[0] == second[0] and first[2] < second[1]
            and _LIST_GAP.fullmatch(text, first[2], second[1]) is not None)


def _names_something_else(tokens: Tokens, first: int, ntok: int,
                          countries: tuple[str, ...]) -> bool:
    """Whether the name at tokens `first`..`first + ntok` names something else than the
    place: a disease, a virus, a street or a neighbourhood (`NAMED_AFTER`, `PATHOGENS`)
    if it names no country (`countries`), an outlet or a wire if it names one (a
    capitalised `OUTLET_WORDS` word after it: "China Daily", "Agence France-Presse"; a
    city's name is decided as any longer name is, WorldLayer.scan)."""
    norms, after = tokens.norms, first + ntok
    if after < len(norms) and countries:
        return norms[after] in OUTLET_WORDS and tokens.original(after)[:1].isupper()
    return not countries and ((after < len(norms) and norms[after] in NAMED_AFTER)
                              or (first > 0 and norms[first - 1] in PATHOGENS))


def _outlet(tokens: Tokens, after: int, name: Occurrence | None) -> Occurrence | None:
    """In a headline in title case, the capitalised word `name` after a place (at token
    `after`) if it makes the place an outlet's name (`OUTLET_WORDS`: "Ahram Online")."""
    return name if name is not None and tokens.norms[after] in OUTLET_WORDS else None


def _compound(text: str, stop: int) -> bool:
    """Whether the name ending at `stop` opens a hyphened modifier ("UK-based", "US-led",
    "Iran-backed"): it says who, not where; its country still supports."""
    return (text[stop:stop + 1] in _HYPHENS and text[stop + 1:stop + 2].islower())


def _speaks(tokens: Tokens, after: int) -> bool:
    """Whether the word after a name is a verb of saying ("Anderson said", "Mandela told"):
    the name is a person's, unless that of a city of a million or more or a country
    ("Moscow says", "Russia said": its government)."""
    return after < len(tokens.norms) and tokens.norms[after] in SPEECH


def _cue_before(tokens: Tokens, first: int) -> bool:
    """Whether the word before token `first` announces a place (`CUES`: "in", "near",
    "camp"), alone or with "of" ("the village of", "the province of")."""
    if first == 0:
        return False
    norms = tokens.norms
    before = norms[first - 1]
    return before in CUES or (before == "of" and first > 1 and norms[first - 2] in CUES)


def _weaken(entry: _Entry, bits: int, cities: tuple[int, ...], big: tuple[int, ...],
            countries: tuple[str, ...], tokens: Tokens, first: int, surface: str
            ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[str, ...], tuple[int, ...]]:
    """A hit's cities, big cities, countries and weak places once the common words of the
    article's language (`bits`) are told apart (WorldLayer.scan): with no cue, such a place
    opening a sentence is dropped, elsewhere it is weak; a country so named supports
    nothing."""
    ntok, targets, _, common_countries = entry
    if not bits or not any(t[3] & bits for t in targets) or _weak_cue(tokens, first, ntok):
        return cities, big, countries, ()
    common = {t[0] for t in targets if t[3] & bits}
    weak: tuple[int, ...] = ()
    if _opens_sentence(tokens, first) and not surface.isupper():
        cities = tuple(c for c in cities if c not in common)
        big = tuple(c for c in big if c not in common)
    else:
        weak = tuple(c for c in cities if c in common)
    countries = tuple(c for c in countries
                      if not any(c == cc and m & bits for cc, m in common_countries))
    return cities, big, countries, weak


def _weak_cue(tokens: Tokens, first: int, ntok: int) -> bool:
    """Whether a word announces the place written at tokens `first`..`first + ntok`: a cue
    before it (`WEAK_CUES`, "in", "en", "em", "في") or an Urdu or Persian postposition
    after it ("میں": in)."""
    norms = tokens.norms
    after = first + ntok
    return ((first > 0 and norms[first - 1] in WEAK_CUES) or _cue_before(tokens, first)
            or (after < len(norms) and norms[after] in POSTPOSITIONS))


def _opens_sentence(tokens: Tokens, first: int) -> bool:
    """Whether token `first` opens its field or a sentence (a capital says nothing there)."""
    if first == 0:
        return True
    gap = tokens.text[tokens.spans[first - 1][1]:tokens.spans[first][0]]
    return any(mark in gap for mark in _SENTENCE_ENDS)


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
    of them that are big places named by their own name."""
    surface: tuple[str, ...] | None = None
    cities, big = [], []
    for index, case, named_big, _ in targets:
        if case is not None:
            if surface is None:
                surface = tuple(case_form(tokens.original(first + k)) for k in range(ntok))
            if case != surface and not _division_word_case(case, surface):
                continue
        cities.append(index)
        if named_big:
            big.append(index)
    return tuple(cities), tuple(big)


def _division_word_case(case: tuple[str, ...], surface: tuple[str, ...]) -> bool:
    """Whether `surface` is the case-checked name `case` of a division with its division
    word in lower case: "Washington state", "Georgia state" are the states."""
    return (len(case) > 1 and case[:-1] == surface[:-1] and case[-1] in DIVISION_WORDS
            and surface[-1] == case[-1].lower())


def _named_by_a_name(targets: tuple[_Target, ...], big: tuple[int, ...]) -> tuple[int, ...]:
    """The big places that count inside a longer capitalised name: not those named by a
    common word of some language ("Centre", a French region of millions: "Tennis Centre",
    "Centre Court" are other names). A verb of saying after one still makes it the place
    ("Centre said", `_speaks`, is decided before this)."""
    worded = {t[0] for t in targets if t[3]}
    return tuple(n for n in big if n not in worded) if worded else big


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


@lru_cache(maxsize=1)
def world_layer() -> WorldLayer:
    """The packaged layer, mapped on first use and shared for the life of the process."""
    return WorldLayer(WorldFiles())


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
