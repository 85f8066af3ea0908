"""The parse stage: feed bytes in, plain-text `Article`s out. Pure: no network, no disk, no
clock.

RSS 0.9x/1.0/2.0 and Atom go through feedparser, always handed the bytes as a stream (given a
str or bytes, feedparser may treat it as a URL or a file name and open it). JSON Feed
(https://jsonfeed.org) is read with json. HTML in any text field is reduced to plain text
(htmltext); each field is capped at MAX_FIELD_CHARS characters.

Hostile XML: feedparser's strict parser is expat, which refuses "billion laughs" nesting, but
on any error feedparser falls back to a loose parser that expands the entity declarations it
judged safe (any value without '&') with no limit, so one 100 kB entity referenced 100,000
times takes tens of gigabytes. `defuse_dtd` therefore rewrites an internal DTD subset before
feedparser sees it, keeping only entities whose value is a character reference or at most
MAX_ENTITY_CHARS characters of text. External entities are never fetched.

Keys (`article_key`) come from the entry's own fields, never from the other entries of the
document, so an entry keeps its key from poll to poll whatever appears beside it: a digest of
its canonical link, its guid and its title (its text when it has no title); a hash of its text
alone when it has neither link nor guid. Entries that share a link (a podcast whose items all
point at the show page, a live page updated story by story) or a guid (a CMS that repeats
one) keep apart keys.

Aliases (`Article.aliases`): the entry's other names, its canonical link and its guid each on
its own. The pipeline takes an article as seen when its key or any alias was recorded before,
so a story re-published under a new guid, through a tracking link (`canonical_url` drops the
parameters) or with an edited title is not new. A link or guid that several entries of the
document share names none of them, so it is no alias, and neither is a site's home page
(a link for every story); an entry left without one has its text hash as alias. Aliases are
the keys that earlier versions gave articles, so a store they wrote keeps its memory.

Outcome: entries found -> articles (plus a warning when the document was malformed); no feed at
all (an HTML page, garbage, a JSON document that is not a JSON Feed) -> an error, no articles.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from watcher.feeds.charrefs import mend_char_refs, scrub_surrogates
from watcher.feeds.fastparse import PlainRss, read_plain_rss
from watcher.feeds.htmltext import plain_text
from watcher.feeds.urls import canonical_url, is_http_url
from watcher.models import Article, ArticleIn, ParseOutcome

MAX_FIELD_CHARS = 100_000
MAX_TITLE_CHARS = 1_000
MAX_HTML_CHARS = 1_000_000
MAX_ENTITY_CHARS = 8
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})
JSON_FEED_VERSION = "https://jsonfeed.org/version/"

_ROOT_ELEMENT = re.compile(rb"<[A-Za-z_]")
_SAFE_ENTITY = re.compile(
    rb'<!ENTITY\s+(\w+)\s+"(&#(?:[0-9]{1,7}|x[0-9A-Fa-f]{1,6});|[^&%%<"]{0,%d})"\s*>'
    % MAX_ENTITY_CHARS)
_ENTITY_NAME = re.compile(rb"<!ENTITY\s+(?:%\s+)?([\w.:-]+)")
_WHITESPACE = re.compile(r"\s+")
_LANGUAGE_CODES = {"eng": "en", "fra": "fr", "fre": "fr", "deu": "de", "ger": "de",
                   "spa": "es", "ara": "ar", "rus": "ru", "ukr": "uk", "zho": "zh",
                   "chi": "zh", "por": "pt", "ita": "it", "tur": "tr", "fas": "fa",
                   "per": "fa", "urd": "ur", "heb": "he", "english": "en"}


@dataclass
class _Entry:
    """One entry before it gets its key: title in plain text, bodies as the feed gave them,
    reduced to text only when first asked for (an entry already seen never is)."""

    guid: str | None
    link: str | None
    title: str
    raw_summary: str
    summary_is_html: bool
    raw_content: str
    content_is_html: bool
    published: datetime | None
    language: str | None
    content_repeats_summary: bool = False  # feedparser copies Atom content into a summary
    url: str | None = None  # the canonical link the article carries, once keyed
    # The texts, once made. Not functools.cached_property: on Python 3.11 it takes one lock
    # for every instance, so the parse threads would reduce HTML one at a time.
    _summary: str | None = field(default=None, repr=False)
    _content: str | None = field(default=None, repr=False)

    @property
    def summary(self) -> str:
        if self._summary is None:
            self._summary = _body_text(self.raw_summary, html=self.summary_is_html)
        return self._summary

    @property
    def content(self) -> str:
        if self._content is None:
            content = _body_text(self.raw_content, html=self.content_is_html)
            self._content = "" if self.content_repeats_summary and content == self.summary \
                else content
        return self._content


@dataclass
class ParsedFeed:
    """A feed document read as far as its entries' keys: `names` are what the store is asked
    about, `articles` builds the articles (HTML reduced to text) of the entries wanted."""

    entries: list[tuple[str, tuple[str, ...], _Entry]] = field(default_factory=list)
    source: str = ""
    language: str | None = None  # the feed's, or the configured fallback
    warning: str | None = None
    error: str | None = None

    def names(self) -> list[str]:
        """Every key and alias, for dedupe."""
        return [name for key, aliases, _ in self.entries for name in (key, *aliases)]

    def articles(self, unseen: set[str] | None = None, feed: str = "") -> list[Article]:
        """The articles, or only those whose key and aliases are all in `unseen`; `feed` is
        the id of the feed they came from (Article.feed)."""
        return [_article(key, aliases, entry, self.source, self.language, feed)
                for key, aliases, entry in self.entries
                if unseen is None or unseen.issuperset((key, *aliases))]

    def outcome(self) -> ParseOutcome:
        if self.error:
            return ParseOutcome(error=self.error)
        return ParseOutcome(articles=self.articles(), warning=self.warning)


def parse_feed(body: bytes, *, feed_id: str, source: str, url: str,
               content_type: str | None = None, language: str | None = None) -> ParseOutcome:
    """Every entry of an RSS, Atom or JSON Feed document as an Article (module docstring)."""
    return read_feed(body, feed_id=feed_id, source=source, url=url,
                     content_type=content_type, language=language).outcome()


def read_feed(body: bytes, *, feed_id: str, source: str, url: str,
              content_type: str | None = None, language: str | None = None,
              fast: bool = True) -> ParsedFeed:
    """`parse_feed` up to the entries' keys: the pipeline drops entries already seen before
    their HTML is reduced to text. Plain RSS 2.0 is read by the fast path (fastparse.py)
    unless `fast` is False; the articles are the same either way."""
    if body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{":
        return _keyed(_read_json_feed(body, url), feed_id, source, language)
    plain = read_plain_rss(body, url, content_type) if fast else None
    if plain is not None:
        return _keyed(_plain_entries(plain, url), feed_id, source, language)
    return _keyed(_read_xml_feed(body, url, content_type), feed_id, source, language)


def _plain_entries(plain: PlainRss, url: str
                   ) -> tuple[list[_Entry], str | None, str | None, str | None]:
    """(entries, feed language, warning, error) of a document the fast path read, as
    `_read_xml_feed` makes them of feedparser's entries."""
    entries = []
    for item in plain.items:
        guid = item.guid or None
        link = _resolve(item.link or "", url)
        if not link and guid and is_http_url(guid):
            link = guid
        entries.append(_Entry(
            guid=guid, link=link or None, title=_title_text(item.title, html=item.title_is_html),
            raw_summary=item.summary, summary_is_html=True, raw_content=item.content or "",
            content_is_html=True,
            published=_struct_time(item.published) or _struct_time(item.updated),
            language=plain.language, content_repeats_summary=True))
    return entries, plain.language, None, None


