"""The console sink: alerts on stdout, as readable text or one JSON object per line."""

from __future__ import annotations

import sys
from typing import TextIO

from watcher.config.settings import ConsoleSink
from watcher.delivery.sinks.render import render_text
from watcher.errors import RecoverableSinkError
from watcher.models import Alert


class ConsolePrinter:
    def __init__(self, config: ConsoleSink, stream: TextIO | None = None) -> None:
        self.name = config.name
        self.format = config.format
        self._stream = stream

    async def send(self, alert: Alert) -> None:
        stream = self._stream or sys.stdout  # looked up late, so redirection applies
        text = alert.to_json() + "\n" if self.format == "json" else render_text(alert) + "\n"
        try:
            stream.write(text)
            stream.flush()
        except OSError as exc:  # a closed pipe, a full disk behind a redirect
            raise RecoverableSinkError(f"console: cannot write: {exc.strerror or exc}") from exc
