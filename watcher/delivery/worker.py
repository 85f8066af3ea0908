"""The delivery worker: claim due outbox rows, send each to its sink, record what happened.

    claim_due ─▶ silenced? ─▶ mark_silenced (not sent; the desk shows the alert silenced)
        │
        ▼
    sink.send ──────────────┬▶ ok ───────────────────────────────▶ mark_delivered
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
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from watcher.config.settings import DeliverySettings
from watcher.delivery.batch_send import deliver_with_policy
from watcher.delivery.grouping import BatchPolicy, LaneKey, lane_for
from watcher.delivery.sending import DeliveryReport, LaneSender
from watcher.delivery.sinks import BatchSender, Sink
from watcher.errors import StoreError
from watcher.metrics import Metrics
from watcher.models import Lane, OutboxItem
from watcher.store import Store

log = logging.getLogger("watcher.deliver")


async def deliver_due(store: Store, sinks: Mapping[str, Sink], settings: DeliverySettings,
                      now: Callable[[], datetime], *, limit: int = 100,
                      rng: random.Random | None = None,
                      metrics: Metrics | None = None,
                      policies: Mapping[LaneKey, BatchPolicy] | None = None) -> DeliveryReport:
    """One pass: claim up to `limit` due rows, send them, record each outcome. Cancelled
    (the service stopping), it hands the rows it has not finished back, due at once.
    `policies` names the lanes, (sink, route), that group, digest or cap their alerts
    (grouping.batch_policies)."""
    claimed = await store.claim_due(now(), limit, settings.lease)
    report = DeliveryReport()
    if not claimed:
        return report
    policies = policies or {}
    worker = LaneSender(store, settings, now, rng or random.Random(), report, metrics or Metrics())
    items = await worker.drop_silenced(claimed)
    batches: dict[Lane, list[OutboxItem]] = {}
    for item in items:
        batches.setdefault(lane_for(policies, item.sink, item.route), []).append(item)
    keeper = asyncio.create_task(_keep_leased(worker, items), name="outbox-lease-keeper")
    try:
        results = await asyncio.gather(
            *(_deliver_lane(worker, sinks.get(lane.sink), lane, batch,
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


async def _keep_leased(worker: LaneSender, items: Sequence[OutboxItem]) -> None:
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


async def _deliver_lane(sender: LaneSender, sink: Sink | None, lane: Lane,
                        batch: Sequence[OutboxItem], policy: BatchPolicy | None) -> None:
    if (policy is not None and (policy.batches or policy.max_per_hour is not None)
            and isinstance(sink, BatchSender)):
        await deliver_with_policy(sender, sink, lane, batch, policy)
    else:
        await sender.deliver_batch(sink, lane.sink, batch)
