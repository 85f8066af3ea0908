"""WebSub (W3C Recommendation) as a subscriber: the protocol, without timers or a server.

    discover_hub        the hub and topic a feed advertises: HTTP `Link` headers first,
                        then `<link rel="hub">` / `<atom:link rel="hub">` in the document
    request_subscription POST hub.mode=subscribe|unsubscribe to the hub (through the feed
                        client, so the address guard applies: hub URLs come from outside)
    verify_intent       the hub's GET: does it confirm what we asked (mode and topic)?
    signature_is_valid  X-Hub-Signature: `sha1|sha256|sha384|sha512=<hex HMAC of the body>`

The service side (service/websub_*.py) keeps the subscriptions, answers the callback and
renews leases; this module does no scheduling and keeps no state.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

SIGNATURE_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256,
                        "sha384": hashlib.sha384, "sha512": hashlib.sha512}
HEAD_BYTES = 65_536  # hub links sit in the feed's head, before the first entry
_LINK_TAG = re.compile(rb"<(?:[A-Za-z0-9_-]{1,20}:)?link\b([^<>]{0,2048})>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([A-Za-z_:][-A-Za-z0-9_:.]{0,40})\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""")
_FIRST_ENTRY = re.compile(rb"<(?:[A-Za-z0-9_-]{1,20}:)?(?:item|entry)\b", re.IGNORECASE)
_HEADER_LINK = re.compile(r"<([^>]{1,2048})>\s*((?:;\s*[^;,]+)*)")
REQUEST_TIMEOUT = 15.0
REASON_CHARS = 200


@dataclass(frozen=True)
class HubLink:
    """Where to subscribe (`hub`) and to what (`topic`: the feed's self URL)."""

    hub: str
    topic: str


def discover_hub(body: bytes | None, link_header: str | None, feed_url: str) -> HubLink | None:
    """The first http(s) hub the feed advertises, with its self URL as topic (the fetched
    URL when it names none); None when it advertises no hub. Links in headers win."""
    hubs, selves = _header_links(link_header or "")
    if not hubs and body:
        hubs, selves = _document_links(body)
    hub = next(filter(None, (_http_url(feed_url, h) for h in hubs)), None)
    if hub is None:
        return None
    topic = next(filter(None, (_http_url(feed_url, s) for s in selves)), feed_url)
    return HubLink(hub, topic)


def _http_url(base: str, href: str) -> str | None:
    """`href` resolved against `base` when that makes an http(s) URL with a host, else None
    (feed text is hostile: a malformed URL is skipped, not raised)."""
    try:
        url = urljoin(base, href)
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and host else None


def _header_links(value: str) -> tuple[list[str], list[str]]:
    hubs: list[str] = []
    selves: list[str] = []
    for match in _HEADER_LINK.finditer(value[:16_384]):
        rels = re.findall(r'rel\s*=\s*"?([^";]+)"?', match.group(2), re.IGNORECASE)
        kinds = {r.lower() for rel in rels for r in rel.split()}
        if "hub" in kinds:
            hubs.append(match.group(1).strip())
        if "self" in kinds:
            selves.append(match.group(1).strip())
    return hubs, selves


def _document_links(body: bytes) -> tuple[list[str], list[str]]:
    """`<link rel="hub" href="…"/>` in the document's head (RSS with atom:link, Atom)."""
    head = body[:HEAD_BYTES]
    if first := _FIRST_ENTRY.search(head):
        head = head[:first.start()]
    hubs: list[str] = []
    selves: list[str] = []
    for tag in _LINK_TAG.finditer(head):
        text = tag.group(1).decode("utf-8", errors="replace")
        attrs = {k.lower(): html.unescape(v.strip("\"'")) for k, v in _ATTRIBUTE.findall(text)}
        rels = {r.lower() for r in attrs.get("rel", "").split()}
        href = attrs.get("href", "").strip()
        if href and "hub" in rels:
            hubs.append(href)
        if href and "self" in rels:
            selves.append(href)
    return hubs, selves


async def request_subscription(client: httpx.AsyncClient, link: HubLink, *, mode: str,
                               callback: str, secret: str, lease_seconds: int) -> str | None:
    """Ask the hub to (un)subscribe `callback` to the topic; None when the hub accepted the
    request (202, or 204 after verifying at once), else why not, in one line."""
    form = {"hub.mode": mode, "hub.topic": link.topic, "hub.callback": callback}
    if mode == "subscribe":
        form |= {"hub.secret": secret, "hub.lease_seconds": str(lease_seconds)}
    try:
        response = await client.post(link.hub, data=form, timeout=REQUEST_TIMEOUT,
                                     follow_redirects=False)
    except httpx.HTTPError as exc:
        return f"hub {_host(link.hub)}: {type(exc).__name__}: {str(exc)[:REASON_CHARS]}"
    if response.is_success:
        return None
    excerpt = re.sub(r"\s+", " ", response.text[:REASON_CHARS]).strip()
    return f"hub {_host(link.hub)}: HTTP {response.status_code}" + (f": {excerpt}"
                                                                    if excerpt else "")


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


@dataclass(frozen=True)
class Intent:
    """What a verification GET says: the mode, the topic and the lease it grants."""

    mode: str
    topic: str
    challenge: str | None
    lease_seconds: int | None
    reason: str | None


def read_intent(query: Mapping[str, str]) -> Intent | None:
    """The hub's verification parameters; None when they are not a WebSub verification."""
    mode, topic = query.get("hub.mode", ""), query.get("hub.topic", "")
    if mode not in ("subscribe", "unsubscribe", "denied") or not topic:
        return None
    challenge = query.get("hub.challenge")
    if mode != "denied" and not challenge:
        return None
    lease = query.get("hub.lease_seconds", "")
    return Intent(mode, topic, challenge, int(lease) if lease.isdigit() else None,
                  query.get("hub.reason"))


def signature_is_valid(header: str | None, body: bytes, secret: str) -> bool:
    """Whether `X-Hub-Signature` is the HMAC of `body` under `secret`, with an algorithm
    WebSub allows (sha1, sha256, sha384, sha512); compared in constant time."""
    if not header or "=" not in header:
        return False
    method, _, signature = header.partition("=")
    digest = SIGNATURE_ALGORITHMS.get(method.strip().lower())
    if digest is None:
        return False
    expected = hmac.new(secret.encode(), body, digest).hexdigest()
    return hmac.compare_digest(expected, signature.strip().lower())


def sign(body: bytes, secret: str, method: str = "sha256") -> str:
    """An `X-Hub-Signature` value, as a hub computes it (for hubs in tests and benches)."""
    return f"{method}=" + hmac.new(secret.encode(), body, SIGNATURE_ALGORITHMS[method]).hexdigest()


__all__ = ["HubLink", "Intent", "discover_hub", "read_intent", "request_subscription",
           "sign", "signature_is_valid"]
