"""What the desk's handlers share: the store, the configuration, the rules as loaded now,
the clock, and who may do what."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from watcher.config.settings import Config
from watcher.desk.auth import PRINCIPAL, Authenticator, Principal
from watcher.rules.load import Rule
from watcher.store import DeskAlert, Store


@dataclass
class DeskContext:
    store: Store
    config: Config
    rules: Callable[[], Sequence[Rule]]  # reloads replace them
    clock: Callable[[], datetime]
    auth: Authenticator


CONTEXT = web.AppKey("desk", DeskContext)


def desk_of(request: web.Request) -> DeskContext:
    return request.config_dict[CONTEXT]


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def alert_item(found: DeskAlert) -> dict[str, Any]:
    """An API item: the alert JSON of the contract, plus what the desk knows of it."""
    return {**found.alert, "desk": {
        "seq": found.seq, "arrived_at": found.arrived_at.isoformat(),
        "ack": found.ack.to_dict() if found.ack else None,
        "silenced": bool(found.silenced_by), "silenced_by": list(found.silenced_by)}}
