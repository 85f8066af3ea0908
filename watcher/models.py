"""The plain typed values that pass between stages of the flow.

    fetch ─▶ FetchResult ─▶ parse ─▶ Article ─▶ match ─▶ ArticleMatch ─▶ alerts ─▶ Alert

Data flows one way: no stage reaches back into an earlier one. `Alert` and `ArticleIn`
are contracts other tools rely on (DESIGN.md); keep their field names exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")
TermKind = Literal["place", "group", "word", "pattern"]
FieldName = Literal["title", "summary", "content"]
FIELDS: tuple[FieldName, ...] = ("title", "summary", "content")

ALERT_SCHEMA = "watcher.alert/v1"


class ArticleIn(BaseModel):
    """One line of `watcher match` input (DESIGN.md). Text fields may hold HTML."""

    model_config = ConfigDict(extra="ignore")

    title: str
    summary: str | None = None
    content: str | None = None
    url: str | None = None
    id: str | None = None
    source: str | None = None
    published: datetime | None = None
    language: str | None = None


class Article(BaseModel):
    """An entry reduced to plain text, ready to match. `key` is its stable identity."""

    model_config = ConfigDict(frozen=True)

    key: str
    # Other names it may have been seen under (feeds/parse.py): it is seen if its key or any
    # alias was. Kept out of its JSON: the store records them apart.
    aliases: tuple[str, ...] = Field(default=(), exclude=True)
    url: str | None = None
    title: str
    summary: str = ""
    content: str = ""
    source: str = ""
    published: datetime | None = None
    language: str | None = None
    feed: str = ""  # id of the feed it came from (rules may be scoped to feeds)

    def field_text(self, name: FieldName) -> str:
        return str(getattr(self, name))


class MatchedTerm(BaseModel):
    """Why a rule fired: one term found in one field, with offsets into its plain text."""

    model_config = ConfigDict(frozen=True)  # shared by the alerts of one article

    term: str
    kind: TermKind
    text: str
    field: FieldName
    start: int
    end: int


# Alert parts: every field is in every alert sent, defaults included, so the schema of what
# is sent (`watcher schema alert`, serialization mode) marks them all required.
_ALWAYS_SENT = ConfigDict(json_schema_serialization_defaults_required=True)


class Place(BaseModel):
    model_config = ConfigDict(frozen=True, **_ALWAYS_SENT)  # one per entry, shared by alerts

    name: str
    country: str
    lat: float
    lon: float
    kind: Literal["country", "region", "city"] = Field(
        "city", description="country, region (a first-level division, an area) or city (a "
                            "city, town, village, camp or site)")
    geonameid: int | None = Field(None, description="The GeoNames id, where there is one.")


GroupKind = Literal["non-state", "state", "mission"]


class Group(BaseModel):
    model_config = ConfigDict(frozen=True, **_ALWAYS_SENT)  # one per entry, shared by alerts

    name: str
    kind: GroupKind | None = Field(None, description="non-state (armed groups), state (a "
                                                     "government's forces), mission (peace "
                                                     "or stabilisation operation)")
    region: tuple[str, ...] = Field((), description="ISO 3166-1 alpha-2 codes of the "
                                                    "countries where it operates")


class RuleRef(BaseModel):
    # one per compiled rule, shared by its alerts
    model_config = ConfigDict(frozen=True, **_ALWAYS_SENT)

    id: str
    title: str
    severity: Severity
    tags: list[str] = Field(default_factory=list)


class ArticleRef(BaseModel):
    model_config = _ALWAYS_SENT

    key: str
    url: str | None = None
    title: str
    summary: str = ""
    source: str = ""
    published: datetime | None = None
    language: str | None = None  # ISO 639-1: declared, or detected (text/language.py)


class Story(BaseModel):
    """The event an alert's article belongs to, across outlets (watcher/stories/): its id,
    when its first article was seen, how many articles and which sources it has so far.
    `update` marks an alert sent again for a story already alerted (it escalated)."""

    model_config = _ALWAYS_SENT

    id: str
    first_seen: datetime
    articles: int = 1
    sources: list[str] = Field(default_factory=list)
    update: bool = False


class Alert(BaseModel):
    """The alert contract of DESIGN.md: what `watcher match` prints and sinks send."""

    model_config = ConfigDict(populate_by_name=True, **_ALWAYS_SENT)

    schema_: Literal["watcher.alert/v1"] = Field(default="watcher.alert/v1", alias="schema")
    alert_id: str
    rule: RuleRef
    article: ArticleRef
    matched: list[MatchedTerm]
    places: list[Place] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list)
    # Absent only from alerts queued before stories existed.
    story: Story | None = None
    detected_at: datetime

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)

    def to_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)


# Where the matched terms of a hit are, as matching finds them, in three arrays of one
# length: (field index in FIELDS, start, end) of each, its term's label, and kind.
# `MatchedTerm`s say the same for alerts.
Spots = tuple[tuple[tuple[int, int, int], ...], tuple[str, ...], tuple[TermKind, ...]]


class Explanation(Protocol):
    """Why rules fired on one article, as matching keeps it until an alert needs it
    (matching/explain.py): each hit holds it and a key of its own."""

    def spots(self, key: object) -> Spots: ...

    def matched_terms(self, key: object) -> tuple[MatchedTerm, ...]: ...


class RuleHit:
    """A rule that fired on an article, with the terms that made it fire (`matched`).

    Matching gives the terms as an `Explanation` and a key into it: plain arrays (`spots`),
    made into the `MatchedTerm`s of alerts on first use of `matched`, since a busy article
    fires hundreds of rules and only alerts want the models. A hit may also be given its
    matched terms outright. Either way it equals, hashes and reads the same."""

    __slots__ = ("_explanation", "_key", "_matched", "notify", "rule")

    def __init__(self, rule: RuleRef, notify: tuple[str, ...],
                 matched: tuple[MatchedTerm, ...] | None = None,
                 explanation: Explanation | None = None, key: object = None) -> None:
        if (matched is None) == (explanation is None):
            raise TypeError("RuleHit takes either matched terms or an explanation")
        self.rule = rule
        self.notify = notify
        self._matched = matched
        self._explanation = explanation
        self._key = key

    @property
    def matched(self) -> tuple[MatchedTerm, ...]:
        if self._matched is None:
            assert self._explanation is not None
            self._matched = self._explanation.matched_terms(self._key)
        return self._matched

    def spots(self) -> Spots:
        """The matched terms as plain arrays (`Spots`), in the order of `matched`."""
        if self._explanation is not None:
            return self._explanation.spots(self._key)
        matched = self.matched
        return (tuple((FIELDS.index(m.field), m.start, m.end) for m in matched),
                tuple(m.term for m in matched), tuple(m.kind for m in matched))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RuleHit):
            return NotImplemented
        return (self.rule, self.notify, self.matched) == (other.rule, other.notify,
                                                            other.matched)

    def __hash__(self) -> int:
        return hash((self.rule, self.notify, self.matched))

    def __repr__(self) -> str:
        return f"RuleHit(rule={self.rule!r}, notify={self.notify!r}, matched={self.matched!r})"


@dataclass(frozen=True)
class ArticleMatch:
    """Everything matching found in one article: rules that fired, places and groups named."""

    hits: tuple[RuleHit, ...] = ()
    places: tuple[Place, ...] = ()
    groups: tuple[Group, ...] = ()


@dataclass(frozen=True)
class FetchResult:
    """What one poll of one feed brought back. `body` is None when nothing new (304) or on error."""

    feed_id: str
    url: str
    status: int | None
    body: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None
    content_type: str | None = None
    retry_after: float | None = None
    error: str | None = None
    moved_to: str | None = None  # where permanent redirects (301, 308) from `url` lead
    link_header: str | None = None  # HTTP `Link`: may name a WebSub hub (feeds/websub.py)

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def ok(self) -> bool:
        return self.error is None and self.body is not None


@dataclass
class FeedState:
    """What the store remembers of a feed between polls (and across restarts)."""

    feed_id: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    entries_seen: int = 0
    next_poll: datetime | None = None
    moved_to: str | None = None  # the feed's new URL after a permanent redirect; polled instead
    last_warning: str | None = None  # a recovered problem (malformed XML), kept apart from errors
    failing_since: datetime | None = None  # first failure of the current run of failures
    body_hash: str | None = None  # digest of the last body parsed: the same body is not re-read


@dataclass(frozen=True)
class OutboxItem:
    """One pending delivery of one alert to one sink, as claimed from the store."""

    id: int
    alert: Alert
    sink: str
    attempts: int
    created_at: datetime
    queued_at: datetime | None = None  # when last re-queued by hand; max_age counts from it
    held: bool = False  # held over its lane's max_per_hour: sent in a summary (delivery.grouping)
    route: str = ""  # the route that chose the sink; '' for notify or default_sinks


@dataclass(frozen=True)
class Lane:
    """Outbox rows of one sink that are grouped and capped together (delivery.grouping): the rows a
    route with its own group_wait or max_per_hour chose (`route`), or, with route '', all the
    sink's other rows, i.e. those whose route is none of `apart`."""

    sink: str
    route: str = ""
    apart: tuple[str, ...] = ()  # routes with lanes of their own (only when route is '')

    @property
    def label(self) -> str:
        """`hook`, or `hook (route urgent)`: for logs."""
        return f"{self.sink} (route {self.route})" if self.route else self.sink


