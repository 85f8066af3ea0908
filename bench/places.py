"""How well watcher finds the places an article names, on corpora nobody on the team shaped.

    .venv/bin/python bench/places.py [--baseline /tmp/base] [--limit N] [--show FILE]

Places are worked out as for an alert (every article is matched with all its places, as a
rule that fires on every article would see them), with the shipped rules/lists on top.
- GeoVirus (../shared/data/corpus/GeoVirus.xml, Wikinews reports from every continent, each
  place annotated with coordinates): recall, the share of annotated places (distinct names per
  article) with a listed place within 40 km and within 161 km; places listed per article;
  precision, the share of listed places within 161 km of an annotated place.
- FA-KES (../shared/data/corpus/FA-KES-Dataset.csv, 804 Syrian-war articles, each labelled
  with a city): the share whose labelled city is among the places by name (the label as
  the gazetteer spells it: "Deir Ezzor" is listed as Deir ez-Zor), the share whose
  most frequent country is Syria, places per article.
- The held-out set (bench/fixtures/heldout-places.jsonl: short reports from Africa, Asia and
  Latin America written for this bench, places annotated by hand): as GeoVirus.
- The non-conflict feeds of ../shared/data/feeds/news (feeds/SOURCES.md: no conflict item),
  each article in the language the service settles for it: articles with any place, places
  per article, and the articles that list a place that is not there (a person, a brand, a
  common word): every place listed that the hand-checked
  allow-list (bench/fixtures/non-conflict-places.jsonl: per feed and article key, the places
  it does name) lacks counts as false, and is printed with its article's title so that the
  figure can be checked (a true place newly found is added to the list once read).
  `--show FILE` writes every article's places there.
`--baseline` computes the same figures with another checkout (a git worktree), in this
process, as bench/compare.py does.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.compare import _module, copy_package  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
GEOVIRUS = SHARED / "corpus" / "GeoVirus.xml"
FAKES = SHARED / "corpus" / "FA-KES-Dataset.csv"
NEWS = SHARED / "feeds" / "news"
HELDOUT = ROOT / "bench" / "fixtures" / "heldout-places.jsonl"
ALLOWED = ROOT / "bench" / "fixtures" / "non-conflict-places.jsonl"
NON_CONFLICT = ["aljazeera-america_2016-02.xml", "jornal-de-noticias-pt_2018-01_iso-8859-1.rss",
                "bbc-urdu.xml", "bbc-chinese-simp_2013-01.atom", "livemint-news_2019-05.xml",
                "lanacion-ar_2022-04.xml", "aktuality-sk_2021-01.rss", "dw-chinese_2015-03.rdf",
                "ilmessaggero-it.xml", "nbc-newyork.xml"]
NEAR_KM, FAR_KM = 40.0, 161.0

Found = list[tuple[str, str, float, float]]  # name, country, lat, lon


def km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, a)))


def places_finder(package: str) -> tuple[Callable[[Any], Found], Callable[[str], str]]:
    """A function from an article (`package`.models.Article) to the places listed, and one
    from a place's spelling to the name the gazetteer lists it by."""
    load = _module(package, "rules.load", "rules").load_rules
    matcher_module = _module(package, "matching.matcher", "match")
    ruleset = load([ROOT / "rules" / "lists"])
    matcher = matcher_module.compile_rules(ruleset)

    def find(article: Any) -> Found:
        found = matcher_module.match_article(matcher, article, all_entities=True)
        return [(p.name, p.country, p.lat, p.lon) for p in found.places]

    def canonical(spelling: str) -> str:
        name = ruleset.gazetteer.find("place", spelling) or spelling
        return str(ruleset.gazetteer.place(name).name) if name != spelling else spelling

    return find, canonical


def geovirus() -> list[tuple[str, list[tuple[str, float, float]]]]:
    articles = []
    for node in ET.parse(GEOVIRUS).getroot().iter("article"):
        annotated: dict[str, tuple[str, float, float]] = {}
        for loc in node.iter("location"):
            name = (loc.findtext("name") or "").strip()
            annotated.setdefault(name, (name, float(loc.findtext("lat") or 0),
                                        float(loc.findtext("lon") or 0)))
        articles.append((node.findtext("text") or "", list(annotated.values())))
    return articles


