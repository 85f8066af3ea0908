"""Terms as rule authors write them, shared term lists, and the gazetteer of places and groups.

A term is a string, or a mapping when it needs options:

    convoy                       a word; matches its inflections (convoys) by stemming
    "@movement"                  every term of the shared list `movement`
    {term: convoy, exact: true}  this form only, no stemming
    {term: IS, case: true}       case-sensitive (for acronyms that are also common words)

A list file (by convention under `rules/lists/`) holds any of:

    lists:                       named term lists, for any leaf
      movement: [convoy, fled, withdrew]
      aid-workers: {description: People delivering aid, terms: [aid worker, medic]}
    places:                      the gazetteer: every alias of an entry finds the entry
      - {name: Deir ez-Zor, country: SY, lat: 35.336, lon: 40.141,
         aliases: [Deir Ezzor, Deir al-Zor, دير الزور]}
      - {name: Batman, country: TR, lat: 37.887, lon: 41.132, ambiguous: true,
         context: [Turkey, Turkish, Kurdish, PKK, Diyarbakir]}
    groups:
      - {name: ISIL, aliases: [ISIS, Daesh, {term: IS, case: true}]}

A place whose name is also a common word or another well-known thing (Batman, Bar, Nice,
Reading, Split, Mobile, Of) is marked `ambiguous: true`. Its spellings then match with their
case as written, and it counts as mentioned only with supporting context in the same article:
one of its `context` terms, or another (unambiguous) place of the same country. A rule that
names it explicitly (`places: [Batman]`) matches it without that support.

Beneath these curated entries lies the world layer (gazetteer/geonames.py): every country,
first-level division and GeoNames place of 500 people or more, and the places of the desk's
own gazetteers (config `gazetteers`). Curated entries win: a world place of the same country
within 30 km that shares a spelling with a curated entry is that entry and is never listed apart
(its other names are not added: a capital has hundreds, and each would cost every compile),
and a curated spelling never names a GeoNames city. A rule may name a
GeoNames city ("Goma", or "Tripoli (LY)" to pick one of several); `*` means the curated
places only, the ones a desk watches.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from watcher.errors import Problem
from watcher.gazetteer.context import Coordinates
from watcher.gazetteer.countries import COUNTRY_CODES
from watcher.gazetteer.geonames import (
    Occurrence,
    Variant,
    WorldLayer,
    WorldPlace,
)
from watcher.models import Group, GroupKind, Place
from watcher.text.normalize import Tokens, term_variants

LIST_PREFIX = "@"
# The kind an alert gives a curated place.
ALERT_KIND: dict[str, Literal["country", "region", "city"]] = {
    "country": "country", "region": "region", "area": "region", "city": "city", "town": "city",
    "site": "city"}
MERGE_KM = 30.0  # a GeoNames city this close to a curated entry of its name is that entry
ACRONYM_LETTERS = 4  # all capitals this short: case-sensitive (`is_acronym`)
NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TermOptions(_Model):
    """A term with options."""

    term: NonEmpty = Field(description="The term as written.")
    exact: bool = Field(False, description="Match this form only (words are stemmed by "
                                           "default; places, groups and phrases never are).")
    case: bool = Field(False, description="Case-sensitive, for acronyms such as IS.")


TermSpec = NonEmpty | TermOptions


class TermList(_Model):
    """A named list of terms, used in a leaf as `@name`."""

    description: str = Field("", description="What the list is for.")
    terms: list[TermSpec] = Field(min_length=1, description="Terms (no `@` references).")


class PlaceEntry(_Model):
    """A place of the gazetteer. Rules name it by its name or any alias."""

    name: NonEmpty = Field(description="Canonical name, reported in alerts.")
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code.")
    lat: float = Field(ge=-90, le=90, description="Latitude, decimal degrees.")
    lon: float = Field(ge=-180, le=180, description="Longitude, decimal degrees.")
    kind: Literal["city", "town", "region", "country", "site", "area"] = Field(
        "city", description="What sort of place it is.")
    aliases: list[TermSpec] = Field(default_factory=list,
                                    description="Other spellings and scripts.")
    ambiguous: bool = Field(False, description="The name is also a common word or another "
                                               "thing: match its case as written, and count "
                                               "it only with supporting context.")
    context: list[TermSpec] = Field(default_factory=list,
                                    description="Terms that confirm an ambiguous place "
                                                "(besides other places of its country).")


class GroupEntry(_Model):
    """An armed actor of the gazetteer: an armed group, a state's force or a mission."""

    name: NonEmpty = Field(description="Canonical name, reported in alerts. All capitals "
                                       "of up to four letters (an acronym) match in that "
                                       "case only.")
    kind: GroupKind | None = Field(None, description="non-state (armed groups, rebels, "
                                                     "militias, cartels), state (a "
                                                     "government's forces and auxiliaries) "
                                                     "or mission (peace, stabilisation or "
                                                     "intervention operation).")
    region: list[CountryCode] = Field(default_factory=list,
                                      description="ISO 3166-1 alpha-2 codes of the countries "
                                                  "where it operates; they tell apart actors "
                                                  "that share an acronym.")
    description: str = Field("", description="Who they are, in a line.")
    aliases: list[TermSpec] = Field(default_factory=list,
                                    description="Other names, acronyms and scripts "
                                                "(`{term: SNA, case: true}` for acronyms).")
    predecessors: list[NonEmpty] = Field(default_factory=list,
                                         description="Former names or organisations (to "
                                                     "match them too, list them as aliases).")
    successors: list[NonEmpty] = Field(default_factory=list,
                                       description="Later names or organisations.")
    source: str = Field("", description="The public reference its facts can be checked in.")

    @field_validator("region")
    @classmethod
    def _known_countries(cls, region: list[str]) -> list[str]:
        unknown = [code for code in region if code not in country_codes()]
        if unknown:
            raise ValueError(f"unknown ISO 3166-1 country code(s): {', '.join(unknown)}")
        if len(set(region)) != len(region):
            raise ValueError("a country code is repeated")
        return region


