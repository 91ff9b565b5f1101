"""The optional confluent-kafka (librdkafka) producer backend, `kafka: {client: confluent-kafka}`,
held to the same promises as the default one, against the real (Tansu) broker over TCP."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from threading import Thread

import httpx
import pytest
from kafka.partitioner import murmur2

from gateway.commands.send import build
from gateway.config import parse_config
from gateway.dev.broker import Broker, free_port
from gateway.dev.proxy import Proxy
from gateway.errors import ConfigError
from gateway.publish import Record, Unavailable
from gateway.publish.kafka import KafkaPublisher
from gateway.publish.kafka_admin import TopicAdmin
from tests.helpers import GatewayProcess, config_dict, read_topic, source_configs, write_config
from tests.integration.running import (
    config,
    envelope,
    post,
    prefix,
    readyz,
    running,
    sample,
    signed,
    wait_for,
)
from tests.kafka import brokers

pytest.importorskip("confluent_kafka")
from confluent_kafka import KafkaError

from gateway.publish.confluent import ConfluentPublisher  # noqa: E402

pytestmark = pytest.mark.kafka

CLIENT = {"client": "confluent-kafka"}


def test_every_seed_source_is_published_once_with_key_and_headers(broker: Broker, tmp_path: Path) -> None:
    cfg = config(tmp_path, broker.bootstrap, prefix(), **CLIENT)
    posted: dict[str, tuple[bytes, str]] = {}
    with running(cfg) as client:
        for source in sorted(source_configs()):
            body = sample(cfg, source)
            answer = client.post(f"/webhooks/{source}", content=body, headers=signed(cfg, source, body))
            assert answer.status_code == 200, answer.text
            assert answer.json()["status"] == "published"
            retry = client.post(f"/webhooks/{source}", content=body, headers=signed(cfg, source, body))
            assert retry.json()["status"] == "duplicate"
            posted[answer.json()["id"]] = (body, source)

    topics = [f"{cfg.kafka.topic_prefix}.{p}" for p in ("iof", "compliancely", "tlas", "azakaw")]
    records = read_topic(broker.bootstrap, topics)
    assert sorted(envelope(r.value).id for r in records) == sorted(posted)  # each once
    for record in records:
        event = envelope(record.value)
        body, source = posted[event.id]
        assert bytes(event.data) == body and event.source == f"/webhooks/{source}"
        assert record.key == event.subject.encode()  # type: ignore[union-attr]
        assert dict(record.headers)["ce_id"] == event.id.encode()
        assert dict(record.headers)["content-type"] == b"application/cloudevents+json"


def test_broker_down_then_up_spools_and_drains_each_event_once(tmp_path: Path) -> None:
    """Events taken while the broker is unreachable are spooled (202) and reach Kafka once it is
    back, each once, through the confluent producer."""
    proxy_port = free_port()
    broker = brokers.make(tmp_path, advertised_port=proxy_port).start()
    proxy = Proxy(broker.port, port=proxy_port)
    topic_prefix = f"t{uuid.uuid4().hex[:8]}"
    data = config_dict(tmp_path / "state", broker.bootstrap, topic_prefix=topic_prefix,
                       ack_timeout_ms=1000, **CLIENT)
    cfg = parse_config(data)
    gateway = GatewayProcess(write_config(tmp_path / "gateway.yaml", data))
    try:
        gateway.start()
        wait_for(lambda: readyz(gateway)["kafka"] == "reachable", 30, "kafka")
        before = [post(gateway.url, build(cfg, "iof", "contract.created", time.time())) for _ in range(5)]
        proxy.down()
        during: list[httpx.Response] = []
        poster = Thread(target=lambda: during.extend(
            post(gateway.url, build(cfg, "iof", "kyc.verified", time.time())) for _ in range(20)))
        poster.start()
        poster.join(60)
        assert {r.json()["status"] for r in before} == {"published"}
        assert {r.status_code for r in during} <= {200, 202}
        assert any(r.json()["status"] == "spooled" for r in during), "the outage was not noticed"
        proxy.up()
        wait_for(lambda: readyz(gateway)["spool"]["depth"] == 0, 90, "the spool to drain")
        ids = [envelope(r.value).id for r in read_topic(broker.bootstrap, f"{topic_prefix}.iof")]
        assert sorted(ids) == sorted(r.json()["id"] for r in before + during)
    finally:
        gateway.stop()
        proxy.close()
        broker.stop()


def test_an_option_librdkafka_cannot_take_is_a_clear_config_error(tmp_path: Path) -> None:
    data = config_dict(tmp_path, "127.0.0.1:9", **CLIENT, buffer_memory=1 << 20)
    with pytest.raises(ConfigError, match="kafka.buffer_memory: not supported with client confluent-kafka"):
        parse_config(data)


def test_a_key_lands_on_the_same_partition_whichever_client_publishes_it(broker: Broker) -> None:
    """The partition of a key is the Java client's (murmur2), with kafka-python and with
    confluent-kafka alike: switching `kafka.client` keeps each entity's events on one partition,
    in order. librdkafka's own default (CRC32) would move most keys."""
    topic = f"{prefix()}.keys"
    with TopicAdmin([broker.bootstrap]) as admin:
        admin.create(topic, 8, 1, {})
    keys = [str(uuid.uuid4()).encode() for _ in range(40)] + [b"", b"a", b"abc", b"abcd", b"abcde"]

    async def partitions(publisher: KafkaPublisher | ConfluentPublisher) -> list[int]:
        await publisher.start([topic])
        try:
            while not publisher.connected:
                await asyncio.sleep(0.02)
            acks = [await publisher.publish(Record(topic, key, b"v"), 10) for key in keys]
            return [ack.partition for ack in acks]
        finally:
            await publisher.close(5)

    java = [(murmur2(key) & 0x7FFFFFFF) % 8 for key in keys]  # kafka-python's reference murmur2
    by_kafka_python = asyncio.run(partitions(KafkaPublisher([broker.bootstrap])))
    by_confluent = asyncio.run(partitions(ConfluentPublisher([broker.bootstrap])))
    assert by_kafka_python == java
    assert by_confluent == java
    assert len(set(java)) > 4  # the keys do spread: the comparison means something
    stored = {(r.key, r.partition) for r in read_topic(broker.bootstrap, topic)}
    assert stored == {(key, p) for key, p in zip(keys, java, strict=True)}


