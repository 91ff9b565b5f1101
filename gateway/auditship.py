"""Ships the audit log's backlog to `{prefix}.rejected` in the background (gateway.auditlog)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import msgspec

from gateway.publish import Publisher, Record, Unavailable

if TYPE_CHECKING:
    from gateway.auditlog import AuditLog

log = logging.getLogger("gateway.audit")
_decode = msgspec.json.Decoder(dict).decode


class Shipper:
    """Publishes the log's backlog to Kafka in the background, in order, from start-up."""

    def __init__(self, auditlog: AuditLog, publisher: Publisher, topic: str, timeout: float = 2.0,
                 batch: int = 256, retry_secs: float = 1.0) -> None:
        self._log = auditlog
        self._publisher = publisher
        self._topic = topic
        self._timeout = timeout
        self._batch = batch
        self._retry_secs = retry_secs
        self._wake = asyncio.Event()
        self._shipping = asyncio.Lock()  # held by the background task for one whole shipment
        self._task: asyncio.Task[None] | None = None
        self.shipped = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-shipper")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, timeout: float = 2.0) -> None:
        """One last bounded attempt to ship what is pending; the rest waits in the log."""
        if self._task is not None:
            # Never cancel a shipment midway: its records are already handed to the publisher
            # and, the cursor not moved, the last attempt below would ship them twice.
            async with self._shipping:
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._log.seal()  # the chain so far, signed: shipped with the rest
        try:
            await asyncio.wait_for(self.ship_once(), timeout)
        except (TimeoutError, Unavailable):
            pass
        self._log.sync()

    async def _run(self) -> None:
        delay = self._retry_secs
        while True:
            try:
                async with self._shipping:
                    shipped = await self.ship_once()
            except Unavailable:
                await asyncio.sleep(delay)  # Kafka is down: the records wait on disk
                delay = min(delay * 2, 10.0)
                continue
            except OSError as exc:
                log.error("shipping audit records: %s", exc.strerror or type(exc).__name__)
                await asyncio.sleep(self._retry_secs)
                continue
            delay = self._retry_secs
            if not shipped and self._log.chain is not None and self._log.chain.due():
                self._log.seal()  # a quiet log's last records are signed within the interval too
                continue
            if not shipped:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), 5.0)
                except TimeoutError:
                    pass

    async def ship_once(self) -> int:
        """Publish one batch; the cursor moves past the longest acknowledged prefix."""
        batch = await asyncio.to_thread(self._log.pending, self._batch)
        if not batch:
            return 0
        await self._log.sync_async()
        results = await asyncio.gather(
            *(self._publisher.publish(self._record(line), self._timeout) for _, line in batch),
            return_exceptions=True,
        )
        done = 0
        for result in results:
            if isinstance(result, BaseException):
                break
            done += 1
        if done:
            await asyncio.to_thread(self._log.commit, batch[done - 1][0])
            self.shipped += done
        if done < len(batch):
            raise Unavailable(f"publishing audit records to {self._topic}: {done}/{len(batch)} acked")
        return done

    def _record(self, line: bytes) -> Record:
        # The key is the source name, so one source's rejections stay in order on one partition.
        source = _source_of(line)
        return Record(self._topic, source.encode(), line)


def _source_of(line: bytes) -> str:
    try:
        fields = _decode(line)
        return str(fields.get("source", fields.get("chain", "")))  # a checkpoint: its chain
    except (msgspec.DecodeError, ValueError):
        return ""
