"""A desk's own places: extra gazetteers named in the config (`gazetteers`) or on the command
line beside rule files.

Two formats, told apart by the file's suffix:
- `.txt`: a GeoNames extract (`XX.txt` from the GeoNames dump, or any file in its format:
  19 tab-separated columns, geonameid, name, asciiname, alternatenames (comma-separated),
  latitude, longitude, feature class, feature code, country code, ...). Populated places (P),
  divisions and areas (A, L) and spots (S: camps, bases, checkpoints, crossings) are kept.
- `.csv`: a header line `name,alternate names,lat,lon,country,kind`, then one place a line;
  alternate names are separated by `|`; kind is one of city, town, region, country, site,
  area (empty: town).

Each place becomes a curated gazetteer entry (rules/terms.py), after the rule files' own
places: rules name it by any of its names, and alerts list it. A place whose name is a
common word, or three letters or fewer, is ambiguous (it counts with its country in the
article). A name the rule files' places already use stays theirs. Every bad line is a
problem naming FILE:LINE:COL; the other lines still load.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from watcher.errors import Problem
from watcher.rules.terms import Gazetteer, PlaceEntry

SUFFIXES = (".txt", ".csv")
CSV_HEADER = ["name", "alternate names", "lat", "lon", "country", "kind"]
GEONAMES_COLUMNS = 19
KEPT_CLASSES = frozenset("PALS")
_KIND_OF_CLASS: dict[str, Literal["town", "region", "area", "site"]] = {
    "P": "town", "A": "region", "L": "area", "S": "site"}
COMMON_ZIPF = 3.5  # a name this frequent in English is also a word: ambiguous
SHORT = 3


def is_desk_gazetteer(path: str | Path) -> bool:
    return Path(path).suffix.lower() in SUFFIXES


def add_desk_places(gazetteer: Gazetteer, name: str, text: str) -> list[Problem]:
    """Add the places of one desk gazetteer (`name` is its path) to `gazetteer`."""
    problems: list[Problem] = []
    rows = _geonames_rows if name.lower().endswith(".txt") else _csv_rows
    for row in rows(name, text, problems):
        entry = _entry(name, row, problems)
        if entry is not None:
            gazetteer.add("place", entry)  # a name taken by a rule file's place stays its
    return problems


@dataclass(frozen=True)
class Row:
    """One place as written: each field's text and its 1-based column in the line."""

    line: int
    fields: dict[str, tuple[str, int]]
    aliases: list[str]


def _geonames_rows(path: str, text: str, problems: list[Problem]) -> list[Row]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        columns = line.split("\t")
        if len(columns) != GEONAMES_COLUMNS:
            problems.append(Problem(path, number, 1, f"a GeoNames line has {GEONAMES_COLUMNS} "
                                                     f"tab-separated columns, not "
                                                     f"{len(columns)}"))
            continue
        if columns[6] not in KEPT_CLASSES:
            continue
        starts = _column_starts(line)
        fields = {key: (columns[i], starts[i]) for key, i in
                  (("name", 1), ("lat", 4), ("lon", 5), ("country", 8))}
        fields["kind"] = (_KIND_OF_CLASS[columns[6]], starts[6])
        rows.append(Row(number, fields, columns[3].split(",")))
    return rows


def _csv_rows(path: str, text: str, problems: list[Problem]) -> list[Row]:
    lines = text.splitlines()
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header] != CSV_HEADER:
        problems.append(Problem(path, 1, 1, "the first line must be the header "
                                            + ",".join(CSV_HEADER)))
        return []
    rows = []
    for values in reader:
        number = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(CSV_HEADER):
            problems.append(Problem(path, number, 1, f"{len(CSV_HEADER)} columns expected "
                                                     f"({','.join(CSV_HEADER)}), not "
                                                     f"{len(values)}"))
            continue
        starts = _csv_starts(lines[number - 1] if number <= len(lines) else "", values)
        fields = {key: (values[i], starts[i]) for key, i in
                  (("name", 0), ("lat", 2), ("lon", 3), ("country", 4))}
        fields["kind"] = (values[5].strip() or "town", starts[5])
        rows.append(Row(number, fields, values[1].split("|")))
    return rows


def _entry(path: str, row: Row, problems: list[Problem]) -> PlaceEntry | None:
    values: dict[str, object] = {key: text for key, (text, _) in row.fields.items()}
    values["aliases"] = [a.strip() for a in row.aliases if a.strip()]
    try:
        entry = PlaceEntry.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors():
            where = str(error["loc"][0]) if error["loc"] else "name"
            column = row.fields.get(where, ("", 1))[1]
            problems.append(Problem(path, row.line, column, f"{where}: {error['msg']}"))
        return None
    if _ambiguous(entry.name):
        entry = entry.model_copy(update={"ambiguous": True})
    return entry


def _ambiguous(name: str) -> bool:
    from wordfreq import zipf_frequency

    letters = sum(ch.isalpha() for ch in name)
    return letters <= SHORT or zipf_frequency(name, "en") >= COMMON_ZIPF


def _column_starts(line: str) -> list[int]:
    """1-based column of each tab-separated field of `line`."""
    starts, position = [], 1
    for column in line.split("\t"):
        starts.append(position)
        position += len(column) + 1
    return starts


def _csv_starts(line: str, values: list[str]) -> list[int]:
    """1-based column of each CSV field of `line` (found by searching each value in turn;
    good enough for a pointer into the line)."""
    starts, position = [], 0
    for value in values:
        found = line.find(value, position) if value else -1
        if found < 0:
            found = position
        starts.append(found + 1)
        position = found + len(value)
    return starts
