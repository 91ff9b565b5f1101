"""Reading topics back with kafka-python: the `tail` and `audit` commands, the tests and the
benchmarks count what reached Kafka through `follow`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from gateway.publish import kafka_compat

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
    kafka_compat.install()
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