def article_from_record(record: ArticleIn, *, default_source: str = "") -> Article:
    """An article of `watcher match` input: HTML reduced to text; key from the id, else the
    canonical URL, else a hash of the text."""
    title = _title_text(record.title, html=True)
    summary = _body_text(record.summary or "", html=True)
    content = _body_text(record.content or "", html=True)
    url = canonical_url(record.url) if record.url and is_http_url(record.url) else None
    if record.id:
        identity = f"url\x1f{canonical_url(record.id)}" if is_http_url(record.id) \
            else f"id\x1f{record.id}"
        key = _digest(identity)
    elif url and is_http_url(url):
        key = _digest(f"url\x1f{url}")
    else:
        key = _digest(_text_identity(record.source or default_source, title,
                                     summary or content))
    published = record.published
    if published is not None:
        published = published.replace(tzinfo=UTC) if published.tzinfo is None \
            else published.astimezone(UTC)
    return Article(key=key, url=url, title=title, summary=summary, content=content,
                   source=_title_text(record.source or default_source, html=False),
                   published=published,
                   language=normalize_language(record.language))


def article_key(*, feed_id: str, guid: str | None, link: str | None, title: str,
                summary: str) -> str:
    """An entry's stable key, from its own fields only: its canonical link, guid and title
    (its summary when it has no title), scoped to the feed when it has no link; a hash of
    title and summary (scoped to the feed) when it has neither link nor guid. 32 hex
    characters."""
    return _key(feed_id, _canonical_link(link), guid, title, summary)