def heldout() -> list[tuple[str, list[tuple[str, float, float]]]]:
    rows = [json.loads(line) for line in HELDOUT.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return [(r["text"], [(p["name"], p["lat"], p["lon"]) for p in r["places"]]) for r in rows]


def score_annotated(find: Callable[[Any], Found], article_type: Any,
                    corpus: list[tuple[str, list[tuple[str, float, float]]]]
                    ) -> dict[str, float]:
    annotated = near = far = listed = listed_near = 0
    for i, (text, gold) in enumerate(corpus):
        title, _, rest = text.partition(". ")
        found = find(article_type(key=str(i), title=title, content=rest))
        listed += len(found)
        for _, lat, lon in gold:
            annotated += 1
            distances = [km(lat, lon, f[2], f[3]) for f in found]
            near += any(d <= NEAR_KM for d in distances)
            far += any(d <= FAR_KM for d in distances)
        listed_near += sum(any(km(f[2], f[3], lat, lon) <= FAR_KM for _, lat, lon in gold)
                           for f in found)
    return {"recall@40km": near / annotated, "recall@161km": far / annotated,
            "places/article": listed / len(corpus),
            "listed near annotated": listed_near / max(1, listed)}


def score_fakes(find: Callable[[Any], Found], canonical: Callable[[str], str],
                article_type: Any) -> dict[str, float]:
    with FAKES.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    by_name = syria_top = listed = 0
    for i, row in enumerate(rows):
        found = find(article_type(key=str(i), title=row["article_title"],
                                  content=row["article_content"]))
        listed += len(found)
        label = canonical(row["location"].strip()).lower()
        by_name += any(label in name.lower() or name.lower() in label for name, *_ in found)
        countries = Counter(country for _, country, _, _ in found)
        syria_top += bool(countries) and countries.most_common(1)[0][0] == "SY"
    return {"labelled city found": by_name / len(rows), "Syria top": syria_top / len(rows),
            "places/article": listed / len(rows)}


def non_conflict_articles(package: str) -> list[tuple[str, Any]]:
    """(feed file name, article) of every article of the non-conflict feeds, with its
    language settled as the service settles it (feeds/complete.py: declared, or detected
    where the feed declares none), in a checkout that does so."""
    parse = _module(package, "feeds.parse", "parse").parse_feed
    try:
        settle = _module(package, "feeds.complete").with_languages
    except ModuleNotFoundError:  # a checkout from before language detection
        settle = list
    articles = []
    for name in NON_CONFLICT:
        path = NEWS / name
        if path.exists():
            outcome = parse(path.read_bytes(), feed_id=name, source=name, url=f"file:{name}")
            articles += [(name, article) for article in settle(outcome.articles)]
    return articles


def allowed_places() -> dict[tuple[str, str], set[str]]:
    """The hand-checked places each non-conflict article does name, by (feed, key)."""
    rows = [json.loads(line) for line in ALLOWED.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return {(row["feed"], row["key"]): set(row["places"]) for row in rows}


def score_non_conflict(find: Callable[[Any], Found], articles: Iterable[tuple[str, Any]],
                       show: Path | None, run: str) -> dict[str, float]:
    """Figures on the non-conflict feeds; the false places are printed (module docstring)."""
    allowed = allowed_places()
    lines, false_lines = [], []
    with_place = with_false = listed = count = 0
    for feed, article in articles:
        count += 1
        found = find(article)
        listed += len(found)
        with_place += bool(found)
        false = [n for n, *_ in found if n not in allowed.get((feed, article.key), set())]
        with_false += bool(false)
        if false:
            false_lines.append(f"    {feed} {article.key} {article.title[:70]!r}: "
                               + ", ".join(false))
        if found:
            lines.append(f"{feed}\t{article.key}\t{article.title[:90]!r}: " + ", ".join(
                f"{n} ({c})" for n, c, *_ in found))
    if show is not None:
        show.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"== {run}: non-conflict articles listing a place not there ({with_false}):")
    print("\n".join(false_lines) or "    none")
    return {"articles": float(count), "with a place": with_place / max(1, count),
            "places/article": listed / max(1, count),
            "with a place not there": with_false / max(1, count)}


def report(package: str, show: Path | None, limit: int | None, run: str
           ) -> dict[str, dict[str, float]]:
    find, canonical = places_finder(package)
    article_type = _module(package, "models").Article
    results = {}
    if GEOVIRUS.exists():
        results["GeoVirus"] = score_annotated(find, article_type, geovirus()[:limit])
    if FAKES.exists():
        results["FA-KES"] = score_fakes(find, canonical, article_type)
    results["held-out (own)"] = score_annotated(find, article_type, heldout())
    if NEWS.exists():
        results["non-conflict feeds"] = score_non_conflict(
            find, non_conflict_articles(package), show, run)
    return results


def _figure(name: str, value: float) -> str:
    if name == "articles":
        return f"{name} {value:.0f}"
    return f"{name} {value:.2f}" if name.endswith("/article") else f"{name} {value:.1%}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to score alike")
    parser.add_argument("--limit", type=int, help="GeoVirus articles to score (default all)")
    parser.add_argument("--show", type=Path, help="write non-conflict articles' places here")
    args = parser.parse_args()
    runs = {"this checkout": report("watcher", args.show, args.limit, "this checkout")}
    if args.baseline is not None:
        with tempfile.TemporaryDirectory() as tmp:
            copy_package(args.baseline / "watcher", Path(tmp) / "watcher_baseline")
            sys.path.insert(0, tmp)
            runs["baseline"] = report("watcher_baseline", None, args.limit, "baseline")
    for run, results in runs.items():
        print(f"== {run}")
        for corpus, figures in results.items():
            print(f"  {corpus:20} " + "  ".join(_figure(k, v) for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
