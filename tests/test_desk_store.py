"""The desk's part of the store on both backends (a real SQLite file and the real PostgreSQL):
alerts indexed by the outbox trigger, filters and cursors, acks, silences, muting."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests import pgtest
from tests.alertfactory import make_alert, make_article
from watcher.models import Delivery, Story
from watcher.store import AlertQuery, Store, open_store

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "postgres":
        location: Path | str = pgtest.schema_url(request.getfixturevalue("pg_schema"))
    else:
        location = tmp_path / "w.db"
    s = await open_store(location)
    yield s
    await s.close()


async def queue(store: Store, key: str, *, rule_id: str = "isil-movement", feed: str = "levant",
                title: str = "Isil fighters leave Raqqa in a convoy for Deir Ezzor",
                severity: str = "high", at: datetime = NOW, sinks: tuple[str, ...] = ("hook",),
                **overrides: object) -> str:
    article = make_article(key, title=title).model_copy(update={"feed": feed})
    alert = make_alert(key, rule_id=rule_id, title=title, severity=severity,  # type: ignore[arg-type]
                       **overrides)
    await store.record_articles([article], [Delivery(alert, s) for s in sinks], at)
    return alert.alert_id


async def test_every_queued_alert_is_indexed_once_with_its_facets(store: Store) -> None:
    first = await queue(store, "a1", sinks=("hook", "mail"))
    second = await queue(store, "a2", rule_id="sudan-fighting", feed="africa", severity="low",
                         title="Clashes in El Fasher")
    page = await store.desk_alerts(AlertQuery())
    assert [a.alert["alert_id"] for a in page] == [second, first]  # newest first, once each
    assert page[1].alert["rule"]["id"] == "isil-movement"
    for facets, expected in (((("rule", "sudan-fighting"),), [second]),
                             ((("severity", "high"),), [first]),
                             ((("feed", "levant"),), [first]),
                             ((("place", "Raqqa"),), [second, first]),
                             ((("group", "SDF"), ("feed", "africa")), [second]),
                             ((("tag", "syria"),), [second, first]),
                             ((("tag", "nowhere"),), [])):
        found = await store.desk_alerts(AlertQuery(facets=facets))  # type: ignore[arg-type]
        assert [a.alert["alert_id"] for a in found] == expected, facets
    by_text = await store.desk_alerts(AlertQuery(text="el fash"))
    assert [a.alert["alert_id"] for a in by_text] == [second]
    assert await store.desk_alerts(AlertQuery(text="100%_")) == []


async def test_cursors_time_range_and_story_when_alerts_carry_one(store: Store) -> None:
    ids = [await queue(store, f"k{i}", at=NOW + timedelta(minutes=i)) for i in range(5)]
    page = await store.desk_alerts(AlertQuery(limit=2))
    assert [a.alert["alert_id"] for a in page] == [ids[4], ids[3]]
    rest = await store.desk_alerts(AlertQuery(limit=2, before=page[-1].seq))
    assert [a.alert["alert_id"] for a in rest] == [ids[2], ids[1]]
    newer = await store.desk_alerts(AlertQuery(after=rest[0].seq))
    assert [a.alert["alert_id"] for a in newer] == [ids[4], ids[3]]
    window = await store.desk_alerts(AlertQuery(since=NOW + timedelta(minutes=1),
                                                until=NOW + timedelta(minutes=3)))
    assert [a.alert["alert_id"] for a in window] == [ids[2], ids[1]]
    # Alerts may carry a story (an additive field of the contract): indexed when present.
    article = make_article("s1").model_copy(update={"feed": "levant"})
    alert = make_alert("s1").model_copy(
        update={"story": Story(id="st-1", first_seen=NOW, articles=2)})
    await store.record_articles([article], [Delivery(alert, "hook")], NOW)
    story = await store.desk_alerts(AlertQuery(facets=(("story", "st-1"),)))
    assert [a.alert["story"]["id"] for a in story] == ["st-1"]
    assert [(s.id, s.alerts) for s in await store.list_stories(10)] == [("st-1", 1)]
    days = await store.rule_days(NOW - timedelta(days=1))
    assert days == {"isil-movement": {"2026-11-25": 6}}


async def test_acks_are_kept_and_the_latest_shows(store: Store) -> None:
    alert_id = await queue(store, "a1")
    assert await store.add_ack("no-such-alert", "ana", "", NOW) is None
    await store.add_ack(alert_id, "ana", "seen", NOW)
    latest = await store.add_ack(alert_id, "bo", "<b>called the desk</b>", NOW)
    assert latest is not None
    found = await store.desk_alert(alert_id)
    assert found is not None and found.ack == latest
    assert [a.author for a in await store.list_acks(10)] == ["bo", "ana"]
    assert await store.desk_alert("missing") is None


async def test_a_silence_mutes_alerts_carrying_all_its_matchers_while_active(
        store: Store) -> None:
    silence = await store.add_silence([("rule", "isil-movement"), ("place", "Raqqa")],
                                      NOW, NOW + timedelta(hours=2), "ana", "known event", NOW)
    assert silence.matchers == (("place", "Raqqa"), ("rule", "isil-movement"))
    muted = await queue(store, "a1", at=NOW + timedelta(minutes=5))
    other = await queue(store, "a2", rule_id="other", at=NOW + timedelta(minutes=5))
    early = await queue(store, "a0", at=NOW - timedelta(minutes=5))
    shown = {a.alert["alert_id"]: a.silenced_by for a in await store.desk_alerts(AlertQuery())}
    assert shown == {muted: (silence.id,), other: (), early: ()}
    later = NOW + timedelta(minutes=6)
    assert await store.muting_silences([muted, other, early], later) == {
        muted: silence.id, early: silence.id}  # for delivery: active now, whenever queued
    expired = await store.expire_silence(silence.id, later)
    assert expired is not None and expired.ends_at == later and not expired.active(later)
    assert await store.muting_silences([muted], later) == {}
    assert await store.list_silences(later) == []
    assert [s.id for s in await store.list_silences(None)] == [silence.id]
    assert await store.expire_silence(9999, later) is None


async def test_silenced_outbox_rows_are_finished_unsent(store: Store) -> None:
    await queue(store, "a1")
    items = await store.claim_due(NOW, 10, 60.0)
    silence = await store.add_silence([("feed", "levant")], NOW, NOW + timedelta(hours=1),
                                      "ana", "noisy feed", NOW)
    await store.mark_silenced({items[0].id: silence.id}, NOW)
    assert await store.claim_due(NOW + timedelta(hours=2), 10, 60.0) == []
    assert (await store.outbox_counts())["pending"] == 0
    found = (await store.desk_alerts(AlertQuery()))[0]
    assert found.alert["alert_id"] == items[0].alert.alert_id  # kept, never lost


UNDO_SQLITE = """
DROP TRIGGER desk_index_alert; DROP TABLE desk_facets; DROP TABLE desk_alerts; DROP TABLE acks;
DROP TABLE silence_matchers; DROP TABLE silences; ALTER TABLE outbox DROP COLUMN silenced_by;
DELETE FROM schema_version WHERE version = 12;
"""
UNDO_POSTGRES = """
DROP TRIGGER desk_index_alert ON outbox; DROP FUNCTION desk_index_alert();
DROP FUNCTION desk_facets_of(jsonb, text, text, text); DROP TABLE desk_facets;
DROP TABLE desk_alerts; DROP TABLE acks; DROP TABLE silence_matchers; DROP TABLE silences;
ALTER TABLE outbox DROP COLUMN silenced_by; DELETE FROM schema_version WHERE version = 13;
"""


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_alerts_queued_before_the_migration_are_indexed_by_it(
        backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if backend == "postgres":
        schema = request.getfixturevalue("pg_schema")
        location: Path | str = pgtest.schema_url(schema)
    else:
        location = tmp_path / "w.db"
    store = await open_store(location)
    first = await queue(store, "a1", sinks=("hook", "mail"))
    second = await queue(store, "a2", rule_id="other", at=NOW + timedelta(minutes=1))
    await store.close()
    if backend == "postgres":
        pgtest.run_sql(schema, UNDO_POSTGRES)
    else:
        with closing(sqlite3.connect(location)) as conn:
            conn.executescript(UNDO_SQLITE)
    store = await open_store(location)  # the desk's migration runs again, on old rows
    try:
        page = await store.desk_alerts(AlertQuery())
        assert [a.alert["alert_id"] for a in page] == [second, first]
        by_feed = await store.desk_alerts(AlertQuery(facets=(("feed", "levant"),
                                                              ("rule", "other"))))
        assert [a.alert["alert_id"] for a in by_feed] == [second]
    finally:
        await store.close()