def test_a_fatal_producer_error_fails_what_it_held_and_a_new_producer_takes_over(broker: Broker) -> None:
    """librdkafka reports a fatal error (an idempotent producer that lost its sequence state) to
    `error_cb`. No broker can be made to cause one on demand, so the test makes the call librdkafka
    would. A record the broken producer still held is answered as failed, never acked (the
    pipeline then spools it), it does not reach Kafka, and the next record goes out through a new
    producer."""
    topic = f"{prefix()}.fatal"
    with TopicAdmin([broker.bootstrap]) as admin:
        admin.create(topic, 1, 1, {})

    async def scenario() -> None:
        publisher = ConfluentPublisher([broker.bootstrap], {"linger_ms": 1000})  # records wait 1 s
        await publisher.start([topic])
        try:
            while not publisher.connected:
                await asyncio.sleep(0.02)
            held = publisher.send(Record(topic, b"k", b"held"))
            publisher._on_error(KafkaError(KafkaError._FATAL, "fatal (test)", fatal=True))
            assert not publisher.connected  # from here the pipeline spools
            with pytest.raises(Unavailable):
                await asyncio.wait_for(held.result, 10)
            while not publisher.connected:
                await asyncio.sleep(0.02)
            await publisher.publish(Record(topic, b"k", b"after"), 10)
        finally:
            await publisher.close(5)

    asyncio.run(scenario())
    assert [r.value for r in read_topic(broker.bootstrap, topic)] == [b"after"]