def _canonical_link(link: str | None) -> str:
    return canonical_url(link) if link and is_http_url(link) else ""


def _key(feed_id: str, url: str, guid: str | None, title: str, summary: str) -> str:
    """`article_key`, the link already made canonical ("" for none)."""
    guid = (guid or "").strip()
    if not url and not guid:
        return _digest(_text_identity(feed_id, title, summary))
    scope = "" if url else feed_id  # a link names the story wherever it is published
    return _digest(f"entry\x1f{scope}\x1f{url}\x1f{guid}\x1f{title or summary}")


def normalize_language(value: str | None) -> str | None:
    """ISO 639-1, lower case: "en-US" -> "en", "IT-it" -> "it", "eng" -> "en"; else None."""
    if not value:
        return None
    primary = re.split(r"[-_\s]", value.strip().lower(), maxsplit=1)[0]
    if len(primary) == 2 and primary.isascii() and primary.isalpha():
        return primary
    return _LANGUAGE_CODES.get(primary)


def defuse_dtd(data: bytes) -> tuple[bytes, bool]:
    """`data` with any internal DTD subset cut down to harmless entities, and whether any
    declaration was dropped. Everything from the DOCTYPE to the root element is replaced."""
    root = _ROOT_ELEMENT.search(data)
    head_end = root.start() if root else len(data)
    doctype = data.find(b"<!DOCTYPE", 0, head_end)
    if doctype == -1:
        return data, False
    bracket = data.find(b"[", doctype, head_end)
    close = data.find(b">", doctype, head_end)
    if bracket == -1 or -1 < close < bracket:
        return data, False  # an external identifier only: nothing is declared inline
    safe = _SAFE_ENTITY.findall(data, doctype, head_end)
    # One declaration per line: feedparser's own DOCTYPE handling looks for them that way.
    kept = b"".join(b'<!ENTITY %s "%s">\n' % found for found in safe)
    subset = data[doctype:bracket] + b"[\n" + kept + b"]>\n"
    declared = set(_ENTITY_NAME.findall(data, doctype, head_end))
    dropped = declared - {name for name, _value in safe}
    rest = data[head_end:]
    if dropped:
        # References to dropped entities go too, so the document stays well-formed and the
        # fast strict parser reads it (the loose fallback is many times slower).
        names = b"|".join(re.escape(name) for name in sorted(dropped))
        rest = re.sub(rb"&(?:" + names + rb");", b"", rest)
    return data[:doctype] + subset + rest, bool(dropped)


