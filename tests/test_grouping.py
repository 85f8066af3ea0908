"""Grouping and the hourly cap (delivery.grouping, .batch_send): a real store file, a real local
HTTP receiver, and a fake clock driven forward instead of sleeping."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer

from tests.alertfactory import START, Clock, make_alert, make_article
from watcher.config.settings import Config, DeliverySettings, WebhookSink
from watcher.delivery.grouping import (
    BatchPolicy,
    DigestSchedule,
    batch_policies,
    cap_free_at,
    lane_for,
)
from watcher.delivery.route import route_alert
from watcher.delivery.sending import DeliveryReport
from watcher.delivery.sinks import WebhookPoster
from watcher.delivery.worker import deliver_due
from watcher.models import Alert, Delivery, Lane
from watcher.store import Store, open_store

SETTINGS = DeliverySettings(max_attempts=5, initial_backoff=10, max_backoff=300)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(tmp_path / "w.db")
    yield s
    await s.close()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


def hook(httpserver: HTTPServer, client: httpx.AsyncClient) -> WebhookPoster:
    return WebhookPoster(WebhookSink.model_validate(
        {"type": "webhook", "name": "hook", "url": httpserver.url_for("/hook")}), client)


async def queue(store: Store, alerts: Sequence[Alert], now: datetime) -> None:
    await store.record_articles([make_article(a.article.key) for a in alerts],
                                [Delivery(a, "hook") for a in alerts], now)


async def queue_routed(store: Store, alerts: Sequence[Alert], config: Config,
                       now: datetime) -> None:
    """Queue as the pipeline does: each sink with the route that chose it (delivery/route.py)."""
    await store.record_articles(
        [make_article(a.article.key) for a in alerts],
        [Delivery(a, sink, route=route) for a in alerts
         for sink, route in route_alert(a.rule, (), config).items()], now)


async def deliver(store: Store, httpserver: HTTPServer, client: httpx.AsyncClient,
                  clock: Clock, policy: BatchPolicy) -> DeliveryReport:
    return await deliver_due(store, {"hook": hook(httpserver, client)}, SETTINGS, clock,
                             policies={("hook", ""): policy})


def bodies(httpserver: HTTPServer) -> list[dict[str, object]]:
    return [request.get_json() for request, _ in httpserver.log]


@pytest.mark.parametrize(("sent_minutes_ago", "cap", "free_in_minutes"), [
    ((), 2, None),
    ((50,), 2, None),
    ((50, 10), 2, 10),
    ((50, 10, 5), 2, 50),  # two must leave the hour for one more to fit
    ((70, 65), 2, None),  # older than an hour: not counted
    ((30, 20), None, None),
])
def test_cap_free_at(sent_minutes_ago: tuple[int, ...], cap: int | None,
                     free_in_minutes: int | None) -> None:
    sent = [START - timedelta(minutes=m) for m in sent_minutes_ago]
    expected = None if free_in_minutes is None else START + timedelta(minutes=free_in_minutes)
    assert cap_free_at(sent, cap, START) == expected


def test_policies_only_for_sinks_that_group_or_cap() -> None:
    config = Config.model_validate({"sinks": [
        {"type": "webhook", "name": "plain", "url": "http://x"},
        {"type": "webhook", "name": "grouped", "url": "http://x", "group_wait": "30s"},
        {"type": "slack", "name": "capped", "url": "http://x", "max_per_hour": 20},
        {"type": "console"}]})
    assert batch_policies(config) == {("grouped", ""): BatchPolicy(group_wait=30),
                                      ("capped", ""): BatchPolicy(max_per_hour=20)}


def routed_config() -> Config:
    return Config.model_validate({"sinks": [
        {"type": "webhook", "name": "plain", "url": "http://x"},
        {"type": "webhook", "name": "grouped", "url": "http://x", "group_wait": "30s",
         "max_per_hour": 20},
        {"type": "digest", "name": "hourly", "every": "1h",
         "target": {"type": "webhook", "url": "http://x"}},
        {"type": "console"}], "routes": [
        {"name": "urgent", "min_severity": "high", "max_per_hour": 5, "continue": True,
         "sinks": ["plain", "grouped", "hourly", "console"]},
        {"name": "bulk", "sinks": ["grouped"], "group_wait": "2m"},
        {"name": "quiet", "sinks": ["plain", "grouped"]}]})


def test_a_route_with_settings_has_a_lane_on_each_sink_that_can_batch() -> None:
    hourly = DigestSchedule(every=3600)
    assert batch_policies(routed_config()) == {
        ("grouped", ""): BatchPolicy(group_wait=30, max_per_hour=20),
        ("hourly", ""): BatchPolicy(schedule=hourly),
        ("plain", "urgent"): BatchPolicy(max_per_hour=5),
        ("grouped", "urgent"): BatchPolicy(group_wait=30, max_per_hour=5),  # the sink's wait
        ("hourly", "urgent"): BatchPolicy(max_per_hour=5, schedule=hourly),  # its schedule
        ("grouped", "bulk"): BatchPolicy(group_wait=120, max_per_hour=20),  # the sink's cap
    }  # quiet sets nothing, and console sends each alert alone: no lanes of their own


@pytest.mark.parametrize(("sink", "route", "lane"), [
    ("grouped", "", Lane("grouped", "", ("bulk", "urgent"))),
    ("grouped", "bulk", Lane("grouped", "bulk")),
    ("grouped", "quiet", Lane("grouped", "", ("bulk", "urgent"))),  # the sink's lane
    ("plain", "quiet", Lane("plain", "", ("urgent",))),
    ("plain", "gone", Lane("plain", "", ("urgent",))),  # a route no longer configured
    ("console", "urgent", Lane("console")),
])
def test_lane_for(sink: str, route: str, lane: Lane) -> None:
    assert lane_for(batch_policies(routed_config()), sink, route) == lane


async def test_alerts_within_the_wait_go_as_one_digest(
        store: Store, httpserver: HTTPServer, client: httpx.AsyncClient,
        clock: Clock) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    policy = BatchPolicy(group_wait=30)
    alerts = [make_alert(f"k{i}") for i in range(3)]
    await queue(store, alerts[:2], clock.now)
    assert (await deliver(store, httpserver, client, clock, policy)).held == 2
    clock.advance(20)
    await queue(store, alerts[2:], clock.now)
    assert (await deliver(store, httpserver, client, clock, policy)).held == 1
    clock.advance(9)
    assert (await deliver(store, httpserver, client, clock, policy)).outcomes == {}
    assert httpserver.log == []

    clock.advance(1)  # 30 s after the first
    report = await deliver(store, httpserver, client, clock, policy)
    assert report.delivered == 3
    [body] = bodies(httpserver)
    assert body["schema"] == "watcher.digest/v1" and body["count"] == 3
    assert body["alerts"] == [a.to_dict() for a in alerts]  # each alert, in the alert format
    request = httpserver.log[0][0]
    assert request.headers["Idempotency-Key"] == body["batch_id"]
    assert await store.outbox_counts() == {"pending": 0, "delivered": 3, "dead": 0}
    assert len(await store.sent_messages(Lane("hook"), START)) == 1  # one message, three rows


async def test_alerts_after_the_wait_go_separately(
        store: Store, httpserver: HTTPServer, client: httpx.AsyncClient,
        clock: Clock) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    policy = BatchPolicy(group_wait=30)
    await queue(store, [make_alert("k1")], clock.now)
    await deliver(store, httpserver, client, clock, policy)
    clock.advance(30)
    await deliver(store, httpserver, client, clock, policy)
    clock.advance(10)
    await queue(store, [make_alert("k2")], clock.now)
    await deliver(store, httpserver, client, clock, policy)
    clock.advance(30)
    await deliver(store, httpserver, client, clock, policy)
    assert [[a["article"]["key"] for a in b["alerts"]] for b in bodies(httpserver)] == [  # type: ignore[attr-defined]
        ["k1"], ["k2"]]


async def test_the_group_survives_a_restart(tmp_path: Path, httpserver: HTTPServer,
                                            client: httpx.AsyncClient, clock: Clock) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    policy = BatchPolicy(group_wait=30)
    store = await open_store(tmp_path / "w.db")
    await queue(store, [make_alert("k1"), make_alert("k2")], clock.now)
    assert (await deliver(store, httpserver, client, clock, policy)).held == 2
    await store.close()  # the process goes away mid-wait

    store = await open_store(tmp_path / "w.db")
    try:
        clock.advance(30)
        assert (await deliver(store, httpserver, client, clock, policy)).delivered == 2
        [body] = bodies(httpserver)
        assert body["count"] == 2
        assert await store.outbox_counts() == {"pending": 0, "delivered": 2, "dead": 0}
    finally:
        await store.close()


async def test_a_failed_digest_is_retried_whole(
        store: Store, httpserver: HTTPServer, client: httpx.AsyncClient,
        clock: Clock) -> None:
    httpserver.expect_ordered_request("/hook").respond_with_data("down", status=503)
    httpserver.expect_ordered_request("/hook").respond_with_data("ok")
    policy = BatchPolicy(group_wait=30)
    await queue(store, [make_alert("k1"), make_alert("k2")], clock.now)
    await deliver(store, httpserver, client, clock, policy)
    clock.advance(30)
    assert (await deliver(store, httpserver, client, clock, policy)).retrying == 2
    clock.advance(SETTINGS.max_backoff)
    assert (await deliver(store, httpserver, client, clock, policy)).delivered == 2
    first, second = bodies(httpserver)
    assert first == second  # the same alerts, the same batch id: a receiver can drop repeats


async def test_over_the_cap_alerts_are_summarised_never_dropped(
        store: Store, httpserver: HTTPServer, client: httpx.AsyncClient,
        clock: Clock) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    policy = BatchPolicy(max_per_hour=2)
    alerts = [make_alert(f"k{i}", rule_id="convoy" if i % 2 else "defection",
                         rule_title="Convoy" if i % 2 else "Defection",
                         severity="high" if i % 2 else "medium", title=f"Story {i}")
              for i in range(7)]
    await queue(store, alerts, clock.now)
    report = await deliver(store, httpserver, client, clock, policy)
    assert (report.delivered, report.held) == (2, 5)
    assert [b["alert_id"] for b in bodies(httpserver)] == [a.alert_id for a in alerts[:2]]

    clock.advance(1800)  # still within the hour: more alerts are held too
    await queue(store, [make_alert("late", title="Late story")], clock.now)
    assert (await deliver(store, httpserver, client, clock, policy)).held == 1
    assert len(httpserver.log) == 2

    clock.advance(1800)  # the first message leaves the hour: room for the summary
    report = await deliver(store, httpserver, client, clock, policy)
    assert report.delivered == 6
    summary = bodies(httpserver)[2]
    held = [*alerts[2:], make_alert("late", title="Late story")]
    assert summary["schema"] == "watcher.summary/v1" and summary["count"] == 6
    assert summary["by_severity"] == {"high": 3, "medium": 3}
    assert summary["by_rule"] == [
        {"id": "defection", "title": "Defection", "severity": "medium", "count": 3},
        {"id": "convoy", "title": "Convoy", "severity": "high", "count": 2},
        {"id": "isil-movement", "title": "ISIL movement in eastern Syria", "severity": "high",
         "count": 1},
    ]
    assert sorted(a["title"] for a in summary["alerts"]) == sorted(  # type: ignore[attr-defined]
        a.article.title for a in held)
    assert await store.outbox_counts() == {"pending": 0, "delivered": 8, "dead": 0}


async def test_a_group_over_the_cap_waits_and_becomes_a_summary(
        store: Store, httpserver: HTTPServer, client: httpx.AsyncClient,
        clock: Clock) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    policy = BatchPolicy(group_wait=30, max_per_hour=1)
    await queue(store, [make_alert("k1")], clock.now)
    clock.advance(30)
    await deliver(store, httpserver, client, clock, policy)
    await queue(store, [make_alert("k2"), make_alert("k3")], clock.now)
    clock.advance(30)
    assert (await deliver(store, httpserver, client, clock, policy)).held == 2
    clock.advance(3600)
    assert (await deliver(store, httpserver, client, clock, policy)).delivered == 2
    kinds = [(b["schema"], b["count"]) for b in bodies(httpserver)]
    assert kinds == [("watcher.digest/v1", 1), ("watcher.summary/v1", 2)]
    assert await store.outbox_counts() == {"pending": 0, "delivered": 3, "dead": 0}


async def test_without_a_policy_each_alert_goes_alone_as_before(
        store: Store, httpserver: HTTPServer, client: httpx.AsyncClient,
        clock: Clock) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    alerts = [make_alert("k1"), make_alert("k2")]
    await queue(store, alerts, clock.now)
    report = await deliver_due(store, {"hook": hook(httpserver, client)}, SETTINGS, clock,
                               policies={})
    assert report.delivered == 2
    assert bodies(httpserver) == [a.to_dict() for a in alerts]


async def test_group_and_cap_on_postgresql(pg_url: str, httpserver: HTTPServer,
                                           client: httpx.AsyncClient, clock: Clock) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    policy = BatchPolicy(group_wait=30, max_per_hour=1)
    store = await open_store(pg_url)
    try:
        await queue(store, [make_alert("k1"), make_alert("k2")], clock.now)
        assert (await deliver(store, httpserver, client, clock, policy)).held == 2
        clock.advance(30)
        assert (await deliver(store, httpserver, client, clock, policy)).delivered == 2
        await queue(store, [make_alert("k3")], clock.now)
        clock.advance(30)
        assert (await deliver(store, httpserver, client, clock, policy)).held == 1
        clock.advance(3600)
        assert (await deliver(store, httpserver, client, clock, policy)).delivered == 1
        assert [(b["schema"], b["count"]) for b in bodies(httpserver)] == [
            ("watcher.digest/v1", 2), ("watcher.summary/v1", 1)]
        assert len(await store.sent_messages(Lane("hook"), START)) == 2
        assert await store.outbox_counts() == {"pending": 0, "delivered": 3, "dead": 0}
    finally:
        await store.close()


# Per-route grouping and caps: the pipeline's routing, a real store, a real receiver.

URGENT: dict[str, object] = {"name": "urgent", "min_severity": "critical", "sinks": ["hook"]}
REST: dict[str, object] = {"name": "rest", "sinks": ["hook"]}


def hook_config(httpserver: HTTPServer, sink: dict[str, object],
                routes: list[dict[str, object]]) -> Config:
    return Config.model_validate({"sinks": [{"type": "webhook", "name": "hook",
                                             "url": httpserver.url_for("/hook"), **sink}],
                                  "routes": routes})


def urgent(i: int) -> Alert:
    return make_alert(f"u{i}", rule_id="urgent", severity="critical", title=f"Urgent {i}")


def routine(i: int) -> Alert:
    return make_alert(f"r{i}", rule_id="routine", severity="medium", title=f"Routine {i}")


async def deliver_routed(store: Store, httpserver: HTTPServer, client: httpx.AsyncClient,
                         clock: Clock, config: Config) -> DeliveryReport:
    return await deliver_due(store, {"hook": hook(httpserver, client)}, SETTINGS, clock,
                             policies=batch_policies(config))


def sent_ids(body: dict[str, object]) -> list[str]:
    alerts = body.get("alerts")
    if isinstance(alerts, list):
        return [a["alert_id"] for a in alerts]
    return [str(body["alert_id"])]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_two_routes_to_one_sink_are_capped_independently(
        backend: str, request: pytest.FixtureRequest, tmp_path: Path, httpserver: HTTPServer,
        client: httpx.AsyncClient, clock: Clock) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    config = hook_config(httpserver, {}, [{**URGENT, "max_per_hour": 2},
                                          {**REST, "max_per_hour": 1}])
    location = request.getfixturevalue("pg_url") if backend == "postgres" else tmp_path / "w.db"
    store = await open_store(location)
    try:
        await queue_routed(store, [urgent(i) for i in range(3)] + [routine(i) for i in range(3)],
                           config, clock.now)
        report = await deliver_routed(store, httpserver, client, clock, config)
        assert (report.delivered, report.held) == (3, 3)
        assert sorted(i for b in bodies(httpserver) for i in sent_ids(b)) == [
            "routine.r0", "urgent.u0", "urgent.u1"]

        clock.advance(3600)  # each route's hour allows one more: a summary each
        assert (await deliver_routed(store, httpserver, client, clock, config)).delivered == 3
        summaries = sorted(sent_ids(b) for b in bodies(httpserver)[3:])
        assert summaries == [["routine.r1", "routine.r2"], ["urgent.u2"]]
        assert all(b["schema"] == "watcher.summary/v1" for b in bodies(httpserver)[3:])
        assert len(await store.sent_messages(Lane("hook", "urgent"), START)) == 3
        assert len(await store.sent_messages(Lane("hook", "rest"), START)) == 2
        assert await store.sent_messages(Lane("hook", "", ("rest", "urgent")), START) == []
        assert await store.outbox_counts() == {"pending": 0, "delivered": 6, "dead": 0}
    finally:
        await store.close()


async def test_a_routes_group_wait_groups_only_its_alerts(
        store: Store, httpserver: HTTPServer, client: httpx.AsyncClient,
        clock: Clock) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    config = hook_config(httpserver, {}, [URGENT, {**REST, "group_wait": "30s"}])
    await queue_routed(store, [urgent(0), routine(0), routine(1)], config, clock.now)
    assert (await deliver_routed(store, httpserver, client, clock, config)).held == 2
    clock.advance(10)
    await queue_routed(store, [urgent(1), routine(2)], config, clock.now)
    report = await deliver_routed(store, httpserver, client, clock, config)
    assert (report.delivered, report.held) == (1, 1)
    clock.advance(20)  # 30 s after the route's first alert
    assert (await deliver_routed(store, httpserver, client, clock, config)).delivered == 3
    assert [(b["schema"], sent_ids(b)) for b in bodies(httpserver)] == [
        ("watcher.alert/v1", ["urgent.u0"]),  # the other route's: at once, each alone
        ("watcher.alert/v1", ["urgent.u1"]),
        ("watcher.digest/v1", ["routine.r0", "routine.r1", "routine.r2"])]


async def test_routes_without_settings_share_the_sinks_cap_as_before(
        store: Store, httpserver: HTTPServer, client: httpx.AsyncClient,
        clock: Clock) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    config = hook_config(httpserver, {"max_per_hour": 2}, [URGENT, REST])
    assert batch_policies(config) == {("hook", ""): BatchPolicy(max_per_hour=2)}
    await queue_routed(store, [urgent(0), urgent(1), routine(0), routine(1)], config,
                       clock.now)
    report = await deliver_routed(store, httpserver, client, clock, config)
    assert (report.delivered, report.held) == (2, 2)  # one cap for the sink, whatever the route
    assert sorted((r.route, r.status) for r in await store.list_alerts(None, 10)) == [
        ("rest", "pending"), ("rest", "pending"), ("urgent", "delivered"),
        ("urgent", "delivered")]
    clock.advance(3600)
    assert (await deliver_routed(store, httpserver, client, clock, config)).delivered == 2
    assert sent_ids(bodies(httpserver)[2]) == ["routine.r0", "routine.r1"]
    assert len(await store.sent_messages(Lane("hook"), START)) == 3
