"""html_to_text: the fixed whitespace and dropping rules of watcher.htmltext."""

from __future__ import annotations

import random
import time

import pytest

from watcher.feeds.htmltext import html_to_text


@pytest.mark.parametrize(("markup", "text"), [
    ("plain text\n\nkeeps its own breaks  ", "plain text\n\nkeeps its own breaks  "),
    ("AT&amp;T &eacute;t&eacute; &#8217;", "AT&T été ’"),
    ("x < y and y > z", "x < y and y > z"),
    ("<p>one</p><p>two</p>", "one\n\ntwo"),
    ("line<br>next<br/>last", "line\nnext\nlast"),
    ("<b>bold</b> and <i>italic</i>", "bold and italic"),
    ("<p>  lots\n\t of   space\u00a0here </p>", "lots of space here"),
    ("<ul><li>one</li><li>two</li></ul>after", "one\ntwo\n\nafter"),
    ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"),
    ("<h2>Head</h2>body", "Head\n\nbody"),
    ("<p>a</p><p></p><p></p><p>b</p>", "a\n\nb"),
    ('<p>kept</p><script>alert("x")</script><style>p{}</style><noscript>n</noscript>'
     "<template><p>t</p></template><iframe src='x'>i</iframe>", "kept"),
    ("<html><head><title>T</title></head><body><p>Body</p></body></html>", "Body"),
    ("<p>unclosed <b>tags", "unclosed tags"),
    ("<!-- a comment --><p>visible</p>", "visible"),
    ("", ""),
    ("<p></p>", ""),
])
def test_html_to_text(markup: str, text: str) -> None:
    assert html_to_text(markup) == text


def test_deep_nesting_does_not_recurse() -> None:
    markup = "<div>" * 100_000 + "deep" + "</div>" * 100_000
    assert html_to_text(markup) == "deep"


def test_large_document_is_fast() -> None:
    markup = "<p>Convoy <b>left</b> at dawn &amp; returned.</p>" * 20_000
    started = time.perf_counter()
    text = html_to_text(markup)
    assert time.perf_counter() - started < 5
    assert text.count("\n\n") == 19_999


@pytest.mark.parametrize("markup", [
    "<p>one</p><p>two <b>bold</b></p>",
    "line<br>next<ul><li>a</li><li>b</li></ul>tail",
    "<table><tr><td>a</td><td>b</td></tr></table>",
    "<div><p>x &amp; y</p><script>no()</script><style>p{}</style>after</div>",
    "<!-- c --><h1>T</h1>body&nbsp;text",
])
def test_flat_stripper_agrees_with_the_parser(markup: str) -> None:
    from watcher.feeds.htmltext import _flat_text
    assert _flat_text(markup) == html_to_text(markup)


@pytest.mark.parametrize("markup", [
    "<div>" * 300 + "<script>evil()</script>text" + "</div>" * 300,
    "<blockquote>" * 50_000 + "quoted",
    "</p><div>" * 50_000 + "x",
])
def test_deep_markup_uses_the_flat_stripper(markup: str) -> None:
    started = time.perf_counter()
    assert html_to_text(markup) in {"text", "quoted", "x"}
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("markup", ["<a" * 200_000, "<script" * 100_000, "<!--" * 100_000])
def test_broken_tags_take_linear_time(markup: str) -> None:
    started = time.perf_counter()
    html_to_text(markup)
    assert time.perf_counter() - started < 5


def test_the_fast_tidy_equals_the_regular_expressions_it_replaces() -> None:
    """_tidy collapses ASCII whitespace with str.split and finds break markers with
    str.find; on any text it gives what the two regular expressions give."""
    from watcher.feeds.htmltext import _MARKERS, _SPACE_RUN, _break_for, _tidy

    alphabet = ["a", "bc", " ", "  ", "\t", "\n", "\x00P", "\x00L", "\x00", "\x00x", "\xa0",
                "\x1c", "é", "\u3000", "P", "L"]
    rng = random.Random(19)
    for _ in range(20_000):
        pieces = [rng.choice(alphabet) for _ in range(rng.randint(0, 12))]
        text = "".join(pieces)
        expected = _MARKERS.sub(_break_for, _SPACE_RUN.sub(" ", text)).strip()
        assert _tidy(pieces) == expected, repr(text)
