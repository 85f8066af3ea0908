"""Adaptive Card text made safe for feed text: Markdown escapes, link targets, the card's schema
and severity colours.

Shared by the one-alert cards (teams.py) and the cards for several (batch_render.py).
"""

from __future__ import annotations

import re

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
SEVERITY_COLOURS = {"low": "Default", "medium": "Warning", "high": "Attention",
                    "critical": "Attention"}
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~])")


def escape_markdown(text: str) -> str:
    """Feed text made literal in an Adaptive Card TextBlock."""
    return _MARKDOWN.sub(r"\\\1", text)


def link_target(url: str) -> str:
    """A URL that cannot end a Markdown link early or open a tag."""
    for char, code in (("(", "%28"), (")", "%29"), ("<", "%3C"), (">", "%3E"), (" ", "%20")):
        url = url.replace(char, code)
    return url
