"""The Apprise sink against local receivers: Apprise's json:// and form:// services and a local
fake of Mattermost's incoming-webhook API (mmost://host:port/token). Failures go through the
outbox: retried, then dead with Apprise's reason, tokens never shown."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.alertfactory import START, Clock, make_alert, make_article
from watcher.config.masked import secret_values, service_url_tokens, shown_config
from watcher.config.settings import AppriseSink, Config, DeliverySettings, load_config
from watcher.delivery.grouping import Batch, batch_policies
from watcher.delivery.sinks import AppriseNotifier, Sink, build_sinks
from watcher.delivery.worker import deliver_due
from watcher.errors import ConfigError, RecoverableSinkError
from watcher.models import Delivery
from watcher.store import SqliteStore, open_store

TOKEN = "x9Hq7TokenZk3mPp"
SETTINGS = DeliverySettings(max_attempts=3, initial_backoff=10, max_backoff=60, max_age=86400)


def loopback(httpserver: HTTPServer, scheme: str, path: str) -> str:
    return f"{scheme}://{httpserver.host}:{httpserver.port}{path}"


def notifier(*urls: str, **settings: object) -> AppriseNotifier:
    return AppriseNotifier(AppriseSink.model_validate(
        {"type": "apprise", "name": "pager", "urls": list(urls), **settings}))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await open_store(tmp_path / "w.db")
    yield s
    await s.close()


async def test_json_service_gets_the_headline_and_body(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("ok")
    await notifier(loopback(httpserver, "json", f"/hook?token={TOKEN}")).send(make_alert())
    [(request, _)] = httpserver.log
    body = json.loads(request.get_data())
    assert body["title"] == "HIGH: ISIL movement in eastern Syria — " \
                            "Isil fighters leave Raqqa in a convoy for Deir Ezzor"
    assert "Deir Ezzor" in body["message"] and "https://news.example.org/a1" in body["message"]
    assert body["type"] == "failure"  # high severity


async def test_form_service_and_a_digest(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/form", method="POST").respond_with_data("ok")
    batch = Batch("pager", "digest", (make_alert("a1"), make_alert("a2", severity="critical")))
    await notifier(loopback(httpserver, "form", "/form")).send_batch(batch)
    [(request, _)] = httpserver.log
    assert request.form["title"].startswith("Digest: 2 alerts")
    assert request.form["message"].count("Isil fighters leave Raqqa") == 2


async def test_mattermost_fake_gets_the_message(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(f"/hooks/{TOKEN}", method="POST").respond_with_data("ok")
    sink = notifier(loopback(httpserver, "mmost", f"/{TOKEN}"), format="markdown")
    await sink.send(make_alert(title="Raqqa *bold* [x](https://evil.example) Deir Ezzor"))
    [(request, _)] = httpserver.log
    text = json.loads(request.get_data())["text"]
    assert r"\*bold\*" in text and r"\[x\]\(https://evil\.example\)" in text


async def test_a_failure_is_recoverable_names_the_service_and_hides_the_token(
        httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/hooks/{TOKEN}").respond_with_data("nope", status=500)
    sink = notifier(loopback(httpserver, "mmost", f"/{TOKEN}"))
    with pytest.raises(RecoverableSinkError) as caught:
        await sink.send(make_alert())
    message = str(caught.value)
    assert message.startswith("apprise pager: mmost://") and "500" in message
    assert TOKEN not in message


async def test_a_retry_goes_only_to_the_urls_that_failed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/ok", method="POST").respond_with_data("ok")
    httpserver.expect_oneshot_request("/flaky", method="POST").respond_with_data("x", status=503)
    httpserver.expect_oneshot_request("/flaky", method="POST").respond_with_data("ok")
    sink = notifier(loopback(httpserver, "json", "/ok"), loopback(httpserver, "json", "/flaky"))
    with pytest.raises(RecoverableSinkError, match="json://"):
        await sink.send(make_alert())
    await sink.send(make_alert())
    paths = [request.path for request, _ in httpserver.log]
    assert sorted(paths) == ["/flaky", "/flaky", "/ok"]


async def test_outbox_retries_then_dead_letter_carries_apprise_reason(
        httpserver: HTTPServer, store: SqliteStore, caplog: pytest.LogCaptureFixture) -> None:
    httpserver.expect_request(f"/hooks/{TOKEN}").respond_with_data("down", status=502)
    sinks: dict[str, Sink] = {"pager": notifier(loopback(httpserver, "mmost", f"/{TOKEN}"))}
    await store.record_articles([make_article("k1")], [Delivery(make_alert("k1"), "pager")],
                                START)
    clock = Clock()
    for _ in range(SETTINGS.max_attempts):
        await deliver_due(store, sinks, SETTINGS, clock)
        clock.advance(SETTINGS.max_backoff * 2)
    assert len(httpserver.log) == SETTINGS.max_attempts
    [dead] = await store.list_alerts("dead", 10)
    assert dead.last_error is not None
    assert "gave up after 3 attempts" in dead.last_error and "502" in dead.last_error
    assert TOKEN not in dead.last_error
    assert all(TOKEN not in r.getMessage() for r in caplog.records if r.name != "werkzeug")


def write_config(tmp_path: Path, urls: list[str]) -> Path:
    path = tmp_path / "watcher.yaml"
    path.write_text("state: w.db\nrules: []\nsinks:\n  - type: apprise\n    name: pager\n"
                    "    group_wait: 30s\n    max_per_hour: 10\n    urls:\n"
                    + "".join(f"      - {u}\n" for u in urls))
    return path


def test_config_show_and_log_scrubbing_mask_tokens(tmp_path: Path) -> None:
    url = f"tgram://123456789:{TOKEN}/-100200300"
    config = load_config(write_config(tmp_path, [url, "json://localhost:9/hook"]))
    assert TOKEN not in json.dumps(shown_config(config))
    assert any(TOKEN in s for s in secret_values(config))
    assert "hook" not in service_url_tokens("json://localhost:9/hook")  # words stay readable
    assert isinstance(build_sinks(config, None)["pager"], AppriseNotifier)  # type: ignore[arg-type]


def test_unknown_service_is_a_config_error_with_its_place(tmp_path: Path) -> None:
    path = write_config(tmp_path, ["json://localhost/ok", "nosuchservice://x/y"])
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [problem] = caught.value.problems
    assert (problem.line, problem.message.split(" (")[0]) == (10, "Apprise cannot use this URL")


def test_apprise_sink_batches_like_the_others() -> None:
    config = Config.model_validate({"sinks": [{"type": "apprise", "name": "pager",
                                               "urls": ["json://localhost/x"],
                                               "group_wait": 30}]})
    assert batch_policies(config)[("pager", "")].group_wait == 30

