"""Which sinks receive an alert: the rule's `notify`, else the configured default route."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from .config import Config

log = logging.getLogger("watcher.route")


def route_alert(notify: Sequence[str], config: Config) -> list[str]:
    """Sink names for a rule hit. Unknown names in `notify` are logged and skipped; a rule
    that names only unknown sinks falls back to the default route rather than going nowhere."""
    known = config.sink_names()
    if notify:
        chosen = [name for name in notify if name in known]
        for name in notify:
            if name not in known:
                log.warning("rule notifies unknown sink %r; known sinks: %s", name, known)
        if chosen:
            return chosen
    if config.default_sinks is not None:
        return list(config.default_sinks)
    return known
