"""Articles for offline matching (`watcher match`): JSON Lines of the article contract, or a
whole RSS/Atom document, told apart by their first character."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from pydantic import ValidationError

from watcher.feeds.parse import article_from_record, parse_feed
from watcher.models import Article, ArticleIn


@dataclass
class ArticleInput:
    articles: list[Article] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read_articles(data: bytes, name: str) -> ArticleInput:
    """Every readable article in `data`; one `NAME:LINE: message` per unreadable line."""
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if not head:
        return ArticleInput()
    if head == b"{":
        return _read_json_lines(data, name)
    outcome = parse_feed(data, feed_id="input", source=name, url=name)
    result = ArticleInput(articles=list(outcome.articles))
    if outcome.error:
        result.problems.append(f"{name}: not JSON Lines, nor a feed: {outcome.error}")
    elif outcome.warning:
        result.problems.append(f"{name}: warning: {outcome.warning}")
    return result


def _read_json_lines(data: bytes, name: str) -> ArticleInput:
    result = ArticleInput()
    for number, line in _numbered_lines(data):
        try:
            record = ArticleIn.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            result.problems.append(f"{name}:{number}:{exc.colno}: invalid JSON: {exc.msg}")
            continue
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "line"
            result.problems.append(f"{name}:{number}: {where}: {first['msg']}")
            continue
        result.articles.append(article_from_record(record, default_source=name))
    return result


def _numbered_lines(data: bytes) -> Iterator[tuple[int, str]]:
    text = data.decode("utf-8-sig", errors="replace")
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line
