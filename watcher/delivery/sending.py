"""Sending the rows of one delivery pass, and recording each outcome.

A `LaneSender` holds what one pass of the delivery worker (worker.py) shares: the store, the
settings, the clock, the report of outcomes. It sends rows one by one (`deliver_batch`) or a
message for several (`send_message`, used by batch_send.py) and records every failure as a
retry with backoff or a dead letter (`failed`), so both ways of sending end the same.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from watcher.config.settings import DeliverySettings
from watcher.delivery.sinks import Sink
from watcher.errors import RecoverableSinkError, SinkError
from watcher.metrics import Metrics
from watcher.models import OutboxItem
from watcher.store import Store

log = logging.getLogger("watcher.deliver")

MAX_EXPONENT = 60  # 2**60 backoff steps is already past any sane max_backoff

Outcome = Literal["delivered", "retrying", "dead", "held", "silenced"]


@dataclass
class DeliveryReport:
    """The last outcome of each outbox row handled, by row id."""

    outcomes: dict[int, Outcome] = field(default_factory=dict)

    def _count(self, outcome: Outcome) -> int:
        return sum(1 for o in self.outcomes.values() if o == outcome)

    @property
    def delivered(self) -> int:
        return self._count("delivered")

    @property
    def retrying(self) -> int:
        return self._count("retrying")

    @property
    def dead(self) -> int:
        return self._count("dead")

    @property
    def held(self) -> int:
        """Rows waiting for their group, digest period or a summary (grouping.py)."""
        return self._count("held")

    @property
    def silenced(self) -> int:
        """Rows not sent because a silence muted their alert (watcher/desk/)."""
        return self._count("silenced")

    def merge(self, later: DeliveryReport) -> None:
        self.outcomes.update(later.outcomes)


def backoff_delay(attempts: int, settings: DeliverySettings, rng: random.Random) -> float:
    """Seconds to wait after the `attempts`-th failed attempt (1, 2, ...).

    Exponential from `initial_backoff`, capped at `max_backoff`, with "equal jitter": half the
    step is fixed and half random, so retries of a burst spread out yet never come at once."""
    exponent = min(max(attempts, 1) - 1, MAX_EXPONENT)
    step = min(settings.max_backoff, settings.initial_backoff * 2.0 ** exponent)
    return step / 2 + rng.uniform(0, step / 2)


@dataclass
class LaneSender:
    store: Store
    settings: DeliverySettings
    now: Callable[[], datetime]
    rng: random.Random
    report: DeliveryReport
    metrics: Metrics
    claimed: list[OutboxItem] = field(default_factory=list)  # by batch_send, beyond claim_due

    def unfinished(self, items: Sequence[OutboxItem]) -> list[OutboxItem]:
        """Rows of this pass (claimed here or by batch_send) with no outcome yet."""
        return [item for item in [*items, *self.claimed] if item.id not in self.report.outcomes]

    async def drop_silenced(self, items: Sequence[OutboxItem]) -> list[OutboxItem]:
        """The rows to send: those whose alert no active silence mutes. As Alertmanager does,
        a silenced alert is not notified; its rows are finished unsent (`silenced_by`), and
        the desk keeps showing the alert, silenced."""
        if not items:
            return []
        now = self.now()
        muting = await self.store.muting_silences(sorted({i.alert.alert_id for i in items}), now)
        silenced = {i.id: muting[i.alert.alert_id] for i in items if i.alert.alert_id in muting}
        if not silenced:
            return list(items)
        await self.store.mark_silenced(silenced, now)
        for item_id, silence_id in silenced.items():
            self.report.outcomes[item_id] = "silenced"
            log.info("outbox row %d not sent: muted by silence %d", item_id, silence_id)
        return [i for i in items if i.id not in silenced]

    async def deliver_batch(self, sink: Sink | None, name: str,
                            batch: Sequence[OutboxItem]) -> None:
        for index, item in enumerate(batch):
            if sink is None:
                await self._dead(item, f"no sink named {name!r} in the configuration")
                continue
            error = await self._send(sink, item)
            if error is None:
                await self.store.mark_delivered(item.id, self.now())
                self.report.outcomes[item.id] = "delivered"
                self.metrics.record_delivered(name, item.created_at, self.now())
                log.debug("delivered %s to %s", item.alert.alert_id, name,
                          extra={"alert_id": item.alert.alert_id, "sink": name})
                continue
            next_attempt = await self.failed(item, error)
            if next_attempt is not None:
                await self._hold(batch[index + 1:], next_attempt)
                return

    async def _send(self, sink: Sink, item: OutboxItem) -> SinkError | None:
        return await self.send_message(sink, item.alert.alert_id, sink.send(item.alert))

    async def send_message(self, sink: Sink, ref: str,
                           sending: Awaitable[None]) -> SinkError | None:
        """Await one send; the error it ended with, if any, as a SinkError."""
        # A sink that hangs past its own timeout still lets go well within the lease.
        limit = self.settings.lease / 2
        try:
            async with asyncio.timeout(limit):
                await sending
        except SinkError as exc:
            return exc
        except TimeoutError:
            return RecoverableSinkError(f"no answer within {limit:.0f}s")
        except Exception as exc:  # a bug in a sink must not stop the worker; retry it
            log.exception("sink %s crashed on %s", sink.name, ref,
                          extra={"alert_id": ref, "sink": sink.name})
            return RecoverableSinkError(f"{type(exc).__name__}: {exc}")
        return None

    async def failed(self, item: OutboxItem, error: SinkError) -> datetime | None:
        """Record a failed attempt; return when to try again, or None if it is now dead."""
        attempts = item.attempts + 1
        now = self.now()
        reason = str(error) or type(error).__name__
        if not error.recoverable:
            await self._dead(item, reason)
            return None
        if attempts >= self.settings.max_attempts:
            await self._dead(item, f"{reason} (gave up after {attempts} attempts)")
            return None
        queued = item.queued_at or item.created_at
        if now - queued >= timedelta(seconds=self.settings.max_age):
            since = queued.isoformat(timespec="seconds")
            await self._dead(item, f"{reason} (gave up: queued since {since})")
            return None
        delay = backoff_delay(attempts, self.settings, self.rng)
        if error.retry_after is not None:
            delay = max(delay, min(error.retry_after, self.settings.max_backoff))
        next_attempt = now + timedelta(seconds=delay)
        await self.store.mark_retry(item.id, reason, next_attempt)
        self.report.outcomes[item.id] = "retrying"
        self.metrics.record_failed(item.sink)
        log.warning("delivery of %s to %s failed (attempt %d of %d), retrying in %.0fs: %s",
                    item.alert.alert_id, item.sink, attempts, self.settings.max_attempts,
                    delay, reason, extra={"alert_id": item.alert.alert_id, "sink": item.sink})
        return next_attempt

    async def _dead(self, item: OutboxItem, reason: str) -> None:
        await self.store.mark_dead(item.id, reason, self.now())
        self.report.outcomes[item.id] = "dead"
        self.metrics.record_dead(item.sink)
        log.error("alert %s to %s is dead: %s", item.alert.alert_id, item.sink, reason,
                  extra={"alert_id": item.alert.alert_id, "sink": item.sink})

    async def release(self, items: Sequence[OutboxItem], due: datetime) -> None:
        """Hand claimed rows back unattempted, so that a restart need not wait for leases."""
        for item in items:
            await self.store.release(item.id, due)

    async def _hold(self, rest: Sequence[OutboxItem], next_attempt: datetime) -> None:
        """The sink is down: the rest of its batch waits as long, without spending attempts."""
        for item in rest:
            await self.store.release(item.id, next_attempt)
            self.report.outcomes[item.id] = "retrying"
