"""Slack's mrkdwn made safe for feed text: escapes, link targets and severity icons.

Shared by the one-alert messages (slack.py) and the messages for several (batch_render.py).
"""

from __future__ import annotations

import re

SEVERITY_ICONS = {"low": ":large_blue_circle:", "medium": ":large_yellow_circle:",
                  "high": ":large_orange_circle:", "critical": ":red_circle:"}


# The formatting characters (and their full-width forms, which Slack also reads) mapped to
# look-alikes that are never delimiters; the choice of jsx-slack's <Escape>.
_LOOKALIKES = str.maketrans({"*": "\u2217", "\uff0a": "\ufe61", "_": "\u02cd",
                             "\uff3f": "\u2e0f", "~": "\u223c", "`": "\u02cb",
                             "\uff40": "\u02cb"})
_LEADING_QUOTE = re.compile(r"^(&gt;|\uff1e)", re.MULTILINE)


def _entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_mrkdwn(text: str) -> str:
    """Feed text made inert in mrkdwn: no mention, link, bold, italic, strike, code or quote.
    `&`, `<`, `>` become the entities Slack asks for; the formatting characters, which have
    no escape, become look-alikes."""
    return _LEADING_QUOTE.sub("\u00ad\\1", _entities(text).translate(_LOOKALIKES))


def escape_code(text: str) -> str:
    """Text for inside a `code` span, where nothing formats: entities, and no backtick that
    would end the span early. Ids stay copyable as they are."""
    return _entities(text).replace("`", "\u02cb")


def link_target(url: str) -> str:
    """A URL that cannot end `<url|label>` early."""
    return (url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E")
            .replace("|", "%7C"))
