"""How long story keys and gates are kept (both stores): until no article can use them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from watcher.models import StoryEntry


def retention_cutoff(since: datetime, entries: Sequence[StoryEntry]) -> datetime:
    """Before when story keys and gates may go, for a batch that looks back to `since`.

    A batch looks for stories among keys of articles at or after `since` (the oldest entry's
    time less the window); a story lasts a window from its first article, whose gates were
    taken no earlier than that article's time. So nothing older than two windows before
    `since` can be found or asked again, even for a later batch whose articles are a window
    older than this one's."""
    window = min(e.at for e in entries) - since if entries else timedelta(0)
    return since - 2 * max(window, timedelta(0))
