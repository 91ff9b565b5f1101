"""A worker's publisher when the host runs a publisher process (`kafka.publisher: process`, the
default): records go over the socket (gateway.publish.channel) to the one producer of the host.

What a 2xx means does not change: a worker answers 2xx only on an Acked for that record. The hop
adds one failure of its own, the publisher process going away: the socket closing fails every
record it had not acknowledged with Unavailable, so the pipeline spools them. One it did get into
Kafka before dying is then published again by the drainer, with the same envelope id (consumers
dedupe by id, docs/consumers.md). `serve` restarts the process; workers reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Collection
from typing import Any

from gateway.publish import (
    Ack,
    AlreadyPublished,
    FirstAttempt,
    Record,
    Sending,
    Unavailable,
    ack_within,
)
from gateway.publish.channel import Acked, Channel, Duplicate, Failed, Send, Status

log = logging.getLogger("gateway.kafka")

# Whether a worker writes each record to the publisher process at once (an eager Channel), by
# client. With kafka-python the path waits on the Kafka leg, and records that leave while the worker
# is still busy come back sooner: +17-27 % accepted/s. With confluent-kafka the worker's core is
# the limit, and a write per record costs it more than it saves (docs/benchmarks.md).
EAGER_WRITES = {"kafka-python": True, "confluent-kafka": False}
RECONNECT_MAX_SECS = 2.0


class ProcessPublisher:
    """The Publisher of a worker whose records go through the host's publisher process."""

    def __init__(self, socket_path: str, eager: bool = False) -> None:
        self._path = socket_path
        self._eager = eager  # each record written at once (see Channel)
        self._channel: Channel | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = False  # what the publisher process last said of its producer
        self._delivery_timeout = 30.0  # until the process says
        self._seq = 0
        # seq -> (future, topic, give-up time); in seq order, so give-up times are ascending
        self._pending: dict[int, tuple[asyncio.Future[Ack], str, float]] = {}
        self._closing = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # Done once the process has said its producer's first attempt finished, or the process
        # could not be reached at all.
        self._first = FirstAttempt()

    async def start(self, topics: Collection[str] = ()) -> None:
        """The publisher process learns its topics from the configuration itself."""
        self._loop = asyncio.get_running_loop()
        self._first.bind(self._loop)
        self._tasks = [self._loop.create_task(self._keep_connected()),
                       self._loop.create_task(self._expire())]

    @property
    def connected(self) -> bool:
        return self._connected and self._channel is not None

    @property
    def state(self) -> str:
        return self._first.state(self.connected, self._closing.is_set())

    async def connecting(self, timeout: float) -> None:
        await self._first.wait(timeout)

    @property
    def delivery_timeout_secs(self) -> float:
        return self._delivery_timeout + 1.0

    def send(self, record: Record) -> Sending:
        channel, loop = self._channel, self._loop
        if channel is None or loop is None:
            raise Unavailable("the publisher process is not connected")
        self._seq += 1
        sending = Sending(loop.create_future())
        sending.mark_sent()  # written to the socket now: from here only an answer settles it
        self._pending[self._seq] = (sending.result, record.topic,
                                    time.monotonic() + self.delivery_timeout_secs)
        channel.write(Send(self._seq, record.topic, record.key, record.value, record.headers,
                           record.claim))
        return sending

    async def publish(self, record: Record, timeout: float) -> Ack:
        return await ack_within(self.send(record), record.topic, timeout)

    async def close(self, timeout: float) -> None:
        """Wait (bounded) for the answers to what was sent, then disconnect; what is still
        unanswered fails, and the pipeline keeps those events in the spool."""
        deadline = time.monotonic() + timeout
        while self._pending and self._channel is not None and time.monotonic() < deadline:
            futures = [future for future, _, _ in self._pending.values()]
            await asyncio.wait(futures, timeout=deadline - time.monotonic())
        self._closing.set()
        if self._channel is not None:
            self._channel.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._fail_pending("the publisher closed")

    def _received(self, frame: Any) -> None:
        if type(frame) is Acked:
            entry = self._pending.pop(frame.seq, None)
            if entry is not None and not entry[0].done():
                entry[0].set_result(Ack(entry[1], frame.partition, frame.offset))
        elif type(frame) is Failed:
            entry = self._pending.pop(frame.seq, None)
            if entry is not None and not entry[0].done():
                entry[0].set_exception(Unavailable(frame.reason))
        elif type(frame) is Duplicate:
            entry = self._pending.pop(frame.seq, None)
            if entry is not None and not entry[0].done():
                entry[0].set_exception(AlreadyPublished(Ack(entry[1], frame.partition, frame.offset)))
        elif type(frame) is Status:
            self._connected = frame.connected
            self._delivery_timeout = frame.delivery_timeout_secs
            if not frame.connecting:
                self._first.finish()

    def _fail_pending(self, why: str) -> None:
        pending, self._pending = self._pending, {}
        for future, _, _ in pending.values():
            if not future.done():
                future.set_exception(Unavailable(why))

    async def _keep_connected(self) -> None:
        assert self._loop is not None
        delay = 0.05
        while not self._closing.is_set():
            try:
                _, channel = await self._loop.create_unix_connection(
                    lambda: Channel(self._received, self._eager), self._path)
            except OSError:
                self._first.finish()  # no publisher process: the spool takes events meanwhile
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)
                delay = min(delay * 2, RECONNECT_MAX_SECS)
                continue
            delay = 0.05
            self._channel = channel
            log.info("connected to the publisher process")
            await channel.closed
            self._channel, self._connected = None, False
            self._fail_pending("lost the connection to the publisher process")
            if not self._closing.is_set():
                log.warning("lost the connection to the publisher process; reconnecting")

    async def _expire(self) -> None:
        """A record the process never answers for (it hangs) fails after the delivery timeout,
        as a record in an in-worker producer would."""
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            while self._pending:
                seq, (future, _, give_up) = next(iter(self._pending.items()))
                if give_up > now:
                    break
                del self._pending[seq]
                if not future.done():
                    future.set_exception(Unavailable("no answer from the publisher process"))
