"""What reaches Kafka, checked by consuming the topics of the real (Tansu) broker over TCP."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from pathlib import Path

import pytest

from gateway.commands.topics import plan
from gateway.dev.broker import Broker
from gateway.publish import Record, kafka_compat
from gateway.publish.kafka import KafkaPublisher
from gateway.publish.kafka_admin import TopicAdmin
from tests.helpers import SECRETS, read_topic, source_configs
from tests.integration.running import config, envelope, prefix, running, sample, signed

pytestmark = pytest.mark.kafka

SOURCES = sorted(source_configs())  # iof, compliancely, tlas and azakaw's two tenants


@pytest.mark.parametrize("source", SOURCES)
def test_an_accepted_webhook_is_in_kafka_once_with_key_headers_and_envelope(
        source: str, broker: Broker, tmp_path: Path) -> None:
    cfg = config(tmp_path, broker.bootstrap, prefix())
    provider = cfg.sources[source].provider
    body = sample(cfg, source)
    with running(cfg) as client:
        answer = client.post(f"/webhooks/{source}", content=body, headers=signed(cfg, source, body))
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "published"

    records = read_topic(broker.bootstrap, f"{cfg.kafka.topic_prefix}.{provider}")
    assert len(records) == 1
    record = records[0]
    event = envelope(record.value)
    assert bytes(event.data) == body  # byte for byte, as signed
    assert event.id == answer.json()["id"]
    assert event.source == f"/webhooks/{source}"
    assert event.type.startswith(f"{provider}.") and event.provider == provider
    assert event.specversion == "1.0" and event.datacontenttype == "application/json"
    assert event.subject is not None  # every seed sample names its entity
    assert record.key == event.subject.encode()
    assert dict(record.headers) == {
        "ce_specversion": b"1.0",
        "ce_id": event.id.encode(),
        "ce_source": event.source.encode(),
        "ce_type": event.type.encode(),
        "ce_time": event.time.encode(),
        "ce_subject": event.subject.encode(),
        "content-type": b"application/cloudevents+json",
    }
    assert len(record.headers) == 7  # no header twice
    if provider == "azakaw":
        assert event.tenantid == cfg.sources[source].tenant


def test_without_a_subject_the_key_is_the_id_and_there_is_no_ce_subject(
        broker: Broker, tmp_path: Path) -> None:
    cfg = config(tmp_path, broker.bootstrap, prefix())
    body = json.dumps({"event": "application.submitted", "timestamp": "2026-01-02T03:04:05Z",
                       "data": {"licenseType": "TRADE_LICENSE"}}).encode()
    with running(cfg) as client:
        answer = client.post("/webhooks/tlas", content=body, headers=signed(cfg, "tlas", body))
    assert answer.status_code == 200, answer.text

    [record] = read_topic(broker.bootstrap, f"{cfg.kafka.topic_prefix}.tlas")
    event = envelope(record.value)
    assert event.subject is None
    assert event.id == hashlib.sha256(body).hexdigest()  # TLAS events carry no id of their own
    assert record.key == event.id.encode()
    assert "ce_subject" not in dict(record.headers)
    assert b'"subject"' not in record.value


def test_a_source_topic_override_is_where_its_events_go(broker: Broker, tmp_path: Path) -> None:
    topic_prefix = prefix()
    own = f"{topic_prefix}-own.iof-events"
    cfg = config(tmp_path, broker.bootstrap, topic_prefix, sources={"iof": {"topic": own}})
    body = sample(cfg, "iof")
    with running(cfg) as client:
        answer = client.post("/webhooks/iof", content=body, headers=signed(cfg, "iof", body))
    assert answer.status_code == 200, answer.text

    records = read_topic(broker.bootstrap, [own, f"{topic_prefix}.iof"])
    assert [(r.topic, bytes(envelope(r.value).data)) for r in records] == [(own, body)]


def test_a_retried_delivery_is_published_once(broker: Broker, tmp_path: Path) -> None:
    cfg = config(tmp_path, broker.bootstrap, prefix())
    body = sample(cfg, "iof")
    with running(cfg) as client:
        first = client.post("/webhooks/iof", content=body, headers=signed(cfg, "iof", body))
        retry = client.post("/webhooks/iof", content=body, headers=signed(cfg, "iof", body))
    assert first.json()["status"] == "published"
    assert (retry.status_code, retry.json()) == (200, {"id": first.json()["id"], "status": "duplicate"})

    records = read_topic(broker.bootstrap, f"{cfg.kafka.topic_prefix}.iof")
    assert [envelope(r.value).id for r in records] == [first.json()["id"]]


def test_two_tenants_posting_identical_bodies_are_two_events(broker: Broker, tmp_path: Path) -> None:
    cfg = config(tmp_path, broker.bootstrap, prefix())
    body = sample(cfg, "azakaw-acme")  # azakaw events carry no id: the id is the body's SHA-256
    with running(cfg) as client:
        acme = client.post("/webhooks/azakaw-acme", content=body, headers=signed(cfg, "azakaw-acme", body))
        globex = client.post("/webhooks/azakaw-globex", content=body,
                             headers=signed(cfg, "azakaw-globex", body))
    assert acme.json()["status"] == globex.json()["status"] == "published"
    assert acme.json()["id"] == globex.json()["id"] == hashlib.sha256(body).hexdigest()

    records = read_topic(broker.bootstrap, f"{cfg.kafka.topic_prefix}.azakaw")
    events = sorted((envelope(r.value) for r in records), key=lambda e: e.source)
    assert [(e.source, e.tenantid) for e in events] == [
        ("/webhooks/azakaw-acme", "acme"), ("/webhooks/azakaw-globex", "globex")]
    assert all(bytes(e.data) == body for e in events)


def dead_letters(bootstrap: str, topic_prefix: str) -> list[tuple[bytes | None, dict]]:
    return [(r.key, json.loads(r.value)) for r in read_topic(bootstrap, f"{topic_prefix}.deadletter")]


def test_an_authenticated_unmappable_body_is_dead_lettered(broker: Broker, tmp_path: Path) -> None:
    cfg = config(tmp_path, broker.bootstrap, prefix())
    body = b"<xml>not json</xml>"
    with running(cfg) as client:
        answer = client.post("/webhooks/tlas", content=body, headers=signed(cfg, "tlas", body))
    digest = hashlib.sha256(body).hexdigest()
    assert (answer.status_code, answer.json()) == (202, {"id": digest, "status": "deadlettered"})

    [(key, letter)] = dead_letters(broker.bootstrap, cfg.kafka.topic_prefix)
    assert key == digest.encode()
    assert set(letter) == {"id", "at", "source", "provider", "reason", "body_base64"}
    assert (letter["id"], letter["source"], letter["provider"], letter["reason"]) == (
        digest, "tlas", "tlas", "not_json")
    assert base64.b64decode(letter["body_base64"]) == body
    assert read_topic(broker.bootstrap, f"{cfg.kafka.topic_prefix}.tlas", idle_secs=0.5) == []


def test_a_dead_letter_of_the_largest_allowed_body_reaches_kafka(broker: Broker, tmp_path: Path) -> None:
    """1 MiB is the default body limit; base64 makes its record ~1.33 MiB, over kafka-python's
    default 1 MiB max_request_size: the publisher must raise it, and the broker must take it into
    a topic made as `topics create` makes it (Kafka's own default refuses records over 1 MiB)."""
    cfg = config(tmp_path, broker.bootstrap, prefix())
    with TopicAdmin([broker.bootstrap]) as admin:
        for topic in plan(cfg, 1, 1):
            admin.create(topic.name, topic.partitions, topic.replication_factor, topic.configs)
    limit = cfg.sources["iof"].max_body_bytes
    body = (b"\xff\xfe not utf-8 " * (limit // 12 + 1))[:limit]
    with running(cfg) as client:
        answer = client.post("/webhooks/iof", content=body, headers=signed(cfg, "iof", body))
    assert (answer.status_code, answer.json()["status"]) == (202, "deadlettered"), answer.text

    [(key, letter)] = dead_letters(broker.bootstrap, cfg.kafka.topic_prefix)
    assert key == hashlib.sha256(body).hexdigest().encode()
    assert letter["reason"] == "not_utf8"
    assert base64.b64decode(letter["body_base64"]) == body


REJECTED = {
    # source: (credential header, a wrong value that carries a real secret, expected reason)
    "iof": ("X-IOF-Signature", f"sha256={SECRETS['iof']}", "invalid_signature"),
    "azakaw-acme": ("Authorization",
                    "Basic " + base64.b64encode(f"intruder:{SECRETS['acme_password']}".encode()).decode(),
                    "invalid_credentials"),
    "azakaw-globex": ("X-Globex-Key", SECRETS["acme_password"], "invalid_credentials"),
}


def test_a_rejected_request_is_audited_not_published(broker: Broker, tmp_path: Path) -> None:
    cfg = config(tmp_path, broker.bootstrap, prefix())
    sent = {}
    with running(cfg) as client:
        for source, (header, value, _) in REJECTED.items():
            body = sample(cfg, source)
            sent[source] = body
            # every request also carries the real key of another source, in that source's header
            headers = {"Content-Type": "application/json", "X-Globex-Key": SECRETS["globex_key"],
                       header: value}
            answer = client.post(f"/webhooks/{source}", content=body, headers=headers)
            assert answer.status_code == 401, (source, answer.text)
    # The app stops right away, likely while its audit records are being shipped: they must still
    # be there once each (a shipment cut short by the shutdown used to be shipped again).

    topic_prefix = cfg.kafka.topic_prefix
    assert read_topic(broker.bootstrap, [f"{topic_prefix}.iof", f"{topic_prefix}.azakaw"], idle_secs=0.5) == []
    records = read_topic(broker.bootstrap, f"{topic_prefix}.rejected")
    audits = {json.loads(r.value)["source"]: (r, json.loads(r.value)) for r in records}
    assert sorted(audits) == sorted(REJECTED) and len(records) == len(REJECTED)
    secrets = [s.encode() for s in SECRETS.values()] + [v.encode() for _, v, _ in REJECTED.values()]
    for source, (header, _value, reason) in REJECTED.items():
        record, audit = audits[source]
        assert audit["reason"] == reason
        assert audit["path"] == f"/webhooks/{source}"
        assert audit["body_sha256"] == hashlib.sha256(sent[source]).hexdigest()
        assert audit["body_size"] == len(sent[source])
        assert audit["headers"][header.lower()].startswith("fp:")
        assert audit["headers"]["x-globex-key"].startswith("fp:")  # a key header of another source
        leaked = [s for s in secrets if s in record.value or base64.b64encode(s) in record.value]
        assert leaked == [], source


def test_an_event_outside_the_allowlist_is_ignored_not_published(broker: Broker, tmp_path: Path) -> None:
    cfg = config(tmp_path, broker.bootstrap, prefix(), sources={"iof": {"events": ["contract.*"]}})
    wanted, unwanted = sample(cfg, "iof", "contract.created"), sample(cfg, "iof", "kyc.verified")
    with running(cfg) as client:
        ignored = client.post("/webhooks/iof", content=unwanted, headers=signed(cfg, "iof", unwanted))
        published = client.post("/webhooks/iof", content=wanted, headers=signed(cfg, "iof", wanted))
    assert (ignored.status_code, ignored.json()) == (200, {"status": "ignored"})
    assert published.json()["status"] == "published"

    records = read_topic(broker.bootstrap, [f"{cfg.kafka.topic_prefix}.iof",
                                            f"{cfg.kafka.topic_prefix}.deadletter"])
    assert [bytes(envelope(r.value).data) for r in records] == [wanted]


def test_a_connected_publisher_already_knows_every_configured_topic(broker: Broker) -> None:
    """The first webhook to each topic does not wait for a metadata round trip (which, past the
    ack timeout, would spool it): the publisher looks its topics up before it says connected."""
    topics = [f"{prefix()}.{name}" for name in ("iof", "deadletter", "rejected")]

    async def connect() -> list[bool]:
        publisher = KafkaPublisher([broker.bootstrap])
        await publisher.start(topics)
        try:
            while not publisher.connected:
                await asyncio.sleep(0.02)
            return [kafka_compat.has_metadata(publisher._producer, topic) for topic in topics]
        finally:
            await publisher.close(1.0)

    assert asyncio.run(asyncio.wait_for(connect(), 30)) == [True, True, True]


def test_bursts_over_many_partitions_lose_no_record_and_reorder_no_key(broker: Broker) -> None:
    """Bursts over 16 partitions are all acknowledged, each key's records in the order sent, while
    records take both of the producer's paths (send() on the event loop once a topic's partitions
    are cached, the sender thread while it has records queued); and a record sent once the bursts
    are over still leaves within its ack timeout."""
    topics = [f"{prefix()}.t{n}" for n in range(4)]
    with TopicAdmin([broker.bootstrap]) as admin:
        for topic in topics:
            admin.create(topic, 4, 1, {})
    keys = [f"entity-{n}".encode() for n in range(24)]

    async def publish() -> None:
        publisher = KafkaPublisher([broker.bootstrap], {"linger_ms": 2})
        await publisher.start(topics)
        try:
            while not publisher.connected:
                await asyncio.sleep(0.02)
            for burst in range(25):
                await asyncio.gather(*(
                    publisher.publish(Record(topics[n % 4], keys[n % 24], b"%d:%d" % (burst, n)), 5.0)
                    for n in range(48)))
            await publisher.publish(Record(topics[0], keys[0], b"after the bursts"), 2.0)
        finally:
            await publisher.close(2.0)

    asyncio.run(asyncio.wait_for(publish(), 60))
    records = read_topic(broker.bootstrap, topics)
    assert len(records) == 25 * 48 + 1
    by_key: dict[bytes, list[bytes]] = {}
    for record in records:
        by_key.setdefault(record.key, []).append(record.value)
    for n, key in enumerate(keys):
        sent = [b"%d:%d" % (burst, i) for burst in range(25) for i in range(48) if i % 24 == n]
        assert by_key[key] == sent + ([b"after the bursts"] if n == 0 else [])
