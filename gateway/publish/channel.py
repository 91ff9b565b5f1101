"""The wire between a worker and the host's publisher process (gateway.publish.process): a Unix
socket carrying length-prefixed msgpack frames, both ways.

    worker --Send(seq, record)--> publisher process --send()--> Kafka
    worker <--Acked(seq, partition, offset) | Failed(seq, reason)--   once the broker has answered
    worker <--Duplicate(seq, partition, offset)--     another worker's copy of its webhook was acked
    worker <--Status(connected, delivery timeout, connecting)--       on connect and on each change

A frame is a 4-byte big-endian length, then a msgpack array (msgspec) tagged by its type. What a
side queues during one turn of its event loop goes out in one write, unless the channel is eager.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import msgspec

log = logging.getLogger("gateway.kafka")

MAX_FRAME = 64 * 1024 * 1024  # a record is at most a few MB; anything larger is a broken peer


class Send(msgspec.Struct, array_like=True, tag=0):
    seq: int
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    claim: tuple[str, str] | None = None  # the webhook's (source, id): see gateway.publish.claims


class Acked(msgspec.Struct, array_like=True, tag=1):
    seq: int
    partition: int
    offset: int | None  # None: delivered, the broker gave no offset (gateway.publish.Ack)


class Failed(msgspec.Struct, array_like=True, tag=2):
    seq: int
    reason: str


class Status(msgspec.Struct, array_like=True, tag=3):
    connected: bool
    delivery_timeout_secs: float
    connecting: bool = False  # the producer's first connection attempt has not finished


class Duplicate(msgspec.Struct, array_like=True, tag=4):
    """Not sent: another worker's copy of the same claim was acknowledged there."""

    seq: int
    partition: int
    offset: int | None


Frame = Send | Acked | Failed | Status | Duplicate
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Frame).decode


class Channel(asyncio.Protocol):
    """Length-prefixed frames both ways. By default the frames queued in one loop turn leave in
    one write(); an `eager` channel writes each frame at once.

    Why eager (a worker's channel with kafka-python: EAGER_WRITES in
    gateway.publish.process_publisher): a worker handles a burst of requests in one turn of its
    loop (the answers of a produce request come back together, so their senders' next requests
    arrive together). Batched, the first record of the burst waits until
    the last one is handled, and the whole burst reaches the producer at once, after the worker
    has gone idle; eager, the publisher process batches and sends while the worker is still busy.
    The publisher process's answers stay batched: they come from Kafka in batches anyway."""

    def __init__(self, received: Callable[[Any], None], eager: bool = False) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._received = received
        self._eager = eager
        self._buffer = bytearray()
        self._out: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self._out:  # written before the connection was made (a greeting)
            self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        while len(buffer) - start >= 4:
            size = int.from_bytes(buffer[start:start + 4], "big")
            if size > MAX_FRAME:
                log.error("publisher channel: a frame of %d bytes; closing the connection", size)
                self.close()
                return
            if len(buffer) - start - 4 < size:
                break
            raw = buffer[start + 4:start + 4 + size]
            start += 4 + size
            try:
                frame = _decode(raw)
            except msgspec.DecodeError as exc:
                # One frame is not understood: the others still are (the length keeps them
                # apart). Closing would fail every record in flight, and their spooled copies
                # would be published a second time; this one's record waits out its ack instead.
                log.error("publisher channel: a frame it cannot read (%s); skipped", exc)
                continue
            self._received(frame)
        del buffer[:start]

    def write(self, frame: Frame) -> None:
        body = _encode(frame)
        data = len(body).to_bytes(4, "big") + body
        if self._eager and self.transport is not None:  # nothing is queued then (see _flush)
            self.transport.write(data)
            return
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(data)

    def _flush(self) -> None:
        if self.transport is None:
            if self.closed.done():
                self._out.clear()
            return  # not connected yet: connection_made() sends it
        out, self._out = self._out, []
        if out:
            self.transport.write(b"".join(out))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
