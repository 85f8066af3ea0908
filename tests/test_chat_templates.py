"""Slack and Teams message templates against a local receiver: they replace the headline and
the body, of one alert and of a digest or summary, every value in them is escaped for the
chat's markup, and mistakes are caught early (file:line at load) or make the delivery dead
(at send), never a blank message."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from tests.alertfactory import make_alert
from watcher.config.settings import Config, SlackSink, TeamsSink
from watcher.delivery.grouping import Batch
from watcher.delivery.sinks import DigestSender, SlackPoster, TeamsPoster, build_sinks
from watcher.delivery.sinks.batch_render import slack_batch_message, teams_batch_message
from watcher.delivery.sinks.slack import slack_message
from watcher.delivery.sinks.teams import teams_message
from watcher.delivery.sinks.templates import CompiledChatTemplates
from watcher.errors import ConfigError, PermanentSinkError
from watcher.models import Alert

HOSTILE = "<!channel> @here *bold* & <https://evil.example|click> [x](https://evil.example)"
EXCERPT = ("{% for t, hit in excerpt.parts %}{% if hit %}*{{ t }}*{% else %}{{ t }}{% endif %}"
           "{% endfor %}")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


def templated(kind: str, tmp_path: Path, httpserver: HTTPServer, client: httpx.AsyncClient,
              **files: str) -> SlackPoster | TeamsPoster:
    for name, text in files.items():
        (tmp_path / f"{name}.j2").write_text(text)
    raw = {"type": kind, "url": httpserver.url_for("/in/T0KEN"),
           "templates": {name: f"{name}.j2" for name in files}}
    root = Config.model_validate({"base_dir": tmp_path})
    if kind == "slack":
        return SlackPoster(SlackSink.model_validate(raw), client, root)
    return TeamsPoster(TeamsSink.model_validate(raw), client, root)


async def posted(httpserver: HTTPServer, sink: SlackPoster | TeamsPoster,
                 **alert: Any) -> dict[str, Any]:
    httpserver.expect_oneshot_request("/in/T0KEN", method="POST").respond_with_data("ok")
    await sink.send(make_alert(**alert))
    [(request, _)] = httpserver.log
    body: dict[str, Any] = json.loads(request.get_data())
    return body


async def test_slack_templates_replace_header_and_body(
        tmp_path: Path, httpserver: HTTPServer, client: httpx.AsyncClient) -> None:
    sink = templated("slack", tmp_path, httpserver, client,
                     title="{{ alert.rule.severity|upper }} in {{ facts[0][1] }}",
                     text="*<{{ link }}|{{ alert.article.title }}>*\n>" + EXCERPT)
    body = await posted(httpserver, sink)
    header, section, context = body["blocks"]
    assert header["text"] == {"type": "plain_text", "emoji": True, "text": "HIGH in Test desk"}
    assert body["text"] == "HIGH in Test desk"
    assert section["text"] == {"type": "mrkdwn", "verbatim": True, "text": (
        "*<https://news.example.org/a1|Isil fighters leave Raqqa in a convoy for Deir Ezzor>*\n"
        ">A *convoy* of Daesh fighters left Raqqa for Mayadin; an SDF commander spoke.")}
    assert "Matched: Deir ez-Zor (place)" in context["elements"][0]["text"]


async def test_slack_template_values_stay_inert(
        tmp_path: Path, httpserver: HTTPServer, client: httpx.AsyncClient) -> None:
    sink = templated("slack", tmp_path, httpserver, client,
                     title="{{ alert.article.title }}",
                     text="*<{{ link }}|{{ alert.article.title }}>* {{ alert.rule.title|safe }}"
                          " {{ headline }}")
    body = await posted(httpserver, sink, title=HOSTILE, rule_title=HOSTILE,
                        url="https://news.example.org/a?b=1&c=|>x")
    header, section, _ = body["blocks"]
    assert header["text"]["type"] == "plain_text"  # Slack never parses it: raw is inert
    assert header["text"]["text"] == HOSTILE
    assert body["text"].startswith("&lt;!channel&gt; @here \u2217bold\u2217 &amp; &lt;https://evil")
    text = section["text"]["text"]
    assert section["text"]["verbatim"] is True  # `@here` stays text
    assert text.startswith("*<https://news.example.org/a?b=1&amp;c=%7C%3Ex|&lt;!channel&gt; "
                           "@here \u2217bold\u2217 &amp; &lt;https://evil.example|click&gt; "
                           "[x](https")
    assert text.count("*") == 2  # the template's own bold, none from feed text
    assert text.count("<") == 1 and text.count(">") == 1  # the template's one link, no other
    assert "<!channel>" not in text and "|safe" not in text


async def test_teams_templates_replace_first_line_and_body(
        tmp_path: Path, httpserver: HTTPServer, client: httpx.AsyncClient) -> None:
    sink = templated("teams", tmp_path, httpserver, client,
                     title="**{{ alert.rule.severity|upper }}** {{ alert.rule.title }}",
                     text="[{{ alert.article.title }}]({{ link }})\n\n" + EXCERPT)
    card = (await posted(httpserver, sink, title=HOSTILE, rule_title="Rule (x) - y",
                         url="https://news.example.org/a_(1) b"))["attachments"][0]["content"]
    first, body, matched, ids = card["body"]
    assert first["text"] == "**HIGH** Rule \\(x\\) \\- y"
    assert first["color"] == "Attention"
    assert body == {"type": "TextBlock", "wrap": True, "text": (
        "[\\<\\!channel\\> @here \\*bold\\* & \\<https://evil\\.example\\|click\\> "
        "\\[x\\]\\(https://evil\\.example\\)](https://news.example.org/a_%281%29%20b)\n\n"
        "A *convoy* of Daesh fighters left Raqqa for Mayadin; an SDF commander spoke\\.")}
    assert body["text"].count("](") == 1  # only the template's link
    assert matched["text"].startswith("Matched: ") and ids["text"].startswith("Rule ")
    assert card["actions"][0]["url"] == "https://news.example.org/a_(1) b"


@pytest.mark.parametrize("kind", ["slack", "teams"])
def test_no_templates_keep_the_default_message(kind: str) -> None:
    alert = make_alert(title=HOSTILE)
    build = slack_message if kind == "slack" else teams_message
    assert build(alert, CompiledChatTemplates()) == build(alert)


@pytest.mark.parametrize("kind", ["slack", "teams"])
@pytest.mark.parametrize("part", ["title", "text"])
def test_a_syntax_error_names_file_and_line(tmp_path: Path, httpserver: HTTPServer,
                                            client: httpx.AsyncClient, kind: str,
                                            part: str) -> None:
    with pytest.raises(ConfigError) as caught:
        templated(kind, tmp_path, httpserver, client, **{part: "ok\n\n{% for %}"})
    assert str(caught.value).startswith(f"{tmp_path / f'{part}.j2'}:3:1: template: ")


@pytest.mark.parametrize("kind", ["slack", "teams"])
def test_an_unknown_name_is_an_error_at_load(tmp_path: Path, httpserver: HTTPServer,
                                             client: httpx.AsyncClient, kind: str) -> None:
    with pytest.raises(ConfigError) as caught:
        templated(kind, tmp_path, httpserver, client,
                  text="{% set seen = 1 %}{{ seen }}\n{{ range(2)|list }} {{ artcle.title }}")
    assert str(caught.value) == (f"{tmp_path / 'text.j2'}:2:1: template: unknown name "
                                 "'artcle' (known: alert, excerpt, facts, headline, link)")


@pytest.mark.parametrize("kind", ["slack", "teams"])
@pytest.mark.parametrize("text", ["{{ alert.nothing.here }}", "{{ alert.__class__.__mro__ }}",
                                  "{% if false %}x{% endif %}  \n"])
async def test_an_unknown_attribute_unsafe_access_or_blank_body_makes_the_delivery_dead(
        tmp_path: Path, httpserver: HTTPServer, client: httpx.AsyncClient, kind: str,
        text: str) -> None:
    sink = templated(kind, tmp_path, httpserver, client, text=text)
    with pytest.raises(PermanentSinkError, match=f"^{kind} {kind}: template: "):
        await sink.send(make_alert())
    assert httpserver.log == []  # nothing half-rendered was posted


def test_the_config_checks_that_chat_template_files_exist(tmp_path: Path) -> None:
    from watcher.config.settings import load_config

    path = tmp_path / "watcher.yaml"
    path.write_text("sinks:\n  - type: teams\n    url: https://example.org/x\n"
                    "    templates:\n      title: missing.j2\n")
    with pytest.raises(ConfigError, match=r"no such file: .*missing\.j2"):
        load_config(path, {})


# digests and summaries: several alerts in one message

DIGEST_TEXT = ("{% for e in entries %}{{ loop.index }}. <{{ e.link }}|{{ e.alert.article.title }}>"
               " ({{ e.facts[0][1] }}) {{ e.excerpt.plain('') }}\n{% endfor %}"
               "{% for r in summary.by_rule %}{{ r.count }} × {{ r.rule_id }}; {% endfor %}")


def two_alerts(**first: Any) -> tuple[Alert, Alert]:
    return (make_alert("desk:a1", **first),
            make_alert("desk:a2", title="SDF commander defected", url="https://news.example.org/a2",
                       rule_id="defection", rule_title="Defection", severity="critical"))


async def posted_batch(httpserver: HTTPServer, sink: SlackPoster | TeamsPoster | DigestSender,
                       batch: Batch) -> dict[str, Any]:
    httpserver.expect_oneshot_request("/in/T0KEN", method="POST").respond_with_data("ok")
    await sink.send_batch(batch)
    [(request, _)] = httpserver.log
    assert request.headers["X-Watcher-Batch-Id"] == batch.key
    body: dict[str, Any] = json.loads(request.get_data())
    return body


async def test_slack_digest_templates_replace_header_and_sections(
        tmp_path: Path, httpserver: HTTPServer, client: httpx.AsyncClient) -> None:
    sink = templated("slack", tmp_path, httpserver, client,
                     digest_title="{{ batch.kind }} of {{ summary.total }}: {{ headline }}",
                     digest_text=DIGEST_TEXT)
    body = await posted_batch(httpserver, sink, Batch("desk", "digest", two_alerts()))
    header, section = body["blocks"]
    assert header["text"] == {"type": "plain_text", "emoji": True,
                              "text": "digest of 2: Digest: 2 alerts: 1 CRITICAL, 1 HIGH"}
    assert body["text"] == "digest of 2: Digest: 2 alerts: 1 CRITICAL, 1 HIGH"
    assert section["text"] == {"type": "mrkdwn", "verbatim": True, "text": (
        "1. <https://news.example.org/a1|Isil fighters leave Raqqa in a convoy for Deir Ezzor> "
        "(Test desk) A convoy of Daesh fighters left Raqqa for Mayadin; an SDF commander spoke.\n"
        "2. <https://news.example.org/a2|SDF commander defected> (Test desk) A convoy of Daesh "
        "fighters left Raqqa for Mayadin; an SDF commander spoke.\n"
        "1 × defection; 1 × isil-movement;")}


async def test_teams_digest_templates_replace_title_and_body(
        tmp_path: Path, httpserver: HTTPServer, client: httpx.AsyncClient) -> None:
    sink = templated("teams", tmp_path, httpserver, client,
                     digest_title="**{{ summary.headline }}**",
                     digest_text="{% for e in entries %}- [{{ e.headline }}]({{ e.link }})\n"
                                 "{% endfor %}")
    alerts = two_alerts(url="https://news.example.org/a_(1)")
    card = (await posted_batch(httpserver, sink, Batch("desk", "digest", alerts))
            )["attachments"][0]["content"]
    title, body = card["body"]
    assert title["text"] == "**2 alerts: 1 CRITICAL, 1 HIGH**"
    assert title["weight"] == "Bolder"
    assert body == {"type": "TextBlock", "wrap": True, "text": (
        "- [HIGH: ISIL movement in eastern Syria — Isil fighters leave Raqqa in a convoy for "
        "Deir Ezzor](https://news.example.org/a_%281%29)\n"
        "- [CRITICAL: Defection — SDF commander defected](https://news.example.org/a2)")}


@pytest.mark.parametrize("kind", ["slack", "teams"])
async def test_a_summary_goes_through_the_same_templates(
        tmp_path: Path, httpserver: HTTPServer, client: httpx.AsyncClient, kind: str) -> None:
    sink = templated(kind, tmp_path, httpserver, client, digest_text=(
        "{% if batch.kind == 'summary' %}held {{ alerts|length }}: "
        "{{ summary.by_severity['critical'] }} critical{% else %}digest{% endif %}"))
    body = await posted_batch(httpserver, sink, Batch("desk", "summary", two_alerts() * 3))
    text = (body["blocks"][1]["text"]["text"] if kind == "slack"
            else body["attachments"][0]["content"]["body"][1]["text"])
    assert text == "held 6: 3 critical"


@pytest.mark.parametrize("kind", ["slack", "teams"])
async def test_digest_template_values_stay_inert(
        tmp_path: Path, httpserver: HTTPServer, client: httpx.AsyncClient, kind: str) -> None:
    sink = templated(kind, tmp_path, httpserver, client,
                     digest_title="{{ alerts[0].article.title|safe }}",
                     digest_text="{% for e in entries %}{{ e.alert.article.title|safe }} "
                                 "{{ e.headline }} {{ e.link }}{% endfor %}")
    alerts = (make_alert(title=HOSTILE, rule_title=HOSTILE,
                         url="https://news.example.org/a?b=1&c=|>x)"),)
    body = await posted_batch(httpserver, sink, Batch("desk", "digest", alerts))
    if kind == "slack":
        header, section = body["blocks"]
        assert header["text"]["text"] == HOSTILE  # plain text: Slack never parses it
        assert body["text"].startswith("&lt;!channel&gt; @here \u2217bold\u2217 &amp; &lt;")
        text = section["text"]["text"]
        assert section["text"]["verbatim"] is True
        assert text.startswith("&lt;!channel&gt; @here \u2217bold\u2217 &amp; &lt;https://evil")
        assert text.endswith(" https://news.example.org/a?b=1&amp;c=%7C%3Ex)")
        assert not set("<>*_~`") & set(text)  # nothing feed-made can mention, link or format
    else:
        title, text_block = body["attachments"][0]["content"]["body"]
        assert title["text"].startswith("\\<\\!channel\\> @here \\*bold\\* & \\<https://evil")
        text = text_block["text"]
        assert text.startswith("\\<\\!channel\\> @here \\*bold\\* & \\<https://evil\\.example"
                               "\\|click\\> \\[x\\]\\(https://evil\\.example\\)")
        assert text.endswith(" https://news.example.org/a?b=1&c=|%3Ex%29")
        assert "](" not in text.replace("\\](", "")  # no link but escaped ones


@pytest.mark.parametrize("kind", ["slack", "teams"])
def test_no_digest_templates_keep_the_default_messages(kind: str) -> None:
    for batch in (Batch("desk", "digest", two_alerts(title=HOSTILE)),
                  Batch("desk", "summary", two_alerts() * 30)):
        build = slack_batch_message if kind == "slack" else teams_batch_message
        assert build(batch, CompiledChatTemplates()) == build(batch)


@pytest.mark.parametrize("kind", ["slack", "teams"])
@pytest.mark.parametrize("part", ["digest_title", "digest_text"])
def test_a_digest_template_naming_a_one_alert_name_is_an_error_at_load(
        tmp_path: Path, httpserver: HTTPServer, client: httpx.AsyncClient, kind: str,
        part: str) -> None:
    with pytest.raises(ConfigError) as caught:
        templated(kind, tmp_path, httpserver, client,
                  **{part: "{{ headline }}\n{% for a in alerts %}\n{{ alert.rule.id }}"
                           "{% endfor %}"})
    assert str(caught.value) == (f"{tmp_path / f'{part}.j2'}:3:1: template: unknown name "
                                 "'alert' (known: alerts, batch, entries, headline, summary)")


@pytest.mark.parametrize("kind", ["slack", "teams"])
@pytest.mark.parametrize("text", ["{{ entries[0].nothing }}", "{{ batch.__class__.__mro__ }}",
                                  "{{ summary.total / 0 }}", "{% if false %}x{% endif %} \n"])
async def test_a_failing_digest_template_makes_the_delivery_dead(
        tmp_path: Path, httpserver: HTTPServer, client: httpx.AsyncClient, kind: str,
        text: str) -> None:
    sink = templated(kind, tmp_path, httpserver, client, digest_text=text)
    with pytest.raises(PermanentSinkError, match=f"^{kind} {kind}: template: "):
        await sink.send_batch(Batch("desk", "digest", two_alerts()))
    assert httpserver.log == []


async def test_a_digest_sink_renders_with_its_targets_digest_templates(
        tmp_path: Path, httpserver: HTTPServer, client: httpx.AsyncClient) -> None:
    (tmp_path / "title.j2").write_text("Morning: {{ summary.total }}")
    config = Config.model_validate({"base_dir": tmp_path, "sinks": [{
        "type": "digest", "name": "morning", "every": "1h", "target": {
            "type": "slack", "url": httpserver.url_for("/in/T0KEN"),
            "templates": {"digest_title": "title.j2"}}}]})
    sink = build_sinks(config, client)["morning"]
    assert isinstance(sink, DigestSender)
    body = await posted_batch(httpserver, sink, Batch("morning", "digest", two_alerts()))
    assert body["blocks"][0]["text"]["text"] == "Morning: 2"


def test_the_config_checks_that_digest_template_files_exist(tmp_path: Path) -> None:
    from watcher.config.settings import load_config

    path = tmp_path / "watcher.yaml"
    path.write_text("sinks:\n  - type: digest\n    every: 1h\n    target:\n      type: slack\n"
                    "      url: https://example.org/x\n      templates:\n"
                    "        digest_text: missing.j2\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert str(caught.value).startswith(f"{path}:8:")
    assert "no such file" in str(caught.value) and "missing.j2" in str(caught.value)


async def test_a_long_slack_digest_is_cut_at_slacks_block_limit(
        tmp_path: Path, httpserver: HTTPServer, client: httpx.AsyncClient) -> None:
    sink = templated("slack", tmp_path, httpserver, client,
                     digest_text="{% for i in range(60) %}{{ i }}{{ '.' * 2000 }}\n{% endfor %}")
    body = await posted_batch(httpserver, sink, Batch("desk", "digest", two_alerts()))
    _, *sections = body["blocks"]
    assert len(body["blocks"]) == 50
    assert all(len(s["text"]["text"]) <= 2900 for s in sections)
    assert sections[0]["text"]["text"].startswith("0." + "." * 1999)
    assert sections[-2]["text"]["text"].startswith("47.")
    assert sections[-1]["text"]["text"] == "…(cut at Slack's limit of 50 blocks)"
