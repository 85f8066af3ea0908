"""Matching throughput as the number of rules grows: one automaton vs. one regex per rule.

    .venv/bin/python bench/match.py [--sizes 100,1000,10000] [--runs 3]

For each size N, N rules are synthesised from the shipped gazetteer, groups and a word list
(group + one of two places + one of two words, like a desk's rules), compiled together, and
run over the FA-KES corpus (804 Syrian news articles) when ../shared/data is present, else
over synthetic articles. Articles/s includes tokenising and normalising every field. The
baseline is the plain approach: one compiled `re` per rule (its terms as a case-insensitive
alternation with word boundaries), each searched over the article text, measured in the same
run on a sample of the articles. Figures are medians of --runs runs (the machine is noisy).

Each size runs in a process of its own, so that "peak MB" is that size alone: the process's
peak resident memory (getrusage ru_maxrss) once the corpus is loaded and the rules loaded,
compiled and matched against it, before the regex baseline runs, Python interpreter and
libraries included.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from watcher.match import Matcher, compile_rules, match_article  # noqa: E402
from watcher.models import Article  # noqa: E402
from watcher.rules import RuleSet, load_rules  # noqa: E402

CORPUS = ROOT.parent / "shared" / "data" / "corpus" / "FA-KES-Dataset.csv"
WORDS = ["convoy", "defect", "attack", "airstrike", "shell", "kill", "abduct", "clash",
         "offensive", "withdraw", "flee", "siege", "ambush", "execute", "capture", "drone",
         "missile", "checkpoint", "hostage", "ceasefire", "evacuate", "surrender", "raid",
         "bomb", "massacre", "displace", "refugee", "prison", "tunnel", "smuggle"]


def load_articles(limit: int | None) -> tuple[list[Article], str]:
    if CORPUS.exists():
        with CORPUS.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        articles = [Article(key=str(i), title=r["article_title"], content=r["article_content"])
                    for i, r in enumerate(rows)]
        source = f"FA-KES corpus ({len(articles)} articles)"
    else:
        rng = random.Random(1)
        vocab = [*WORDS, "the", "of", "in", "and", "said", "people", "forces", "city", "Raqqa",
                 "Aleppo", "Isil", "SDF", "government", "report", "village", "near", "after"]
        articles = [Article(key=str(i), title=" ".join(rng.choices(vocab, k=10)),
                            content=" ".join(rng.choices(vocab, k=260))) for i in range(800)]
        source = "synthetic articles (800; FA-KES corpus not found)"
    return articles[:limit] if limit else articles, source


def synthesise(n: int, base: RuleSet, seed: int = 7) -> tuple[str, list[list[str]]]:
    """YAML for n rules, and each rule's terms as written (for the regex baseline)."""
    rng = random.Random(seed)
    places = sorted(base.gazetteer.places)
    groups = sorted(base.gazetteer.groups)
    lines = ["rules:"]
    terms: list[list[str]] = []
    for i in range(n):
        group = rng.choice(groups)
        two_places = rng.sample(places, 2)
        two_words = rng.sample(WORDS, 2)
        lines += [f"  - id: synthetic-{i}", f"    title: Synthetic {i}", "    severity: low",
                  "    match:", f"      groups: [{_q(group)}]",
                  f"      places: [{', '.join(_q(p) for p in two_places)}]",
                  f"      words: [{', '.join(two_words)}]"]
        spellings = [group, *_aliases(base, "group", group)]
        for p in two_places:
            spellings += [p, *_aliases(base, "place", p)]
        terms.append(spellings + two_words)
    return "\n".join(lines) + "\n", terms


def _q(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


def _aliases(base: RuleSet, kind: str, name: str) -> list[str]:
    entry = base.gazetteer.places[name] if kind == "place" else base.gazetteer.groups[name]
    return [a if isinstance(a, str) else a.term for a in entry.aliases]


def regex_baseline(terms: list[list[str]]) -> list[re.Pattern[str]]:
    # A regex per rule, as a naive implementation would do it: any of its terms, whole
    # words, case-insensitive, with a crude "words may take a suffix" allowance.
    return [re.compile(r"\b(?:" + "|".join(re.escape(t) for t in ts) + r")\w*", re.IGNORECASE)
            for ts in terms]


def match_all(matcher: Matcher, articles: list[Article]) -> None:
    for article in articles:
        match_article(matcher, article)


def search_all(patterns: list[re.Pattern[str]], texts: list[str]) -> None:
    for text in texts:
        for pattern in patterns:
            pattern.search(text)


def median_rate(runs: int, count: int, work: Callable[[], object]) -> float:
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates)


def peak_mb() -> float:
    """This process's peak resident memory so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(n: int, runs: int, baseline_budget: float) -> None:
    """Print one row of the table: N rules, in this process."""
    articles, _ = load_articles(None)
    base = load_rules([ROOT / "rules" / "lists"])
    text, terms = synthesise(n, base)
    start = time.perf_counter()
    ruleset = load_rules([ROOT / "rules" / "lists"], {"synthetic.yaml": text})
    load_s = time.perf_counter() - start
    assert ruleset.ok, ruleset.problems[:3]
    compile_times = []
    for _ in range(runs):
        start = time.perf_counter()
        matcher = compile_rules(ruleset)
        compile_times.append(time.perf_counter() - start)
    hits = sum(len(match_article(matcher, a).hits) for a in articles)
    rate = median_rate(runs, len(articles), partial(match_all, matcher, articles))
    peak = peak_mb()
    patterns = regex_baseline(terms)
    sample = articles[:max(3, int(baseline_budget / n))]
    texts = [f"{a.title}\n{a.summary}\n{a.content}" for a in sample]
    regex_rate = median_rate(runs, len(sample), partial(search_all, patterns, texts))
    print(f"{n:>6} {load_s:>7.2f} {statistics.median(compile_times):>9.2f} "
          f"{matcher.key_count:>6} {rate:>10.0f} {hits / len(articles):>8.2f} "
          f"{peak:>7.0f} {regex_rate:>11.1f} {rate / regex_rate:>7.0f}x", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-budget", type=float, default=20_000,
                        help="rules x articles the regex baseline runs (it is slow)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a size, in this process
    args = parser.parse_args()
    if args.one is not None:
        measure(args.one, args.runs, args.baseline_budget)
        return 0

    _, source = load_articles(None)
    base = load_rules([ROOT / "rules" / "lists"])
    print(f"articles: {source}; gazetteer: {len(base.gazetteer.places)} places, "
          f"{len(base.gazetteer.groups)} groups; median of {args.runs} runs; "
          f"each size in its own process")
    print(f"{'rules':>6} {'load s':>7} {'compile s':>9} {'keys':>6} {'articles/s':>10} "
          f"{'hits/art':>8} {'peak MB':>7} {'regex art/s':>11} {'speed-up':>8}", flush=True)
    for n in (int(s) for s in args.sizes.split(",")):
        subprocess.run([sys.executable, __file__, "--one", str(n), "--runs", str(args.runs),
                        "--baseline-budget", str(args.baseline_budget)], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
