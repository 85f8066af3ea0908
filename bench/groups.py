"""How well the alerts' `groups` name the armed actors: labelled samples and everyday news.

    .venv/bin/python bench/groups.py [--sample FILE ...] [--show]

1. Each labelled sample (JSON lines {"text", "groups", "region"[, "language"]}; by default
   bench/fixtures/groups_sample.jsonl, the lines the catalogue was tuned on, and
   bench/fixtures/groups_heldout.jsonl, written after tuning; the catalogue was tuned on its
   misses in session 3, so bench/fixtures/groups_heldout2.jsonl, written before that, is the
   held-out set now) is matched
   with the shipped lists, as a rule that fires on every article would see it: precision and
   recall of the listed groups, and the errors by the line's region (`--show` prints each).
2. The non-conflict feeds of ../shared/data/feeds/news (those SOURCES.md counts no conflict
   item in): how many articles list a group at all (each is a false positive: these feeds
   carry no armed actors), and which groups, with the text that named them. The other news
   feeds are counted too, for a look at what the groups listing says on everyday news.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from watcher.feeds.parse import parse_feed  # noqa: E402
from watcher.matching.matcher import Matcher, compile_rules, match_article  # noqa: E402
from watcher.models import Article  # noqa: E402
from watcher.rules.load import load_rules  # noqa: E402

FIXTURES = ROOT / "bench" / "fixtures"
SAMPLES = [FIXTURES / "groups_sample.jsonl", FIXTURES / "groups_heldout.jsonl",
           FIXTURES / "groups_heldout2.jsonl"]
FEEDS = ROOT.parent / "shared" / "data" / "feeds"
_SOURCE_ROW = re.compile(r"^\| (news/[^ |]+) \|.*\| (\d+) \|$")


@dataclass
class Score:
    lines: int = 0
    true: int = 0
    false: int = 0
    missed: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # region -> errors
    shown: list[str] = field(default_factory=list)

    def line(self) -> str:
        precision = self.true / max(1, self.true + self.false)
        recall = self.true / max(1, self.true + self.missed)
        return (f"{self.lines} lines: precision {precision:.1%} ({self.true}/"
                f"{self.true + self.false}), recall {recall:.1%} ({self.true}/"
                f"{self.true + self.missed})")


def listed(matcher: Matcher, text: str, language: str | None = None) -> list[str]:
    article = Article(key="k", title="", content=text, language=language)
    return [g.name for g in match_article(matcher, article, all_entities=True).groups]


def score_sample(matcher: Matcher, path: Path) -> Score:
    score = Score()
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        row = json.loads(raw)
        gold, found = set(row["groups"]), set(listed(matcher, row["text"], row.get("language")))
        score.lines += 1
        score.true += len(gold & found)
        score.false += len(found - gold)
        score.missed += len(gold - found)
        if gold != found:
            score.errors[row.get("region", "?")] += len(found ^ gold)
            score.shown.append(f"  {path.name}:{number} [{row.get('region', '?')}] "
                               f"extra {sorted(found - gold)} missed {sorted(gold - found)}")
    return score


def non_conflict_feeds() -> set[str]:
    """The news files SOURCES.md counts no conflict item in."""
    rows = (_SOURCE_ROW.match(line) for line in
            (FEEDS / "SOURCES.md").read_text(encoding="utf-8").splitlines())
    return {m.group(1) for m in rows if m and m.group(2) == "0"}


def feed_articles(path: Path) -> list[Article]:
    outcome = parse_feed(path.read_bytes(), feed_id=path.stem, source=path.stem,
                         url=f"https://example.org/{path.name}")
    return list(outcome.articles)


def scan_feeds(matcher: Matcher, show: bool) -> None:
    quiet = non_conflict_feeds()
    totals = {True: [0, 0], False: [0, 0]}  # non-conflict? -> [articles, with a group]
    for path in sorted((FEEDS / "news").iterdir()):
        articles = feed_articles(path)
        named: Counter[str] = Counter()
        examples: list[str] = []
        with_group = 0
        for article in articles:
            found = match_article(matcher, article, all_entities=True)
            if found.groups:
                with_group += 1
                named.update(g.name for g in found.groups)
                if len(examples) < 3:
                    examples.append(article.title[:90])
        key = f"news/{path.name}" in quiet
        totals[key][0] += len(articles)
        totals[key][1] += with_group
        mark = "non-conflict" if key else "news"
        print(f"  {path.name:<48} {mark:<12} {with_group:>4}/{len(articles):<4} "
              f"{', '.join(f'{n} {c}' for n, c in named.most_common(6))}")
        if show and key:
            for title in examples:
                print(f"      {title}")
    quiet_total, quiet_hits = totals[True]
    print(f"non-conflict feeds: {quiet_hits} of {quiet_total} articles list a group "
          f"(1 in {quiet_total // max(1, quiet_hits)}); other news feeds: "
          f"{totals[False][1]} of {totals[False][0]} articles list one")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=Path, action="append",
                        help="a labelled JSON-lines sample (repeatable)")
    parser.add_argument("--show", action="store_true", help="print every error")
    args = parser.parse_args()
    ruleset = load_rules([ROOT / "rules" / "lists"])
    matcher = compile_rules(ruleset)
    print(f"{len(ruleset.gazetteer.groups)} actors in the catalogue")
    for path in args.sample or SAMPLES:
        if not path.exists():
            print(f"{path.name}: not found")
            continue
        score = score_sample(matcher, path)
        by_region = ", ".join(f"{r} {n}" for r, n in score.errors.most_common())
        print(f"{path.name}: {score.line()}; errors by region: {by_region or 'none'}")
        if args.show:
            print("\n".join(score.shown))
    if (FEEDS / "SOURCES.md").exists():
        scan_feeds(matcher, args.show)
    else:
        print(f"{FEEDS}: not found, feeds not scanned")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
