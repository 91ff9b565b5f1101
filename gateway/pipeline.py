"""The path of one webhook, independent of HTTP:

    source lookup -> verify -> map -> filter -> dedupe -> publish or spool -> answer

A 2xx is given only once the event is safe: acknowledged by Kafka, or fsynced to the spool.
While Kafka is known to be unreachable, or while the spool still holds events, new events go
straight to the spool (no waiting), so one entity's events keep their order.

`handle()` never raises for anything a sender can do: every outcome is an Answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gateway import envelope as wire
from gateway.audit import Auditor, RequestInfo
from gateway.config import Config
from gateway.dedupe import Key
from gateway.envelope import DeadLetter, Envelope
from gateway.errors import Outcome, Reason
from gateway.map import map_delivery
from gateway.replay import stale
from gateway.publish import Ack, Publisher, Record, Sending, Unavailable
from gateway.sources import Source, build_sources
from gateway.store import Store, StoreError

RETRY_AFTER_SECS = 10

_STATUS = {Reason.UNKNOWN_SOURCE: 404, Reason.BODY_TOO_LARGE: 413, Reason.RATE_LIMITED: 429}
_ERROR = {404: "not found", 413: "payload too large", 429: "too many requests",
          401: "unauthorized", 503: "unavailable, retry later"}


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, str]
    outcome: Outcome
    headers: dict[str, str] = field(default_factory=dict)
    reason: Reason | None = None


def rejected(reason: Reason) -> Answer:
    """One generic body per status: a sender learns nothing about why a check failed."""
    status = _STATUS.get(reason, 401)
    headers = {"Retry-After": "1"} if status == 429 else {}
    return Answer(status, {"error": _ERROR[status]}, Outcome.REJECTED, headers, reason)


def unavailable() -> Answer:
    return Answer(503, {"error": _ERROR[503]}, Outcome.UNAVAILABLE,
                  {"Retry-After": str(RETRY_AFTER_SECS)})


class Pipeline:
    def __init__(self, config: Config, publisher: Publisher, auditor: Auditor, store: Store,
                 clock: Callable[[], float] = time.time, on_spooled: Callable[[], None] = lambda: None
                 ) -> None:
        self.config = config
        self.sources: dict[str, Source] = build_sources(config)
        self.publisher = publisher
        self.auditor = auditor
        self.store = store  # the spool and the dedupe window
        self.clock = clock
        self._on_spooled = on_spooled  # wakes the drainer
        self._ack_timeout = config.kafka.ack_timeout_ms / 1000
        self._deadletter_topic = f"{config.kafka.topic_prefix}.deadletter"
        self._inflight: dict[Key, asyncio.Future[None]] = {}

    def reject(self, request: RequestInfo, reason: Reason, name: str, body: bytes = b"",
               body_size: int | None = None) -> Answer:
        source = self.sources.get(name)
        self.auditor.record(request, reason, name, source.provider if source else None, body,
                            len(body) if body_size is None else body_size)
        return rejected(reason)

    async def handle(self, name: str, request: RequestInfo, body: bytes) -> Answer:
        source = self.sources.get(name)
        if source is None:
            return self.reject(request, Reason.UNKNOWN_SOURCE, name, body)
        now = self.clock()
        verdict = source.verify(request.headers, body, now)
        if not verdict.ok:
            assert verdict.reason is not None
            return self.reject(request, verdict.reason, name, body)
        received = datetime.fromtimestamp(now, UTC)
        mapped = map_delivery(source, request.headers, body, verdict.scheme, received)
        if isinstance(mapped, Envelope) and stale(mapped, source.config, now):  # a replay
            return self.reject(request, Reason.STALE_TIMESTAMP, name, body)
        if isinstance(mapped, Envelope) and not source.accepts(mapped.type[len(source.provider) + 1:]):
            return Answer(200, {"status": Outcome.IGNORED.value}, Outcome.IGNORED)
        return await self._once((source.name, mapped.id), lambda: self._publish(source, mapped))

    async def _once(self, key: Key, publish: Callable[[], Awaitable[Answer]]) -> Answer:
        """Publish a (source, id) at most once: a retry racing its original waits for it."""
        pending = self._inflight.get(key)
        if pending is not None:
            await asyncio.wait([pending])
        if await self.store.seen(key):
            return Answer(200, {"id": key[1], "status": Outcome.DUPLICATE.value}, Outcome.DUPLICATE)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = done
        try:
            return await publish()
        finally:
            del self._inflight[key]
            done.set_result(None)

    async def _publish(self, source: Source, mapped: Envelope | DeadLetter) -> Answer:
        if isinstance(mapped, Envelope):
            record = Record(source.topic, wire.record_key(mapped), wire.encode_envelope(mapped),
                            wire.record_headers(mapped))
            outcome, status = Outcome.PUBLISHED, 200
        else:
            record = Record(self._deadletter_topic, mapped.id.encode(), wire.encode(mapped))
            outcome, status = Outcome.DEADLETTERED, 202
        key = (source.name, mapped.id)
        safe = Answer(status, {"id": mapped.id, "status": outcome.value}, outcome)
        spooled = Answer(202, {"id": mapped.id, "status": Outcome.SPOOLED.value}, Outcome.SPOOLED)
        if not self.publisher.connected or self.store.has_spooled():
            return await self._spool(record, key, spooled)
        try:
            sending = self.publisher.send(record)
            await asyncio.wait_for(asyncio.shield(sending.result), self._ack_timeout)
        except Unavailable:
            return await self._spool(record, key, spooled)
        except TimeoutError:
            if sending.withdraw():  # never sent: the spool is its only owner
                return await self._spool(record, key, spooled)
            return await self._spool_late(sending, record, key, spooled)
        await self._mark(key)
        return safe

    async def _spool(self, record: Record, key: Key, answer: Answer) -> Answer:
        try:
            await self.store.spool(record, key)  # one fsynced transaction with the dedupe mark
        except StoreError:
            return unavailable()
        self._on_spooled()
        return answer

    async def _spool_late(self, sending: Sending, record: Record, key: Key, answer: Answer) -> Answer:
        """The record was sent but not acknowledged in time. Keep a copy, held from the drainer
        until the first send settles: acked -> the copy is removed (published once); failed ->
        the copy is released to the drainer. If this process dies first, the hold expires."""
        try:
            seq = await self.store.spool(record, key, hold_secs=self.publisher.delivery_timeout_secs)
        except StoreError:
            return unavailable()

        def settled(result: asyncio.Future[Ack]) -> None:
            acked = not result.cancelled() and result.exception() is None
            task = asyncio.ensure_future(self.store.remove([seq]) if acked else self.store.release(seq))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # logged by the store
            if not acked:
                self._on_spooled()

        sending.result.add_done_callback(settled)
        return answer

    async def _mark(self, key: Key) -> None:
        """Right after the broker's ack. If the mark cannot be written the event is still safe in
        Kafka; a retry of it would be published again (a duplicate, which consumers dedupe)."""
        try:
            await self.store.mark(key)
        except StoreError:
            pass
