"""The world gazetteer's two read-only files, mapped into memory rather than read into the heap.

`tools/build_geonames.py` writes them; this module is the one place that knows their layout.

- `world.trie`: a marisa-trie `BytesTrie` from each match key (normalised tokens joined by
  spaces) to the places it names. Each value is `TARGET` (place number, target flags)
  followed, for a key that is a common word in some languages, by `COMMON_MASK` (which
  languages), and for a case-checked target by the case forms the text must have (UTF-8,
  tokens joined by spaces).
- `world.places`: `HEADER` (magic, place count, offset of the text block), then one `RECORD`
  per place, most populous first (the place number is the record's position), then the text
  block: per place, its display name, its match keys ("|"-joined) and their case forms, tab
  separated, one line each.

Both are opened with `mmap` (marisa-trie maps its file itself): the kernel shares the pages
between every watcher process on the machine and reads only those a lookup touches, so a
process pays for the gazetteer in page cache, once, not in its own heap.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import marisa_trie

DATA = Path(__file__).resolve().parent / "data"
TRIE_FILE = DATA / "world.trie"
PLACES_FILE = DATA / "world.places"
DIGEST_FILE = DATA / "world.inputs"

MAGIC = b"WPL1"
HEADER = struct.Struct("<4sII")
# geonameid, lat, lon, population, country, kind, flags, division (place number or NONE),
# offset of the place's line in the text block
RECORD = struct.Struct("<IffI2sBBII")
TARGET = struct.Struct("<IB")
NONE = 0xFFFFFFFF
# A division is also spelled with one of these ("Idlib Province", "Borno State"), and by
# that spelling only where a city of its country has its bare name.
DIVISION_WORDS = ("Province", "Governorate", "State", "Region", "District")

Kind = Literal["country", "region", "city"]
KINDS: tuple[Kind, ...] = ("country", "region", "city")
AMBIGUOUS = 1  # place flag: its names count only with context
OWN_NAME = 1  # target flag: the key is the place's own name (not an alias)
CASED = 2  # target flag: the text must have the case forms that follow
SUPPORT = 4  # target flag: a demonym: supports the place's country, never lists it
# target flag, with place number NONE: the key is a common given name, not a place's: a
# place name right after it is that person's surname ("Diego Lima")
GIVEN = 16
# target flag: the key is a common word in some languages; `COMMON_MASK` follows `TARGET`
# (before the case forms), bit i for `WORD_LANGUAGES[i]`
COMMON = 8
COMMON_MASK = struct.Struct("<I")
# The languages whose common words a key is checked against (wordfreq's lists, at build
# time): those of the news desks read, in Latin, Arabic and Cyrillic script.
WORD_LANGUAGES = ("en", "fr", "es", "pt", "it", "de", "nl", "ca", "ro", "pl", "cs", "sk",
                  "sl", "tr", "id", "ms", "fil", "sv", "da", "nb", "ar", "fa", "ur",
                  "ru", "uk", "bg")


# `COMMON_MASK` bit: the key is a common word in a language other than the main one of the
# place's country (tools/build_geonames.py, common_mask()).
FOREIGN = 1 << 31


def language_bits(language: str | None) -> int:
    """The `COMMON_MASK` bits of an article's language; FOREIGN when it is not known."""
    if not language:
        return FOREIGN
    code = language.strip().lower().replace("_", "-").split("-")[0]
    return 1 << WORD_LANGUAGES.index(code) if code in WORD_LANGUAGES else 0


@dataclass(frozen=True, slots=True)
class WorldPlace:
    """A place of the world gazetteer. `key` ("Goma (CD)", "Kivu Nord (CD, region)") is
    unique; `name` is what alerts show."""

    number: int
    key: str
    name: str
    kind: Kind
    country: str
    lat: float
    lon: float
    population: int
    ambiguous: bool
    geonameid: int | None
    division: int | None  # the number of its first-level division, for a city


def place_key(name: str, country: str, kind: Kind) -> str:
    """The unique key of a place: the name and country, and the kind unless a city."""
    if kind == "city":
        return f"{name} ({country})"
    return f"{name} ({country}, {kind})" if kind == "region" else name


class WorldFiles:
    """The two mapped files: lookups by match key and by place number."""

    def __init__(self, trie_path: Path = TRIE_FILE, places_path: Path = PLACES_FILE) -> None:
        self.trie = marisa_trie.BytesTrie()
        self.trie.mmap(str(trie_path))
        with places_path.open("rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        magic, self.count, self._text = HEADER.unpack_from(self._map, 0)
        if magic != MAGIC:
            raise ValueError(f"{places_path}: not a world places file")

    def targets(self, key: str) -> list[tuple[int, int, tuple[str, ...] | None, int]]:
        """(place number, target flags, case forms or None, `COMMON_MASK` or 0) of each
        place `key` names, most populous first (a `GIVEN` target, of no place, last)."""
        found = []
        for value in self.trie.get(key, ()):
            number, flags = TARGET.unpack_from(value, 0)
            start, mask = TARGET.size, 0
            if flags & COMMON:
                mask = COMMON_MASK.unpack_from(value, start)[0]
                start += COMMON_MASK.size
            cases = tuple(value[start:].decode("utf-8").split(" ")) if (
                flags & CASED) else None
            found.append((number, flags, cases, mask))
        found.sort()
        return found

    def place(self, number: int) -> WorldPlace:
        (geonameid, lat, lon, population, country, kind, flags, division, offset
         ) = RECORD.unpack_from(self._map, HEADER.size + number * RECORD.size)
        name = self._line(offset).split("\t", 1)[0]
        code, kind_name = country.decode("ascii"), KINDS[kind]
        return WorldPlace(number, place_key(name, code, kind_name), name, kind_name, code,
                          round(lat, 4), round(lon, 4), population, bool(flags & AMBIGUOUS),
                          geonameid or None, None if division == NONE else division)

    def keys_of(self, number: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """A place's match keys, and their case forms if its names are case-checked."""
        offset = RECORD.unpack_from(self._map, HEADER.size + number * RECORD.size)[-1]
        _, keys, cases = self._line(offset).split("\t")
        return tuple(keys.split("|")), tuple(cases.split("|")) if cases else ()

    def _line(self, offset: int) -> str:
        start = self._text + offset
        return self._map[start:self._map.find(b"\n", start)].decode("utf-8")
