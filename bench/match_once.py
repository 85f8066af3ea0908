"""Match N FA-KES articles once against 1,000 synthetic rules, with any checkout's watcher:
a fixed piece of work to count instructions on, where timings are too noisy to compare.

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.this \
        .venv/bin/python bench/match_once.py . 150
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.other \
        .venv/bin/python bench/match_once.py /tmp/other 150

callgrind counts instructions, not seconds: the same total on a loaded machine as on an idle
one. Compare the two "I refs" totals; the rule set and articles are the same (bench/match.py
of the checkout given, which must sit beside ../shared). Works with the flat layout of before
issue 13 and the package layout after it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any


def _module(*names: str) -> Any:
    for name in names:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    raise ModuleNotFoundError(f"none of {names}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path)
    parser.add_argument("articles", type=int)
    parser.add_argument("--rules", type=int, default=1000)
    args = parser.parse_args()
    root = args.checkout.resolve()
    sys.path.insert(0, str(root))
    bench = importlib.import_module("bench.match")
    rules = _module("watcher.rules.load", "watcher.rules")
    match = _module("watcher.matching.matcher", "watcher.match")
    models = importlib.import_module("watcher.models")
    articles, _ = bench.load_articles(None)
    lists = root / "rules" / "lists"
    gazetteer, text, _ = bench.synthesise(args.rules, rules.load_rules([lists]), articles)
    ruleset = rules.load_rules([lists], {"villages.yaml": gazetteer, "synthetic.yaml": text})
    matcher = match.compile_rules(ruleset)
    own = [models.Article(key=a.key, title=a.title, content=a.content)
           for a in articles[: args.articles]]
    fired = sum(len(match.match_article(matcher, a).hits) for a in own)
    print(f"{match.__file__}: {len(own)} articles, {fired} hits")


if __name__ == "__main__":
    main()