def _read_xml_feed(body: bytes, url: str, content_type: str | None
                   ) -> tuple[list[_Entry], str | None, str | None, str | None]:
    """(entries, feed language, warning, error) of an RSS/Atom document."""
    data, defused = defuse_dtd(mend_char_refs(body))
    # Without a Content-Type, feedparser flags every document; application/xml lets the XML
    # declaration (or sniffing) pick the encoding, which is what an unlabelled file needs.
    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    try:
        parsed = feedparser.parse(io.BytesIO(data), response_headers=headers,
                                  resolve_relative_uris=False, sanitize_html=False)
    except Exception as exc:  # a third-party parser on hostile input: report, never crash
        return [], None, None, f"feed parser failed: {type(exc).__name__}: {exc}"
    problem = _bozo_text(parsed) if parsed.get("bozo") else None
    if not parsed.get("version"):
        looks_html = b"<html" in body[:4096].lower()
        reason = "an HTML page, not a feed" if looks_html else "not an RSS, Atom or JSON feed"
        return [], None, None, f"{reason}: {problem}" if problem else reason
    feed = parsed.get("feed", {})
    base = url if is_http_url(url) else str(feed.get("link") or "")
    entries = [_xml_entry(entry, base) for entry in parsed.get("entries", [])]
    warning = problem
    if defused:
        note = "inline DTD entity declarations removed"
        warning = f"{note}; {warning}" if warning else note
    return entries, feed.get("language"), warning, None


def _xml_entry(entry: Any, base: str) -> _Entry:
    summary_detail = entry.get("summary_detail") or {}
    content, content_is_html = "", True
    contents = entry.get("content") or []
    if contents:
        chosen = next((c for c in contents if _is_html(c)), contents[0])
        content, content_is_html = chosen.get("value", ""), _is_html(chosen)
    guid = entry.get("id") or None
    link = _resolve(entry.get("link") or "", base)
    if not link and guid and is_http_url(guid):
        link = guid
    title_detail = entry.get("title_detail") or {}
    language = (title_detail.get("language") or summary_detail.get("language")
                or (contents[0].get("language") if contents else None))
    return _Entry(guid=guid, link=link or None,
                  title=_title_text(entry.get("title", ""), html=_is_html(title_detail)),
                  raw_summary=entry.get("summary", ""),
                  summary_is_html=_is_html(summary_detail), raw_content=content,
                  content_is_html=content_is_html, published=_entry_time(entry),
                  language=language, content_repeats_summary=True)


def _read_json_feed(body: bytes, url: str
                    ) -> tuple[list[_Entry], str | None, str | None, str | None]:
    """(entries, feed language, warning, error) of a JSON Feed document."""
    try:
        doc = scrub_surrogates(json.loads(body.decode("utf-8-sig")))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return [], None, None, f"invalid JSON: {exc}"
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith(
            JSON_FEED_VERSION):
        return [], None, None, "a JSON document, but not a JSON Feed"
    items = doc.get("items")
    if not isinstance(items, list):
        return [], None, None, "JSON Feed without an items list"
    home = doc.get("home_page_url")
    base = url if is_http_url(url) else (home if isinstance(home, str) else "")
    entries = [_json_entry(item, base) for item in items if isinstance(item, dict)]
    language = doc.get("language")
    return entries, language if isinstance(language, str) else None, None, None


def _json_entry(item: dict[str, Any], base: str) -> _Entry:
    def text(name: str) -> str:
        value = item.get(name)
        return value if isinstance(value, str) else ""

    guid = item.get("id")
    html_body = text("content_html")
    language = item.get("language")
    return _Entry(
        guid=str(guid) if isinstance(guid, str | int) and not isinstance(guid, bool) else None,
        link=_resolve(text("url") or text("external_url"), base) or None,
        title=_title_text(text("title"), html=False), raw_summary=text("summary"),
        summary_is_html=False, raw_content=html_body or text("content_text"),
        content_is_html=bool(html_body),
        published=_iso_time(text("date_published") or text("date_modified")),
        language=language if isinstance(language, str) else None)


