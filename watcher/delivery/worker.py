"""The delivery worker: claim due outbox rows, send each to its sink, record what happened.

    claim_due ─▶ sink.send ─┬▶ ok ───────────────────────────────▶ mark_delivered
                            ├▶ RecoverableSinkError ─▶ backoff ─▶ mark_retry  (or dead when
                            │                                      out of attempts or too old)
                            └▶ PermanentSinkError ───────────────▶ mark_dead

Rows are leased (`delivery.lease`) while they are sent, so a crash means a second attempt
once the lease runs out, never a loss (at-least-once; receivers drop repeats by the alert id).
Sinks run concurrently; the rows of one sink are sent in order, and once a sink fails
recoverably the rest of its batch waits for the same backoff without spending attempts: a
dead receiver costs one timeout per pass. Sinks that group, digest or cap alerts
(grouping.py) go through batch_send.py instead, and their rows may come back "held". The rows
of a route with its own group_wait or max_per_hour form a lane of their own, sent
concurrently with the sink's other rows like another sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from watcher.config.settings import DeliverySettings
from watcher.delivery.batch_send import deliver_with_policy
from watcher.delivery.grouping import BatchPolicy, LaneKey, lane_for
from watcher.delivery.sinks import BatchSender, Sink
from watcher.errors import RecoverableSinkError, SinkError, StoreError
from watcher.metrics import Metrics
from watcher.models import Lane, OutboxItem
from watcher.store import Store

log = logging.getLogger("watcher.deliver")

MAX_EXPONENT = 60  # 2**60 backoff steps is already past any sane max_backoff

Outcome = Literal["delivered", "retrying", "dead", "held"]


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
                      rng: random.Random | None = None,
                      metrics: Metrics | None = None,
                      policies: Mapping[LaneKey, BatchPolicy] | None = None) -> DeliveryReport:
    """One pass: claim up to `limit` due rows, send them, record each outcome. Cancelled
    (the service stopping), it hands the rows it has not finished back, due at once.
    `policies` names the lanes, (sink, route), that group, digest or cap their alerts
    (grouping.batch_policies)."""
    items = await store.claim_due(now(), limit, settings.lease)
    report = DeliveryReport()
    if not items:
        return report
    policies = policies or {}
    batches: dict[Lane, list[OutboxItem]] = {}
    for item in items:
        batches.setdefault(lane_for(policies, item.sink, item.route), []).append(item)
    worker = _Worker(store, settings, now, rng or random.Random(), report, metrics or Metrics())
    keeper = asyncio.create_task(_keep_leased(worker, items), name="outbox-lease-keeper")
    try:
        results = await asyncio.gather(
            *(worker.deliver_lane(sinks.get(lane.sink), lane, batch,
                                  policies.get((lane.sink, lane.route)))
              for lane, batch in batches.items()), return_exceptions=True)
    except asyncio.CancelledError:
        await asyncio.shield(worker.release(worker.unfinished(items), now()))
        raise
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
    for result in results:
        if isinstance(result, BaseException):
            raise result  # a store failure: unmarked rows come back when their lease expires
    return report


async def _keep_leased(worker: _Worker, items: Sequence[OutboxItem]) -> None:
    """While a pass is sending, renew the lease of the rows it has not finished every third
    of a lease, so a long pass (a slow sink, many rows) is not taken over by another
    replica halfway and sent twice. A failed renewal is logged; the next one tries again."""
    lease = worker.settings.lease
    while True:
        await asyncio.sleep(lease / 3)
        pending = [item.id for item in worker.unfinished(items)]
        if not pending:
            continue
        try:
            await worker.store.extend_leases(pending, worker.now() + timedelta(seconds=lease))
        except StoreError as exc:
            log.warning("could not renew the lease of %d outbox rows: %s", len(pending), exc)


async def drain_outbox(store: Store, sinks: Mapping[str, Sink], settings: DeliverySettings,
                       now: Callable[[], datetime], *, deadline: float,
                       limit: int = 100, metrics: Metrics | None = None,
                       policies: Mapping[LaneKey, BatchPolicy] | None = None) -> DeliveryReport:
    """Deliver until nothing is due now or `deadline` seconds have passed (`watcher once`).

    Rows whose next attempt lies in the future are not waited for: they stay queued and
    are reported as retrying, or held when they wait for their group or digest."""
    stop_at = time.monotonic() + deadline
    report = DeliveryReport()
    rng = random.Random()
    while True:
        passed = await deliver_due(store, sinks, settings, now, limit=limit, rng=rng,
                                   metrics=metrics, policies=policies)
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
    metrics: Metrics
    claimed: list[OutboxItem] = field(default_factory=list)  # by batch_send, beyond claim_due

    def unfinished(self, items: Sequence[OutboxItem]) -> list[OutboxItem]:
        """Rows of this pass (claimed here or by batch_send) with no outcome yet."""
        return [item for item in [*items, *self.claimed] if item.id not in self.report.outcomes]

    async def deliver_lane(self, sink: Sink | None, lane: Lane, batch: Sequence[OutboxItem],
                           policy: BatchPolicy | None) -> None:
        if (policy is not None and (policy.batches or policy.max_per_hour is not None)
                and isinstance(sink, BatchSender)):
            await deliver_with_policy(self, sink, lane, batch, policy)
        else:
            await self.deliver_batch(sink, lane.sink, batch)

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
