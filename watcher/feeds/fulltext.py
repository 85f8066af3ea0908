"""Full text: the main text of each new article's page, for feeds with `full_text: true`.

Many feeds carry a headline and one sentence; the place, group or word a rule needs is in the
article. For a feed that asks for it, each new article (after dedupe: a page is fetched once)
has its link fetched and its main text extracted by trafilatura; the text replaces the
article's `content`, the field rules match as `content`.

The page is fetched by `fetch.fetch_feed`, with its guards: the address guard on every
connection and every redirect hop, the size cap (`full_text.max_bytes`) and one deadline
(`full_text.timeout`) per try, the fetch limits per host and overall; only http(s) links are
fetched (a feed's `file:` link is refused). At most `full_text.concurrency` pages of one batch
are fetched at once, at most `full_text.max_per_poll` of them at all (the newest first); a
page that timed out, could not connect or answered 5xx/429 is tried `full_text.retries` more
times. The whole batch ends by `full_text.batch_timeout`: the pipeline fetches pages while its
poll holds one of its few parse-and-match slots, so a slow outlet must not hold it for long.

Every failure (timeout, too big, not HTML, blocked address, HTTP error, less than
MIN_TEXT_CHARS of main text extracted)
leaves the article as the feed gave it: its summary is matched. Outcomes are counted per
feed in `watcher_full_text_pages_total` (/metrics) and a poll with failures says so in its
feed's warning (`watcher feeds`, the desk's feed view).

trafilatura (and lxml's HTML cleaner it needs) is imported on the first page to extract, so
a process without full-text feeds never loads it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from watcher.config.settings import FetchSettings, FullTextSettings
from watcher.feeds.fetch import HTTP_SCHEMES, FetchLimits, fetch_feed
from watcher.models import Article, FetchResult

log = logging.getLogger("watcher.feeds.fulltext")

__all__ = ["FullTextOutcome", "FullTextReport", "extract_main_text", "fetch_full_texts"]

FullTextOutcome = Literal["fetched", "timeout", "too_big", "not_html", "blocked", "http_error",
                          "unreachable", "empty", "not_http", "over_cap"]
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
RETRIED = frozenset({"timeout", "unreachable"})
# Less main text than this is a paywall, a cookie wall or bare navigation, not the article:
# the feed's summary says as much.
MIN_TEXT_CHARS = 200
_LONG_AGO = datetime.min.replace(tzinfo=UTC)


@dataclass
class FullTextReport:
    """What one batch's pages came to, per outcome."""

    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome != "fetched")

    def warning(self) -> str | None:
        """A line for the feed's health, or None when every page was read."""
        if not self.failed:
            return None
        total = sum(self.outcomes.values())
        causes = ", ".join(f"{outcome.replace('_', ' ')} {n}"
                           for outcome, n in sorted(self.outcomes.items())
                           if outcome != "fetched")
        return (f"full text: {self.failed} of {total} article pages not read ({causes}); "
                "their feed summaries were matched")


async def fetch_full_texts(client: httpx.AsyncClient, articles: Sequence[Article], *,
                           settings: FullTextSettings, fetch: FetchSettings,
                           limits: FetchLimits | None,
                           base_dir: Path) -> tuple[list[Article], FullTextReport]:
    """`articles` with `content` replaced by their page's main text where it could be read;
    the others unchanged. Never raises for a page's own problems."""
    report = FullTextReport()
    if not articles:
        return list(articles), report
    page_settings = fetch.model_copy(update={"timeout": settings.timeout,
                                             "max_bytes": settings.max_bytes})
    newest = sorted(range(len(articles)), key=lambda i: articles[i].published or _LONG_AGO,
                    reverse=True)
    chosen = set(newest[:settings.max_per_poll])
    gate = asyncio.Semaphore(settings.concurrency)

    async def one(i: int, article: Article) -> Article:
        if i not in chosen:
            report.outcomes["over_cap"] += 1
            return article
        async with gate:
            text, outcome = await _full_text(client, article, settings, page_settings,
                                             limits, base_dir)
        report.outcomes[outcome] += 1
        if text is None:
            log.info("article %s: full text not read (%s); its summary is matched",
                     article.url, outcome.replace("_", " "), extra={"feed": article.feed})
            return article
        return article.model_copy(update={"content": text})

    tasks = [asyncio.create_task(one(i, a)) for i, a in enumerate(articles)]
    _, late = await asyncio.wait(tasks, timeout=settings.batch_timeout)
    for task in late:  # past the batch's deadline: given up, their summaries are matched
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    if late:
        report.outcomes["timeout"] += len(late)
        log.info("%d article pages not read within full_text.batch_timeout (%gs)", len(late),
                 settings.batch_timeout, extra={"feed": articles[0].feed})
    return [article if task in late else task.result()
            for article, task in zip(articles, tasks, strict=True)], report


