"""The query string of the desk's alert list (page and API) as an `AlertQuery`.

    ?severity=high&rule=…&tag=…&place=…&group=…&feed=…&story=…&source=…
     &q=words in titles&since=ISO-8601&until=ISO-8601&cursor=…&after=…&limit=…

Each filter may repeat (all must hold). `cursor` is the `next_cursor` of the previous page;
`after` asks for alerts newer than a seq (live updates).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from multidict import MultiMapping

from watcher.models import SEVERITIES
from watcher.store import AlertQuery, FacetKind
from watcher.store.desk_records import FACET_KINDS, MAX_PAGE

MAX_TEXT = 200
MAX_FILTERS = 20


class BadQuery(ValueError):
    """A query parameter the desk cannot use; the message names it."""


def alert_query(params: MultiMapping[str], page_size: int) -> AlertQuery:
    facets: list[tuple[FacetKind, str]] = []
    for kind in FACET_KINDS:
        for value in params.getall(kind, []):
            if value == "":
                continue
            if kind == "severity" and value not in SEVERITIES:
                raise BadQuery(f"severity: {value!r} is not one of {', '.join(SEVERITIES)}")
            facets.append((kind, value))
    if len(facets) > MAX_FILTERS:
        raise BadQuery(f"at most {MAX_FILTERS} filters")
    text = params.get("q", "").strip() or None
    if text is not None and len(text) > MAX_TEXT:
        raise BadQuery(f"q: at most {MAX_TEXT} characters")
    return AlertQuery(facets=tuple(facets), text=text, since=_time(params, "since"),
                      until=_time(params, "until"), before=_seq(params, "cursor"),
                      after=_seq(params, "after"),
                      limit=_int(params, "limit", page_size, 1, MAX_PAGE))


def _time(params: Mapping[str, str], name: str) -> datetime | None:
    value = params.get(name, "").strip()
    if not value:
        return None
    try:
        if "T" not in value.upper():  # a date and a time, as RFC 3339 has it
            raise ValueError(value)
        moment = datetime.fromisoformat(value)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)  # 0001-01-01T00:00+01:00 is no time in UTC
    except (ValueError, OverflowError):
        raise BadQuery(f"{name}: not an ISO-8601 date and time: {value!r}") from None


def _seq(params: Mapping[str, str], name: str) -> int | None:
    if name not in params:
        return None
    return _int(params, name, 0, 0, 2**62)


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    if name not in params:
        return default
    value = params[name]
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise BadQuery(f"{name}: a whole number from {low} to {high}, not {value!r}")
    return int(value)
