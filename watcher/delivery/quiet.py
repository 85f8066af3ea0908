"""Quiet repeats: the same story does not alert again within a configurable window.

Two articles are the same story when they share the canonical URL, or when the same source
publishes the same title (compared case-, space- and punctuation-blind). Story keys are
written to the store with the alert's outbox rows, in the same transaction, so a crash can
neither lose the alert nor leave a mark for an alert that was never queued.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from watcher.models import Article

_NOT_WORD = re.compile(r"[\W_]+")


class StoryMarks(Protocol):
    async def recent_stories(self, keys: Sequence[str], since: datetime) -> set[str]: ...


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def story_keys(article: Article) -> tuple[str, ...]:
    """The keys under which this article's story is remembered."""
    keys = []
    if article.url:
        keys.append("url:" + _digest(article.url))
    title = _NOT_WORD.sub(" ", article.title.casefold()).strip()
    if title:
        keys.append("title:" + _digest(f"{article.source.casefold().strip()}\x1f{title}"))
    return tuple(keys)


@dataclass
class RepeatFilter:
    """Which articles of one batch repeat a story already alerted within the window (or
    earlier in the same batch). A window of 0 lets everything through."""

    window: float
    recent: set[str] = field(default_factory=set)

    @classmethod
    async def load(cls, store: StoryMarks, articles: Sequence[Article], window: float,
                   now: datetime) -> RepeatFilter:
        if window <= 0:
            return cls(0.0)
        keys = [k for a in articles for k in story_keys(a)]
        return cls(window, await store.recent_stories(keys, now - timedelta(seconds=window)))

    def claim(self, article: Article) -> tuple[str, ...] | None:
        """None if the article repeats a recent story; else its story keys, now taken."""
        if self.window <= 0:
            return ()
        keys = story_keys(article)
        if self.recent.intersection(keys):
            return None
        self.recent.update(keys)
        return keys
