"""The delivery worker: claim due outbox rows, send each to its sink, record what happened.

    claim_due ─▶ sink.send ─┬▶ ok ───────────────────────────────▶ mark_delivered
                            ├▶ RecoverableSinkError ─▶ backoff ─▶ mark_retry  (or dead when
                            │                                      out of attempts or too old)
                            └▶ PermanentSinkError ───────────────▶ mark_dead

Rows are leased while they are sent, so a crash means a second attempt, never a loss
(at-least-once; receivers drop repeats by the alert id). Sinks run concurrently; the rows of
one sink are sent in order, and once a sink fails recoverably the rest of its batch waits for
the same backoff without spending attempts: a dead receiver costs one timeout per pass.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from .config import DeliverySettings
from .errors import RecoverableSinkError, SinkError
from .models import OutboxItem
from .sinks import Sink
from .store import Store

log = logging.getLogger("watcher.deliver")

LEASE_SECONDS = 300.0  # longer than any sink's own timeout
SEND_TIMEOUT = LEASE_SECONDS / 2  # a sink that hangs past its own timeout still lets go
MAX_EXPONENT = 60  # 2**60 backoff steps is already past any sane max_backoff

Outcome = Literal["delivered", "retrying", "dead"]


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

    def merge(self, later: DeliveryReport) -> None:
        self.outcomes.update(later.outcomes)


def backoff_delay(attempts: int, settings: DeliverySettings, rng: random.Random) -> float:
    """Seconds to wait after the `attempts`-th failed attempt (1, 2, ...).

    Exponential from `initial_backoff`, capped at `max_backoff`, with "equal jitter": half the
    step is fixed and half random, so retries of a burst spread out yet never come at once."""
    exponent = min(max(attempts, 1) - 1, MAX_EXPONENT)
    step = min(settings.max_backoff, settings.initial_backoff * 2.0 ** exponent)
    return step / 2 + rng.uniform(0, step / 2)


async def deliver_due(store: Store, sinks: Mapping[str, Sink], settings: DeliverySettings,
                      now: Callable[[], datetime], *, limit: int = 100,
                      rng: random.Random | None = None) -> DeliveryReport:
    """One pass: claim up to `limit` due rows, send them, record each outcome."""
    items = await store.claim_due(now(), limit, LEASE_SECONDS)
    report = DeliveryReport()
    if not items:
        return report
    batches: dict[str, list[OutboxItem]] = {}
    for item in items:
        batches.setdefault(item.sink, []).append(item)
    worker = _Worker(store, settings, now, rng or random.Random(), report)
    results = await asyncio.gather(*(worker.deliver_batch(sinks.get(name), name, batch)
                                     for name, batch in batches.items()),
                                   return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result  # a store failure: unmarked rows come back when their lease expires
    return report


async def drain_outbox(store: Store, sinks: Mapping[str, Sink], settings: DeliverySettings,
                       now: Callable[[], datetime], *, deadline: float,
                       limit: int = 100) -> DeliveryReport:
    """Deliver until nothing is due now or `deadline` seconds have passed (`watcher once`).

    Rows whose next attempt lies in the future are not waited for: they stay queued and
    are reported as retrying."""
    stop_at = time.monotonic() + deadline
    report = DeliveryReport()
    rng = random.Random()
    while True:
        passed = await deliver_due(store, sinks, settings, now, limit=limit, rng=rng)
        report.merge(passed)
        if not passed.outcomes or time.monotonic() >= stop_at:
            return report


@dataclass
class _Worker:
    store: Store
    settings: DeliverySettings
    now: Callable[[], datetime]
    rng: random.Random
    report: DeliveryReport

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
                log.debug("delivered %s to %s", item.alert.alert_id, name,
                          extra={"alert_id": item.alert.alert_id, "sink": name})
                continue
            next_attempt = await self._failed(item, error)
            if next_attempt is not None:
                await self._hold(batch[index + 1:], next_attempt)
                return

    async def _send(self, sink: Sink, item: OutboxItem) -> SinkError | None:
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await sink.send(item.alert)
        except SinkError as exc:
            return exc
        except TimeoutError:
            return RecoverableSinkError(f"no answer within {SEND_TIMEOUT:.0f}s")
        except Exception as exc:  # a bug in a sink must not stop the worker; retry it
            log.exception("sink %s crashed on %s", sink.name, item.alert.alert_id,
                          extra={"alert_id": item.alert.alert_id, "sink": sink.name})
            return RecoverableSinkError(f"{type(exc).__name__}: {exc}")
        return None

    async def _failed(self, item: OutboxItem, error: SinkError) -> datetime | None:
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
        if now - item.created_at >= timedelta(seconds=self.settings.max_age):
            since = item.created_at.isoformat(timespec="seconds")
            await self._dead(item, f"{reason} (gave up: queued since {since})")
            return None
        delay = backoff_delay(attempts, self.settings, self.rng)
        if error.retry_after is not None:
            delay = max(delay, min(error.retry_after, self.settings.max_backoff))
        next_attempt = now + timedelta(seconds=delay)
        await self.store.mark_retry(item.id, reason, next_attempt)
        self.report.outcomes[item.id] = "retrying"
        log.warning("delivery of %s to %s failed (attempt %d of %d), retrying in %.0fs: %s",
                    item.alert.alert_id, item.sink, attempts, self.settings.max_attempts,
                    delay, reason, extra={"alert_id": item.alert.alert_id, "sink": item.sink})
        return next_attempt

    async def _dead(self, item: OutboxItem, reason: str) -> None:
        await self.store.mark_dead(item.id, reason, self.now())
        self.report.outcomes[item.id] = "dead"
        log.error("alert %s to %s is dead: %s", item.alert.alert_id, item.sink, reason,
                  extra={"alert_id": item.alert.alert_id, "sink": item.sink})

    async def _hold(self, rest: Sequence[OutboxItem], next_attempt: datetime) -> None:
        """The sink is down: the rest of its batch waits as long, without spending attempts."""
        for item in rest:
            await self.store.release(item.id, next_attempt)
            self.report.outcomes[item.id] = "retrying"
