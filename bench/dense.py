"""The hit-dense workload: news articles in which many rules fire, one rule per term.

    .venv/bin/python bench/match.py --workload dense [--sizes 100,1000,10000]

2,000 synthetic English news articles of about 600 words (sentences of 8 to 28 words with
commas, paragraphs on lines of their own) drawn from the commonest English words by their
frequency (wordfreq), one word in seven from a conflict vocabulary. Rules: one per term,
the conflict vocabulary first, then common words and two-word phrases (frequent pairs of
the articles, never across punctuation) in turn, so that 60 to 330 rules fire per article.

Both sides run in one process, rounds alternated, and the figure is the median of the
per-round ratios of CPU times (the machine's speed drifts); "load s" and "compile s" are CPU
times too: watcher's `match_article` (tokens, stems,
every rule that fires with its matched terms and their offsets, and the places and groups
of the article) against pyahocorasick alone: the terms lowercased as keys of one
automaton, run over the lowercased text, the ids of the keys found collected in a set.

"ratio" counts each hit's matched terms as matching keeps them (`RuleHit.spots()`: each
term's label, kind, field and offsets); "ratio, models" also makes them the pydantic
`MatchedTerm`s of alerts (`RuleHit.matched`), which the service does only for the hits it
turns into alerts, beside the far costlier `Alert` models themselves.
"""

from __future__ import annotations

import random
import re
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import ahocorasick
import wordfreq

from watcher.matching.matcher import compile_rules, match_article
from watcher.models import Article
from watcher.rules.load import load_rules

CONFLICT = [
    "attack", "airstrike", "shelling", "convoy", "ceasefire", "offensive", "militia",
    "rebels", "insurgents", "troops", "soldiers", "fighters", "casualties", "wounded",
    "killed", "artillery", "rocket", "missile", "drone", "checkpoint", "ambush", "raid",
    "siege", "hostage", "kidnapped", "abducted", "displaced", "refugees", "evacuation",
    "frontline", "clashes", "battalion", "brigade", "commander", "mortar", "sniper",
    "explosion", "bombing", "landmine", "massacre", "curfew", "blockade", "withdrawal",
    "advance", "retreat", "occupation", "airport", "border", "crossing", "humanitarian",
    "aid", "famine", "cholera", "camp", "prison", "detainees", "executed", "tortured",
    "protesters", "crackdown", "security", "forces", "army", "police", "gunmen",
    "jihadist", "extremist", "coalition", "alliance", "truce", "negotiations", "talks",
    "envoy", "sanctions", "weapons", "ammunition", "tanks", "helicopter", "warplanes",
    "bombardment", "villages", "province", "district", "stronghold", "territory",
    "smuggling", "tunnel", "militants", "defected", "mercenaries", "paramilitary",
    "recapture", "seized", "captured", "looting", "arson", "violence", "genocide",
    "atrocities", "ceasefire violations", "peacekeepers",
]
ARTICLES = 2_000
WORDS_PER_ARTICLE = 600
CONFLICT_SHARE = 1 / 7
FUNCTION_WORDS = 100  # the commonest words: no phrase holds one
TOPIC_WORDS = 300  # draws from the common words, by frequency, for one article
_WORD = re.compile(r"[a-z]+")


@dataclass
class Workload:
    articles: list[Article]
    terms: list[str]  # one rule per term, in this order

    def rules_yaml(self, n: int) -> str:
        lines = ["rules:"]
        for i, term in enumerate(self.terms[:n]):
            leaf = "phrases" if " " in term else "words"
            lines += [f"  - id: dense-{i}", f"    title: Dense {i}", "    severity: low",
                      f'    match: {{{leaf}: ["{term}"]}}']
        return "\n".join(lines) + "\n"


def _common_words(count: int) -> tuple[list[str], list[float]]:
    words = [w for w in wordfreq.top_n_list("en", count * 2)
             if _WORD.fullmatch(w) and len(w) >= 3][:count]
    return words, [wordfreq.word_frequency(w, "en") for w in words]


def _article(rng: random.Random, key: int, common: list[str], weights: list[float]) -> Article:
    conflict = [t.split()[0] for t in CONFLICT]
    sentences: list[str] = []
    paragraphs: list[str] = []
    # A story keeps to its subject: its words come from a few hundred of the common ones.
    own = sorted(set(rng.choices(range(len(common)), weights, k=TOPIC_WORDS)))
    vocabulary, frequencies = [common[i] for i in own], [weights[i] for i in own]
    written = 0
    while written < WORDS_PER_ARTICLE:
        length = rng.randint(8, 28)
        words = rng.choices(vocabulary, frequencies, k=length)
        for i in range(length):
            if rng.random() < CONFLICT_SHARE:
                words[i] = rng.choice(conflict)
        for i in range(2, length - 2):
            if rng.random() < 0.06:
                words[i] += ","
        words[0] = words[0].capitalize()
        sentences.append(" ".join(words) + rng.choice((".", ".", ".", ";", "?")))
        written += length
        if len(sentences) >= rng.randint(3, 6):
            paragraphs.append(" ".join(sentences))
            sentences = []
    if sentences:
        paragraphs.append(" ".join(sentences))
    title = " ".join([*rng.choices(common, weights, k=6), rng.choice(conflict)]).capitalize()
    return Article(key=f"dense-{key}", title=title, content="\n".join(paragraphs))