async def _full_text(client: httpx.AsyncClient, article: Article, settings: FullTextSettings,
                     page_settings: FetchSettings, limits: FetchLimits | None,
                     base_dir: Path) -> tuple[str | None, FullTextOutcome]:
    url = (article.url or "").strip()
    if urlsplit(url).scheme.lower() not in HTTP_SCHEMES:
        return None, "not_http"
    outcome: FullTextOutcome = "unreachable"
    for _try in range(settings.retries + 1):
        result = await fetch_feed(client, article.feed, url, etag=None, last_modified=None,
                                  settings=page_settings, base_dir=base_dir, limits=limits)
        if result.ok:
            break
        outcome = _failure(result)
        if outcome not in RETRIED and not _retried_status(result.status):
            return None, outcome
    else:
        return None, outcome
    assert result.body is not None
    if not _is_html(result):
        return None, "not_html"
    try:
        text = await asyncio.to_thread(extract_main_text, result.body, result.content_type,
                                       result.final_url or url)
    except Exception:  # a hostile page must not fail the poll: its summary is matched
        log.warning("article %s: the extractor failed on its page", url, exc_info=True,
                    extra={"feed": article.feed})
        return None, "empty"
    if text is None or len(text) < MIN_TEXT_CHARS:
        return None, "empty"
    return text[:settings.max_chars], "fetched"


def _failure(result: FetchResult) -> FullTextOutcome:
    error = result.error or ""
    if result.status is not None and result.status >= 400:
        return "http_error"
    if "timed out" in error:
        return "timeout"
    if "over the limit" in error:
        return "too_big"
    if "address not allowed" in error or "unsupported URL" in error:
        return "blocked"
    return "unreachable"


def _retried_status(status: int | None) -> bool:
    return status is not None and (status == 429 or status >= 500)


def _is_html(result: FetchResult) -> bool:
    media = (result.content_type or "").split(";")[0].strip().lower()
    if media:
        return media in HTML_TYPES
    head = (result.body or b"")[:1024].lstrip().lower()  # no type said: look at it
    return head.startswith((b"<!doctype html", b"<html"))


def extract_main_text(body: bytes, content_type: str | None, url: str | None) -> str | None:
    """The main text of an HTML page (trafilatura: boilerplate, navigation, script and style
    left out), or None when it finds none. The charset of the Content-Type header decides the
    decoding; without one, trafilatura reads the page's own `<meta charset>` or guesses."""
    import trafilatura  # here: imported only once a feed asks for full text

    page: Any = body
    charset = _charset(content_type)
    if charset is not None:
        try:
            page = body.decode(charset, errors="replace")
        except LookupError:
            page = body
    text = trafilatura.extract(page, url=url, include_comments=False, include_tables=True,
                               include_images=False, include_links=False, deduplicate=False,
                               with_metadata=False, output_format="txt")
    return text.strip() if text and text.strip() else None


def _charset(content_type: str | None) -> str | None:
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip("\"'"):
            return value.strip().strip("\"'")
    return None
