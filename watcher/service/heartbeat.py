"""The running service writes down who it is and what rules it runs, for `watcher status`.

    beat = Heartbeat(store, replica_id, rules, clock)
    await beat.run(stop)        # on start, after every rule reload, every HEARTBEAT_SECONDS
                                # and, once `stop` is set, marked stopped

`watcher status` is another process: it cannot ask the service what it has loaded, and the
rule files on disk may say something else (a broken edit runs its last good version). So the
service keeps a row in the store's `replicas` table: its version, start time, a heartbeat,
and its rules as loaded (reload.RulesStatus). A replica whose heartbeat is older than
LIVE_WITHIN is taken for dead; a graceful stop says so at once. Rows silent for longer than
FORGET_AFTER are dropped when a service starts, so restarts under new ids do not pile up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from watcher import __version__
from watcher.errors import WatcherError
from watcher.service.reload import RuleReloader, RulesStatus
from watcher.store import ReplicaRecord, Store

log = logging.getLogger("watcher.heartbeat")

HEARTBEAT_SECONDS = 15.0
LIVE_WITHIN = 3 * HEARTBEAT_SECONDS  # two missed heartbeats are not yet a dead replica
FORGET_AFTER = timedelta(days=7)


def replica_record(replica_id: str, started_at: datetime, now: datetime,
                   rules: RulesStatus) -> ReplicaRecord:
    """What a replica writes of itself at `now`."""
    return ReplicaRecord(replica_id=replica_id, version=__version__, started_at=started_at,
                         heartbeat_at=now, rules_loaded=rules.rules, rules=rules.to_dict())


@dataclass
class Heartbeat:
    """Keeps this replica's row in the store current while the service runs."""

    store: Store
    replica_id: str
    rules: RuleReloader
    clock: Callable[[], datetime]
    interval: float = HEARTBEAT_SECONDS

    async def run(self, stop: asyncio.Event) -> None:
        """Write now, then after every rule reload and every `interval`, until `stop` is set;
        then mark this replica stopped. A store that fails is logged and tried again."""
        started = self.clock()
        try:
            await self.store.forget_replicas(started - FORGET_AFTER)
        except WatcherError as exc:
            log.warning("heartbeat: cannot drop long-silent replicas: %s", exc)
        while not stop.is_set():
            self.rules.reloaded.clear()
            await self._write(replica_record(self.replica_id, started, self.clock(),
                                             self.rules.status))
            waiters = [asyncio.create_task(e.wait()) for e in (stop, self.rules.reloaded)]
            await asyncio.wait(waiters, timeout=self.interval,
                               return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
        try:
            await self.store.stop_replica(self.replica_id, self.clock())
        except WatcherError as exc:
            log.warning("heartbeat: cannot mark replica %s stopped: %s", self.replica_id, exc)

    async def _write(self, record: ReplicaRecord) -> None:
        try:
            await self.store.save_replica(record)
        except WatcherError as exc:
            log.warning("heartbeat: cannot record replica %s: %s", self.replica_id, exc)
