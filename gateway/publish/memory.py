"""An in-memory publisher for unit tests of the layers above Kafka (never for claims about Kafka)."""

from __future__ import annotations

from gateway.publish import Ack, Record, Unavailable


class MemoryPublisher:
    def __init__(self) -> None:
        self.records: list[Record] = []
        self.available = True

    async def start(self) -> None:
        return None

    async def publish(self, record: Record, timeout: float) -> Ack:
        if not self.available:
            raise Unavailable("memory publisher switched off")
        self.records.append(record)
        return Ack(record.topic, 0, len(self.records) - 1)

    @property
    def connected(self) -> bool:
        return self.available

    async def close(self, timeout: float) -> None:
        return None

    def on(self, topic: str) -> list[Record]:
        return [r for r in self.records if r.topic == topic]