@dataclass(frozen=True)
class Delivery:
    """An alert bound for one sink: what the pipeline hands the store's outbox."""

    alert: Alert
    sink: str
    story_keys: tuple[str, ...] = ()  # remembered with the row, for quiet repeats (delivery.quiet)
    route: str = ""  # the route that chose the sink (delivery.route); '' by notify or default_sinks


@dataclass(frozen=True)
class StoryEntry:
    """What the store keeps of one article in its story (watcher/stories/): `keys` find the
    stories it may join (places, groups, MinHash bands), `signature` is what decides."""

    article_key: str
    source: str
    url: str | None
    title: str
    at: datetime  # when it was published (never later than seen)
    keys: tuple[str, ...]
    signature: str  # JSON, read back only by watcher.stories


@dataclass(frozen=True)
class StoryMember:
    """An article already in a story, as the store gives it back to decide on new ones."""

    entry: StoryEntry
    story_id: str
    story_first_seen: datetime


# Given new entries and the stored members they may join, the story id of each entry
# (watcher.stories.assign_stories, with its window and clock bound).
StoryDecider = Callable[[Sequence[StoryEntry], Sequence[StoryMember]], list[str]]


@dataclass
class ParseOutcome:
    """Articles from one feed document, and what went wrong on the way (for feed health)."""

    articles: list[Article] = field(default_factory=list)
    warning: str | None = None
    error: str | None = None
