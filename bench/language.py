"""Language per article: accuracy, confusion, speed and memory of watcher.text.language.

    .venv/bin/python bench/language.py [--min-words 20] [--runs 3]

Labelled sample (articles of --min-words words or more; for scripts written without spaces,
Chinese and Japanese, twice as many characters):
- the captured feeds in ../shared/data/feeds (news/ and wild/), labelled per file in FEEDS
  below: the language each was checked by hand to be written in (its declaration, where it
  has one, agrees; the undeclared ones were read). Feeds of mixed or unclear language (the
  podcast, mailing-list and code feeds) are left out. The first --per-feed articles of each.
- bench/fixtures/language_sample.jsonl: short news reports written for this bench in the
  languages the captures lack (Arabic, Persian, Turkish, Ukrainian, Russian news, French
  news) and in the others, the same events across languages (Ukrainian beside Russian,
  Persian and Urdu beside Arabic, Portuguese beside Spanish are the hard pairs).

Every article is detected as the pipeline does it (`detect_language` on title, summary and
content, with no declared language). Speed is articles per CPU second (median of --runs),
beside matching the same articles against the shipped rules in the same run;
memory is what loading the identifier and detecting one article add to a fresh
interpreter's resident set, measured in a child process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from watcher.feeds.parse import parse_feed  # noqa: E402
from watcher.matching.matcher import compile_rules, match_article  # noqa: E402
from watcher.models import Article  # noqa: E402
from watcher.rules.load import load_rules  # noqa: E402
from watcher.text.language import article_language, detect_language  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "feeds"
OWN = ROOT / "bench" / "fixtures" / "language_sample.jsonl"
# file -> language it is written in (checked by reading a sample of each).
FEEDS = {
    "news/aktuality-sk_2021-01.rss": "sk",
    "news/aljazeera-america_2016-02.xml": "en",
    "news/aljazeera-english-all_2026-08.xml": "en",
    "news/apnews-scraped_2026-08.xml": "en",
    "news/bbc-chinese-simp_2013-01.atom": "zh",
    "news/bbc-urdu.xml": "ur",
    "news/bbc-world_2026-08.xml": "en",
    "news/dw-chinese_2015-03.rdf": "zh",
    "news/guardian-world_2016-06.xml": "en",
    "news/huffpost-world_2019-06.xml": "en",
    "news/ilmessaggero-it.xml": "it",
    "news/jornal-de-noticias-pt_2018-01_iso-8859-1.rss": "pt",
    "news/kyivindependent-custom_2024-08.xml": "en",
    "news/lanacion-ar_2022-04.xml": "es",
    "news/livemint-news_2019-05.xml": "en",
    "news/mehr-news-iran_2026-08.xml": "en",
    "news/nyt-world_2026-08.xml": "en",
    "news/reuters-scraped-fulltext_2026-04.xml": "en",
    "news/reuters-world_2018-01.xml": "en",
    "news/thehindu-news_2016-06.xml": "en",
    "wild/cercle-psy-fr_no-decl_iso-8859-1.xml": "fr",
    "wild/fcutrecht_bogus-phpxml-declaration.rss": "nl",
    "wild/folha-rss091_blank-line-before-xml-decl.rss": "pt",
    "wild/heise-rss-0.9-rdf.xml": "de",
    "wild/ibash-ru_windows-1251.xml": "ru",
    "wild/jsonfeed-1.1_german.json": "de",
    "wild/kc0011-cn_gb2312_slash-dates.rss": "zh",
    "wild/qq-news-cn_gb2312.xml": "zh",
    "wild/uol-noticias-br_no-xml-decl_latin1_pt-dates.rss": "pt",
}
UNSPACED = ("zh", "ja")
MEMORY_PROBE = """
import resource, sys
sys.path.insert(0, {root!r})
def rss():
    with open("/proc/self/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) / 1024
from watcher.text.language import detect_language
before = rss()
detect_language({text!r}, None)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(round(before, 1), round(rss(), 1), round(peak, 1))
"""


def long_enough(text: str, language: str, min_words: int) -> bool:
    if language in UNSPACED:
        return len("".join(text.split())) >= 2 * min_words
    return len(text.split()) >= min_words


def sample(min_words: int, per_feed: int) -> list[tuple[str, str, str]]:
    """(origin, language, text) of every labelled article long enough."""
    out: list[tuple[str, str, str]] = []
    if DATA.is_dir():
        for name, language in FEEDS.items():
            path = DATA / name
            if not path.is_file():
                continue
            parsed = parse_feed(path.read_bytes(), feed_id="bench", source="bench",
                                url="http://bench.invalid/")
            texts = [" ".join(filter(None, (a.title, a.summary, a.content)))
                     for a in parsed.articles]
            kept = [t for t in texts if long_enough(t, language, min_words)][:per_feed]
            out.extend((name, language, t) for t in kept)
    elif os.environ.get("CI") == "true":
        raise SystemExit(f"{DATA} is missing")
    else:
        print(f"({DATA} absent: own sample only)")
    for line in OWN.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if long_enough(row["text"], row["lang"], min_words):
            out.append(("own", row["lang"], row["text"]))
    return out


def sample_titles() -> list[tuple[str, str, str]]:
    """(origin, language, title) of every captured feed's articles with a title."""
    out: list[tuple[str, str, str]] = []
    for name, language in FEEDS.items():
        path = DATA / name
        if path.is_file():
            parsed = parse_feed(path.read_bytes(), feed_id="bench", source="bench",
                                url="http://bench.invalid/")
            out.extend((name, language, a.title) for a in parsed.articles if a.title.strip())
    return out


def memory() -> tuple[float, float, float]:
    probe = MEMORY_PROBE.format(root=str(ROOT), text="Selon des habitants, un convoi de "
                                "camions a quitté la ville tôt ce matin en direction de la "
                                "frontière, après plusieurs jours de négociations.")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    before, after, peak = (float(x) for x in done.stdout.split())
    return before, after, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--min-words", type=int, default=20)
    parser.add_argument("--per-feed", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rows = sample(args.min_words, args.per_feed)
    detect_language("warm up the model", None)
    found = [detect_language(text, None) for _, _, text in rows]
    by_language: dict[str, Counter[str | None]] = defaultdict(Counter)
    origins: Counter[str] = Counter()
    misses: list[tuple[str, str, str | None, str]] = []
    for (origin, language, text), got in zip(rows, found, strict=True):
        by_language[language][got] += 1
        origins["own" if origin == "own" else "feeds"] += 1
        if got != language:
            misses.append((origin, language, got, text))
    print(f"{len(rows)} articles of {args.min_words}+ words "
          f"({origins['feeds']} from captured feeds, {origins['own']} written for the bench)")
    print(f"{'lang':<6}{'n':>6}{'accuracy':>10}  detected as")
    correct = 0
    for language in sorted(by_language):
        counts = by_language[language]
        n = sum(counts.values())
        right = counts[language]
        correct += right
        wrong = ", ".join(f"{g}: {c}" for g, c in counts.most_common() if g != language)
        print(f"{language:<6}{n:>6}{right / n:>10.1%}  {wrong}")
    print(f"{'all':<6}{len(rows):>6}{correct / len(rows):>10.1%}")
    for origin, language, got, text in misses[:20]:
        print(f"  miss: {origin} {language} -> {got}: {text[:90]!r}")
    titles = [(language, detect_language(title, None))
              for _, language, title in sample_titles()]
    if titles:
        right = sum(got == language for language, got in titles)
        unsure = sum(got is None for _, got in titles)
        print(f"titles alone (feeds above, any length; no target): {right / len(titles):.1%} "
              f"of {len(titles)} right, {unsure / len(titles):.1%} unsure (the declared "
              f"language stands), {(len(titles) - right - unsure) / len(titles):.1%} wrong")
    # Baseline in the same run: matching the same articles against the shipped rules, what
    # every new article costs anyway; detection runs once per article that needs it.
    matcher = compile_rules(load_rules([ROOT / "rules"]))
    articles = [Article(key=str(i), title="", summary=text, language=language)
                for i, (_, language, text) in enumerate(rows)]
    detecting, matching = [], []
    for _ in range(args.runs):
        started = time.process_time()
        for _, _, text in rows:
            detect_language(text, None)
        detecting.append(time.process_time() - started)
        started = time.process_time()
        for article in articles:
            match_article(matcher, article)
        matching.append(time.process_time() - started)
    checking = []
    for _ in range(args.runs):  # what an article whose feed declares its language costs
        started = time.process_time()
        for _, language, text in rows:
            article_language(text, language)
        checking.append(time.process_time() - started)
    detect_s, match_s = statistics.median(detecting), statistics.median(matching)
    check_s = statistics.median(checking)
    print(f"speed: {len(rows) / detect_s:,.0f} articles per CPU second detected; matching the "
          f"same articles with the shipped rules {len(rows) / match_s:,.0f}/s: detection adds "
          f"{detect_s / match_s:.1%} to matching time (medians of {args.runs})")
    print(f"declared language kept (script check only): {check_s / match_s:.1%} of matching "
          "time")
    before, after, peak = memory()
    print(f"memory: {after - before:.1f} MB added by loading and one detection "
          f"({before:.1f} -> {after:.1f} MB resident, peak {peak:.1f} MB)")


if __name__ == "__main__":
    main()
