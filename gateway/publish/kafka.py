"""The Kafka publisher on kafka-python (the default client).

kafka-python's traps, and what this module does about each:
- the KafkaProducer constructor bootstraps (blocks up to 30 s, then raises) when no broker is up:
  it is built on a background thread, retried with capped backoff; meanwhile publish() raises
  Unavailable at once, so start-up never waits for Kafka;
- send() blocks up to `max_block_ms` on missing metadata: it then runs on one sender thread (never
  on the event loop), with `max_block_ms` bounded by the ack timeout, and a request that has
  already given up is not sent late;
- the ack arrives on the producer's I/O thread: its future is bridged into asyncio with
  call_soon_threadsafe, so the handler awaits it without a thread per request;
- after a broker loses its producer-id state the idempotent producer fails for good: a fatal error
  closes it and a new one is built, while publish() answers Unavailable. For a partition it never
  had an ack from, kafka-python takes the broker's UnknownProducerId for "retention-based"
  (KAFKA-5793) and retries until the delivery timeout, then fails the batch with a plain
  KafkaTimeoutError: so an expired batch also replaces the producer (after such a broker,
  publishing resumes within the delivery timeout);
- a record that expires is answered as failed, and its spooled copy is published again; but a
  leader killed before its ack may already have had it replicated. The delivery timeout (30 s)
  therefore outlasts a leader change (Kafka notices a dead broker within its
  broker.session.timeout.ms, 9 s by default): the idempotent producer's own retries reach the new
  leader, which acknowledges a record it already holds without writing it twice;
- close(timeout) leaves a producer with records pending at the timeout running, and a failed TCP
  connect leaves its socket to the garbage collector: both handled in kafka_compat;
- the first send() to a topic waits for its metadata: the topics the configuration names are
  looked up while connecting, before the publisher calls itself connected;
- its default partitioner hashes keys in pure Python: gateway.publish.kafka_partitioner.

The private parts of kafka-python this relies on are in gateway.publish.kafka_compat, checked
against the installed version when a publisher starts.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from kafka import KafkaProducer
from kafka import errors as kafka_errors

from gateway.publish import (
    DELIVERY_TIMEOUT_MS,
    Ack,
    Answer,
    FirstAttempt,
    Record,
    Sending,
    Unavailable,
    ack_within,
    kafka_compat,
    settle_threadsafe,
)
from gateway.publish.kafka_partitioner import KeyPartitioner

log = logging.getLogger("gateway.kafka")

PRODUCER_OPTIONS = frozenset(KafkaProducer.DEFAULT_CONFIG)
WARM_SECS = 5.0
# How often a connected publisher checks that a bootstrap server still accepts connections: a
# broker that died is known (and reported by /readyz) within about this, not at the next timeout.
WATCH_SECS = 1.0

_FATAL = (
    kafka_errors.UnknownProducerIdError,
    kafka_errors.OutOfOrderSequenceNumberError,
    kafka_errors.InvalidProducerEpochError,
    kafka_errors.ProducerFencedError,
    kafka_errors.IllegalStateError,
)


class KafkaPublisher:
    def __init__(self, bootstrap_servers: list[str], options: dict[str, Any] | None = None,
                 max_record_bytes: int = 1_048_576, ack_timeout_secs: float = 2.0) -> None:
        block_ms = int(max(ack_timeout_secs, 0.5) * 1000)
        self._config: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 5,  # a few ms of linger batches better and stops the I/O thread busy-polling
            # up to 128 KB per partition batch (default 16 KB, about 11 envelopes): under load a
            # request then carries more records; 88 -> 63 µs CPU per record (bench/producers.py)
            "batch_size": 131_072,
            "max_block_ms": block_ms,
            "bootstrap_timeout_ms": 5000,
            "max_request_size": max_record_bytes,
            "request_timeout_ms": 5000,
            "reconnect_backoff_max_ms": 2000,
            "partitioner": KeyPartitioner(),
        }
        self._config.update(options or {})
        # kafka-python refuses a delivery timeout under request timeout + linger. Past the ack
        # timeout a record only matters to the spool's bookkeeping, but one that expires during
        # a leader change may be in Kafka already and would be published again from the spool:
        # outlast the change (module docstring; tests/integration/test_kafka_faults.py).
        floor = self._config["request_timeout_ms"] + self._config["linger_ms"] + 1000
        self._config.setdefault("delivery_timeout_ms", max(floor, block_ms + 1000, DELIVERY_TIMEOUT_MS))
        self._producer: KafkaProducer | None = None
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-send")
        self._queued = 0  # records handed to the sender thread, and those it has sent: equal
        self._handed = 0  # when nothing waits there
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._building = False
        self._connected = False
        self._topics: tuple[str, ...] = ()
        self._first = FirstAttempt()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, topics: Collection[str] = ()) -> None:
        kafka_compat.install()  # raises, naming what is missing, on a kafka-python built otherwise
        self._loop = asyncio.get_running_loop()
        self._first.bind(self._loop)
        self._topics = tuple(topics)
        self._rebuild()
        threading.Thread(target=self._watch, name="kafka-watch", daemon=True).start()

    @property
    def connected(self) -> bool:
        return self._connected and self._producer is not None

    @property
    def state(self) -> str:
        return self._first.state(self.connected, self._closed.is_set())

    async def connecting(self, timeout: float) -> None:
        await self._first.wait(timeout)

    def _watch(self) -> None:
        """Between records, nothing tells kafka-python that a broker died until a request times
        out: check once a second that a bootstrap server still accepts connections. Back in reach
        with a producer, the publisher is connected again (its own reconnects do the rest)."""
        servers = self._config["bootstrap_servers"]
        while not self._closed.wait(WATCH_SECS):
            if self._producer is None:
                continue  # _build() is connecting, and says how that went
            reachable = _any_reachable(servers, timeout=WATCH_SECS)
            if reachable != self._connected:
                log.warning("kafka %s %s", servers, "reachable again" if reachable else
                            "unreachable: no bootstrap server accepts connections")
                self._connected = reachable

    async def close(self, timeout: float) -> None:
        self._closed.set()
        producer, self._producer = self._producer, None
        if producer is not None:
            await asyncio.to_thread(kafka_compat.close, producer, timeout)
        self._sender.shutdown(wait=False, cancel_futures=True)

    def _rebuild(self, broken: KafkaProducer | None = None, why: str = "") -> None:
        """Build a producer on a background thread, replacing `broken` if it is still current."""
        with self._lock:
            if self._building or self._closed.is_set():
                return
            if broken is not None and self._producer is not broken:
                return  # someone already replaced it
            self._building = True
            self._producer = None
            self._connected = False
        if broken is not None:
            log.warning("recreating the kafka producer: %s", why)
        threading.Thread(target=self._build, args=(broken,), name="kafka-connect", daemon=True).start()

    def _build(self, broken: KafkaProducer | None) -> None:
        if broken is not None:
            kafka_compat.close(broken, 1.0)
        delay = 0.2
        while not self._closed.is_set():
            try:
                # A failed KafkaProducer() leaves its half-open sockets to the garbage collector:
                # while no bootstrap server even accepts a TCP connection, do not build one.
                if not _any_reachable(self._config["bootstrap_servers"]):
                    raise ConnectionRefusedError("no bootstrap server accepts connections")
                producer = KafkaProducer(**self._config)
                self._learn_topics(producer)
            except Exception as exc:  # noqa: BLE001 - NoBrokersAvailable, DNS, TLS...: retry
                self._connected = False
                self._first.finish()  # failed: the spool takes events meanwhile
                log.warning("connecting to kafka %s: %s", self._config["bootstrap_servers"],
                            type(exc).__name__)
                self._closed.wait(delay)
                delay = min(delay * 2, 5.0)
                continue
            with self._lock:
                self._building = False
                closed = self._closed.is_set()
                if not closed:
                    self._producer = producer
                    self._connected = True
            self._first.finish()
            if closed:  # close() ran while this one was being built
                kafka_compat.close(producer, 0.0)
                return
            log.info("connected to kafka %s", self._config["bootstrap_servers"])
            return
        with self._lock:
            self._building = False

    def _learn_topics(self, producer: KafkaProducer) -> None:
        """Fetch the partitions of every configured topic now: until then, the first record to
        each would wait for a metadata round trip (and, past the ack timeout, be spooled). Bounded
        by WARM_SECS in all, so a cluster without the topics still lets the publisher start."""
        deadline = time.monotonic() + WARM_SECS
        for topic in self._topics:
            if time.monotonic() > deadline:
                break
            try:
                producer.partitions_for(topic)
            except kafka_errors.KafkaError as exc:
                log.warning("no partitions known for topic %s (%s): does it exist? "
                            "`webhook-gateway topics create` creates every topic the config implies",
                            topic, type(exc).__name__)

    # -- publishing --------------------------------------------------------------------------

    @property
    def delivery_timeout_secs(self) -> float:
        return float(self._config["delivery_timeout_ms"]) / 1000 + 1.0

    def send(self, record: Record) -> Sending:
        producer, loop = self._ready()  # before the future: none is made on the failure path
        sending = Sending(loop.create_future())
        self._hand(producer, record, partial(settle_threadsafe, loop, sending.result), sending)
        return sending

    def hand(self, record: Record, answer: Answer) -> None:
        self._hand(self._ready()[0], record, answer, None)

    def _ready(self) -> tuple[KafkaProducer, asyncio.AbstractEventLoop]:
        producer, loop = self._producer, self._loop
        if producer is None or loop is None:
            raise Unavailable("no kafka producer (broker unreachable)")
        return producer, loop

    def _hand(self, producer: KafkaProducer, record: Record, answer: Answer,
              sending: Sending | None) -> None:
        if self._queued == self._handed and kafka_compat.has_metadata(producer, record.topic):
            # send() blocks only to fetch missing metadata (kafka-python 3.x has no buffer pool
            # to wait on): with the topic's metadata cached it returns at once, so it runs right
            # here, saving the sender thread's hop (15-20 µs per record, docs/benchmarks.md).
            # Only while that thread has nothing queued: per-key order must not let a record
            # overtake one still waiting there.
            self._send(producer, record, answer, sending)
            return
        try:
            self._sender.submit(self._send_queued, producer, record, answer, sending)
        except RuntimeError:  # the publisher is closing: its sender thread takes nothing more
            raise Unavailable("kafka publisher closed") from None
        self._queued += 1  # written on the loop only; _handed on the sender thread only

    async def publish(self, record: Record, timeout: float) -> Ack:
        try:
            return await ack_within(self.send(record), record.topic, timeout)
        except Unavailable:
            self._connected = False
            raise

    def _send_queued(self, producer: KafkaProducer, record: Record, answer: Answer,
                     sending: Sending | None) -> None:
        try:
            self._send(producer, record, answer, sending)
        finally:
            self._handed += 1

    def _send(self, producer: KafkaProducer, record: Record, answer: Answer,
              sending: Sending | None) -> None:
        if sending is not None and not sending.mark_sent():
            answer(Unavailable("withdrawn before sending"))  # the caller keeps the event itself
            return
        try:
            future = producer.send(record.topic, value=record.value, key=record.key,
                                   headers=record.headers)
        except Exception as exc:  # noqa: BLE001 - every send failure means "not in Kafka"
            self._failed(producer, answer, exc)
            return
        future.add_callback(self._acked, answer)
        future.add_errback(self._failed, producer, answer, expired=True)

    def _acked(self, answer: Answer, metadata: Any) -> None:
        self._connected = True
        answer(Ack(metadata.topic, metadata.partition, metadata.offset))

    def _failed(self, producer: KafkaProducer, answer: Answer, exc: BaseException,
                expired: bool = False) -> None:
        """`expired`: the record was accepted by send() and then failed (not send() itself)."""
        if isinstance(exc, _FATAL) or kafka_compat.has_fatal_error(producer):
            self._rebuild(broken=producer, why=f"fatal state ({type(exc).__name__})")
        elif expired and isinstance(exc, kafka_errors.KafkaTimeoutError):
            # Not delivered within the delivery timeout: the broker is gone, or it answers with
            # an error kafka-python retries blindly (see the module docstring). A new producer
            # costs one InitProducerId and cannot be worse.
            self._rebuild(broken=producer, why="a record expired undelivered")
        elif isinstance(exc, kafka_errors.KafkaTimeoutError | kafka_errors.KafkaConnectionError):
            self._connected = False
        answer(Unavailable(f"publishing: {type(exc).__name__}"))


def _any_reachable(servers: list[str] | str, timeout: float = 1.0) -> bool:
    for server in [servers] if isinstance(servers, str) else servers:
        host, _, port = server.rpartition(":")
        try:
            socket.create_connection((host.strip("[]") or "localhost", int(port or 9092)), timeout).close()
            return True
        except (OSError, ValueError):
            continue
    return False
