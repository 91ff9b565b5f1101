"""The publisher interface. Everything that is not kafka-python talks to Kafka through this.

A publisher either acknowledges a record (the broker has it, acks=all) or raises Unavailable: the
one error the pipeline knows, meaning "not safe in Kafka; spool it or answer 503".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Ack:
    topic: str
    partition: int
    offset: int


class Unavailable(Exception):
    """The broker did not acknowledge in time, is unreachable, or refused the record."""


class Publisher(Protocol):
    async def start(self) -> None:
        """Begin connecting; must return promptly even when no broker is up."""

    async def publish(self, record: Record, timeout: float) -> Ack:
        """Await the broker's ack for at most `timeout` seconds; raise Unavailable otherwise."""

    @property
    def connected(self) -> bool:
        """Whether the broker was reachable at the last attempt (for /readyz)."""

    async def close(self, timeout: float) -> None:
        """Flush what is in flight (bounded by `timeout`) and release the connection."""
