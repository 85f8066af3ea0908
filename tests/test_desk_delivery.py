"""Silences in the delivery path: as in Alertmanager, a silenced alert is not notified; its
outbox rows are finished unsent and the alert stays in the store, shown silenced. A real
store file and a real local receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer

from tests.alertfactory import START, Clock, make_alert, make_article
from watcher.config.settings import Config, DeliverySettings, WebhookSink
from watcher.delivery.grouping import batch_policies
from watcher.delivery.sinks import WebhookPoster, build_sinks
from watcher.delivery.worker import deliver_due
from watcher.models import Delivery
from watcher.store import AlertQuery, SqliteStore, open_store

SETTINGS = DeliverySettings(max_attempts=5, initial_backoff=10, max_backoff=300, max_age=86400)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await open_store(tmp_path / "w.db")
    yield s
    await s.close()


async def test_a_silenced_alert_is_not_sent_but_kept(store: SqliteStore,
                                                     httpserver: HTTPServer) -> None:
    clock = Clock()
    httpserver.expect_request("/hook").respond_with_data("ok")
    silence = await store.add_silence([("rule", "noisy")], START, START + timedelta(hours=1),
                                      "ana", "known event", START)
    await store.record_articles(
        [make_article("a1"), make_article("a2")],
        [Delivery(make_alert("a1", rule_id="noisy"), "hook"),
         Delivery(make_alert("a2", rule_id="quiet"), "hook")], START)
    async with httpx.AsyncClient() as client:
        sink = WebhookPoster(WebhookSink.model_validate(
            {"type": "webhook", "name": "hook", "url": httpserver.url_for("/hook")}), client)
        report = await deliver_due(store, {"hook": sink}, SETTINGS, clock)
    assert (report.delivered, report.silenced) == (1, 1)
    sent = [r.get_json()["alert_id"] for r, _ in httpserver.log]
    assert sent == ["quiet.a2"]
    shown = {a.alert["alert_id"]: a.silenced_by for a in await store.desk_alerts(AlertQuery())}
    assert shown == {"noisy.a1": (silence.id,), "quiet.a2": ()}
    assert (await store.outbox_counts())["pending"] == 0


async def test_a_grouped_lane_drops_silenced_rows_it_claims(store: SqliteStore,
                                                            httpserver: HTTPServer) -> None:
    clock = Clock()
    httpserver.expect_request("/hook").respond_with_data("ok")
    config = Config.model_validate({"sinks": [
        {"type": "webhook", "name": "hook", "url": httpserver.url_for("/hook"),
         "group_wait": "1m"}]})
    async with httpx.AsyncClient() as client:
        sinks = build_sinks(config, client)
        await store.record_articles([make_article(k) for k in ("a1", "a2", "a3")],
                                    [Delivery(make_alert(k, rule_id=k), "hook")
                                     for k in ("a1", "a2", "a3")], START)
        await store.add_silence([("rule", "a2")], START, START + timedelta(hours=1),
                                "ana", "", START)
        clock.advance(120)
        report = await deliver_due(store, sinks, SETTINGS, clock,
                                   policies=batch_policies(config))
    assert (report.silenced, report.delivered) == (1, 2)
    assert len(httpserver.log) == 1  # one grouped message, without the silenced alert
    assert "a2.a2" not in httpserver.log[0][0].get_data(as_text=True)
