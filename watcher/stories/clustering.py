"""Which story each new article joins (pure: no I/O, `now` passed in).

An article joins the story of the earlier article it is most like, if it is like one enough;
else it starts a story of its own. Two articles report the same event when, within the
window of each other, they are not `_apart` (they report different kinds of event: a car
bomb and an air strike, kinds.py; or different days, by the weekdays they name: a strike on
Friday and another on Sunday in one city are two events), and:

- their weighted words mostly agree (near-copies: a wire story re-published, a rewritten
  headline); or
- they name a place in common (not a whole country; groups act everywhere: they confirm an
  event, never make one) and their words agree in part, or less so beside a shared figure
  (a casualty count), or less so when both report a chemical attack (one gas attack is
  reported over days, its aftermath and toll on days of their own); or
- they are in different languages (words cannot agree), share a place and a figure.

Two articles of one outlet must be near-copies: an outlet tells an event once, and its own
update of it repeats its own wording, while its report of another event in the same town
shares its house phrasing, the town and often a small figure with the first; the looser
evidence above is for outlets that word one event each their own way.

An article joins no story one of whose compared articles it is `_apart` from: a story is
one event, so a report of Sunday's strike does not join Friday's through a report of it
that names no day. So a convoy leaving Raqqa and schools reopening in Raqqa, on the same
day, share a place but neither words nor figures, and stay apart. A story lives while its
first article is within the window of the new one, so a long-running place does not chain
into one endless story.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from watcher.models import Article, ArticleMatch, Story, StoryEntry, StoryMember
from watcher.stories.kinds import CHEMICAL, other_kinds
from watcher.stories.signature import Signature, signature

NEAR_COPY = 0.5  # cosine of weighted words
SAME_EVENT = 0.3  # with a shared place
SOME_WORDS = 0.15  # with a shared place and a shared figure
STORY_ID_LENGTH = 16
COMPARED_PER_STORY = 8


@dataclass(frozen=True)
class Candidate:
    """An article already placed in a story, ready to compare."""

    story_id: str
    story_first_seen: datetime
    at: datetime
    signature: Signature
    source: str


def same_event(a: Signature, b: Signature) -> bool:
    """Do two articles (of any outlets, languages) report the same event?"""
    return _same_event(a, b, a.similarity(b))


def _same_event(a: Signature, b: Signature, words: float) -> bool:
    """same_event, given the similarity of their words."""
    if _apart(a, b):
        return False
    if words >= NEAR_COPY:
        return True
    if not _share_place(a, b):
        return False
    if CHEMICAL in a.kinds & b.kinds:
        return words >= SOME_WORDS  # one gas attack in one place, reported over days
    figures = bool(a.figures & b.figures)
    if words >= SAME_EVENT or (figures and words >= SOME_WORDS):
        return True
    return a.language != b.language and figures


def _share_place(a: Signature, b: Signature) -> bool:
    return any(name.startswith("place:") for name in a.entities & b.entities)


def _apart(a: Signature, b: Signature) -> bool:
    """Do the two report different events whatever their words: different kinds of event,
    or different days (the weekdays they name; reports of a gas attack name the days of
    its aftermath too)?"""
    if other_kinds(a.kinds, b.kinds):
        return True
    if CHEMICAL in a.kinds & b.kinds:
        return False
    return bool(a.days and b.days and not a.days & b.days)


def story_id(article_key: str) -> str:
    """The id of the story an article starts: from its key, so a retry gives the same id."""
    return hashlib.sha256(f"story\x1f{article_key}".encode()).hexdigest()[:STORY_ID_LENGTH]


def assign_stories(entries: Sequence[StoryEntry], members: Sequence[StoryMember],
                   window: float, now: datetime) -> list[str]:
    """The story id of each entry, in order: an earlier article's (stored `members`, or an
    entry before it in this batch) when they report the same event within `window` seconds,
    else a new one. Entries are taken oldest first, so a story starts with its first report."""
    span = timedelta(seconds=window)
    # Each story is compared through its latest few articles: joining one of them is joining
    # the story, and a flood of look-alike articles (one template headline) stays linear.
    latest: dict[str, deque[Candidate]] = defaultdict(lambda: deque(maxlen=COMPARED_PER_STORY))
    for m in members:  # found by a key of this batch: any entry may join them
        latest[m.story_id].append(Candidate(m.story_id, m.story_first_seen, m.entry.at,
                                            Signature.from_json(m.entry.signature),
                                            m.entry.source))
    stored = set(latest)
    by_key: dict[str, set[str]] = defaultdict(set)  # entries of this batch, by their keys
    assigned: dict[int, str] = {}
    for index in sorted(range(len(entries)), key=lambda i: (_at(entries[i], now),
                                                            entries[i].article_key)):
        entry = entries[index]
        at = _at(entry, now)
        mine = Signature.from_json(entry.signature)
        near = stored.union(*(by_key.get(k, ()) for k in entry.keys))
        best = _best_match(mine, entry.source, at, [c for sid in near for c in latest[sid]],
                           span)
        if best is None:
            sid, first = story_id(entry.article_key), at
        else:
            sid, first = best.story_id, best.story_first_seen
        assigned[index] = sid
        latest[sid].append(Candidate(sid, first, at, mine, entry.source))
        for key in entry.keys:
            by_key[key].add(sid)
    return [assigned[i] for i in range(len(entries))]


def _at(entry: StoryEntry, now: datetime) -> datetime:
    return min(entry.at, now)


def _best_match(mine: Signature, source: str, at: datetime, pool: Sequence[Candidate],
                span: timedelta) -> Candidate | None:
    """The candidate most like `mine` among those it reports the same event as, in a story
    none of whose compared articles it is `_apart` from (a report of Sunday's strike does
    not join Friday's story through a report of it that names no day)."""
    like: list[tuple[float, Candidate]] = []
    barred: set[str] = set()
    for other in pool:
        if abs(at - other.at) > span or abs(at - other.story_first_seen) > span:
            continue
        theirs = other.signature
        if _apart(mine, theirs):
            barred.add(other.story_id)
            continue  # no need to compare their words
        score = mine.similarity(theirs)
        if other.source == source and score < NEAR_COPY:
            continue  # an outlet's own follow-up repeats its own words
        if _same_event(mine, theirs, score):
            like.append((score, other))
    return max(((score, other) for score, other in like if other.story_id not in barred),
               key=lambda sc: sc[0], default=(0.0, None))[1]


def story_entry(article: Article, found: ArticleMatch, now: datetime) -> StoryEntry:
    """What the store keeps of an article in its story."""
    sig = signature(article, found)
    at = min(article.published, now) if article.published is not None else now
    return StoryEntry(article_key=article.key, source=article.source, url=article.url,
                      title=article.title, at=at, keys=sig.keys(), signature=sig.to_json())


def story_views(entries: Sequence[StoryEntry], ids: Sequence[str]) -> dict[str, Story]:
    """Each story of these entries as an alert shows it, when they are all there is of it
    (`watcher match`: its whole input is the window)."""
    views: dict[str, Story] = {}
    for entry, sid in sorted(zip(entries, ids, strict=True), key=lambda p: p[0].at):
        view = views.get(sid)
        if view is None:
            views[sid] = Story(id=sid, first_seen=entry.at, articles=1, sources=[entry.source])
            continue
        view.articles += 1
        if entry.source not in view.sources:
            view.sources.append(entry.source)
    return views
