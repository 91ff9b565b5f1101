"""The Kafka publisher: the only module that imports kafka-python.

kafka-python's traps, and what this module does about each:
- the KafkaProducer constructor bootstraps (blocks up to 30 s, then raises) when no broker is up:
  it is built on a background thread, retried with capped backoff; meanwhile publish() raises
  Unavailable at once, so start-up never waits for Kafka;
- send() blocks up to `max_block_ms` on missing metadata or a full buffer: it runs on one sender
  thread (never on the event loop), with `max_block_ms` bounded by the ack timeout, and a request
  that has already given up is not sent late;
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
- close(timeout) flushes first and, if records are still pending at the timeout, raises and leaves
  the producer running (its I/O thread may deliver them later): a producer is force-closed instead;
- a failed TCP connect leaves its socket to the garbage collector (patched below);
- the first send() to a topic waits for its metadata: the topics the configuration names are
  looked up while connecting, before the publisher calls itself connected;
- its default partitioner hashes each key with a pure-Python murmur2 (18 µs for a 48-byte key,
  the largest single cost of send()): KeyPartitioner puts each key on the same partition with a
  native murmur2 (0.4 µs);
- send() wakes the I/O thread for every record that opens a batch, and most such wake-ups find
  nothing ready yet (the batch lingers): gateway.publish.wakeups passes on only those that matter.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import errors as kafka_errors
from kafka.admin import NewTopic
from kafka.net.inet import KafkaNetSocket
from kafka.partitioner import DefaultPartitioner, Partitioner
from murmurhash2 import murmurhash2

from gateway.publish import (
    CONNECTING,
    REACHABLE,
    UNREACHABLE,
    Ack,
    Answer,
    FirstAttempt,
    Record,
    Sending,
    Unavailable,
    ack_within,
    settle_threadsafe,
)
from gateway.publish.wakeups import WakeGate
from gateway.publish.wakeups import install as gate_wakeups

log = logging.getLogger("gateway.kafka")

PRODUCER_OPTIONS = frozenset(KafkaProducer.DEFAULT_CONFIG)
WARM_SECS = 5.0
DELIVERY_TIMEOUT_MS = 30_000  # longer than a leader change; see the module docstring
# How often a connected publisher checks that a bootstrap server still accepts connections: a
# broker that died is known (and reported by /readyz) within about this, not at the next timeout.
WATCH_SECS = 1.0


def _closing_on_failure(connect: Any) -> Any:
    """kafka-python 3.0.12 raises out of a refused or timed-out connect without closing the socket
    it opened: every reconnect attempt to a down broker leaves one to the garbage collector (a
    ResourceWarning each, and descriptors held as long as the error is). Close it there."""
    async def sock_connect(self: Any, net: Any, sock: Any, sockaddr: Any, **kwargs: Any) -> Any:
        try:
            return await connect(self, net, sock, sockaddr, **kwargs)
        except BaseException:
            sock.close()
            raise

    sock_connect.__wrapped__ = connect  # type: ignore[attr-defined]
    return sock_connect


if not hasattr(KafkaNetSocket.sock_connect, "__wrapped__"):
    KafkaNetSocket.sock_connect = _closing_on_failure(KafkaNetSocket.sock_connect)

MURMUR2_SEED = 0x9747B28C  # the Java client's, so a key lands where every Kafka client puts it


class KeyPartitioner(Partitioner):
    """kafka-python's DefaultPartitioner for keyed records (murmur2 of the key, as the Java client
    and librdkafka's murmur2_random), with a native murmur2 instead of its pure-Python one, and
    without the list of available partitions it builds for every record but uses only for
    records without a key (those still go to it)."""

    _unkeyed = DefaultPartitioner()

    def partition(self, topic: str, key: Any, serialized_key: bytes | None, value: Any,
                  serialized_value: bytes | None, cluster: Any) -> int:
        if serialized_key is None:
            return self._unkeyed.partition(topic, key, serialized_key, value, serialized_value, cluster)
        partitions = cluster.partitions_for_topic(topic)
        if partitions is None:
            raise ValueError(f"Topic {topic} not found in ClusterMetadata")
        index = (murmurhash2(bytes(serialized_key), MURMUR2_SEED) & 0x7FFFFFFF) % len(partitions)
        return sorted(partitions)[index]


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
        self.wake_gate: WakeGate | None = None  # the current producer's (gateway.publish.wakeups)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, topics: Collection[str] = ()) -> None:
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
        if not self._first.done and not self._closed.is_set():
            return CONNECTING
        return REACHABLE if self.connected else UNREACHABLE

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
            await asyncio.to_thread(_close, producer, timeout)
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
            _close(broken, 1.0)
        delay = 0.2
        while not self._closed.is_set():
            try:
                # A failed KafkaProducer() leaves its half-open sockets to the garbage collector:
                # while no bootstrap server even accepts a TCP connection, do not build one.
                if not _any_reachable(self._config["bootstrap_servers"]):
                    raise ConnectionRefusedError("no bootstrap server accepts connections")
                producer = KafkaProducer(**self._config)
                self.wake_gate = gate_wakeups(producer, self._config["linger_ms"])
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
                _close(producer, 0.0)
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
        if self._queued == self._handed and _has_metadata(producer, record.topic):
            # send() blocks only to fetch missing metadata (kafka-python 3.x has no buffer pool
            # to wait on): with the topic's metadata cached it returns at once, so it runs right
            # here. Skipping the sender thread's hop halves the CPU kafka-python costs per
            # record (docs/benchmarks.md). Only while that thread has nothing queued: per-key
            # order must not let a record overtake one still waiting there.
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
        if isinstance(exc, _FATAL) or _has_fatal_state(producer):
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


def _has_metadata(producer: KafkaProducer, topic: str) -> bool:
    metadata = getattr(producer, "_metadata", None)  # kafka-python's ClusterMetadata
    return metadata is not None and metadata.partitions_for_topic(topic) is not None


def _has_fatal_state(producer: KafkaProducer) -> bool:
    manager = getattr(producer, "_transaction_manager", None)
    return bool(manager is not None and manager.has_fatal_error())


def _close(producer: KafkaProducer, timeout: float) -> None:
    """Flush for at most `timeout`, then close for good. kafka-python's own close(timeout) raises
    when records are still pending and leaves the producer running, delivering them later behind
    the back of callers that were told they failed: force its sender closed first, which fails
    every pending record (each caller hears Unavailable)."""
    try:
        producer.flush(timeout=timeout)
    except Exception:  # noqa: BLE001 - what is not flushed stays unacknowledged: never a lie
        sender = getattr(producer, "_sender", None)
        if sender is not None:
            sender.force_close()
            sender.join(max(timeout, 1.0))
    try:
        producer.close(timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        log.warning("closing the kafka producer: %s", type(exc).__name__)


# -- reading (the `tail` command, tests) -------------------------------------------------------

CONSUMER_OPTIONS = frozenset(KafkaConsumer.DEFAULT_CONFIG)


@dataclass(frozen=True, slots=True)
class Consumed:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def follow(bootstrap_servers: list[str], topics: list[str], from_beginning: bool = False,
           options: dict[str, Any] | None = None, idle_secs: float | None = None) -> Iterator[Consumed]:
    """Yield records of `topics` as they arrive (assign + seek: no consumer group to join).

    Topics that do not exist yet are picked up when they appear. With `idle_secs`, stop once no
    record has arrived for that long (how tests count records: Tansu's end offsets can lag).
    """
    extra = {k: v for k, v in (options or {}).items() if k in CONSUMER_OPTIONS}
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                             group_id=None, **extra)
    assigned: set[TopicPartition] = set()
    try:
        quiet_since = time.monotonic()
        while True:
            fresh = _new_partitions(consumer, topics, assigned)
            if fresh:
                assigned |= fresh
                consumer.assign(sorted(assigned))
                (consumer.seek_to_beginning if from_beginning else consumer.seek_to_end)(*fresh)
            from_beginning = True  # partitions that appear later are read from their start
            batch = consumer.poll(timeout_ms=200)
            for partition_records in batch.values():
                for r in partition_records:
                    yield Consumed(r.topic, r.partition, r.offset, r.key, r.value, list(r.headers))
            if batch:
                quiet_since = time.monotonic()
            elif idle_secs is not None and time.monotonic() - quiet_since > idle_secs:
                return
    finally:
        consumer.close()


def _new_partitions(consumer: KafkaConsumer, topics: list[str], known: set[TopicPartition]
                    ) -> set[TopicPartition]:
    found = set()
    for topic in topics:
        for partition in consumer.partitions_for_topic(topic) or ():
            found.add(TopicPartition(topic, partition))
    return found - known


# -- topic administration (the `topics` command) -----------------------------------------------

ADMIN_OPTIONS = frozenset(KafkaAdminClient.DEFAULT_CONFIG)
_TOPIC_EXISTS = kafka_errors.TopicAlreadyExistsError.errno


class TopicAdmin:
    """Create and list topics. Security options (security_protocol, sasl_*, ssl_*) come from the
    config's producer options, so `topics create` reaches the cluster the gateway publishes to.
    Every kafka-python error surfaces as Unavailable naming the operation."""

    def __init__(self, bootstrap_servers: list[str], options: dict[str, Any] | None = None) -> None:
        extra = {"bootstrap_timeout_ms": 10_000, "request_timeout_ms": 30_000}
        extra.update({k: v for k, v in (options or {}).items() if k in ADMIN_OPTIONS})
        try:
            self._admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, **extra)
        except kafka_errors.KafkaError as exc:
            raise Unavailable(f"connecting to kafka {','.join(bootstrap_servers)}: "
                              f"{type(exc).__name__}") from None

    def __enter__(self) -> TopicAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self._admin.close()

    def broker_count(self) -> int:
        try:
            return len(self._admin.describe_cluster()["brokers"])
        except kafka_errors.KafkaError as exc:
            raise Unavailable(f"describing the kafka cluster: {type(exc).__name__}") from None

    def partitions(self) -> dict[str, int]:
        """Existing topic -> its partition count (internal topics left out)."""
        try:
            names = [t for t in self._admin.list_topics() if not t.startswith("__")]
            described = self._admin.describe_topics(names) if names else []
        except kafka_errors.KafkaError as exc:
            raise Unavailable(f"listing topics: {type(exc).__name__}") from None
        return {t["name"]: len(t["partitions"]) for t in described if t["error_code"] == 0}

    def create(self, name: str, partitions: int, replication_factor: int,
               configs: dict[str, str]) -> bool:
        """Create one topic; False when it exists already (created meanwhile by someone else)."""
        topic = NewTopic(name, partitions, replication_factor, topic_configs=configs)
        try:
            answer = self._admin.create_topics([topic], raise_errors=False)
        except kafka_errors.TopicAlreadyExistsError:  # some brokers (Tansu) raise regardless
            return False
        except kafka_errors.KafkaError as exc:
            raise Unavailable(f"creating topic {name}: {type(exc).__name__}") from None
        for result in answer["topics"]:
            if result["error_code"] == _TOPIC_EXISTS:
                return False
            if result["error_code"] != 0:
                error = kafka_errors.for_code(result["error_code"]).__name__
                detail = f": {result['error_message']}" if result.get("error_message") else ""
                raise Unavailable(f"creating topic {name}: {error}{detail}")
        return True
