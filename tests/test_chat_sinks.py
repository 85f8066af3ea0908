"""Slack (Block Kit) and Teams (Adaptive Card) sinks against a local receiver: the posted JSON
carries every piece a desk needs, and hostile feed text stays inert."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from tests.alertfactory import make_alert
from watcher.config.settings import SlackSink, TeamsSink
from watcher.delivery.grouping import Batch
from watcher.delivery.sinks import SlackPoster, TeamsPoster
from watcher.delivery.sinks.slack import escape_mrkdwn, slack_message
from watcher.delivery.sinks.teams import escape_markdown, teams_message
from watcher.errors import PermanentSinkError, RecoverableSinkError

HOSTILE = "<!channel> @here *bold* & <https://evil.example|click> [x](https://evil.example)"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


def texts(node: Any) -> list[str]:
    """Every `text` and `value` string anywhere in a JSON document."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("text", "value") and isinstance(value, str):
                found.append(value)
            else:
                found += texts(value)
    elif isinstance(node, list):
        for value in node:
            found += texts(value)
    return found


async def posted(httpserver: HTTPServer, sink: SlackPoster | TeamsPoster,
                 **alert: Any) -> dict[str, Any]:
    httpserver.expect_oneshot_request("/in/T0KEN", method="POST").respond_with_data("ok")
    await sink.send(make_alert(**alert))
    [(request, _)] = httpserver.log
    assert request.headers["Content-Type"] == "application/json"
    body: dict[str, Any] = json.loads(request.get_data())
    return body


def slack(httpserver: HTTPServer, client: httpx.AsyncClient) -> SlackPoster:
    return SlackPoster(SlackSink(type="slack", url=httpserver.url_for("/in/T0KEN")), client)


def teams(httpserver: HTTPServer, client: httpx.AsyncClient) -> TeamsPoster:
    return TeamsPoster(TeamsSink(type="teams", url=httpserver.url_for("/in/T0KEN")), client)


async def test_slack_block_kit_message(httpserver: HTTPServer,
                                       client: httpx.AsyncClient) -> None:
    body = await posted(httpserver, slack(httpserver, client))
    assert body["text"] == ("HIGH: ISIL movement in eastern Syria — "
                            "Isil fighters leave Raqqa in a convoy for Deir Ezzor")
    header, title, facts, quote, context = body["blocks"]
    assert header == {"type": "header", "text": {
        "type": "plain_text", "emoji": True, "text": "HIGH · ISIL movement in eastern Syria"}}
    assert title["text"]["text"] == (":large_orange_circle: *<https://news.example.org/a1|"
                                     "Isil fighters leave Raqqa in a convoy for Deir Ezzor>*")
    assert [f["text"] for f in facts["fields"]] == [
        "*Source*\nTest desk", "*Published*\n2026-11-25 11:30 UTC",
        "*Places*\nRaqqa, Deir ez-Zor", "*Groups*\nISIL, SDF"]
    assert quote["text"]["text"] == (">A *convoy* of Daesh fighters left Raqqa for Mayadin; "
                                     "an SDF commander spoke.")
    assert "Deir ez-Zor (place) «Deir Ezzor» in title" in context["elements"][0]["text"]
    assert all(t["verbatim"] for t in [title["text"], quote["text"], *facts["fields"]])


async def test_slack_escapes_feed_text_so_nothing_mentions_or_links(
        httpserver: HTTPServer, client: httpx.AsyncClient) -> None:
    body = await posted(httpserver, slack(httpserver, client), title=HOSTILE,
                        summary=HOSTILE, rule_title=HOSTILE,
                        url="https://news.example.org/a?b=1&c=|>x")
    assert body["blocks"][0]["text"]["type"] == "plain_text"  # Slack never parses these
    for text in [*texts(body["blocks"][1:]), body["text"]]:
        assert "<!channel>" not in text and "<https://evil" not in text
    title = body["blocks"][1]["text"]["text"]
    assert title.startswith(":large_orange_circle: *<https://news.example.org/a?b=1&amp;c=%7C%3Ex|&lt;!channel&gt;")
    assert title.count("<") == 1 and title.count(">") == 1  # the one real link
    assert "&amp; &lt;https://evil.example|click&gt;" in body["blocks"][3]["text"]["text"]


async def test_slack_drops_links_that_are_not_http(httpserver: HTTPServer,
                                                   client: httpx.AsyncClient) -> None:
    body = await posted(httpserver, slack(httpserver, client), url="javascript:alert(1)")
    assert "javascript" not in json.dumps(body)


@pytest.mark.parametrize(("feed", "escaped"), [
    ("a & <b> <!here>", "a &amp; &lt;b&gt; &lt;!here&gt;"),
    # Slack has no escape for its formatting characters: they become look-alikes
    ("*bold* _italic_ ~strike~ `code`",
     "\u2217bold\u2217 \u02cditalic\u02cd \u223cstrike\u223c \u02cbcode\u02cb"),
    ("\uff0abold\uff0a \uff3fit\uff3f \uff40x\uff40",
     "\ufe61bold\ufe61 \u2e0fit\u2e0f \u02cbx\u02cb"),
    ("```block```", "\u02cb\u02cb\u02cbblock\u02cb\u02cb\u02cb"),
    # a quote only at the start of a line: a soft hyphen in front stops it
    ("> quoted\n>also\na > b", "\u00ad&gt; quoted\n\u00ad&gt;also\na &gt; b"),
    ("\uff1e quoted", "\u00ad\uff1e quoted"),
    ("Deir ez-Zor 2026-11-25 #general @here", "Deir ez-Zor 2026-11-25 #general @here"),
])
def test_escape_mrkdwn(feed: str, escaped: str) -> None:
    assert escape_mrkdwn(feed) == escaped


