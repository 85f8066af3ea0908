""""Also reported by N outlets": what a grouping sink (digest, group_wait) says of each
alert's story, read from the store when the message is sent.

    rows of a digest ─▶ refresh_stories(store, alerts) ─▶ alerts whose `story` counts are
                        those of now, and each story's first report per outlet
                     ─▶ also_reported(alert, stories): the other outlets' reports, linked

An alert's `story` says how far its story had got when the alert was queued; a digest goes
out minutes or hours later, when other outlets have reported the same event (their articles
joined the story quietly: delivery per story sends each sink the first report only). So
the digest reads each story again and shows, under each alert, the outlets that also
reported it, with links: the desk sees the event once, and every outlet's version of it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from watcher.errors import WatcherError
from watcher.models import Alert, Story, StoryEntry

log = logging.getLogger("watcher.deliver")

MAX_REPORTS = 10  # links listed under one alert; the rest are counted


@dataclass(frozen=True)
class Report:
    """One outlet's first article in a story."""

    source: str
    title: str
    url: str | None


@dataclass(frozen=True)
class StoryNow:
    """A story as the store has it at send time: its counts and each outlet's first report,
    oldest first."""

    story: Story
    reports: tuple[Report, ...]


class StoryReader(Protocol):
    async def story_articles(self, story_id: str) -> list[StoryEntry]: ...


def story_now(story: Story, entries: Sequence[StoryEntry]) -> StoryNow:
    """The story of `entries` (its articles, oldest first) as it stands."""
    if not entries:
        return StoryNow(story, ())
    firsts: dict[str, StoryEntry] = {}
    for entry in entries:
        firsts.setdefault(entry.source, entry)
    current = story.model_copy(update={
        "first_seen": min(story.first_seen, entries[0].at), "articles": len(entries),
        "sources": list(firsts)})
    return StoryNow(current, tuple(Report(e.source, e.title, e.url) for e in firsts.values()))


async def refresh_stories(store: StoryReader, alerts: Sequence[Alert]
                          ) -> tuple[tuple[Alert, ...], dict[str, StoryNow]]:
    """The alerts with their stories' counts as of now, and each story's reports. A store
    that cannot answer leaves the alerts as they were queued (logged): a digest late is
    worse than one without its other outlets."""
    stories: dict[str, StoryNow] = {}
    for alert in alerts:
        if alert.story is None or alert.story.id in stories:
            continue
        try:
            entries = await store.story_articles(alert.story.id)
        except WatcherError as exc:
            log.warning("digest: cannot read story %s: %s", alert.story.id, exc)
            return tuple(alerts), {}
        stories[alert.story.id] = story_now(alert.story, entries)
    refreshed = tuple(
        a if a.story is None else a.model_copy(update={"story": stories[a.story.id].story
                                                       .model_copy(update={"update":
                                                                           a.story.update})})
        for a in alerts)
    return refreshed, stories


def also_reported(alert: Alert, stories: Mapping[str, StoryNow]) -> tuple[Report, ...]:
    """The other outlets' first reports of the alert's story (not its own outlet's)."""
    if alert.story is None or alert.story.id not in stories:
        return ()
    return tuple(r for r in stories[alert.story.id].reports
                 if r.source != alert.article.source)


def also_heading(reports: Sequence[Report]) -> str:
    n = len(reports)
    return f"Also reported by {n} outlet{'s' if n != 1 else ''}"


def listed(reports: Sequence[Report]) -> tuple[tuple[Report, ...], int]:
    """The reports to link and how many more there are."""
    return tuple(reports[:MAX_REPORTS]), max(0, len(reports) - MAX_REPORTS)
