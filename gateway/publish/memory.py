"""An in-memory publisher for unit tests of the layers above Kafka (never for claims about Kafka).

Besides acknowledging at once, it can be told to behave as a broker does at its worst, so the
pipeline's races and late acks are unit-tested without a server:
- `available = False`: send() raises Unavailable at once (no broker);
- `hold()`: records are taken but not answered until `ack_held()` or `fail_held()` (a slow broker,
  an ack that arrives after the request gave up);
- `state = CONNECTING` until `connected_now()` (the first connection attempt in progress);
- `already_published`: records whose claim is in it are answered AlreadyPublished (a copy on
  another worker of the host was acknowledged).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from gateway.publish import (
    CONNECTING,
    REACHABLE,
    UNREACHABLE,
    Ack,
    AlreadyPublished,
    Answer,
    Record,
    Sending,
    Unavailable,
)


class MemoryPublisher:
    def __init__(self, connecting: bool = False) -> None:
        self.records: list[Record] = []
        self.available = True
        self.held: list[tuple[Record, asyncio.Future[Ack]]] = []
        self.already_published: dict[tuple[str, str], Ack] = {}
        self._holding = False
        self._connecting = connecting
        self._connected: asyncio.Event | None = None

    async def start(self, topics: Collection[str] = ()) -> None:
        return None

    delivery_timeout_secs = 1.0

    def send(self, record: Record) -> Sending:
        if not self.available or self._connecting:
            raise Unavailable("memory publisher switched off")
        sending = Sending(asyncio.get_running_loop().create_future())
        sending.mark_sent()
        copy = self.already_published.get(record.claim) if record.claim else None
        if copy is not None:
            sending.result.set_exception(AlreadyPublished(copy))
        elif self._holding:
            self.held.append((record, sending.result))
        else:
            sending.result.set_result(self._ack(record))
        return sending

    def _ack(self, record: Record) -> Ack:
        self.records.append(record)
        return Ack(record.topic, 0, len(self.records) - 1)

    def hold(self) -> None:
        """From now on, take records without answering them."""
        self._holding = True

    def ack_held(self) -> None:
        """Acknowledge every held record (in Kafka now), and stop holding."""
        held, self.held, self._holding = self.held, [], False
        for record, future in held:
            if not future.done():
                future.set_result(self._ack(record))

    def fail_held(self, why: str = "delivery timed out") -> None:
        """Fail every held record (not in Kafka), and stop holding."""
        held, self.held, self._holding = self.held, [], False
        for _, future in held:
            if not future.done():
                future.set_exception(Unavailable(why))

    def hand(self, record: Record, answer: Answer) -> None:
        answer(self.send(record).result.result())

    async def publish(self, record: Record, timeout: float) -> Ack:
        return await self.send(record).result

    @property
    def connected(self) -> bool:
        return self.available and not self._connecting

    @property
    def state(self) -> str:
        if self._connecting:
            return CONNECTING
        return REACHABLE if self.available else UNREACHABLE

    def connected_now(self) -> None:
        """The first connection attempt succeeded."""
        self._connecting = False
        if self._connected is not None:
            self._connected.set()

    async def connecting(self, timeout: float) -> None:
        if not self._connecting:
            return
        self._connected = self._connected or asyncio.Event()
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            pass

    async def close(self, timeout: float) -> None:
        return None

    def on(self, topic: str) -> list[Record]:
        return [r for r in self.records if r.topic == topic]
