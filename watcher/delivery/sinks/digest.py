"""The digest sink: alerts routed to it are collected in the outbox and sent as one message
per period (`every` or `daily_at`, delivery/grouping.py) through its target sink."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from watcher.config.settings import DigestSink
from watcher.delivery.grouping import Batch
from watcher.models import Alert


@runtime_checkable
class BatchSender(Protocol):
    name: str

    async def send(self, alert: Alert) -> None: ...

    async def send_batch(self, batch: Batch) -> None:
        """Deliver several alerts as one message; raise a SinkError as `send` does."""
        ...


class DigestSender:
    def __init__(self, config: DigestSink, target: BatchSender) -> None:
        self.name = config.name
        self.target = target

    async def send(self, alert: Alert) -> None:
        await self.send_batch(Batch(self.name, "digest", (alert,)))

    async def send_batch(self, batch: Batch) -> None:
        await self.target.send_batch(batch)
