"""HTML reduced to the plain text that rules match and alerts carry.

Feeds put HTML in titles, summaries and content, sometimes with scripts, styles and
tracking pixels. Matching offsets are offsets into this text, so the reduction is
deterministic and the whitespace rules are fixed:

- script, style, noscript, template, iframe, object, embed, svg and head are dropped whole;
- block elements (p, div, headings, blockquote, section, ...) are separated by a blank line
  ("\\n\\n"); <br>, list items, table rows and definition terms end a line ("\\n");
  table cells are separated by a space;
- inside a line, every run of whitespace (including no-break spaces) becomes one space, and
  lines are stripped; no more than one blank line in a row; the result is stripped;
- entities are decoded.

Markup nested deeper than MAX_DEPTH elements is not given to the HTML parser: lexbor's tree
building takes time quadratic in the depth of nested blocks (100,000 nested <div>s take half a
minute), so such markup is reduced by a flat tag stripper that follows the same rules.

Text without '<' is not parsed as HTML: without '&' it is returned unchanged (the fast path),
with '&' only its entities are decoded, so plain text keeps its own line breaks.

`plain_text` is what every text field of an article goes through, whatever the feed
declared its type to be: feedparser calls a title plain text unless all its tags are on its
safe list, so `Convoy <script>alert(1)</script> near Tabqa` would reach receivers as
written. Text that still holds something tag-like (`<` then a letter, `/`, `!` or `?`) after
its reduction, such as markup escaped twice, is reduced again; what remains after
MAX_ROUNDS loses the `<` of each tag, so no field ever carries markup.
"""

from __future__ import annotations

import html
import re

from selectolax.lexbor import LexborHTMLParser, LexborNode

DROPPED = frozenset({"script", "style", "noscript", "template", "iframe", "object", "embed",
                     "svg", "math", "head", "title", "select", "button"})
PARAGRAPH_BLOCKS = frozenset({
    "p", "div", "section", "article", "header", "footer", "aside", "nav", "main", "figure",
    "figcaption", "blockquote", "pre", "address", "h1", "h2", "h3", "h4", "h5", "h6", "ul",
    "ol", "dl", "table", "form", "fieldset", "details", "hr", "center",
})
LINE_BLOCKS = frozenset({"li", "tr", "dt", "dd", "caption", "summary", "thead", "tbody",
                         "tfoot"})
CELLS = frozenset({"td", "th"})

# Elements that never hold others, or that the parser closes by itself when the next opens:
# they do not deepen the tree.
NOT_NESTING = frozenset({"br", "img", "hr", "meta", "link", "input", "wbr", "source", "area",
                         "col", "embed", "param", "track", "base", "p", "li", "td", "th",
                         "tr", "option", "dt", "dd"})
MAX_DEPTH = 256
MAX_ROUNDS = 3

_PARAGRAPH = "\x00P"
_LINE = "\x00L"
_SPACE_RUN = re.compile(r"[ \t\n\r\f\v\xa0\u2000-\u200a\u202f\u205f\u3000]+")
_MARKERS = re.compile(r"(?: ?\x00[PL] ?)+")  # what _breaks does, kept for its test
_SEPARATORS = re.compile(r"[\x1c-\x1f]")
# [^<>]* rather than [^>]*: a run of "<a<a<a..." without '>' must not be rescanned per '<'.
_TAG = re.compile(r"<!--.*?(?:-->|$)|<(/?)([A-Za-z][A-Za-z0-9:-]*)[^<>]*>", re.DOTALL)
_DROPPED_NAMES = "|".join(sorted(DROPPED))
_DROPPED_ELEMENT = re.compile(rf"<({_DROPPED_NAMES})\b[^<>]*>.*?(?:</\1\s*>|$)",
                              re.DOTALL | re.IGNORECASE)


_TAG_LIKE = re.compile(r"<(?=[A-Za-z/!?])")


