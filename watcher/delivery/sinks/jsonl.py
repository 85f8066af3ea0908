"""The JSON Lines sink: each alert appended to a file as one line, synced before `send` returns."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from watcher.config.settings import Config, JsonlSink
from watcher.errors import RecoverableSinkError
from watcher.models import Alert


class JsonlWriter:
    def __init__(self, config: JsonlSink, root: Config) -> None:
        self.name = config.name
        self.path = root.resolve(config.path)
        self._lock = asyncio.Lock()

    async def send(self, alert: Alert) -> None:
        line = (alert.to_json() + "\n").encode()
        async with self._lock:
            try:
                await asyncio.to_thread(append_line, self.path, line)
            except OSError as exc:
                raise RecoverableSinkError(
                    f"{self.path}: cannot append: {exc.strerror or exc}") from exc


def append_line(path: Path, line: bytes) -> None:
    """Append and fsync. A line left half-written by a crash is ended first, so the next line
    stays parseable on its own."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+b") as f:
        if f.tell() > 0:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                line = b"\n" + line
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
