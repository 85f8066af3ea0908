"""The digest sink: alerts of a period sent as one message, through a real webhook receiver
and a real SMTP server, with a real store file and a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from tests.alertfactory import make_alert, make_article
from tests.conftest import MailBox
from watcher.config.settings import Config, DeliverySettings, load_config
from watcher.delivery.grouping import Batch, DigestSchedule, batch_policies
from watcher.delivery.sending import DeliveryReport
from watcher.delivery.sinks import DigestSender, build_sinks
from watcher.delivery.sinks.batch_render import slack_batch_message, teams_batch_message
from watcher.delivery.worker import deliver_due
from watcher.errors import ConfigError
from watcher.models import Delivery
from watcher.store import Store, open_store

START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SETTINGS = DeliverySettings()


def at(hhmm: str, day: int = 25) -> datetime:
    return datetime.combine(datetime(2026, 11, day).date(), time.fromisoformat(hhmm), UTC)


@pytest.mark.parametrize(("schedule", "moment", "next_after", "last_before"), [
    (DigestSchedule(every=3600), at("12:00"), at("13:00"), at("12:00")),
    (DigestSchedule(every=3600), at("12:59"), at("13:00"), at("12:00")),
    (DigestSchedule(every=900), at("12:20"), at("12:30"), at("12:15")),
    (DigestSchedule(every=86400), at("12:20"), at("00:00", 26), at("00:00")),
    (DigestSchedule(daily_at=time(7)), at("06:59"), at("07:00"), at("07:00", 24)),
    (DigestSchedule(daily_at=time(7)), at("07:00"), at("07:00", 26), at("07:00")),
    # 07:00 in Kyiv is 05:00 UTC in winter
    (DigestSchedule(daily_at=time(7), zone="Europe/Kyiv"), at("05:30"), at("05:00", 26),
     at("05:00")),
])
def test_digest_schedule(schedule: DigestSchedule, moment: datetime, next_after: datetime,
                         last_before: datetime) -> None:
    assert schedule.next_after(moment) == next_after
    assert schedule.last_at_or_before(moment) == last_before


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await open_store(tmp_path / "w.db")
    yield s
    await s.close()


def digest_config(target: dict[str, Any], **schedule: str) -> Config:
    return Config.model_validate({"sinks": [{"type": "digest", "name": "daily",
                                             "target": target, **schedule}]})


async def queue(store: Store, keys: list[str], now: datetime) -> None:
    await store.record_articles([make_article(k) for k in keys],
                                [Delivery(make_alert(k, title=f"Story {k}"), "daily")
                                 for k in keys], now)


async def test_hourly_digest_to_a_webhook_sends_one_message_per_period(
        store: Store, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/digest", method="POST").respond_with_data("ok")
    config = digest_config({"type": "webhook", "url": httpserver.url_for("/digest")},
                           every="1h")
    clock = Clock()
    async with httpx.AsyncClient() as client:
        sinks = build_sinks(config, client)
        assert isinstance(sinks["daily"], DigestSender)

        async def deliver_at(moment: datetime) -> DeliveryReport:
            clock.now = moment
            return await deliver_due(store, sinks, SETTINGS, clock,
                                     policies=batch_policies(config))

        await queue(store, ["a"], at("12:00"))
        await deliver_at(at("12:00"))
        await queue(store, ["b"], at("12:20"))
        await queue(store, ["c"], at("12:59"))
        assert (await deliver_at(at("12:59:59"))).held == 2
        assert httpserver.log == []
        await queue(store, ["d"], at("13:00:00.5"))  # the next period
        report = await deliver_at(at("13:00:01"))
        assert (report.delivered, report.held) == (3, 1)
        [body] = [r.get_json() for r, _ in httpserver.log]
        assert body["schema"] == "watcher.digest/v1"
        assert [a["article"]["key"] for a in body["alerts"]] == ["a", "b", "c"]

        await deliver_at(at("14:00"))
        await deliver_at(at("15:00"))  # an empty period sends nothing
        assert [len(r.get_json()["alerts"]) for r, _ in httpserver.log] == [3, 1]
    assert await store.outbox_counts() == {"pending": 0, "delivered": 4, "dead": 0}


async def test_daily_digest_by_email(store: Store, mailbox: tuple[MailBox, int]) -> None:
    box, port = mailbox
    config = digest_config({"type": "email", "host": "127.0.0.1", "port": port,
                            "security": "none", "from": "watcher@example.org",
                            "to": ["desk@example.org"]}, daily_at="07:00")
    clock = Clock()
    async with httpx.AsyncClient() as client:
        sinks = build_sinks(config, client)
        for i, moment in enumerate([at("08:00"), at("19:00"), at("06:59", 26)]):
            await queue(store, [f"k{i}"], moment)
            clock.now = moment
            await deliver_due(store, sinks, SETTINGS, clock, policies=batch_policies(config))
        assert box.messages() == []
        clock.now = at("07:00", 26)
        report = await deliver_due(store, sinks, SETTINGS, clock,
                                   policies=batch_policies(config))
    assert report.delivered == 3
    [msg] = box.messages()
    assert msg["Subject"] == "[watcher] Digest: 3 alerts: 3 HIGH"
    assert msg["Message-ID"].endswith(".watcher@example.org>")
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for key in ("k0", "k1", "k2"):
        assert f"Story {key}" in text and f"Story {key}" in html


def test_chat_digests_list_each_alert_escaped() -> None:
    alerts = (make_alert("k1", title="<!channel> *bold* [x](y)"), make_alert("k2"))
    batch = Batch("desk", "digest", alerts)
    slack = slack_batch_message(batch)
    assert slack["blocks"][0]["text"]["text"] == "Digest: 2 alerts: 2 HIGH"
    assert len(slack["blocks"]) == 3
    assert "&lt;!channel&gt;" in slack["blocks"][1]["text"]["text"]
    card = teams_batch_message(batch)["attachments"][0]["content"]
    texts = [b["text"] for b in card["body"]]
    assert any(r"\*bold\*" in t and r"\[x\]\(y\)" in t for t in texts)

    summary = slack_batch_message(Batch("desk", "summary", alerts * 30))
    assert summary["blocks"][0]["text"]["text"] == "Held over the hourly cap: 60 alerts: 60 HIGH"
    assert "…and 20 more" in summary["blocks"][-1]["text"]["text"]
    assert len(summary["blocks"]) <= 50


def test_digest_config_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("sinks:\n  - type: digest\n    name: d\n    target:\n"
                    "      type: webhook\n      url: http://x\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert str(path) in str(caught.value) and "exactly one of" in str(caught.value)
    path.write_text("sinks:\n  - type: digest\n    daily_at: '25:00'\n    target:\n"
                    "      type: webhook\n      url: http://x\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert f"{path}:3:" in str(caught.value) and "not a time of day" in str(caught.value)


@pytest.mark.parametrize("route", ["", "urgent"])
def test_a_batch_key_depends_only_on_its_alerts(route: str) -> None:
    """The idempotency key of a digest or summary, pinned: a release that changed it would
    let receivers take a message retried across the upgrade for a new one."""
    alerts = (make_alert("k1"), make_alert("k2"))
    assert Batch("hook", "digest", alerts, route).key == "digest-c9baf5995754b5c25835e791e18c36eb"
    assert Batch("hook", "summary", alerts[::-1], route).key == (
        "summary-c9baf5995754b5c25835e791e18c36eb")
