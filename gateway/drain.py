"""The drainer: republishes spooled events once the broker is back, oldest first.

One drainer per host at a time: the workers compete for an exclusive lock on `drain.lock` beside
the store, so no event is published twice by two workers' drainers; the lock dies with its holder
(even on SIGKILL) and another worker, or the restarted process, takes over. Events are removed from
the spool only after the broker acknowledged them.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from pathlib import Path

from gateway.metrics import Metrics
from gateway.publish import Ack, Publisher, Record, Unavailable
from gateway.store import Spooled, Store, StoreError

log = logging.getLogger("gateway.drain")

BATCH = 256
BACKOFF_MIN_SECS = 0.2
BACKOFF_MAX_SECS = 5.0  # each attempt already waits up to the delivery timeout when Kafka is down
POLL_SECS = 0.5  # other workers may spool: look again this often when idle


class Drainer:
    def __init__(self, store: Store, publisher: Publisher, lock_path: Path,
                 metrics: Metrics | None = None) -> None:
        self._store = store
        self._metrics = metrics
        self._draining = False  # for the "draining started / done" log lines
        self._publisher = publisher
        self._lock_path = lock_path
        self._wake = asyncio.Event()
        self._lock_fd: int | None = None
        self._task: asyncio.Task[None] | None = None
        self.drained = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="drainer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the lock
            self._lock_fd = None

    def wake(self) -> None:
        self._wake.set()

    def _acquire(self) -> bool:
        if self._lock_fd is None:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._lock_fd = fd
        return True

    async def _idle(self, secs: float) -> None:
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), secs)
        except TimeoutError:
            pass

    async def _run(self) -> None:
        backoff = BACKOFF_MIN_SECS
        while True:
            if not self._acquire():
                await asyncio.sleep(1.0)  # another worker drains; take over if it dies
                continue
            spooled = self._store.batch(BATCH)
            if not spooled:
                if self._draining:
                    self._draining = False
                    log.info("spool drained: empty", extra={"event": "spool_empty"})
                await self._idle(POLL_SECS)
                continue
            if not self._draining:
                self._draining = True
                depth, _ = self._store.depth()
                log.info("spool draining: %d event(s) waiting", depth,
                         extra={"event": "spool_draining", "spool_depth": depth})
            if await self._publish(spooled):
                backoff = BACKOFF_MIN_SECS
            else:
                await asyncio.sleep(backoff)  # not _idle: new spooled events must not hurry a retry
                backoff = min(backoff * 2, BACKOFF_MAX_SECS)

    async def _send(self, record: Record) -> Ack:
        # No timeout of our own: every send settles within the publisher's delivery timeout, and
        # giving up earlier would publish the event again later (a duplicate).
        return await self._publisher.send(record).result

    async def _publish(self, spooled: list[Spooled]) -> bool:
        """Publish a batch in order (one sender thread keeps send order); remove what was acked."""
        results = await asyncio.gather(*(self._send(item.record) for item in spooled),
                                       return_exceptions=True)
        acks = [(item.seq, result) for item, result in zip(spooled, results, strict=True)
                if not isinstance(result, BaseException)]
        acked = [seq for seq, _ in acks]
        failed = len(spooled) - len(acked)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, Unavailable):
                log.error("draining the spool: %s", type(result).__name__)
        if failed and self._metrics is not None:
            self._metrics.kafka_errors.labels("drain", "unavailable").inc(failed)
        if acked:
            try:
                await self._store.remove(acked, acks)  # their history rows become published
            except StoreError:
                return False  # they stay spooled and are published again: a duplicate, never a loss
            self.drained += len(acked)
            if self._metrics is not None:
                self._metrics.drained.inc(len(acked))
            log.info("spool drained %d event(s)%s", len(acked), f", {failed} failed" if failed else "")
        return failed == 0
