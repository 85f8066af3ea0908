"""Matching's cheap paths give what the plain ones give, on real text: hits whose matched terms
are made on demand (`RuleHit.spots`, `RuleHit.matched`) give the alerts validated models
would, byte for byte; the world layer's key lookups find what a lookup at every token
would. (bench/compare.py checks `watcher match`'s output against another checkout.)"""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import require_shared_data
from watcher.feeds.parse import parse_feed
from watcher.gazetteer import geonames
from watcher.matching.alerts import build_alerts
from watcher.matching.matcher import compile_rules, match_article
from watcher.models import FIELDS, Article, ArticleMatch, MatchedTerm, RuleHit
from watcher.rules.load import load_rules
from watcher.text.normalize import Tokens, tokenize

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def fakes_articles() -> list[Article]:
    path = require_shared_data() / "corpus" / "FA-KES-Dataset.csv"
    with path.open(encoding="utf-8", newline="") as f:
        return [Article(key=str(i), title=row["article_title"], content=row["article_content"])
                for i, row in enumerate(csv.DictReader(f))]


def feed_articles() -> list[Article]:
    folder = require_shared_data() / "feeds" / "news"
    found = []
    for path in sorted(folder.iterdir()):
        if path.is_file():
            found += parse_feed(path.read_bytes(), feed_id=path.stem, source=path.stem,
                                url=f"https://example.org/{path.name}").articles
    return found


def rules_text(articles: list[Article], rng: random.Random) -> str:
    """Rules that fire often and in every shape: words and phrases of the articles, with
    places, groups, near, none, counted leaves and patterns."""
    words = sorted({w.lower() for a in articles[:200] for w in a.title.split()
                    if w.isalpha() and len(w) > 4})
    lines = ["rules:"]
    for i in range(300):
        a, b, c = rng.sample(words, 3)
        shape = [f"words: [{a}, {b}]",
                 f"all: [{{words: [{a}]}}, {{places: ['*']}}]",
                 f"phrases: ['{a} {b}', '{b} {c}']",
                 f"near: {{within: 4, of: [{{words: [{a}, {b}]}}, {{groups: ['*']}}]}}",
                 f"any: {{min: 2, of: [{{words: [{a}]}}, {{words: [{b}]}}, {{places: ['*']}}]}}",
                 f"all: [{{words: [{a}, {b}, {c}]}}, {{none: [{{words: [{c}]}}]}}]",
                 f"all: [{{places: ['*']}}, {{pattern: ['\\\\b{a[:4]}\\\\w*']}}]",
                 f"all: [{{words: [{a}]}}, {{fields: [title], words: [{b}, {c}]}}]"][i % 8]
        lines += [f"  - id: r{i}", f"    title: R {i}", "    severity: low",
                  f"    match: {{{shape}}}"]
    return "\n".join(lines) + "\n"


def validated(article: Article, hit: RuleHit) -> RuleHit:
    """The hit with its matched terms made and validated from its spots."""
    texts = [article.field_text(name) for name in FIELDS]
    occurrences, labels, kinds = hit.spots()
    terms = tuple(MatchedTerm(term=label, kind=kind, text=texts[fi][start:end],
                              field=FIELDS[fi], start=start, end=end)
                  for (fi, start, end), label, kind in zip(occurrences, labels, kinds,
                                                           strict=True))
    return RuleHit(hit.rule, hit.notify, matched=terms)


@pytest.mark.parametrize("corpus", [fakes_articles, feed_articles])
def test_alerts_of_lazy_hits_are_those_of_validated_ones(corpus: object) -> None:
    articles = corpus()  # type: ignore[operator]
    ruleset = load_rules([ROOT / "rules" / "lists"],
                         {"many.yaml": rules_text(articles, random.Random(19))})
    assert ruleset.ok, ruleset.problems[:3]
    matcher = compile_rules(ruleset)
    alerts = 0
    for article in articles:
        found = match_article(matcher, article)
        if not found.hits:
            continue
        eager = ArticleMatch(tuple(validated(article, h) for h in found.hits), found.places,
                             found.groups)
        assert found.hits == eager.hits
        made = [a.to_json() for a in build_alerts(article, found, NOW)]
        assert made == [a.to_json() for a in build_alerts(article, eager, NOW)]
        alerts += len(made)
    assert alerts > len(articles)  # many rules fire per article


def plain_key_hits(trie: object, tokens: Tokens) -> list[tuple[int, str]]:
    """geonames._key_hits as a lookup of every run of tokens that may start a name."""
    norms, spans, text = tokens.norms, tokens.spans, tokens.text
    found = []
    for i, norm in enumerate(norms):
        if (text[spans[i][0]].islower() and norm not in geonames._ANY_PARTICLE) or (
                norm in geonames._NO_START or norm.isdigit()):
            continue
        for stop in range(i + 1, min(i + geonames.MAX_TOKENS, len(norms)) + 1):
            key = " ".join(norms[i:stop])
            if key in trie:  # type: ignore[operator]
                found.append((i, key))
    return found


def test_world_key_hits_are_those_of_a_lookup_at_every_token() -> None:
    trie = geonames.world_layer().files.trie
    texts = [text for article in [*fakes_articles(), *feed_articles()]
             for text in (article.title, article.summary, article.content)]
    rng = random.Random(19)
    names = ["Deir ez-Zor", "Aleppo", "al-Bab", "New York City", "The", "2024", "Bosnia and "
             "Herzegovina", "north Kivu", "Abu Kamal", "Washington", "Mali", "Umm Qasr"]
    texts += [" ".join(rng.choices([*names, "in", "near", "said", ",", "."], k=30))
              for _ in range(300)]
    for text in texts:
        tokens = tokenize(text)
        assert geonames._key_hits(trie, tokens) == plain_key_hits(trie, tokens), text[:80]


def test_world_key_lookups_remember_only_short_runs() -> None:
    trie = geonames.world_layer().files.trie
    long_word = "Q" + "x" * 5000
    text = f"{long_word} {long_word} met in Aleppo"
    assert geonames._key_hits(trie, tokenize(text)) == plain_key_hits(trie, tokenize(text))
    runs = geonames._opening(trie)
    assert runs and all(len(key) <= geonames.LONGEST_REMEMBERED for key in runs)