def country_codes() -> frozenset[str]:
    """The ISO 3166-1 alpha-2 codes GeoNames knows (with XK for Kosovo)."""
    return COUNTRY_CODES


def is_acronym(spelling: str) -> bool:
    """An all-capitals spelling of up to four letters (SNA, ADF, M23): an acronym, which in
    any other case is often a word ("bir", "Isf", "ada")."""
    return (spelling.isupper() and " " not in spelling
            and sum(c.isalpha() for c in spelling) <= ACRONYM_LETTERS)


@dataclass(frozen=True)
class Term:
    """A resolved term: what a leaf looks for. `entry` names the gazetteer entry, if any."""

    text: str
    exact: bool = False
    case: bool = False
    entry: str | None = None
    explicit: bool = False  # a rule named this entry itself (not through "*")


def term_from_spec(spec: str | TermOptions) -> Term:
    if isinstance(spec, TermOptions):
        return Term(spec.term, exact=spec.exact, case=spec.case)
    return Term(spec)


def is_list_ref(spec: str | TermOptions) -> bool:
    return isinstance(spec, str) and spec.startswith(LIST_PREFIX)


EntryKind = Literal["place", "group"]


@dataclass
class Gazetteer:
    """Every known place and group, and an index from any spelling to the entry."""

    places: dict[str, PlaceEntry] = field(default_factory=dict)
    groups: dict[str, GroupEntry] = field(default_factory=dict)
    world: WorldLayer | None = None
    _index: dict[tuple[EntryKind, tuple[str, ...]], str] = field(default_factory=dict)
    _claimed: set[Variant] = field(default_factory=set)  # spellings of curated entries
    # GeoNames place number -> the curated place it is merged into, or None (`_merged_into`).
    _merges: dict[int, str | None] = field(default_factory=dict)
    _spelled: dict[str, frozenset[int]] = field(default_factory=dict)  # see `_merged_into`
    _by_country: dict[str, list[PlaceEntry]] = field(default_factory=dict)  # curated places
    # The claimed spellings as the world layer asks for them (match keys).
    _world_filter: frozenset[str] | None = None
    _listed: dict[str, Place] = field(default_factory=dict)  # see `place`
    _listed_groups: dict[str, Group] = field(default_factory=dict)  # see `group`
    # Every group a spelling names (several: SNA, ADF, ISF; see `groups_named`).
    _group_spellings: dict[tuple[str, ...], list[str]] = field(default_factory=dict)
    _geonameids: dict[str, int | None] = field(default_factory=dict)  # see `_geonameid`

    def add(self, kind: EntryKind, entry: PlaceEntry | GroupEntry) -> str | None:
        """Add an entry; return a problem message if its name is taken (it is then skipped)."""
        table: dict[str, PlaceEntry] | dict[str, GroupEntry] = (
            self.places if kind == "place" else self.groups)
        if entry.name in table:
            return f"duplicate {kind} {entry.name!r} (the first one is kept)"
        table[entry.name] = entry  # type: ignore[assignment]
        for spec in [entry.name, *entry.aliases]:
            for variant in term_variants(term_from_spec(spec).text):
                self._index.setdefault((kind, variant), entry.name)
                if kind == "group":
                    named = self._group_spellings.setdefault(variant, [])
                    if entry.name not in named:
                        named.append(entry.name)
        return None

    def groups_named(self, text: str) -> list[str]:
        """Every group that `text` names, as a rule writes it: most spellings name one, an
        acronym may name several (SNA: the Syrian and the Somali National Army). A spelling
        that some of them hold case-sensitively, and `text` is not written so (JEM, JeM),
        names only the others."""
        named: list[str] = []
        for variant in term_variants(text):
            for name in self._group_spellings.get(variant, ()):
                if name not in named:
                    named.append(name)
        if len(named) < 2:
            return named
        written = text.strip()
        in_case = [name for name in named if any(
            term.text == written or not term.case for term in self.spellings("group", name)
            if set(term_variants(term.text)) & set(term_variants(written)))]
        return in_case or named

    def shared_group_spellings(self) -> list[list[str]]:
        """The groups of each spelling that names more than one."""
        return [names for names in self._group_spellings.values() if len(names) > 1]

    def add_world(self, world: WorldLayer) -> None:
        """Lay the GeoNames cities beneath the curated entries, once all are added. A GeoNames
        place that a curated entry of its country within MERGE_KM also spells is that entry
        (`_merged_into`): worked out when an article or a rule meets the place, so loading
        reads none of the world's mapped pages (they would count in every process's
        resident memory)."""
        self.world = world
        self._claimed = {variant for _, variant in self._index}
        self._merges.clear()
        self._spelled.clear()
        self._geonameids.clear()
        self._world_filter = None
        countries: dict[str, list[PlaceEntry]] = {}
        for entry in self.places.values():
            countries.setdefault(entry.country, []).append(entry)
        self._by_country = countries

    def _merged_into(self, city: WorldPlace) -> str | None:
        """The curated place that GeoNames place `city` is merged into: the first of its
        country within MERGE_KM with a spelling that names it, if any."""
        if city.number in self._merges:
            return self._merges[city.number]
        merged = next((entry.name for entry in self._by_country.get(city.country, ())
                       if _km(city.lat, city.lon, entry.lat, entry.lon) <= MERGE_KM
                       and city.number in self._spelled_by(entry)), None)
        self._merges[city.number] = merged
        return merged

    def _named_by(self, entry: PlaceEntry) -> Iterator[int]:
        """The world places a curated entry's spellings name, in order of its spellings."""
        world = self.world
        if world is None:
            return
        for spec in [entry.name, *entry.aliases]:
            for variant in term_variants(term_from_spec(spec).text):
                yield from world.numbers_named(variant)

    def _spelled_by(self, entry: PlaceEntry) -> frozenset[int]:
        """The world places a curated entry's spellings name."""
        numbers = self._spelled.get(entry.name)
        if numbers is None:
            numbers = self._spelled[entry.name] = frozenset(self._named_by(entry))
        return numbers

    def _geonameid(self, entry: PlaceEntry) -> int | None:
        """The GeoNames id of the city a curated place is merged with, if there is one: of
        the places its spellings name, the first merged into it."""
        if entry.name not in self._geonameids:
            world = self.world
            self._geonameids[entry.name] = None if world is None else next(
                (city.geonameid for city in map(world.place, self._named_by(entry))
                 if city.geonameid is not None and self._merged_into(city) == entry.name),
                None)
        return self._geonameids[entry.name]

    def find(self, kind: EntryKind, text: str) -> str | None:
        """Canonical name of the entry that `text` names, or None. Curated entries first,
        then GeoNames cities (by key, "Tripoli (LY)", or by spelling: the most populous)."""
        for variant in term_variants(text):
            name = self._index.get((kind, variant))
            if name is not None:
                return name
        if kind != "place" or self.world is None:
            return None
        if self.world.by_key(text) is not None:
            return text.strip()
        for variant in term_variants(text):
            for number in self.world.numbers_named(variant):
                city = self.world.place(number)
                if self._merged_into(city) is None:
                    return city.key
        return None

    def _world_place(self, name: str) -> WorldPlace | None:
        if name in self.places or self.world is None:
            return None
        return self.world.by_key(name)

    def spellings(self, kind: EntryKind, name: str) -> list[Term]:
        """Every spelling of an entry, as terms labelled with its canonical name."""
        city = self._world_place(name) if kind == "place" else None
        if city is not None and self.world is not None:
            keys, cases = self.world.spellings(city)
            return [Term(s, exact=True, case=city.ambiguous, entry=name)
                    for s in (cases if city.ambiguous else keys)]
        entry = self.places[name] if kind == "place" else self.groups[name]
        ambiguous = isinstance(entry, PlaceEntry) and entry.ambiguous
        group = isinstance(entry, GroupEntry)
        terms = [Term(entry.name, exact=True, case=ambiguous or (group and is_acronym(name)),
                      entry=name)]
        for spec in entry.aliases:
            t = term_from_spec(spec)
            case = t.case or ambiguous
            terms.append(Term(t.text, exact=True, case=case, entry=name))
        return terms

    def is_ambiguous(self, name: str) -> bool:
        entry = self.places.get(name)
        if entry is not None:
            return entry.ambiguous
        city = self._world_place(name)
        return city is not None and city.ambiguous

    def country(self, name: str) -> str | None:
        """The country of a place, curated or GeoNames."""
        entry = self.places.get(name)
        city = self._world_place(name) if entry is None else None
        return entry.country if entry is not None else city.country if city else None

    def place(self, name: str) -> Place:
        """The place an alert lists (one object per entry, made on first use)."""
        place = self._listed.get(name)
        if place is None:
            city = self._world_place(name)
            if city is not None:
                place = Place(name=city.name, country=city.country, lat=city.lat, lon=city.lon,
                              kind=city.kind, geonameid=city.geonameid)
            else:
                e = self.places[name]
                place = Place(name=e.name, country=e.country, lat=e.lat, lon=e.lon,
                              kind=ALERT_KIND[e.kind], geonameid=self._geonameid(e))
            self._listed[name] = place
        return place

    def world_mentions(self, tokenized: list[Tokens | None], taken: list[Occurrence],
                       found: set[str], language: str | None = None
                       ) -> list[tuple[Occurrence, str]]:
        """The world places an article mentions (geonames.WorldLayer.mentions), beside the
        places and groups the matcher found (`taken`) and the curated places among them
        (`found`, names), whose countries and coordinates are context. `language` is the
        article's (None if not known): a place name that is a common word of it needs
        support (geonames.WorldLayer.scan)."""
        if self.world is None:
            return []
        world = self.world
        if self._world_filter is None:
            self._world_filter = frozenset(value for variant in self._claimed
                                           if (value := world.value_of(variant)) is not None)
        hidden, claimed = MergedPlaces(self), self._world_filter
        hits = [hit for index, tokens in enumerate(tokenized) if tokens is not None
                for hit in world.scan(tokens, index, claimed, language)]
        if not hits:
            return []
        curated = [self.places[name] for name in found if name in self.places]
        countries = {entry.country for entry in curated}
        anchors: list[Coordinates] = [(e.lat, e.lon) for e in curated if e.kind != "country"]
        listed = []
        for occurrence, place in world.mentions(hits, taken, countries, hidden, anchors):
            # A place merged into a curated entry is that entry, unless the entry needs
            # the context its own spellings are checked for.
            merged = self._merged_into(place)
            if merged is None:
                listed.append((occurrence, place.key))
            elif not self.places[merged].ambiguous:
                listed.append((occurrence, merged))
        return listed

    def group(self, name: str) -> Group:
        """The group an alert lists (one object per entry, made on first use)."""
        group = self._listed_groups.get(name)
        if group is None:
            entry = self.groups[name]
            group = self._listed_groups[name] = Group(name=entry.name, kind=entry.kind,
                                                      region=tuple(entry.region))
        return group


class MergedPlaces:
    """The GeoNames places merged into curated entries, as `WorldLayer.mentions` asks for
    them (geonames.PlaceNumbers): a place at a time, remembered."""

    def __init__(self, gazetteer: Gazetteer) -> None:
        self._gazetteer = gazetteer

    def __bool__(self) -> bool:
        return bool(self._gazetteer.places)

    def isdisjoint(self, numbers: Iterable[int], /) -> bool:
        gazetteer, world = self._gazetteer, self._gazetteer.world
        return world is None or not any(
            gazetteer._merged_into(world.place(number)) is not None for number in numbers)


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371.0 * math.asin(math.sqrt(a))


@dataclass
class NamedList:
    name: str
    terms: tuple[Term, ...]
    path: str
    line: int
    col: int


def check_list(name: str, specs: list[str | TermOptions], where: Problem) -> list[Problem]:
    """Lists hold terms, not references to other lists (so there are no cycles to chase)."""
    return [Problem(where.path, where.line, where.col,
                    f"list {name!r}: {s!r}: a list cannot refer to another list")
            for s in specs if is_list_ref(s)]
