"""What new articles gain before they are matched: their page's main text (feeds with
`full_text: true`, feeds/fulltext.py), then their language (watcher/text/language.py: the
declared one, or the detected one where the feed declares none or several, or the text's
script is not the declared language's). The pipeline calls `complete_articles` once per batch
of new articles, after dedupe."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from watcher.config.settings import Config, FeedConfig
from watcher.models import Article
from watcher.text.language import SAMPLE_CHARS, DetectMode, article_language

if TYPE_CHECKING:  # the fetcher (httpx, aiohttp) is imported only where pages are fetched:
    # `watcher match` and `watcher rules check` read languages here and fetch nothing
    import httpx

    from watcher.feeds.fetch import FetchLimits
    from watcher.metrics import Metrics

__all__ = ["Completed", "complete_articles", "with_languages"]


@dataclass(frozen=True)
class Completed:
    articles: list[Article]
    warnings: dict[str, str]  # feed id -> what went wrong with its pages (feed health)


async def complete_articles(client: httpx.AsyncClient, config: Config, articles: list[Article],
                            *, feed: FeedConfig | None = None, limits: FetchLimits | None,
                            metrics: Metrics) -> Completed:
    """`articles` (in order) with full text where their feed asks for it, and language. Feeds
    are looked up in `config` by the articles' `feed`, `feed` (the one polled) first."""
    # Only the feeds the articles name: a poll's articles are all `feed`'s, so a burst of
    # polls does not scan every configured feed once per poll.
    feeds = {feed.id: feed} if feed is not None else {}
    if missing := {a.feed for a in articles} - feeds.keys():
        feeds.update((f.id, f) for f in config.feeds if f.id in missing)
    by_feed: dict[str, list[int]] = {}
    for i, article in enumerate(articles):
        own = feeds.get(article.feed)
        if own is not None and own.full_text:
            by_feed.setdefault(own.id, []).append(i)
    done = list(articles)
    warnings: dict[str, str] = {}
    if by_feed:
        from watcher.feeds.fulltext import fetch_full_texts
    for feed_id, indexes in by_feed.items():
        fetched, report = await fetch_full_texts(
            client, [articles[i] for i in indexes], settings=config.full_text,
            fetch=config.fetch, limits=limits, base_dir=config.base_dir)
        for i, article in zip(indexes, fetched, strict=True):
            done[i] = article
        for outcome, n in report.outcomes.items():
            metrics.full_text_pages.labels(feed_id, outcome).inc(n)
        if (warning := report.warning()) is not None:
            warnings[feed_id] = warning
    modes = {f.id: f.detect_language for f in feeds.values()}
    return Completed(await asyncio.to_thread(with_languages, done, modes), warnings)


def with_languages(articles: Sequence[Article],
                   modes: dict[str, DetectMode] | None = None) -> list[Article]:
    """Each article with its language settled (text/language.py); `modes` per feed id
    (`detect_language`), `auto` for feeds not named."""
    out = []
    for article in articles:
        mode = (modes or {}).get(article.feed, "auto")
        text = " ".join(filter(None, (article.title, article.summary[:SAMPLE_CHARS],
                                      article.content[:SAMPLE_CHARS])))  # all that is read
        language = article_language(text, article.language, mode)
        out.append(article if language == article.language
                   else article.model_copy(update={"language": language}))
    return out

