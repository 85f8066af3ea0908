"""Logging: readable lines on a terminal, one JSON object per line otherwise.

A log call says what its line is about with `extra=` (`{"feed": …}`, `{"alert_id": …,
"sink": …}`, `{"rule": …}`, `{"file": …}` for a rule or config file); both formats carry those
keys. Secret values from the configuration are replaced by `***` in every line, whatever
a library or an exception message put in it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

# Attributes a log call may attach with `extra=` to say what the line is about.
CONTEXT_KEYS = ("feed", "rule", "alert_id", "sink", "file")
REDACTED = "***"
NOISY_LIBRARIES = ("httpx", "httpcore", "apscheduler", "aiosmtplib", "aiohttp")


class _Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def context(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra=` keys of a record that say what it is about."""
    return {key: getattr(record, key) for key in CONTEXT_KEYS if hasattr(record, key)}


class JsonFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.redact = _Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": self.redact(record.getMessage()),
        }
        for key, value in context(record).items():
            line[key] = self.redact(str(value))
        if record.exc_info:
            line["exc"] = self.redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`12:00:01 WARNING watcher.pipeline: feed x: timed out [feed=x]`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        self.redact = _Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        about = " ".join(f"{k}={v}" for k, v in context(record).items())
        if about:
            head, sep, rest = text.partition("\n")  # after the message, before a traceback
            text = f"{head} [{about}]{sep}{rest}"
        return self.redact(text)


def setup_logging(level: str = "info", *, json_lines: bool | None = None,
                  secrets: Iterable[str] = ()) -> None:
    """Configure the root logger once, on stderr (stdout is for command output). JSON lines
    unless stderr is a terminal; `secrets` never appear in a line."""
    stream = sys.stderr
    if json_lines is None:
        json_lines = not stream.isatty()
    handler = logging.StreamHandler(stream)
    secrets = list(secrets)
    handler.setFormatter(JsonFormatter(secrets) if json_lines else TextFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in NOISY_LIBRARIES:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
