"""An optional native producer backend: confluent-kafka (librdkafka), chosen with
`kafka: {client: confluent-kafka}`. kafka-python stays the default (gateway/publish/kafka.py).

Why it exists (docs/benchmarks.md): kafka-python spends about 100 µs of Python CPU per record on
the worker's own core (batching, CRC, its I/O thread), the largest single cost of an accepted
webhook. librdkafka does that work in C threads that do not hold the GIL.

How it keeps the Publisher contract:
- produce() never blocks (a full local queue raises BufferError -> Unavailable), so it is called
  on the event loop itself: no sender thread, no hop;
- delivery reports are served by one poll thread and bridged into asyncio with
  call_soon_threadsafe; every report arrives within `message.timeout.ms` (the delivery timeout);
- acks=all and idempotence as for kafka-python, and the same 30 s delivery timeout: it outlasts a
  leader change (gateway/publish/kafka.py says why), so a record the killed leader had already
  replicated is retried to the new leader, which acknowledges it without writing it twice, rather
  than expired, spooled and published again;
- a fatal error (the idempotent producer lost its
  producer-id state, e.g. a broker that restarted empty) replaces the producer, while publish()
  answers Unavailable so the spool keeps the events;
- `connected` turns true once a metadata request succeeded or a record was acknowledged, false
  when librdkafka reports every broker down.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Collection
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from gateway.publish import (
    DELIVERY_TIMEOUT_MS,
    Ack,
    Answer,
    FirstAttempt,
    Record,
    Sending,
    Unavailable,
    ack_within,
    settle_threadsafe,
)

log = logging.getLogger("gateway.kafka")

# kafka-python option names (what gateway.yaml uses) -> librdkafka properties.
_OPTION_NAMES = {
    "linger_ms": "linger.ms",
    "batch_size": "batch.size",
    "compression_type": "compression.type",
    "max_in_flight_requests_per_connection": "max.in.flight.requests.per.connection",
    "request_timeout_ms": "request.timeout.ms",
    "delivery_timeout_ms": "delivery.timeout.ms",
    "client_id": "client.id",
    "security_protocol": "security.protocol",
    "sasl_mechanism": "sasl.mechanism",
    "sasl_plain_username": "sasl.username",
    "sasl_plain_password": "sasl.password",
    "ssl_cafile": "ssl.ca.location",
    "ssl_certfile": "ssl.certificate.location",
    "ssl_keyfile": "ssl.key.location",
    "ssl_password": "ssl.key.password",
    "enable_idempotence": "enable.idempotence",
    "reconnect_backoff_max_ms": "reconnect.backoff.max.ms",
}
OPTIONS = frozenset(_OPTION_NAMES)
POLL_SECS = 0.1
CONNECT_TIMEOUT_SECS = 5.0


def librdkafka_config(bootstrap_servers: list[str], options: dict[str, Any],
                      max_record_bytes: int) -> dict[str, Any]:
    """The producer's librdkafka configuration; an option with no librdkafka name is an error."""
    config: dict[str, Any] = {
        "bootstrap.servers": ",".join(bootstrap_servers),
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.max.bytes": max_record_bytes + 64 * 1024,
        "request.timeout.ms": 5000,
        "delivery.timeout.ms": DELIVERY_TIMEOUT_MS,
        "reconnect.backoff.max.ms": 2000,
        # murmur2 of the key, as kafka-python (gateway.publish.kafka_partitioner) and the Java
        # client: a key keeps its partition, and its order, when the gateway changes client
        "partitioner": "murmur2_random",
    }
    for name, value in options.items():
        if name not in _OPTION_NAMES:
            raise ValueError(f"kafka.{name}: not supported with client confluent-kafka "
                             f"(supported: {', '.join(sorted(_OPTION_NAMES))})")
        if name == "security_protocol":
            value = str(value).lower()
        config[_OPTION_NAMES[name]] = value
    return config


