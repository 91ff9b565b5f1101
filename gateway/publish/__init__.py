"""The publisher interface. Everything that is not kafka-python talks to Kafka through this.

A publisher either acknowledges a record (the broker has it, acks=all) or raises Unavailable: the
one error the pipeline knows, meaning "not safe in Kafka; spool it or answer 503".
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Collection
from typing import Protocol

import msgspec

from gateway.errors import GatewayError

# The values built per webhook (here and in gateway.pipeline, gateway.history, gateway.verify,
# gateway.audit, gateway.providers.base) are frozen msgspec Structs, not frozen dataclasses: a
# frozen dataclass sets each field through object.__setattr__ (Row's 11 fields: 1.9 us against
# 0.1 us). gc=False: they hold no cycles, and the collector need not track them.
# Both clients' delivery timeout: longer than a leader change (Kafka notices a dead broker within
# broker.session.timeout.ms, 9 s by default), so the idempotent producer's retries reach the new
# leader, which acknowledges a record it already holds instead of the gateway re-sending it
# (gateway/publish/kafka.py; tests/integration/test_kafka_faults.py, for each client).
DELIVERY_TIMEOUT_MS = 30_000


class Record(msgspec.Struct, frozen=True, gc=False):
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]] = msgspec.field(default_factory=list)
    # A webhook's (source, id): the host's publisher process sends one copy of it at a time and
    # answers a racing copy as AlreadyPublished (gateway.publish.claims). Not stored or sent.
    claim: tuple[str, str] | None = None


class Ack(msgspec.Struct, frozen=True, gc=False):
    topic: str
    partition: int
    # None when the broker did not say: librdkafka reports an idempotent retry that the new
    # leader already held (DUPLICATE_SEQUENCE_NUMBER, a leader change) as delivered, offset -1
    offset: int | None


class Unavailable(GatewayError):
    """The broker did not acknowledge in time, is unreachable, or refused the record."""


class AlreadyPublished(GatewayError):  # noqa: N818 - an outcome, not an error
    """Another copy of the record's claim (source, id) was acknowledged: this one was not sent."""

    def __init__(self, ack: Ack) -> None:
        super().__init__(f"already published at {ack.topic}/{ack.partition}@{ack.offset}")
        self.ack = ack


class Sending:
    """A record handed to the publisher. `result` resolves to its Ack or fails with Unavailable,
    always within the publisher's delivery timeout; it is never cancelled by the publisher."""

    __slots__ = ("result", "_lock", "_state")

    def __init__(self, result: asyncio.Future[Ack]) -> None:
        self.result = result
        self._lock = threading.Lock()
        self._state = "queued"  # -> "sent" (handed to the client library) or "withdrawn"

    def mark_sent(self) -> bool:
        """Called by the publisher just before sending: False if the caller withdrew it."""
        with self._lock:
            if self._state == "withdrawn":
                return False
            self._state = "sent"
            return True

    def withdraw(self) -> bool:
        """The caller gives up: True if the record was not sent and never will be."""
        with self._lock:
            if self._state == "sent":
                return False
            self._state = "withdrawn"
            return True


Answer = Callable[[Ack | Unavailable], None]


def settle_threadsafe(loop: asyncio.AbstractEventLoop | None, done: asyncio.Future[Ack],
                      outcome: Ack | BaseException) -> None:
    """Resolve `done` from a client library's thread: on its loop (if it still runs), once."""
    def apply() -> None:
        if done.done():
            return
        if isinstance(outcome, BaseException):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)

    if loop is not None and not loop.is_closed():
        loop.call_soon_threadsafe(apply)


async def settled_within(future: asyncio.Future[Ack], timeout: float) -> bool:
    """Wait for `future` up to `timeout` without cancelling it (a late ack must still reach
    the pipeline's late-ack callback): wait_for(shield()) and asyncio.wait do the same with
    several extra futures, sets and callbacks per request, on the hot path."""
    if future.done():
        return True
    waiter = asyncio.get_running_loop().create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    timer = asyncio.get_running_loop().call_later(timeout, wake)
    future.add_done_callback(wake)
    try:
        await waiter
    finally:
        timer.cancel()
        future.remove_done_callback(wake)
    return future.done()


async def ack_within(sending: Sending, topic: str, timeout: float) -> Ack:
    """Await a Sending's ack for at most `timeout` seconds (every publisher's `publish`)."""
    if not await settled_within(sending.result, timeout):
        sending.withdraw()  # not sent yet: never send it late
        raise Unavailable(f"publishing to topic {topic}: no ack within {timeout:.1f}s")
    return sending.result.result()  # the ack, or the send's Unavailable


CONNECTING, REACHABLE, UNREACHABLE = "connecting", "reachable", "unreachable"


class FirstAttempt:
    """Whether a publisher's first connection attempt has finished (succeeded or failed), set
    from any thread. Until then its state is `connecting`: a request waits for it (within the ack
    timeout) instead of spooling an event Kafka is about to take, and /readyz is not ready."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: asyncio.Event | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._waiters = loop, asyncio.Event()
        if self._done.is_set():
            self._waiters.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def finish(self) -> None:
        if self._done.is_set():
            return
        self._done.set()
        loop, waiters = self._loop, self._waiters
        if loop is not None and waiters is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits
                loop.call_soon_threadsafe(waiters.set)

    def state(self, connected: bool, closed: bool) -> str:
        """A publisher's state (Publisher.state) from what it knows now."""
        if not self._done.is_set() and not closed:
            return CONNECTING
        return REACHABLE if connected else UNREACHABLE

    async def wait(self, timeout: float) -> None:
        if self._done.is_set() or self._waiters is None or timeout <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._waiters.wait(), timeout)


class Publisher(Protocol):
    async def start(self, topics: Collection[str] = ()) -> None:
        """Begin connecting; must return promptly even when no broker is up. Learning `topics`'
        partitions is part of connecting, so the first webhook does not wait for them."""

    def send(self, record: Record) -> Sending:
        """Hand the record over without waiting; raise Unavailable at once if there is no broker."""

    async def publish(self, record: Record, timeout: float) -> Ack:
        """Await the broker's ack for at most `timeout` seconds; raise Unavailable otherwise."""

    @property
    def delivery_timeout_secs(self) -> float:
        """The longest a Sending's result can take to resolve."""

    @property
    def connected(self) -> bool:
        """Whether the broker was reachable at the last attempt (for /readyz)."""

    @property
    def state(self) -> str:
        """CONNECTING until the first connection attempt has finished, then REACHABLE or
        UNREACHABLE (kept within about a second of a change)."""

    async def connecting(self, timeout: float) -> None:
        """While CONNECTING: wait for the first attempt to finish, at most `timeout` seconds."""

    async def close(self, timeout: float) -> None:
        """Flush what is in flight (bounded by `timeout`) and release the connection."""


class Backend(Publisher, Protocol):
    """A publisher that can also sit behind the host's publisher process (Kafka's clients)."""

    def hand(self, record: Record, answer: Answer) -> None:
        """send() for a caller that relays the outcome instead of awaiting it: `answer` is called
        once, on whichever thread the client library answers on, with the Ack or the Unavailable;
        no asyncio future, no hop onto the event loop per record. Raises Unavailable at once if
        there is no broker."""