async def test_slack_feed_text_cannot_format_while_the_messages_own_markup_does(
        httpserver: HTTPServer, client: httpx.AsyncClient) -> None:
    feed = "*Raqqa* _convoy_ ~seen~ `x` > y"
    body = await posted(httpserver, slack(httpserver, client), title=f"{feed} Deir Ezzor",
                        summary=f"A convoy {feed}", rule_id="isil_movement")
    _, title, _, quote, context = body["blocks"]
    inert = ("\u2217Raqqa\u2217 \u02cdconvoy\u02cd \u223cseen\u223c \u02cbx\u02cb &gt; y")
    assert title["text"]["text"] == (":large_orange_circle: *<https://news.example.org/a1|"
                                     f"{inert} Deir Ezzor>*")
    assert quote["text"]["text"] == f">A *convoy* {inert}"
    assert body["text"].endswith(f"— {inert} Deir Ezzor")
    # ids sit in code spans, where nothing formats: they stay as they are, copyable
    assert context["elements"][0]["text"].endswith(
        "\nRule `isil_movement` · alert `isil_movement.desk:a1`")


async def test_teams_adaptive_card(httpserver: HTTPServer, client: httpx.AsyncClient) -> None:
    body = await posted(httpserver, teams(httpserver, client))
    [attachment] = body["attachments"]
    assert body["type"] == "message"
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    severity, title, facts, quote, matched, ids = card["body"]
    assert severity["text"] == "HIGH · ISIL movement in eastern Syria"
    assert severity["color"] == "Attention"
    assert title["text"] == ("[Isil fighters leave Raqqa in a convoy for Deir Ezzor]"
                             "(https://news.example.org/a1)")
    assert facts["facts"] == [
        {"title": "Source", "value": "Test desk"},
        {"title": "Published", "value": "2026\\-11\\-25 11:30 UTC"},
        {"title": "Places", "value": "Raqqa, Deir ez\\-Zor"},
        {"title": "Groups", "value": "ISIL, SDF"}]
    assert quote["text"] == ("A **convoy** of Daesh fighters left Raqqa for Mayadin; "
                             "an SDF commander spoke\\.")
    assert "Deir ez\\-Zor \\(place\\) «Deir Ezzor» in title" in matched["text"]
    assert ids["text"] == "Rule isil\\-movement · alert isil\\-movement\\.desk:a1"
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open article",
                                "url": "https://news.example.org/a1"}]


async def test_teams_escapes_markdown_in_feed_text(httpserver: HTTPServer,
                                                   client: httpx.AsyncClient) -> None:
    card = (await posted(httpserver, teams(httpserver, client), title=HOSTILE,
                         summary=HOSTILE, url=None))["attachments"][0]["content"]
    assert "actions" not in card
    title = card["body"][1]["text"]
    assert title.startswith("\\<\\!channel\\> @here \\*bold\\* & \\<https://evil")
    assert "\\[x\\]\\(https://evil\\.example\\)" in title
    for text in texts(card):
        assert "](" not in text.replace("\\](", "")  # no unescaped link anywhere


def test_escape_markdown() -> None:
    assert escape_markdown("**a** [b](c) <at>x</at>") == (
        "\\*\\*a\\*\\* \\[b\\]\\(c\\) \\<at\\>x\\</at\\>")


@pytest.mark.parametrize("kind", ["slack", "teams"])
async def test_chat_sinks_classify_failures_and_hide_the_url(
        httpserver: HTTPServer, client: httpx.AsyncClient, kind: str) -> None:
    sink = slack(httpserver, client) if kind == "slack" else teams(httpserver, client)
    httpserver.expect_oneshot_request("/in/T0KEN").respond_with_data(
        "rate_limited", status=429, headers={"Retry-After": "30"})
    with pytest.raises(RecoverableSinkError) as slow:
        await sink.send(make_alert())
    assert slow.value.retry_after == 30.0
    httpserver.expect_oneshot_request("/in/T0KEN").respond_with_data("channel_not_found",
                                                                     status=404)
    with pytest.raises(PermanentSinkError) as gone:
        await sink.send(make_alert())
    assert f"{kind} localhost:{httpserver.port}: HTTP 404: channel_not_found" == str(gone.value)
    assert "T0KEN" not in str(slow.value) + str(gone.value)


def test_the_documented_payload_builders_are_pure() -> None:
    alert = make_alert()
    assert slack_message(alert) == slack_message(alert)
    assert teams_message(alert) == teams_message(alert)


async def test_a_default_slack_digest_keeps_its_bold_and_feed_text_cannot_format(
        httpserver: HTTPServer, client: httpx.AsyncClient) -> None:
    httpserver.expect_oneshot_request("/in/T0KEN", method="POST").respond_with_data("ok")
    alert = make_alert(title="_Raqqa_ *convoy*", rule_title="Rule ~x~")
    await slack(httpserver, client).send_batch(Batch("desk", "digest", (alert,)))
    [(request, _)] = httpserver.log
    header, section = json.loads(request.get_data())["blocks"]
    assert header["text"]["text"] == "Digest: 1 alert: 1 HIGH"
    assert section["text"]["text"].startswith(
        ":large_orange_circle: *Rule \u223cx\u223c*\n"
        "<https://news.example.org/a1|\u02cdRaqqa\u02cd \u2217convoy\u2217>\n")