class ConfluentPublisher:
    def __init__(self, bootstrap_servers: list[str], options: dict[str, Any] | None = None,
                 max_record_bytes: int = 1_048_576, ack_timeout_secs: float = 2.0) -> None:
        self._config = librdkafka_config(bootstrap_servers, options or {}, max_record_bytes)
        self._config["error_cb"] = self._on_error
        self._producer: Producer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._connected = False
        self._first = FirstAttempt()
        self._poller: threading.Thread | None = None
        self._topics: tuple[str, ...] = ()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, topics: Collection[str] = ()) -> None:
        self._loop = asyncio.get_running_loop()
        self._first.bind(self._loop)
        self._topics = tuple(topics)
        self._producer = Producer(self._config)  # returns at once; connects in its own threads
        self._poller = threading.Thread(target=self._poll, name="kafka-poll", daemon=True)
        self._poller.start()

    @property
    def connected(self) -> bool:
        return self._connected and self._producer is not None

    @property
    def state(self) -> str:
        return self._first.state(self.connected, self._closed.is_set())

    async def connecting(self, timeout: float) -> None:
        await self._first.wait(timeout)

    @property
    def delivery_timeout_secs(self) -> float:
        return float(self._config["delivery.timeout.ms"]) / 1000 + 1.0

    async def close(self, timeout: float) -> None:
        producer = self._producer
        if producer is not None:
            # what is not flushed in time fails its delivery report: never a false ack
            await asyncio.to_thread(producer.flush, timeout)
        self._closed.set()
        if self._poller is not None:
            await asyncio.to_thread(self._poller.join, 2 * POLL_SECS + timeout)
        self._producer = None

    def _poll(self) -> None:
        """Serve delivery reports and errors; learn once that the cluster answers metadata."""
        while not self._closed.is_set():
            producer = self._producer
            if producer is None:
                self._closed.wait(POLL_SECS)
                continue
            if not self._connected:
                try:
                    producer.list_topics(timeout=min(CONNECT_TIMEOUT_SECS, 1.0))
                    for topic in self._topics:  # the first record to each need not wait for it
                        producer.list_topics(topic, timeout=min(CONNECT_TIMEOUT_SECS, 1.0))
                    self._connected = True
                    log.info("connected to kafka %s", self._config["bootstrap.servers"])
                except KafkaException:
                    pass
                self._first.finish()
            producer.poll(POLL_SECS)

    def _on_error(self, error: KafkaError) -> None:  # on the poll thread
        if error.fatal():
            log.warning("kafka producer entered a fatal state (%s); recreating it", error.name())
            self._replace()
        elif error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            self._connected = False

    def _replace(self) -> None:
        """A fatal producer fails its queued records itself (purged); a new one takes over."""
        with self._lock:
            broken, self._connected = self._producer, False
            if self._closed.is_set():
                return
            self._producer = Producer(self._config)
        if broken is not None:
            threading.Thread(target=_discard, args=(broken,), daemon=True).start()

    # -- publishing --------------------------------------------------------------------------

    def send(self, record: Record) -> Sending:
        producer, loop = self._ready()  # before the future: none is made on the failure path
        sending = Sending(loop.create_future())
        sending.mark_sent()
        self._produce(producer, record, partial(settle_threadsafe, loop, sending.result))
        return sending

    def hand(self, record: Record, answer: Answer) -> None:
        self._produce(self._ready()[0], record, answer)

    def _ready(self) -> tuple[Producer, asyncio.AbstractEventLoop]:
        producer, loop = self._producer, self._loop
        if producer is None or loop is None or not self._connected:
            raise Unavailable("no kafka producer (broker unreachable)")
        return producer, loop

    def _produce(self, producer: Producer, record: Record, answer: Answer) -> None:
        def delivered(error: KafkaError | None, message: Any) -> None:  # on the poll thread
            if error is None:
                self._connected = True
                answer(Ack(message.topic(), message.partition(), message.offset()))
            else:
                answer(Unavailable(f"publishing to topic {record.topic}: {error.name()}"))

        try:
            producer.produce(record.topic, value=record.value, key=record.key,
                             headers=record.headers,  # type: ignore[arg-type]  # (list is invariant)
                             on_delivery=delivered)
        except (BufferError, KafkaException) as exc:
            raise Unavailable(f"publishing to topic {record.topic}: {type(exc).__name__}") from None

    async def publish(self, record: Record, timeout: float) -> Ack:
        return await ack_within(self.send(record), record.topic, timeout)


def _discard(producer: Producer) -> None:
    try:
        producer.purge()  # their delivery reports fail: the spool keeps those events
        producer.flush(1.0)
    except Exception:  # noqa: BLE001 - it is being thrown away
        pass
