"""Slack and Teams message templates against a local receiver: they replace the headline and
the body, every value in them is escaped for the chat's markup, and mistakes are caught early
(file:line at load) or make the delivery dead (at send), never a blank message."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from tests.alertfactory import make_alert
from watcher.config import Config, SlackSink, TeamsSink
from watcher.errors import ConfigError, PermanentSinkError
from watcher.sinks import SlackPoster, TeamsPoster
from watcher.sinks.slack import slack_message
from watcher.sinks.teams import teams_message
from watcher.sinks.templates import CompiledChatTemplates

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
    assert body["text"].startswith("&lt;!channel&gt; @here *bold* &amp; &lt;https://evil")
    text = section["text"]["text"]
    assert section["text"]["verbatim"] is True  # `@here` stays text
    assert text.startswith("*<https://news.example.org/a?b=1&amp;c=%7C%3Ex|&lt;!channel&gt; "
                           "@here *bold* &amp; &lt;https://evil.example|click&gt; [x](https")
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
    from watcher.config import load_config

    path = tmp_path / "watcher.yaml"
    path.write_text("sinks:\n  - type: teams\n    url: https://example.org/x\n"
                    "    templates:\n      title: missing.j2\n")
    with pytest.raises(ConfigError, match=r"no such file: .*missing\.j2"):
        load_config(path, {})
