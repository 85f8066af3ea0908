"""The fast path of the parse stage: plain RSS 2.0 read with lxml, exactly as feedparser reads it.

feedparser spends about 20 ms on a 100 kB feed; most feeds are plain RSS 2.0 in UTF-8, which
libxml2 (lxml) reads in well under a millisecond. `read_plain_rss` reads such a document
and hands back, for each item, the values feedparser would give the parse stage; for any other
shape it returns None and feedparser reads the document (parse.py). The shape it accepts:

- fetched over http(s) (its URL is the base of relative links, as for feedparser);
- no byte-order mark; UTF-8 (declared so, or undeclared) and a Content-Type, if any, of XML
  (`application/xml`, `application/rss+xml`) with no charset but utf-8: what feedparser reads
  without a warning;
- no DOCTYPE at all, so no entity can be declared and nothing is fetched (lxml's parser is also
  told not to resolve entities nor touch the network), and no xml:base or xml:lang;
- well-formed (a document libxml2 refuses goes to feedparser, which reports and recovers);
- `<rss version="2.0">` with no default namespace, one `<channel>`, every `<item>` a child of
  it, at most one `<language>`;
- items holding only elements of ITEM_FIELDS, each of title, link, guid, description,
  pubDate, dc:date and content:encoded at most once, as text (no child element, no
  comment), with no attribute but a guid's isPermaLink ("true" or "false"); media:content,
  media:thumbnail and media:credit holding no element.

Values go through the steps feedparser's `pop` applies to them, using feedparser's own
helpers (URL join, HTML sniffing of titles, date parsing, the cp1252 table), so the two paths
cannot drift apart unnoticed; tests/test_feed_corpus.py compares them on every real feed
of the corpus. HTML is not sanitised here, nor by feedparser (parse.py turns it into text
with htmltext, which drops scripts and styles).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from dataclasses import dataclass

from feedparser.datetimes import _parse_date
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin
from lxml import etree

from watcher.feeds.urls import is_http_url

CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
DC_NS = "http://purl.org/dc/elements/1.1/"
MEDIA_NS = "http://search.yahoo.com/mrss/"
ONCE = frozenset({"title", "link", "guid", "description", "pubDate", f"{{{CONTENT_NS}}}encoded",
                  f"{{{DC_NS}}}date"})
# Elements feedparser keeps apart from the fields the parse stage reads; the media ones only
# while they hold no element (a media:description inside would be read as the summary).
IGNORED = frozenset({"author", "category", "comments", "enclosure", f"{{{DC_NS}}}creator"})
CHILDLESS = frozenset({f"{{{MEDIA_NS}}}thumbnail", f"{{{MEDIA_NS}}}content",
                       f"{{{MEDIA_NS}}}credit"})
ITEM_FIELDS = ONCE | IGNORED | CHILDLESS
XML_TYPES = frozenset({"application/xml", "application/rss+xml"})
BOM = b"\xef\xbb\xbf"

_DECLARATION = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_AMP_NAME = re.compile("&([A-Za-z0-9_]+);")
_parsers = threading.local()


@dataclass(frozen=True)
class PlainItem:
    """One item as feedparser would give it: `guid` is its id, `link` its link (the guid's
    when it is a permalink and there is no link element), `summary` its description (or its
    content when it has none), `published` its parsed pubDate."""

    guid: str | None
    link: str | None
    title: str
    title_is_html: bool
    summary: str
    content: str | None
    published: time.struct_time | None
    updated: time.struct_time | None  # dc:date


@dataclass(frozen=True)
class PlainRss:
    items: list[PlainItem]
    language: str | None


def read_plain_rss(body: bytes, url: str, content_type: str | None) -> PlainRss | None:
    """The items of a plain RSS 2.0 document fetched from the http(s) `url`, or None when it
    is of another shape or came from elsewhere (a file, standard input: relative links then
    resolve against the channel's link, which this path does not read)."""
    if not is_http_url(url) or not _plain_bytes(body, content_type):
        return None
    try:
        root = etree.fromstring(body, _parser())
    except (etree.XMLSyntaxError, ValueError):
        return None
    if root.tag != "rss" or root.get("version") != "2.0" or None in root.nsmap:
        return None
    children = [c for c in root if isinstance(c.tag, str)]
    if len(children) != 1 or children[0].tag != "channel":
        return None
    channel = children[0]
    items = [c for c in channel if c.tag == "item"]
    languages = [c for c in channel if c.tag == "language"]
    if (len(languages) > 1 or len(root.findall(".//item")) != len(items)
            or len(root.findall(".//language")) != len(languages)
            or root.find(f".//{{{DC_NS}}}language") is not None):
        return None
    language = None
    if languages:
        if not _is_text(languages[0]):
            return None
        language = _value(languages[0].text)
    read = [_item(item, url) for item in items]
    if any(r is None for r in read):
        return None
    return PlainRss([r for r in read if r is not None], language)


def _plain_bytes(body: bytes, content_type: str | None) -> bool:
    if body.startswith(BOM):
        return False
    if content_type is not None:
        media, _, params = content_type.partition(";")
        charset = params.strip().lower().replace(" ", "")
        if media.strip().lower() not in XML_TYPES or charset not in ("", "charset=utf-8"):
            return False
    root = body.find(b"<rss")
    if root == -1 or b"<!DOCTYPE" in body[:root] or b"<!doctype" in body[:root]:
        return False
    if b"xml:base" in body or b"xml:lang" in body:
        return False
    declared = _DECLARATION.match(body.lstrip(b" \t\r\n"))
    return declared is None or declared.group(1).lower() in (b"utf-8", b"utf8")


def _parser() -> etree.XMLParser:
    """One hardened parser per thread (lxml parsers are not shared between threads)."""
    parser: etree.XMLParser | None = getattr(_parsers, "parser", None)
    if parser is None:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                 dtd_validation=False, huge_tree=False, recover=False,
                                 remove_pis=True)
        _parsers.parser = parser
    return parser


