"""Every error watcher raises, in one tree.

    WatcherError
    ├── SourceError              a document someone wrote is wrong (has file, line, col)
    │   ├── ConfigError          config YAML: syntax, schema, missing ${VAR}
    │   └── RuleError            rule YAML: syntax, schema, unknown list, bad term
    ├── FetchError               a feed could not be fetched (httpx errors translated here)
    ├── StoreError               the state store failed (sqlite3 errors translated here)
    └── SinkError                a delivery failed; `recoverable` says whether to retry
        ├── RecoverableSinkError   5xx, 429, timeouts, refused connections: retry later
        └── PermanentSinkError     other 4xx, rejected recipients: dead-letter at once

Lower libraries' exceptions are translated at one boundary each (fetch, store, sinks), so
the pipeline handles only these.
"""

from __future__ import annotations

from dataclasses import dataclass


class WatcherError(Exception):
    """Base of every error watcher raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One problem in one document, printed as `FILE:LINE:COL: message`."""

    path: str
    line: int
    col: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else f"{self.severity}: "
        return f"{self.path}:{self.line}:{self.col}: {prefix}{self.message}"


class SourceError(WatcherError):
    """A document (config, rules) has problems; each names file, line and column."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ConfigError(SourceError):
    """The configuration file is invalid."""


class RuleError(SourceError):
    """A rule file is invalid."""


class FetchError(WatcherError):
    """A feed could not be fetched."""

    def __init__(self, message: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class StoreError(WatcherError):
    """The state store failed or is unreachable."""


class SinkError(WatcherError):
    """A delivery failed."""

    recoverable: bool = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RecoverableSinkError(SinkError):
    """Try again later: server errors, rate limits, timeouts, connection failures."""

    recoverable = True


class PermanentSinkError(SinkError):
    """Retrying cannot help (4xx other than 429, rejected address): dead-letter it."""

    recoverable = False
