"""Sample alerts and articles for the tests of the store, the sinks and the delivery worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from watcher.models import (
    Alert,
    Article,
    ArticleRef,
    Group,
    MatchedTerm,
    Place,
    RuleRef,
    Severity,
)

DETECTED = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PUBLISHED = datetime(2026, 11, 25, 11, 30, tzinfo=UTC)
TITLE = "Isil fighters leave Raqqa in a convoy for Deir Ezzor"
SUMMARY = "A convoy of Daesh fighters left Raqqa for Mayadin; an SDF commander spoke."


def make_article(key: str = "desk:a1", *, title: str = TITLE, summary: str = SUMMARY,
                 url: str | None = "https://news.example.org/a1",
                 published: datetime | None = PUBLISHED) -> Article:
    return Article(key=key, url=url, title=title, summary=summary, source="Test desk",
                   published=published, language="en")


def make_alert(key: str = "desk:a1", *, rule_id: str = "isil-movement",
               rule_title: str = "ISIL movement in eastern Syria", severity: Severity = "high",
               title: str = TITLE, summary: str = SUMMARY,
               url: str | None = "https://news.example.org/a1",
               detected_at: datetime = DETECTED, **overrides: Any) -> Alert:
    """An alert of `rule_id` on the article `key`; `alert_id` is unique per (rule, key)."""
    start = title.find("Deir Ezzor")
    matched = [MatchedTerm(term="Deir ez-Zor", kind="place", text="Deir Ezzor", field="title",
                           start=start, end=start + len("Deir Ezzor"))] if start >= 0 else []
    matched.append(MatchedTerm(term="convoy", kind="word", text="convoy", field="summary",
                               start=2, end=8))
    fields: dict[str, Any] = {
        "alert_id": f"{rule_id}.{key}",
        "rule": RuleRef(id=rule_id, title=rule_title, severity=severity, tags=["syria"]),
        "article": ArticleRef(key=key, url=url, title=title, summary=summary,
                              source="Test desk", published=PUBLISHED),
        "matched": matched,
        "places": [Place(name="Raqqa", country="SY", lat=35.95, lon=39.01),
                   Place(name="Deir ez-Zor", country="SY", lat=35.33, lon=40.14)],
        "groups": [Group(name="ISIL"), Group(name="SDF")],
        "detected_at": detected_at,
    }
    fields.update(overrides)
    return Alert(**fields)


START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand: `clock()` is now, `clock.advance(s)` moves it."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
