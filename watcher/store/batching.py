"""Group commit of polls: many feeds' outcomes written in one transaction.

A poll that found nothing new still has to save its feed's state (ETag, next due time); one
transaction per feed made a 304 cost more than its fetch. `PollWriter.write` queues a poll's
`PollRecord` and waits until it is written. The first poll of a batch waits `linger`
seconds (LINGER: a few milliseconds, nothing beside a fetch's round trip) for others to join;
while one batch is being written, the polls that end meanwhile gather into the next. So a
burst of polls shares a few transactions (at most `max_batch` polls each).

Reads are grouped too: `StateReader.load` queues a feed's id, and the polls that start in
the same turn of the event loop (a burst: `watcher once`, a scheduler tick) get their
states from one query.

Each poll's articles and their alerts stay atomic: they are in the same transaction as the
rest of its batch. When a batch fails (a deadlock between replicas, a row the database
refuses), each of its polls is tried again alone, so one poll's problem is that poll's error
and nobody else's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol, TypeVar

from watcher.models import FeedState
from watcher.store.records import PollRecord

MAX_BATCH = 256  # polls per transaction: big enough to amortise, small enough to stay short
LINGER = 0.005  # seconds the first poll of a batch waits for others

_Pending = tuple[PollRecord, "asyncio.Future[int]"]


class PollRecords(Protocol):
    async def record_polls(self, polls: Sequence[PollRecord], replica_id: str) -> list[int]: ...


class FeedStates(Protocol):
    async def load_feed_states(self, feed_ids: Sequence[str]) -> dict[str, FeedState]: ...


class StateReader:
    """Reads feeds' states in batches through `store.load_feed_states` (module docstring).
    Each caller gets a state of its own to change."""

    def __init__(self, store: FeedStates, max_batch: int = MAX_BATCH * 4) -> None:
        self.store, self.max_batch = store, max_batch
        self._pending: list[tuple[str, asyncio.Future[FeedState | None]]] = []
        self._reading: asyncio.Task[None] | None = None
        self.batches = 0  # queries made, for tests and benchmarks

    async def load(self, feed_id: str) -> FeedState | None:
        """The feed's stored state, or None for a feed never recorded."""
        future: asyncio.Future[FeedState | None] = asyncio.get_running_loop().create_future()
        self._pending.append((feed_id, future))
        if self._reading is None or self._reading.done():
            self._reading = asyncio.create_task(self._read(), name="state-reader")
        return await asyncio.shield(future)

    async def _read(self) -> None:
        await asyncio.sleep(0)  # the polls started in this turn of the loop join in
        while self._pending:
            batch = self._pending[:self.max_batch]
            del self._pending[:self.max_batch]
            self.batches += 1
            try:
                states = await self.store.load_feed_states(sorted({i for i, _ in batch}))
            except asyncio.CancelledError:
                for _, future in (*batch, *self._pending):
                    future.cancel()
                self._pending.clear()
                raise
            except Exception as exc:
                for _, future in batch:
                    _settle(future, exc)
                continue
            for feed_id, future in batch:
                state = states.get(feed_id)
                _settle(future, None if state is None else replace(state))


class PollWriter:
    """Writes polls in batches through `store.record_polls` (module docstring)."""

    def __init__(self, store: PollRecords, replica_id: str, max_batch: int = MAX_BATCH,
                 linger: float = LINGER) -> None:
        self.store, self.replica_id, self.max_batch = store, replica_id, max_batch
        self.linger = linger
        self._pending: list[_Pending] = []
        self._flushing: asyncio.Task[None] | None = None
        self.batches = 0  # transactions written, for tests and benchmarks

    async def write(self, poll: PollRecord) -> int:
        """Write one poll with whatever others are waiting; how many of its articles were
        new. Raises the store's error if its write failed. A caller cancelled while it waits
        does not cancel the write."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((poll, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush(), name="poll-writer")
        return await asyncio.shield(future)

    async def drain(self) -> None:
        """Wait until every poll queued so far is written."""
        while self._flushing is not None and not self._flushing.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._flushing)

    async def _flush(self) -> None:
        if self.linger > 0:
            await asyncio.sleep(self.linger)
        while self._pending:
            batch = self._pending[:self.max_batch]
            del self._pending[:self.max_batch]
            try:
                await self._write(batch)
            except asyncio.CancelledError:  # the loop is closing: nobody waits for ever
                for _, future in (*batch, *self._pending):
                    future.cancel()
                self._pending.clear()
                raise

    async def _write(self, batch: list[_Pending]) -> None:
        self.batches += 1
        try:
            counts = await self.store.record_polls([p for p, _ in batch], self.replica_id)
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            for one in batch:  # alone, each poll gets its own outcome
                await self._write([one])
            return
        for (_, future), count in zip(batch, counts, strict=True):
            _settle(future, count)


T = TypeVar("T")


def _settle(future: asyncio.Future[T], outcome: T | BaseException) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