def build(seed: int = 19, articles: int = ARTICLES) -> Workload:
    rng = random.Random(seed)
    common, weights = _common_words(6_000)
    made = [_article(rng, i, common, weights) for i in range(articles)]
    pairs: Counter[str] = Counter()
    for article in made:
        for sentence in re.split(r"[.,;?\n]", article.content.lower()):
            pairs.update(f"{a} {b}" for a, b in pairwise(sentence.split()) if a != b)
    conflict = set(CONFLICT)
    words = [w for w in common if w not in conflict]
    # Phrases of content words: a pair with a function word ("of the") is no rule's phrase.
    function_words = set(common[:FUNCTION_WORDS])
    phrases = [p for p, _ in pairs.most_common()
               if p not in conflict and function_words.isdisjoint(p.split())]
    terms = list(CONFLICT)
    for word, phrase in zip(words, phrases, strict=False):
        terms += [word, phrase]
    return Workload(made, terms)


def raw_automaton(terms: list[str]) -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    for i, term in enumerate(terms):
        automaton.add_word(term.lower(), i)
    automaton.make_automaton()
    return automaton


def raw_scan(automaton: ahocorasick.Automaton, texts: list[str]) -> int:
    """pyahocorasick alone: the ids of the terms found in each text (lowercased)."""
    found = 0
    for text in texts:
        found += len({value for _, value in automaton.iter(text.lower())})
    return found


def paired_rates(rounds: int, count: int, other: Callable[[], object],
                 *these: Callable[[], object]) -> tuple[float, list[float], list[float]]:
    """The median rate (items per CPU second) of `other`, those of `these`, and for each of
    these the median of the per-round ratios of its rate to other's, rounds alternated."""
    spent: list[list[float]] = [[] for _ in range(len(these) + 1)]
    for _ in range(rounds):
        for times, work in zip(spent, (other, *these), strict=True):
            start = time.process_time()
            work()
            times.append(time.process_time() - start)
    ratios = [statistics.median(o / t for t, o in zip(times, spent[0], strict=True))
              for times in spent[1:]]
    return (count / statistics.median(spent[0]),
            [count / statistics.median(times) for times in spent[1:]], ratios)


HEADER = (f"{'rules':>6} {'load s':>7} {'compile s':>9} {'fired/art':>9} {'watcher art/s':>13} "
          f"{'pyahocorasick art/s':>19} {'ratio':>6} {'ratio, models':>13}")


def measure(n: int, rounds: int, lists: Path) -> dict[str, float]:
    """One row of the hit-dense table: n rules, in this process."""
    workload = build()
    load_rules([lists])  # the GeoNames layer, once per process: "load s" is the rules alone
    text = workload.rules_yaml(n)
    start = time.process_time()  # CPU time: the machine is shared, its wall clock noisy
    ruleset = load_rules([lists], {"dense.yaml": text})
    load_s = time.process_time() - start
    assert ruleset.ok, ruleset.problems[:3]
    start = time.process_time()
    matcher = compile_rules(ruleset)
    compile_s = time.process_time() - start
    articles = workload.articles
    # Warm, as in a running service (caches, what the rule index learns); count what fires.
    fired = [len(match_article(matcher, a).hits) for a in articles]
    automaton = raw_automaton(workload.terms[:n])
    texts = [f"{a.title}\n{a.content}" for a in articles]

    def watcher() -> None:
        for article in articles:
            for hit in match_article(matcher, article).hits:
                hit.spots()  # explanations are part of the work

    def with_models() -> None:
        for article in articles:
            for hit in match_article(matcher, article).hits:
                hit.matched  # noqa: B018 -- as alerts have them

    raw_rate, (rate, _), (ratio, models) = paired_rates(
        rounds, len(articles), lambda: raw_scan(automaton, texts), watcher, with_models)
    print(f"{n:>6} {load_s:>7.2f} {compile_s:>9.2f} {statistics.median(fired):>9.0f} "
          f"{rate:>13,.0f} {raw_rate:>19,.0f} {ratio:>6.3f} {models:>13.3f}", flush=True)
    return {"rate": rate, "raw": raw_rate, "ratio": ratio, "models": models, "load": load_s}
