"""The path of one webhook, independent of HTTP:

    admission (gateway.admission: source, verify) -> map -> filter -> dedupe -> publish or
    spool -> answer

A 2xx is given only once the event is safe: acknowledged by Kafka, or fsynced to the spool.
While Kafka is known to be unreachable, or while the spool still holds events, new events go
straight to the spool (no waiting), so one entity's events keep their order.

`handle()` never raises for anything a sender can do: every outcome is a Result, which knows
nothing of HTTP (gateway.answers maps it to a status).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

import msgspec

from gateway import envelope as wire
from gateway import history
from gateway.admission import Admission
from gateway.audit import Auditor, RequestInfo
from gateway.config import Config
from gateway.dedupe import Key
from gateway.envelope import DeadLetter, Envelope
from gateway.errors import Outcome, Reason
from gateway.map import map_delivery
from gateway.metrics import Metrics
from gateway.outcome import UNAVAILABLE, Result, accepted
from gateway.publish import (
    CONNECTING,
    Ack,
    AlreadyPublished,
    Publisher,
    Record,
    Sending,
    Unavailable,
    settled_within,
)
from gateway.replay import stale
from gateway.rotation import Rotation
from gateway.runtime import Runtime, build
from gateway.sources import Source
from gateway.store import Store, StoreError


class Pipeline:
    def __init__(self, config: Config, publisher: Publisher, auditor: Auditor, store: Store,
                 clock: Callable[[], float] = time.time, on_spooled: Callable[[], None] = lambda: None,
                 metrics: Metrics | None = None) -> None:
        # Everything built from the configuration, replaced whole (never mutated) by a reload:
        # a request sees the old one or the new one (gateway.runtime).
        self.runtime: Runtime = build(config)
        self.metrics = metrics
        self.rotation = Rotation(metrics)  # which secret matched, per source (rotation)
        # source lookup, unsigned checks, verification, single-use tokens: gateway.admission
        self.admission = Admission(auditor, store, self.rotation, config.storage.path)
        self.publisher = publisher
        self.auditor = auditor
        self.store = store  # the spool and the dedupe window
        self.clock = clock
        self._on_spooled = on_spooled  # wakes the drainer
        self._ack_timeout = config.kafka.ack_timeout_ms / 1000
        self._deadletter_topic = f"{config.kafka.topic_prefix}.deadletter"
        self._inflight: dict[Key, asyncio.Future[None]] = {}
        self._marking: dict[Key, asyncio.Future[None]] = {}  # marks not committed yet

    @property
    def config(self) -> Config:
        return self.runtime.config

    @property
    def sources(self) -> Mapping[str, Source]:
        return self.runtime.sources

    def reject(self, request: RequestInfo, reason: Reason, name: str, body: bytes = b"",
               body_size: int | None = None, wait: float = 1.0, repeats: int | None = 0,
               detail: str | None = None) -> Result:
        """A request refused before the pipeline saw its body (gateway.guard): audited."""
        return self.admission.reject(self.runtime, request, reason, name, body, body_size, wait,
                                     repeats, detail)

    async def handle(self, name: str, request: RequestInfo, body: bytes) -> Result:
        runtime = self.runtime  # one configuration for the whole request
        now = self.clock()
        admitted = await self.admission.admit(runtime, name, request, body, now)
        if isinstance(admitted, Result):
            return admitted
        source, verdict, digest = admitted.source, admitted.verdict, admitted.digest
        reply = source.handshake(request.headers, body) if source.handshake else None
        if reply is not None:  # an authenticated endpoint handshake: answered, not published
            return Result(Outcome.IGNORED, reply=reply, provider=source.provider)
        if request.method != "POST":  # a GET is let in for its handshake only
            return self.admission.reject(runtime, request, Reason.MALFORMED_REQUEST, name, body,
                                         detail="method")
        received = datetime.fromtimestamp(now, UTC)
        mapped = map_delivery(source, request.headers, body, verdict.scheme, received)
        if isinstance(mapped, Envelope) and stale(mapped, source.config, now):  # a replay
            return self.admission.failed(runtime, request, Reason.STALE_TIMESTAMP, name, body)
        if isinstance(mapped, Envelope) and not source.accepts(mapped.type[len(source.provider) + 1:]):
            return Result(Outcome.IGNORED, provider=source.provider)
        slot = verdict.slot  # which secret matched: kept in the event history (rotation)
        result = await self._once((source.name, mapped.id),
                                  lambda spooling: self._publish(source, mapped, spooling, digest, slot))
        if result.outcome is Outcome.DUPLICATE:
            accepted_body = self.store.accepted_body((source.name, mapped.id))
            if accepted_body is not None and accepted_body != digest:
                return await self._conflict(runtime, source, request, body, mapped, digest,
                                            accepted_body, now, slot)
            self._note_duplicate(source, mapped, now, slot)
        # Published and spooled results name their provider already (the common case: no copy).
        return result if result.provider else msgspec.structs.replace(result, provider=source.provider)

    def _note_duplicate(self, source: Source, mapped: Envelope | DeadLetter, now: float,
                        slot: int | None) -> None:
        """The duplicate's history row, with the next group commit (not awaited)."""
        topic = source.topic if isinstance(mapped, Envelope) else self._deadletter_topic
        self.store.note(_row(source, mapped, Outcome.DUPLICATE, topic, now, slot=slot))

    async def _conflict(self, runtime: Runtime, source: Source, request: RequestInfo, body: bytes,
                        mapped: Envelope | DeadLetter, digest: bytes, accepted_body: bytes,
                        now: float, slot: int | None) -> Result:
        """The same (source, id) as an accepted event, with another body: a forged or altered
        redelivery, or a provider bug. Always audited (both hashes, never the bodies) and
        counted; answered as the source's `on_id_conflict` says."""
        action = source.config.on_id_conflict
        self.auditor.record(request, Reason.ID_CONFLICT, source.name, source.provider, body,
                            len(body), runtime.redaction, accepted_body_sha256=accepted_body.hex())
        if self.metrics is not None:
            self.metrics.id_conflicts.labels(self.metrics.source(source.name), action).inc()
        if action == "reject":
            return Result(Outcome.REJECTED, mapped.id, reason=Reason.ID_CONFLICT,
                          provider=source.provider)
        if action == "publish":  # a new event, its id the body's hash: its own retries dedupe
            renamed = msgspec.structs.replace(mapped, id=digest.hex())
            result = await self._once((source.name, renamed.id),
                                      lambda spooling: self._publish(source, renamed, spooling, digest,
                                                                     slot))
            if result.outcome is Outcome.DUPLICATE:
                self._note_duplicate(source, renamed, now, slot)
            return msgspec.structs.replace(result, provider=source.provider)
        self._note_duplicate(source, mapped, now, slot)
        return msgspec.structs.replace(_duplicate(mapped.id), provider=source.provider)

    async def _once(self, key: Key, publish: Callable[[bool], Awaitable[Result]]) -> Result:
        """Publish a (source, id) at most once: a retry racing its original waits for it.
        `publish` is told whether the spool held events (read with the dedupe check)."""
        # Several copies may wait for one original: the first to wake takes its place, and the
        # others wait for that one in turn.
        while (pending := self._inflight.get(key)) is not None:
            await asyncio.wait([pending])
        seen, spooling = self.store.lookup(key)
        if seen:
            return _duplicate(key[1])
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = done

        def release(_: object = None) -> None:
            if self._inflight.get(key) is done:
                del self._inflight[key]
            done.set_result(None)

        try:
            return await publish(spooling)
        finally:
            marking = self._marking.pop(key, None)
            if marking is None:
                release()
            else:  # a retry of this event waits until it is marked seen, then is a duplicate
                marking.add_done_callback(release)

    async def _publish(self, source: Source, mapped: Envelope | DeadLetter, spooling: bool,
                       digest: bytes | None = None, slot: int | None = None) -> Result:
        key = (source.name, mapped.id)
        if isinstance(mapped, Envelope):
            record = Record(source.topic, wire.record_key(mapped), wire.encode_envelope(mapped),
                            wire.record_headers(mapped), key)
            outcome = Outcome.PUBLISHED
        else:
            record = Record(self._deadletter_topic, mapped.id.encode(), wire.encode(mapped), [], key)
            outcome = Outcome.DEADLETTERED
        now = self.clock()

        def spooled() -> tuple[Result, history.Row]:  # built only when it happens (rarely)
            row = _row(source, mapped, Outcome.SPOOLED, record.topic, now, record, outcome, slot=slot)
            return accepted(Outcome.SPOOLED, mapped.id, source.provider), row

        if spooling:  # per-key order: behind the spooled events
            return await self._spool(record, key, *spooled(), digest)
        started = time.perf_counter()
        timeout = self._ack_timeout
        if not self.publisher.connected:
            if self.publisher.state == CONNECTING:  # not known to be unreachable: wait for it
                await self.publisher.connecting(timeout)
                timeout -= time.perf_counter() - started
            if not self.publisher.connected:
                return await self._spool(record, key, *spooled(), digest)
        try:
            sending = self.publisher.send(record)
            if not await settled_within(sending.result, timeout):
                raise TimeoutError
            ack = sending.result.result()
        except AlreadyPublished:  # a copy on another worker of this host was acknowledged
            return _duplicate(mapped.id)
        except Unavailable:
            self._kafka_error("unavailable")
            return await self._spool(record, key, *spooled(), digest)
        except TimeoutError:
            self._kafka_error("timeout")
            if sending.withdraw():  # never sent: the spool is its only owner
                return await self._spool(record, key, *spooled(), digest)
            return await self._spool_late(sending, record, key, *spooled(), digest)
        self._mark_soon(key, _row(source, mapped, outcome, record.topic, now, record, outcome, ack,
                                  slot),
                        digest)
        return accepted(outcome, mapped.id, source.provider, time.perf_counter() - started)

    def _kafka_error(self, kind: str) -> None:
        if self.metrics is not None:
            self.metrics.kafka_error("request", kind)

    async def _spool(self, record: Record, key: Key, answer: Result, row: history.Row | None = None,
                     digest: bytes | None = None) -> Result:
        try:  # one fsynced transaction with the dedupe mark
            seq = await self.store.spool(record, key, row=row, digest=digest)
        except StoreError:
            return UNAVAILABLE
        if seq is None:  # another worker's copy was accepted first
            return _duplicate(key[1])
        self._on_spooled()
        return answer

    async def _spool_late(self, sending: Sending, record: Record, key: Key, answer: Result,
                          row: history.Row | None = None, digest: bytes | None = None) -> Result:
        """The record was sent but not acknowledged in time. Keep a copy, held from the drainer
        until the first send settles: acked -> the copy is removed (published once); failed ->
        the copy is released to the drainer. If this process dies first, the hold expires."""
        try:
            seq = await self.store.spool(record, key, hold_secs=self.publisher.delivery_timeout_secs,
                                         row=row, digest=digest)
        except StoreError:
            return UNAVAILABLE
        if seq is None:  # another worker's copy was accepted first
            return _duplicate(key[1])

        def settled(result: asyncio.Future[Ack]) -> None:
            acked = not result.cancelled() and result.exception() is None
            task = asyncio.ensure_future(self.store.remove([seq], [(seq, result.result())]) if acked
                                         else self.store.release(seq))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # logged by the store
            if not acked:
                self._on_spooled()

        sending.result.add_done_callback(settled)
        return answer

    def _mark_soon(self, key: Key, row: history.Row | None = None,
                   digest: bytes | None = None) -> None:
        """Right after the broker's ack, without holding the answer: the event is safe in Kafka
        already, and the mark (with its history row) is gathered into the store's next group
        commit. Until it is committed, a retry of the event in this process waits for it (the
        in-flight entry is kept). If the mark cannot be written, or the process dies first, a
        retry is published again: a duplicate, which consumers dedupe, never a loss."""
        try:
            marking = self.store.mark_soon(key, row, digest)
        except StoreError:
            return
        marking.add_done_callback(lambda f: f.cancelled() or f.exception())  # logged by the store
        self._marking[key] = marking


def _duplicate(event_id: str) -> Result:
    return accepted(Outcome.DUPLICATE, event_id)


def _row(source: Source, mapped: Envelope | DeadLetter, status: Outcome, topic: str, now: float,
         record: Record | None = None, acked: Outcome | None = None, ack: Ack | None = None,
         slot: int | None = None) -> history.Row:
    """The event-history row of a delivery (a dead letter has no type or subject)."""
    envelope = mapped if isinstance(mapped, Envelope) else None
    return history.Row(
        mapped.id, source.name, envelope.type if envelope else None,
        envelope.subject if envelope else None, status.value, topic, now, record, ack,
        acked_status=acked.value if acked else None, secret_slot=slot)
