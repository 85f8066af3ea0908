"""Property-based tests (hypothesis, issue 17): any input in, no exception out, and every
offset inside the text. Examples are few and small so the file stays fast."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watcher.feeds.charrefs import mend_char_refs
from watcher.feeds.htmltext import plain_text
from watcher.feeds.parse import parse_feed
from watcher.matching.alerts import build_alerts
from watcher.matching.matcher import Matcher, compile_rules, match_article
from watcher.models import FIELDS, Article
from watcher.rules.load import load_rules
from watcher.text.normalize import normalize_token, tokenize
from watcher.yamlfile import YamlProblem, parse_yaml

FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
TAG_LIKE = re.compile(r"<[A-Za-z/!?]")
RULES = """\
places:
  - {name: Raqqa, country: SY, lat: 35.95, lon: 39.01, aliases: [الرقة, Ракка]}
rules:
  - id: convoy
    title: Convoy
    severity: high
    match: {words: [convoy, колонна], places: [Raqqa]}
  - id: pattern
    title: Pattern
    severity: low
    match: {pattern: ["sh[e3]ll(ing|ed)"]}
  - id: near
    title: Near
    severity: low
    match: {near: {of: [{words: [attack]}, {words: [hospital]}], within: 5}}
"""
# Text with what feeds hold: markup, entities, references, scripts, invisible characters.
PIECES = st.sampled_from([
    "convoy", "Raqqa", "الرقة", "Ракка", "колонна", "shelling", "attack", "hospital",
    "c\u03bfnvoy", "\u202eyovnoc\u202c", "<b>", "</b>", "<script>x</script>", "&amp;", "&lt;",
    "&#55357;&#56832;", "&#xD800;", "&#0;", "\u200b", "\u00ad", "\ufffd", " ", "\n", "-", "'",
    "_", "<!--", "]]>", "<![CDATA[", "é", "\u0301", "ـ", "ٱ",
])
NEWSY_TEXT = st.lists(st.one_of(PIECES, st.text(max_size=8)), max_size=25).map("".join)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    ruleset = load_rules([], {"rules.yaml": RULES})
    assert [p for p in ruleset.problems if p.severity == "error"] == []
    return compile_rules(ruleset)


def rss(title: str, description: str) -> bytes:
    item = f"<item><title>{title}</title><description>{description}</description></item>"
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>t</title>{item}</channel></rss>").encode("utf-8", "surrogatepass")


@FAST
@given(st.binary(max_size=600))
def test_any_bytes_parse_without_an_exception(body: bytes) -> None:
    outcome = parse_feed(body, feed_id="f", source="s", url="https://example.org/feed")
    assert outcome.error is None or outcome.articles == []


@FAST
@given(NEWSY_TEXT, NEWSY_TEXT)
def test_any_entry_text_parses_to_plain_encodable_text(title: str, description: str) -> None:
    outcome = parse_feed(rss(title, description), feed_id="f", source="s",
                         url="https://example.org/feed")
    for article in outcome.articles:
        for name in FIELDS:
            text = article.field_text(name)
            text.encode("utf-8")  # no lone surrogate survives
            assert not TAG_LIKE.search(text), text


@FAST
@given(st.binary(max_size=300))
def test_mending_references_keeps_every_other_byte(data: bytes) -> None:
    mended = mend_char_refs(data)
    if b"&#" not in data:
        assert mended == data


@FAST
@given(st.text(max_size=200), st.booleans())
def test_plain_text_never_holds_markup(value: str, html: bool) -> None:
    assert not TAG_LIKE.search(plain_text(value, html=html))


@FAST
@given(NEWSY_TEXT)
def test_tokens_lie_inside_the_text_in_order(text: str) -> None:
    tokens = tokenize(text)
    end = 0
    for (start, stop), norm in zip(tokens.spans, tokens.norms, strict=True):
        assert end <= start < stop <= len(text)
        assert norm and " " not in norm and norm == normalize_token(text[start:stop])
        end = stop


@FAST
@given(NEWSY_TEXT, NEWSY_TEXT, NEWSY_TEXT)
def test_matching_offsets_point_into_the_text(matcher: Matcher, title: str, summary: str,
                                              content: str) -> None:
    article = Article(key="k", title=title, summary=summary, content=content)
    found = match_article(matcher, article, all_entities=True)
    for alert in build_alerts(article, found, datetime(2026, 12, 4, tzinfo=UTC)):
        for term in alert.matched:
            text = article.field_text(term.field)
            assert 0 <= term.start < term.end <= len(text)
            assert text[term.start:term.end] == term.text


@FAST
@given(st.text(max_size=300))
def test_any_yaml_text_loads_or_is_a_positioned_problem(text: str) -> None:
    try:
        parse_yaml(text, "any.yaml")
    except YamlProblem as exc:
        assert exc.problem.line >= 1 and exc.problem.col >= 1


@FAST
@given(st.text(max_size=300))
def test_any_rule_text_loads_or_reports_problems(text: str) -> None:
    ruleset = load_rules([], {"any.yaml": text})
    for problem in ruleset.problems:
        assert problem.line >= 1 and problem.col >= 1
