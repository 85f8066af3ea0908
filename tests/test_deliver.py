"""The delivery worker with a real store file and a real local HTTP receiver; time is driven
forward by a fake clock instead of sleeping."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer

from tests.alertfactory import START, Clock, make_alert, make_article
from watcher.config.settings import Config, DeliverySettings, JsonlSink, WebhookSink
from watcher.delivery.grouping import batch_policies
from watcher.delivery.sending import backoff_delay
from watcher.delivery.sinks import JsonlWriter, Sink, WebhookPoster
from watcher.delivery.worker import deliver_due, drain_outbox
from watcher.models import Alert, Delivery
from watcher.store import SqliteStore, open_store

SETTINGS = DeliverySettings(max_attempts=5, initial_backoff=10, max_backoff=300, max_age=86400)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await open_store(tmp_path / "w.db")
    yield s
    await s.close()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


def hook(httpserver: HTTPServer, client: httpx.AsyncClient, name: str = "hook") -> WebhookPoster:
    return WebhookPoster(WebhookSink.model_validate(
        {"type": "webhook", "name": name, "url": httpserver.url_for("/hook")}), client)


async def queue(store: SqliteStore, *keys: str, sinks: tuple[str, ...] = ("hook",),
                now: datetime = START, route: str = "") -> None:
    await store.record_articles([make_article(k) for k in keys],
                                [Delivery(make_alert(k), s, route=route)
                                 for k in keys for s in sinks], now)


async def record(store: SqliteStore, status: str) -> list[tuple[str, int, str | None]]:
    return [(r.alert.article.key if r.alert else "?", r.attempts, r.last_error)
            for r in reversed(await store.list_alerts(status, 100))]


@pytest.mark.parametrize(("attempts", "low", "high"), [
    (0, 5, 10), (1, 5, 10), (2, 10, 20), (3, 20, 40), (5, 80, 160),
    (6, 150, 300), (7, 150, 300), (10_000, 150, 300),
])
def test_backoff_delay(attempts: int, low: float, high: float) -> None:
    rng = random.Random(3)
    delays = [backoff_delay(attempts, SETTINGS, rng) for _ in range(200)]
    assert all(low <= d <= high for d in delays)
    assert max(delays) - min(delays) > (high - low) / 2  # jittered, not fixed


def test_backoff_delay_is_reproducible_with_a_seed() -> None:
    assert ([backoff_delay(3, SETTINGS, random.Random(1)) for _ in range(3)]
            == [backoff_delay(3, SETTINGS, random.Random(1)) for _ in range(3)])


async def test_success_marks_delivered(store: SqliteStore, httpserver: HTTPServer,
                                       client: httpx.AsyncClient, clock: Clock) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    await queue(store, "k1", "k2")
    report = await deliver_due(store, {"hook": hook(httpserver, client)}, SETTINGS, clock)
    assert (report.delivered, report.retrying, report.dead) == (2, 0, 0)
    assert await store.outbox_counts() == {"pending": 0, "delivered": 2, "dead": 0}
    assert len(httpserver.log) == 2
    assert (await deliver_due(store, {"hook": hook(httpserver, client)}, SETTINGS,
                              clock)).outcomes == {}


async def test_two_failures_then_delivered(store: SqliteStore, httpserver: HTTPServer,
                                           client: httpx.AsyncClient, clock: Clock,
                                           caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(2):
        httpserver.expect_ordered_request("/hook").respond_with_data("down", status=503)
    httpserver.expect_ordered_request("/hook").respond_with_data("ok")
    sinks: dict[str, Sink] = {"hook": hook(httpserver, client)}
    await queue(store, "k1")

    assert (await deliver_due(store, sinks, SETTINGS, clock)).retrying == 1
    assert (await deliver_due(store, sinks, SETTINGS, clock)).outcomes == {}  # backing off
    clock.advance(10)
    assert (await deliver_due(store, sinks, SETTINGS, clock)).retrying == 1
    clock.advance(10)  # the second backoff is 10-20s: maybe not yet
    await deliver_due(store, sinks, SETTINGS, clock)
    clock.advance(10)
    await deliver_due(store, sinks, SETTINGS, clock)
    assert await record(store, "delivered") == [("k1", 3, "webhook localhost:"
                                                 f"{httpserver.port}: HTTP 503: down")]
    failures = [r for r in caplog.records if r.name == "watcher.deliver"]
    assert len(failures) == 2 and all(r.levelno == logging.WARNING for r in failures)
    assert failures[0].alert_id == make_alert("k1").alert_id  # type: ignore[attr-defined]
    assert failures[0].sink == "hook"  # type: ignore[attr-defined]


async def test_permanent_failure_is_dead_with_the_reason(
        store: SqliteStore, httpserver: HTTPServer, client: httpx.AsyncClient, clock: Clock,
        caplog: pytest.LogCaptureFixture) -> None:
    httpserver.expect_request("/hook").respond_with_data("no such hook", status=404)
    await queue(store, "k1", "k2")
    report = await deliver_due(store, {"hook": hook(httpserver, client)}, SETTINGS, clock)
    assert report.dead == 2  # a permanent failure of one does not hold back the next
    [(key, attempts, error), _] = await record(store, "dead")
    assert (key, attempts) == ("k1", 1)
    assert error is not None and "HTTP 404" in error and "no such hook" in error
    dead_logs = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(dead_logs) == 2 and "HTTP 404" in dead_logs[0].getMessage()


async def test_max_attempts_then_dead(store: SqliteStore, httpserver: HTTPServer,
                                      client: httpx.AsyncClient, clock: Clock) -> None:
    httpserver.expect_request("/hook").respond_with_data("down", status=500)
    sinks: dict[str, Sink] = {"hook": hook(httpserver, client)}
    await queue(store, "k1")
    for _ in range(SETTINGS.max_attempts):
        await deliver_due(store, sinks, SETTINGS, clock)
        clock.advance(SETTINGS.max_backoff)
    assert len(httpserver.log) == SETTINGS.max_attempts
    [(_, attempts, error)] = await record(store, "dead")
    assert attempts == SETTINGS.max_attempts
    assert error is not None and "gave up after 5 attempts" in error


async def test_too_old_is_dead_on_its_next_failure(store: SqliteStore, httpserver: HTTPServer,
                                                   client: httpx.AsyncClient,
                                                   clock: Clock) -> None:
    httpserver.expect_request("/hook").respond_with_data("down", status=500)
    await queue(store, "k1")
    clock.advance(SETTINGS.max_age)
    report = await deliver_due(store, {"hook": hook(httpserver, client)}, SETTINGS, clock)
    assert report.dead == 1
    [(_, _, error)] = await record(store, "dead")
    assert error is not None and "queued since 2026-11-25T12:00:00+00:00" in error


async def test_retry_after_is_honoured_when_longer(store: SqliteStore, httpserver: HTTPServer,
                                                   client: httpx.AsyncClient,
                                                   clock: Clock) -> None:
    httpserver.expect_request("/hook").respond_with_data("slow", status=429,
                                                         headers={"Retry-After": "200"})
    await queue(store, "k1")
    sinks: dict[str, Sink] = {"hook": hook(httpserver, client)}
    await deliver_due(store, sinks, SETTINGS, clock)
    [record_] = await store.list_alerts("pending", 1)
    assert record_.next_attempt == START + timedelta(seconds=200)


async def test_unknown_sink_is_dead(store: SqliteStore, clock: Clock) -> None:
    await queue(store, "k1", sinks=("pager",))
    report = await deliver_due(store, {}, SETTINGS, clock)
    assert report.dead == 1
    [(_, _, error)] = await record(store, "dead")
    assert error == "no sink named 'pager' in the configuration"


async def test_a_sink_that_is_down_holds_its_batch_and_spares_the_others(
        store: SqliteStore, httpserver: HTTPServer, client: httpx.AsyncClient, clock: Clock,
        tmp_path: Path) -> None:
    from watcher.config.settings import Config
    httpserver.expect_request("/hook").respond_with_data("down", status=503)
    archive = JsonlWriter(JsonlSink(type="jsonl", name="archive", path="a.jsonl"),
                          Config.model_validate({"base_dir": tmp_path}))
    await queue(store, "k1", "k2", "k3", sinks=("hook", "archive"))
    report = await deliver_due(store, {"hook": hook(httpserver, client), "archive": archive},
                               SETTINGS, clock)
    assert (report.delivered, report.retrying) == (3, 3)
    assert len(httpserver.log) == 1  # one failed request, not three
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 3
    assert [(k, a) for k, a, _ in await record(store, "pending")] == [
        ("k1", 1), ("k2", 0), ("k3", 0)]
    # Next time the rows that were held back go first.
    clock.advance(SETTINGS.max_backoff)
    httpserver.clear()
    httpserver.expect_request("/hook").respond_with_data("ok")
    await deliver_due(store, {"hook": hook(httpserver, client)}, SETTINGS, clock)
    sent = [r.get_json()["article"]["key"] for r, _ in httpserver.log]
    assert sent == ["k2", "k3", "k1"]


async def test_drain_delivers_everything_due_and_reports_what_waits(
        store: SqliteStore, httpserver: HTTPServer, client: httpx.AsyncClient,
        clock: Clock) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    await queue(store, *(f"k{i}" for i in range(25)), sinks=("hook", "gone"))
    report = await drain_outbox(store, {"hook": hook(httpserver, client)}, SETTINGS, clock,
                                deadline=30, limit=10)
    assert (report.delivered, report.dead, report.retrying) == (25, 25, 0)

    httpserver.clear()
    httpserver.expect_request("/hook").respond_with_data("down", status=502)
    await queue(store, "late")
    report = await drain_outbox(store, {"hook": hook(httpserver, client)}, SETTINGS, clock,
                                deadline=30)
    assert (report.delivered, report.dead, report.retrying) == (0, 0, 1)
    assert len(httpserver.log) == 1  # the backoff is not waited out


class SlowSink:
    """A sink that takes its time, recording what it was given."""

    name = "hook"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sent: list[str] = []

    async def send(self, alert: Alert) -> None:
        await asyncio.sleep(self.seconds)
        self.sent.append(alert.alert_id)


async def test_a_long_pass_renews_its_leases_so_no_other_worker_takes_its_rows(
        store: SqliteStore) -> None:
    """Six alerts at 0.4 s each take 2.4 s; the lease is 1.5 s. Without renewal, a second
    worker (another replica) would claim the unsent rows after 1.5 s and send them too."""
    settings = DeliverySettings(lease=1.5)
    real_now = lambda: datetime.now(UTC)  # noqa: E731
    await queue(store, *(f"desk:{i}" for i in range(6)), now=real_now())
    sink = SlowSink(0.4)
    first = asyncio.create_task(deliver_due(store, {"hook": sink}, settings, real_now))
    await asyncio.sleep(1.8)
    assert not first.done()
    assert await store.claim_due(real_now(), 100, settings.lease) == []
    report = await first
    assert report.delivered == 6 and len(set(sink.sent)) == 6


async def test_a_route_sends_at_once_while_its_sink_groups_the_rest(
        store: SqliteStore, httpserver: HTTPServer, client: httpx.AsyncClient,
        clock: Clock) -> None:
    """The lanes of one sink go out in the same pass, each by its own policy: the route's
    `group_wait: 0` sends its alerts alone, the sink's 30 s groups everything else."""
    httpserver.expect_request("/hook").respond_with_data("ok")
    config = Config.model_validate({
        "sinks": [{"type": "webhook", "name": "hook", "url": httpserver.url_for("/hook"),
                   "group_wait": "30s"}],
        "routes": [{"name": "urgent", "min_severity": "critical", "sinks": ["hook"],
                    "group_wait": 0, "continue": True}]})
    sinks: dict[str, Sink] = {"hook": hook(httpserver, client)}
    await queue(store, "k1", "k2")
    await queue(store, "u1", route="urgent")
    report = await deliver_due(store, sinks, SETTINGS, clock, policies=batch_policies(config))
    assert (report.delivered, report.held) == (1, 2)
    clock.advance(30)
    await queue(store, "u2", route="urgent")
    report = await deliver_due(store, sinks, SETTINGS, clock, policies=batch_policies(config))
    assert report.delivered == 3
    sent = [(b["schema"], b.get("alert_id") or ",".join(a["alert_id"] for a in b["alerts"]))
            for b in (request.get_json() for request, _ in httpserver.log)]
    assert sent[0] == ("watcher.alert/v1", "isil-movement.u1")
    assert sorted(sent[1:]) == [  # the lanes of the second pass run side by side
        ("watcher.alert/v1", "isil-movement.u2"),
        ("watcher.digest/v1", "isil-movement.k1,isil-movement.k2")]