def _keyed(read: tuple[list[_Entry], str | None, str | None, str | None], feed_id: str,
           source: str, language: str | None) -> ParsedFeed:
    entries, feed_language, warning, error = read
    if error:
        return ParsedFeed(error=error)
    links = [_canonical_link(e.link) for e in entries]
    names = [_entry_names(feed_id=feed_id, guid=e.guid, url=url)
             for e, url in zip(entries, links, strict=True)]
    # A name that several entries share names none of them; it never touches their keys.
    shared = {name for name, n in Counter(n for ns in names for n in ns).items() if n > 1}
    fallback = normalize_language(feed_language) or normalize_language(language)
    source = _title_text(source, html=False)
    keyed = []
    for e, own, link in zip(entries, names, links, strict=True):
        # The text is needed only for an entry without link and guid, or without title.
        needs_text = not (link or (e.guid or "").strip()) or not e.title
        text = (e.summary or e.content) if needs_text else ""
        key = _key(feed_id, link, e.guid, e.title, text)
        aliases = tuple(n for n in own if n not in shared) or (
            _digest(_text_identity(feed_id, e.title, e.summary or e.content)),)
        e.url = link or None
        if e.url is not None and e.guid and e.link and e.link.strip() == e.guid.strip():
            e.url = _keep_fragment(e.url, e.link)  # a permalink guid's "#anchor" names the post
        keyed.append((key, tuple(a for a in aliases if a != key), e))
    return ParsedFeed(keyed, source, fallback, warning)


def _article(key: str, aliases: tuple[str, ...], e: _Entry, source: str,
             fallback_language: str | None, feed: str = "") -> Article:
    return Article(key=key, aliases=aliases, url=e.url, title=e.title,
                   summary=e.summary, content=e.content, source=source,
                   published=e.published,
                   language=normalize_language(e.language) or fallback_language, feed=feed)


def _is_html(detail: Any) -> bool:
    return str(detail.get("type", "text/html")).lower() in HTML_TYPES


def _title_text(value: str, *, html: bool) -> str:
    text = plain_text(value[:MAX_HTML_CHARS], html=html)
    return _WHITESPACE.sub(" ", text).strip()[:MAX_TITLE_CHARS]


def _body_text(value: str, *, html: bool) -> str:
    text = plain_text(value[:MAX_HTML_CHARS], html=html)
    return text.strip()[:MAX_FIELD_CHARS]


def _resolve(link: str, base: str) -> str:
    link = link.strip()
    try:
        if not link or urlsplit(link).scheme or not base:
            return link
        return urljoin(base, link)
    except ValueError:  # a malformed URL such as "http://[oops"
        return link


def _entry_time(entry: Any) -> datetime | None:
    for name in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get: FeedParserDict.get("updated_parsed") falls back to published_parsed
        # with a DeprecationWarning.
        when = _struct_time(dict.get(entry, name))
        if when is not None:
            return when
    return None


def _struct_time(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _iso_time(value: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _bozo_text(parsed: Any) -> str:
    exc = parsed.get("bozo_exception")
    text = f"{type(exc).__name__}: {exc}" if exc is not None else "malformed document"
    return text[:300]


def _entry_names(*, feed_id: str, guid: str | None, url: str) -> tuple[str, ...]:
    """An entry's names besides its key: its canonical link `url` (unless it is a site's
    home page) and its guid (scoped to the feed unless it is a URL), as digests."""
    names = []
    if url and not _is_home_page(url):
        names.append(_digest(f"url\x1f{url}"))
    if guid and is_http_url(guid):
        # The fragment stays: blogs give each post on a day page its own "#anchor" guid.
        names.append(_digest(f"url\x1f{_keep_fragment(canonical_url(guid), guid)}"))
    elif guid and guid.strip():
        names.append(_digest(f"guid\x1f{feed_id}\x1f{guid.strip()}"))
    return tuple(dict.fromkeys(names))


def _text_identity(feed_id: str, title: str, summary: str) -> str:
    return f"text\x1f{feed_id}\x1f{title}\x1f{summary}"


def _is_home_page(url: str) -> bool:
    """A site's root, which feeds that have no page per story give every entry."""
    parts = urlsplit(url)
    return parts.path in ("", "/") and not parts.query and not parts.fragment


def _keep_fragment(canonical: str, original: str) -> str:
    fragment = original.partition("#")[2]
    return f"{canonical.partition('#')[0]}#{fragment}" if fragment else canonical


def _digest(identity: str) -> str:
    return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:32]
