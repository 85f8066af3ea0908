"""Which shipped rules fire on FA-KES, article by article: a before/after check for changes
to normalisation (confusable folding must add no hits and lose none).

    .venv/bin/python bench/fakes_fired.py [--save FILE] [--compare FILE]

Prints how many articles each shipped rule fires on (title and content of the 804 articles
of ../shared/data/corpus/FA-KES-Dataset.csv), the number of (article, rule) hits, and the
places and groups listed. `--save` writes the per-article hits; `--compare` reads such a
file from another checkout or commit and prints every difference (none expected).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from watcher.matching.matcher import compile_rules, match_article  # noqa: E402
from watcher.models import Article  # noqa: E402
from watcher.rules.load import load_rules  # noqa: E402

CORPUS = ROOT.parent / "shared" / "data" / "corpus" / "FA-KES-Dataset.csv"


def fired() -> dict[str, dict[str, list[str]]]:
    """Article index -> its fired rule ids, places and groups."""
    matcher = compile_rules(load_rules([ROOT / "rules"]))
    with CORPUS.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    out: dict[str, dict[str, list[str]]] = {}
    for i, row in enumerate(rows):
        article = Article(key=str(i), title=row["article_title"],
                          content=row["article_content"])
        found = match_article(matcher, article)
        out[str(i)] = {"rules": [h.rule.id for h in found.hits],
                       "places": [p.name for p in found.places],
                       "groups": [g.name for g in found.groups]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--save", type=Path)
    parser.add_argument("--compare", type=Path)
    args = parser.parse_args()
    if not CORPUS.exists():
        sys.exit(f"no corpus at {CORPUS}")
    hits = fired()
    counts = Counter(rule for found in hits.values() for rule in found["rules"])
    print(f"{len(hits)} articles; {sum(counts.values())} (article, rule) hits")
    for rule, n in sorted(counts.items()):
        print(f"  {rule:32} {n}")
    if args.save:
        args.save.write_text(json.dumps(hits, sort_keys=True))
    if args.compare:
        before = json.loads(args.compare.read_text())
        changed = {k for k in hits if hits[k] != before.get(k)}
        print(f"articles whose rules, places or groups differ from {args.compare}: "
              f"{len(changed)}")
        for k in sorted(changed, key=int)[:20]:
            print(f"  article {k}: before {before.get(k)} now {hits[k]}")


if __name__ == "__main__":
    main()