def plain_text(value: str, *, html: bool) -> str:
    """Text without markup, from a field declared HTML (`html`) or plain (module docstring)."""
    text = html_to_text(value) if html or _TAG_LIKE.search(value) else value
    for _ in range(MAX_ROUNDS):
        if _TAG_LIKE.search(text) is None:
            return text
        text = html_to_text(text)
    return _TAG_LIKE.sub("", text)


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment or document (see the module docstring for the rules)."""
    if "<" not in markup:
        return html.unescape(markup) if "&" in markup else markup
    if _nests_deeper_than(markup, MAX_DEPTH):
        return _flat_text(markup)
    tree = LexborHTMLParser(markup)
    root = tree.body or tree.root
    if root is None:
        return ""
    return _tidy(_pieces(root))


def _pieces(root: LexborNode) -> list[str]:
    """Text and break markers in document order, walked without recursion: hostile HTML
    can nest elements far deeper than Python's recursion limit."""
    pieces: list[str] = []
    stack: list[tuple[LexborNode, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        tag = node.tag or ""
        if leaving:
            pieces.append(_PARAGRAPH if tag in PARAGRAPH_BLOCKS else _LINE)
            continue
        if node.is_text_node:
            pieces.append(node.text_content or "")
            continue
        if not node.is_element_node or tag in DROPPED:
            continue
        if tag == "br":
            pieces.append(_LINE)
            continue
        if tag in CELLS:
            pieces.append(" ")
        elif tag in PARAGRAPH_BLOCKS:
            pieces.append(_PARAGRAPH)
            stack.append((node, True))
        elif tag in LINE_BLOCKS:
            pieces.append(_LINE)
            stack.append((node, True))
        children = list(node.iter(include_text=True))
        stack.extend((child, False) for child in reversed(children))
    return pieces


def _tidy(pieces: list[str]) -> str:
    return _breaks(_collapsed("".join(pieces))).strip()


def _collapsed(text: str) -> str:
    """Each run of whitespace as one space (`_SPACE_RUN`). ASCII text without the separators
    \\x1c-\\x1f (which str.split() also splits on) is split and joined: the same text but
    for a space at either end, which `_tidy` strips anyway, at a fifth of the regex's cost."""
    if text.isascii() and _SEPARATORS.search(text) is None:
        return " ".join(text.split())
    return _SPACE_RUN.sub(" ", text)


def _breaks(text: str) -> str:
    """Each run of break markers, with a space either side, as a line break or (if any is a
    paragraph) a blank line: `_MARKERS.sub(_break_for, text)` for text whose whitespace is
    collapsed, without the regex trying a match at every space."""
    if "\x00" not in text:
        return text
    out: list[str] = []
    start, scan = 0, 0
    while (at := text.find("\x00", scan)) >= 0:
        if not _is_marker(text, at):
            scan = at + 1
            continue
        out.append(text[start:at - 1 if at > start and text[at - 1] == " " else at])
        paragraph = False
        while _is_marker(text, at):
            paragraph = paragraph or text[at + 1] == "P"
            at += 2
            if text[at:at + 1] == " " and _is_marker(text, at + 1):
                at += 1
        if text[at:at + 1] == " ":
            at += 1
        out.append("\n\n" if paragraph else "\n")
        start = scan = at
    out.append(text[start:])
    return "".join(out)


def _is_marker(text: str, at: int) -> bool:
    return text[at:at + 1] == "\x00" and text[at + 1:at + 2] in ("P", "L")


def _break_for(run: re.Match[str]) -> str:
    return "\n\n" if _PARAGRAPH in run.group(0) else "\n"


def _nests_deeper_than(markup: str, limit: int) -> bool:
    """Whether elements open inside each other more than `limit` deep. An end tag closes
    only an element of its name that is open (a stray </p> closes nothing)."""
    open_names: list[str] = []
    for tag in _TAG.finditer(markup):
        if tag.group(2) is None:
            continue  # a comment
        name = tag.group(2).lower()
        if tag.group(1):
            if name in open_names:  # at most `limit` names to look through
                last = len(open_names) - 1 - open_names[::-1].index(name)
                del open_names[last:]
        elif name not in NOT_NESTING and not tag.group(0).endswith("/>"):
            open_names.append(name)
            if len(open_names) > limit:
                return True
    return False


def _flat_text(markup: str) -> str:
    """The same text as the parser path, from a linear scan of the tags."""
    def replace(tag: re.Match[str]) -> str:
        name = (tag.group(2) or "").lower()
        if name in PARAGRAPH_BLOCKS:
            return _PARAGRAPH
        if name in LINE_BLOCKS or name == "br":
            return _LINE
        return " " if name in CELLS else ""

    stripped = _TAG.sub(replace, _DROPPED_ELEMENT.sub("", markup))
    return _tidy([html.unescape(stripped)])
