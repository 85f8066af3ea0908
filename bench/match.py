"""Matching throughput as the number of rules grows: one automaton vs. one regex per rule.

    .venv/bin/python bench/match.py [--sizes 100,1000,10000] [--runs 5]
    .venv/bin/python bench/match.py --workload dense [--runs 3]

`--workload dense` runs the hit-dense workload instead (bench/dense.py: 2,000 synthetic
news articles in which 60 to 330 rules fire, one rule per term) against pyahocorasick
alone, in the same process, and reports the ratio of the two rates. What follows is the
default workload.

For each size N, N rules are synthesised, compiled together (with the shipped gazetteer and
groups), and run over the FA-KES corpus (804 Syrian news articles) when ../shared/data is
present, else over synthetic articles. The rules draw on term pools that grow with N, as a
desk's rules do (each new rule brings a village, a commander, a phrase of its own), so the
automaton at 10,000 rules is much larger than at 1,000 ("terms" and "keys" columns):

- words: N of them; a share (--corpus-share, default half) from the corpus vocabulary (its
  300 most frequent words left out, shuffled), the rest synthetic transliterated words: the
  long tail of names and other regions' terms that a given article rarely contains. With
  --corpus-share 1 every corpus word is some rule's term at 10,000 rules: a worst case;
- phrases: two-word sequences that occur in the corpus, then synthetic pairs;
- places: the shipped gazetteer plus synthetic villages (a gazetteer file of N/2 entries,
  each with an alternative spelling), e.g. "Kafr Mashara" / "Kfar Mashara";
- shapes: half are "group + places + words" desk rules; the rest use `none`, `phrases`,
  `near`, `any` with a minimum, and `pattern` (one rule in 20; one in 100 a pattern alone,
  which then runs on every article).

Articles/s includes tokenising and normalising every field, and the places and groups of
every article a rule fires on (alerts are where the service lists them, so `match_article`
works them out only then). The baseline is the plain approach: one compiled `re` per rule
(its terms as a case-insensitive alternation with word boundaries), each searched over the
article text, measured in the same run on a sample of the articles. Figures are medians of
--runs runs (the machine is noisy).

Each size runs in a process of its own, so that "peak MB" is that size alone: the process's
peak resident memory (getrusage ru_maxrss) once the corpus is loaded and the rules loaded,
compiled and matched against it, before the regex baseline runs, Python interpreter and
libraries included.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import dense  # noqa: E402
from watcher.matching.matcher import Matcher, compile_rules, match_article  # noqa: E402
from watcher.models import Article  # noqa: E402
from watcher.rules.load import RuleSet, load_rules  # noqa: E402

FIGURES = "figures: "  # a size's figures, from its process to the parent
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


_PREFIXES = ["Tal", "Deir", "Ain", "Kafr", "Jisr", "Ras", "Bir", "Khirbet", "Umm", "Abu",
             "Beit", "Hawsh", "Maarat", "Qasr", "Tell", "Arab"]
_SYLLABLES = ["ma", "sha", "ra", "ba", "qa", "ha", "di", "ru", "zi", "ya", "na", "la", "ka",
              "ta", "hu", "ni", "mi", "ri", "bu", "ja", "sa", "fa", "wa", "du", "ki", "lo"]
_ENDINGS = ["", "n", "r", "h", "t", "l", "m", "s", "k", "d"]
_WORD = re.compile(r"[A-Za-z]{4,}")


def _synthetic_words(rng: random.Random) -> Iterator[str]:
    """Transliteration-like words ("marhudan"), never repeated."""
    seen: set[str] = set()
    while True:
        word = "".join(rng.choices(_SYLLABLES, k=rng.choice((2, 3, 3, 4)))) + rng.choice(
            _ENDINGS)
        if word not in seen:
            seen.add(word)
            yield word


@dataclass
class TermPools:
    """Terms for n rules: each pool holds about as many terms as there are rules."""

    words: list[str]
    phrases: list[str]
    villages: list[tuple[str, str]]  # (name, alternative spelling)

    @classmethod
    def build(cls, n: int, articles: list[Article], rng: random.Random,
              corpus_share: float) -> TermPools:
        counts = Counter(w.lower() for a in articles
                         for w in _WORD.findall(f"{a.title} {a.content}"))
        vocab = [w for w, _ in counts.most_common()[300:]]
        rng.shuffle(vocab)
        synthetic = _synthetic_words(rng)
        size = max(200, n)
        words = vocab[:int(size * corpus_share)]
        words += [next(synthetic) for _ in range(size - len(words))]
        kept = set(vocab)
        pairs = Counter(f"{a} {b}" for article in articles
                        for text in (f"{article.title} {article.content}",)
                        for a, b in pairwise(w.lower() for w in _WORD.findall(text))
                        if a in kept and b in kept)
        phrases = sorted(p for p, c in pairs.items() if c >= 2)
        rng.shuffle(phrases)
        phrases += [f"{next(synthetic)} {next(synthetic)}"
                    for _ in range(max(0, n // 2 - len(phrases)))]
        villages: dict[str, str] = {}
        while len(villages) < max(50, n // 2):
            prefix = rng.choice(_PREFIXES)
            root = next(synthetic).capitalize()
            alternative = prefix[0] + prefix[1:].replace("a", "e")  # Kafr -> Kefr
            villages.setdefault(f"{prefix} {root}", f"{alternative}-{root}")
        return cls(words, phrases[:max(100, n // 2)], list(villages.items()))


def _gazetteer_yaml(pools: TermPools, rng: random.Random) -> str:
    lines = ["places:"]
    for name, alias in pools.villages:
        lines.append(f"  - {{name: {_q(name)}, country: SY, lat: {rng.uniform(32, 37):.4f}, "
                     f"lon: {rng.uniform(36, 42):.4f}, kind: town, aliases: [{_q(alias)}]}}")
    return "\n".join(lines) + "\n"


def synthesise(n: int, base: RuleSet, articles: list[Article], corpus_share: float = 0.5,
               seed: int = 7
               ) -> tuple[str, str, list[list[str]]]:
    """YAML for a gazetteer of villages and for n rules, and each rule's terms as written
    (for the regex baseline: every spelling of its places and groups, its patterns)."""
    rng = random.Random(seed)
    pools = TermPools.build(n, articles, rng, corpus_share)
    gazetteer = _gazetteer_yaml(pools, rng)
    real_places = sorted(base.gazetteer.places)
    village_aliases = dict(pools.villages)
    groups = sorted(base.gazetteer.groups)
    lines = ["rules:"]
    terms: list[list[str]] = []

    def place() -> str:
        return rng.choice(real_places) if rng.random() < 0.5 else rng.choice(pools.villages)[0]

    def spellings(kind: str, names: list[str]) -> list[str]:
        found = []
        for name in names:
            alias = village_aliases.get(name)
            found += [name, alias] if alias else [name, *_aliases(base, kind, name)]
        return found

    for i in range(n):
        shape = i % 20
        word, other, third = rng.sample(pools.words, 3)
        common = rng.choice(WORDS)
        group = rng.choice(groups)
        places = [place(), place()]
        if shape < 10:    # the desk rule: who, where, what
            match = [f"groups: [{_q(group)}]", f"places: [{', '.join(map(_q, places))}]",
                     f"words: [{_q(common)}, {_q(word)}]"]
            written = spellings("group", [group]) + spellings("place", places) + [common, word]
        elif shape < 13:  # words somewhere, but not in this context
            match = [f"words: [{_q(word)}, {_q(other)}, {_q(common)}]",
                     f"places: [{_q(places[0])}]", f"none: [{{words: [{_q(third)}]}}]"]
            written = [word, other, common, *spellings("place", places[:1])]
        elif shape < 15:  # exact phrases
            phrases = rng.sample(pools.phrases, 2)
            match = [f"phrases: [{', '.join(map(_q, phrases))}]", f"places: [{_q(places[0])}]"]
            written = phrases + spellings("place", places[:1])
        elif shape < 17:  # a word close to a group
            match = ["near:", "  within: 3",
                     f"  of: [{{words: [{_q(common)}, {_q(word)}]}}, {{groups: [{_q(group)}]}}]"]
            written = [common, word, *spellings("group", [group])]
        elif shape < 19:  # two of three
            match = ["any:", "  min: 2",
                     f"  of: [{{words: [{_q(word)}, {_q(other)}]}}, {{places: [{_q(places[0])}]}}, "
                     f"{{groups: [{_q(group)}]}}]"]
            written = [word, other, *spellings("place", places[:1]),
                       *spellings("group", [group])]
        else:             # a pattern: with places, or (one rule in 100) alone
            pattern = rf"\b\d{{2,}} (?:{word}|{other})\b"
            match = [f"pattern: ['{pattern}']"]
            if i % 100 != 99:
                match.append(f"places: [{', '.join(map(_q, places))}]")
            written = [pattern, *spellings("place", places)]
        lines += [f"  - id: synthetic-{i}", f"    title: Synthetic {i}", "    severity: low",
                  "    match:", *("      " + line for line in match)]
        terms.append(written)
    return gazetteer, "\n".join(lines) + "\n", terms


def _q(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


def _aliases(base: RuleSet, kind: str, name: str) -> list[str]:
    entry = base.gazetteer.places[name] if kind == "place" else base.gazetteer.groups[name]
    return [a if isinstance(a, str) else a.term for a in entry.aliases]


def regex_baseline(terms: list[list[str]]) -> list[re.Pattern[str]]:
    # A regex per rule, as a naive implementation would do it: any of its terms, whole
    # words, case-insensitive, with a crude "words may take a suffix" allowance; patterns
    # as written.
    return [re.compile(r"\b(?:" + "|".join(t if t.startswith("\\b") else re.escape(t)
                                            for t in ts) + r")\w*", re.IGNORECASE)
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


def measure(n: int, runs: int, baseline_budget: float, corpus_share: float) -> None:
    """Print one row of the table: N rules, in this process."""
    articles, _ = load_articles(None)
    base = load_rules([ROOT / "rules" / "lists"])
    gazetteer, text, terms = synthesise(n, base, articles, corpus_share)
    start = time.perf_counter()
    ruleset = load_rules([ROOT / "rules" / "lists"], {"villages.yaml": gazetteer,
                                                       "synthetic.yaml": text})
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
          f"{len(matcher.terms):>6} {matcher.key_count:>6} {rate:>10.0f} "
          f"{hits / len(articles):>8.2f} "
          f"{peak:>7.0f} {regex_rate:>11.1f} {rate / regex_rate:>7.0f}x")
    figures = {"rate": rate, "compile": statistics.median(compile_times), "peak": peak,
               "speedup": rate / regex_rate}
    print(FIGURES + json.dumps(figures), flush=True)


def targets(figures: dict[int, dict[str, float]]) -> list[str]:
    """The issue's targets, for the sizes that ran: one line each, met or missed."""
    lines = []

    def check(n: int, what: str, key: str, goal: float, at_least: bool) -> None:
        if n in figures:
            value = figures[n][key]
            met = value >= goal if at_least else value < goal
            lines.append(f"  {n:>6} rules: {what}: {value:,.{3 if value < 1 else 1}f} "
                         f"({'met' if met else 'MISSED'})")

    if "ratio" in next(iter(figures.values()), {}):  # the hit-dense workload
        for n in (1_000, 10_000):
            check(n, "watcher / pyahocorasick (target >= 0.25)", "ratio", 0.25, True)
        check(10_000, "load s (target < 1)", "load", 1, False)
        return lines
    check(10_000, "articles/s (target >= 1,000)", "rate", 1_000, True)
    check(1_000, "speed-up over regex loop (target >= 100x)", "speedup", 100, True)
    check(10_000, "compile s (target < 10)", "compile", 10, False)
    for n in sorted(figures):
        check(n, "peak MB (target < 500)", "peak", 500, False)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--corpus-share", type=float, default=0.5,
                        help="share of the rules' words taken from the corpus vocabulary")
    parser.add_argument("--baseline-budget", type=float, default=20_000,
                        help="rules x articles the regex baseline runs (it is slow)")
    parser.add_argument("--workload", choices=("fakes", "dense"), default="fakes",
                        help="fakes: FA-KES articles, desk-like rules (the default); dense: "
                             "hit-dense synthetic news, one rule per term (bench/dense.py)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a size, in this process
    args = parser.parse_args()
    if args.one is not None:
        if args.workload == "dense":
            figures = dense.measure(args.one, args.runs, ROOT / "rules" / "lists")
            print(FIGURES + json.dumps(figures), flush=True)
        else:
            measure(args.one, args.runs, args.baseline_budget, args.corpus_share)
        return 0

    if args.workload == "dense":
        print(f"hit-dense: {dense.ARTICLES} synthetic articles of ~{dense.WORDS_PER_ARTICLE} "
              f"words, one rule per term, with the shipped gazetteer; CPU time, median of "
              f"{args.runs} paired rounds; each size in its own process")
        print(dense.HEADER, flush=True)
    else:
        _, source = load_articles(None)
        base = load_rules([ROOT / "rules" / "lists"])
        print(f"articles: {source}; gazetteer: {len(base.gazetteer.places)} places, "
              f"{len(base.gazetteer.groups)} groups; median of {args.runs} runs; "
              f"each size in its own process; corpus share of words {args.corpus_share}")
        print(f"{'rules':>6} {'load s':>7} {'compile s':>9} {'terms':>6} {'keys':>6} "
              f"{'articles/s':>10} {'hits/art':>8} {'peak MB':>7} {'regex art/s':>11} "
              f"{'speed-up':>8}", flush=True)
    figures: dict[int, dict[str, float]] = {}
    for n in (int(s) for s in args.sizes.split(",")):
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--runs",
                              str(args.runs), "--baseline-budget", str(args.baseline_budget),
                              "--corpus-share", str(args.corpus_share),
                              "--workload", args.workload],
                             check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith(FIGURES):
                figures[n] = json.loads(line[len(FIGURES):])
            else:
                print(line, flush=True)
    print("targets (one core of this machine; a busy machine misses them):")
    print("\n".join(targets(figures)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