def _is_text(element: etree._Element) -> bool:
    return len(element) == 0 and not element.attrib


def _item(item: etree._Element, url: str) -> PlainItem | None:
    found: dict[str, etree._Element] = {}
    for child in item:
        tag = child.tag
        if not isinstance(tag, str) or tag not in ITEM_FIELDS:
            return None  # a comment, or an element feedparser may read into a field
        if tag in CHILDLESS and len(child):
            return None
        if tag in ONCE:
            if tag in found:
                return None
            if not (_is_text(child) or (tag == "guid" and len(child) == 0
                                        and set(child.attrib) == {"isPermaLink"}
                                        and child.get("isPermaLink") in ("true", "false"))):
                return None
            found[tag] = child
    guid_element = found.get("guid")
    guid = guid_is_link = None
    if guid_element is not None:
        guid_is_link = guid_element.get("isPermaLink", "true") == "true"
        raw = (guid_element.text or "").strip()
        guid = _value(_urljoin(url, raw) if guid_is_link and raw else raw)
    link = None
    if "link" in found:
        raw = (found["link"].text or "").strip()
        link = _link_value(_value(_urljoin(url, raw) if raw else raw))
    elif guid_is_link:
        link = guid
    title_raw = (found["title"].text or "").strip() if "title" in found else ""
    description = _text(found.get("description"))
    content = _text(found.get(f"{{{CONTENT_NS}}}encoded"))
    return PlainItem(
        guid=guid, link=link, title=_value(title_raw),
        title_is_html=("title" not in found or _FeedParserMixin.looks_like_html(title_raw)),
        summary=description if description is not None else (content or ""),
        content=content, published=_date(found.get("pubDate")),
        updated=_date(found.get(f"{{{DC_NS}}}date")))


def _date(element: etree._Element | None) -> time.struct_time | None:
    text = _text(element)
    return None if text is None else _parse_date(text)


def _text(element: etree._Element | None) -> str | None:
    return None if element is None else _value((element.text or "").strip())


def _value(text: str | None) -> str:
    """What feedparser's pop does last to every value of a UTF-8 document: text that is UTF-8
    read as Latin-1 is read again, and C1 controls become their cp1252 characters."""
    text = text or ""
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("iso-8859-1").decode("utf-8")
    return text.translate(_cp1252)


def _link_value(text: str) -> str:
    """feedparser's repair of `?a=1&b=2` written as `?a=1&amp;b=2` in an item's link."""
    return _AMP_NAME.sub(r"&\g<1>", text.replace("&amp;", "&"))
