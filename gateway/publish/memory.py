"""An in-memory publisher for unit tests of the layers above Kafka (never for claims about Kafka)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from gateway.publish import REACHABLE, UNREACHABLE, Ack, Answer, Record, Sending, Unavailable


class MemoryPublisher:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.available = True

    async def start(self, topics: Collection[str] = ()) -> None:
        return None

    delivery_timeout_secs = 1.0

    def send(self, record: Record) -> Sending:
        if not self.available:
            raise Unavailable("memory publisher switched off")
        self.records.append(record)
        sending = Sending(asyncio.get_running_loop().create_future())
        sending.mark_sent()
        sending.result.set_result(Ack(record.topic, 0, len(self.records) - 1))
        return sending

    def hand(self, record: Record, answer: Answer) -> None:
        answer(self.send(record).result.result())

    async def publish(self, record: Record, timeout: float) -> Ack:
        return await self.send(record).result

    @property
    def connected(self) -> bool:
        return self.available

    @property
    def state(self) -> str:
        return REACHABLE if self.available else UNREACHABLE

    async def connecting(self, timeout: float) -> None:
        return None

    async def close(self, timeout: float) -> None:
        return None

    def on(self, topic: str) -> list[Record]:
        return [r for r in self.records if r.topic == topic]
