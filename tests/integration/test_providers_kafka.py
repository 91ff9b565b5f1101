"""Standard Webhooks, GitHub, Stripe and a configured `generic` provider, end to end into the real
(Tansu) broker: each signed delivery is one envelope on its provider's topic, GitHub's ping none."""

from __future__ import annotations

import json
import time
from pathlib import Path
from uuid import uuid4

import jsonschema
import msgspec
import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config import parse_config
from gateway.dev.broker import Broker
from gateway.envelope import Envelope
from gateway.providers import REGISTRY
from tests.helpers import read_topic

pytestmark = pytest.mark.kafka
SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "providers"

SOURCES = {
    "contacts": {"provider": "standard-webhooks", "header_prefix": "svix-",
                 "secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]},
    "github": {"provider": "github", "secrets": ["gh-test-webhook-secret"]},
    "stripe": {"provider": "stripe", "secrets": ["whsec_test_stripe_secret"]},
    "acme": {"provider": "generic", "secrets": ["acme-test-signing-key"],
             "hmac": {"header": "X-Acme-Signature", "algorithm": "sha512", "encoding": "base64",
                      "prefix": "sha512=", "template": "{timestamp}.{body}",
                      "headers": {"timestamp": "X-Acme-Timestamp"}},
             "mapping": {"type": "/event/type", "type_prefix": "acme.", "id": "/event/id",
                         "subject": "/data/object/id"}},
}
ACME_BODY = b'{"event":{"id":"evt_a1","type":"payment.succeeded"},"data":{"object":{"id":"pay_9"}}}'


def connected(client: TestClient, timeout: float = 20.0) -> None:
    """Wait (polling /readyz) until the publisher reaches the broker, so nothing is spooled."""
    deadline = time.monotonic() + timeout
    while client.get("/readyz").json().get("kafka") != "reachable":
        assert time.monotonic() < deadline, "the publisher did not connect to the broker"
        time.sleep(0.05)


def test_each_new_provider_publishes_one_envelope_and_github_ping_none(
        broker: Broker, tmp_path: Path) -> None:
    prefix = f"t{uuid4().hex[:8]}"
    cfg = parse_config({"kafka": {"bootstrap_servers": [broker.bootstrap], "topic_prefix": prefix},
                        "storage": {"path": str(tmp_path)}, "sources": SOURCES})
    deliveries = {  # source -> (body, expected type)
        "contacts": (REGISTRY["standard-webhooks"].samples["contact.created"],
                     "standard-webhooks.contact.created"),
        "github": (REGISTRY["github"].samples["issues.opened"], "github.issues.opened"),
        "stripe": (REGISTRY["stripe"].samples["payment_intent.succeeded"],
                   "stripe.payment_intent.succeeded"),
        "acme": (lambda now: ACME_BODY, "generic.acme.payment.succeeded"),
    }
    answers = {}
    with TestClient(create_app(cfg)) as client:
        connected(client)
        for name, (sample, _) in deliveries.items():
            now = time.time()
            body = sample(now)
            headers = REGISTRY[cfg.sources[name].provider].sign(cfg.sources[name], body, now)
            answer = client.post(f"/webhooks/{name}", content=body, headers=headers)
            assert answer.status_code == 200, (name, answer.text)
            answers[name] = (answer.json()["id"], body)
        ping = REGISTRY["github"].samples["ping"](time.time())
        ping_headers = REGISTRY["github"].sign(cfg.sources["github"], ping, time.time())
        pinged = client.post("/webhooks/github", content=ping, headers=ping_headers)
        assert pinged.json() == {"status": "ignored"}

    topics = {name: f"{prefix}.{cfg.sources[name].provider}" for name in deliveries}
    records = read_topic(broker.bootstrap, sorted(topics.values()))
    by_topic = {topic: [r for r in records if r.topic == topic] for topic in topics.values()}
    for name, (expected_id, body) in answers.items():
        [record] = by_topic[topics[name]]  # exactly one: the ping never reached Kafka
        event = msgspec.json.decode(record.value, type=Envelope)
        expected = (expected_id, deliveries[name][1], f"/webhooks/{name}")
        assert (event.id, event.type, event.source) == expected
        assert bytes(event.data) == body
        assert record.key == (event.subject or event.id).encode()
    contact = json.loads(answers["contacts"][1])
    assert json.loads(by_topic[topics["contacts"]][0].value)["subject"] == contact["data"]["id"]


def test_every_preset_sample_reaches_its_topic_as_the_published_schema_says(
        broker: Broker, tmp_path: Path) -> None:
    """The catalogue end to end: each preset's samples, signed as `webhook-gateway send` signs
    them, posted over HTTP and read back from the broker: one envelope each, of the sample's type,
    whose data validates against schemas/providers/<preset>.schema.json."""
    from gateway.commands import send
    from gateway.providers.catalogue import PRESETS
    from tests.unit.test_providers_preset import source_config

    prefix = f"t{uuid4().hex[:8]}"
    cfg = parse_config({"kafka": {"bootstrap_servers": [broker.bootstrap], "topic_prefix": prefix},
                        "storage": {"path": str(tmp_path)},
                        "sources": {p.name: source_config(p.name) for p in PRESETS}})
    sent: dict[tuple[str, str], str] = {}  # (source, envelope id) -> expected type
    with TestClient(create_app(cfg)) as client:
        connected(client)
        for preset in PRESETS:
            for event in preset.samples:
                now = time.time()
                body, headers = send.build(cfg, preset.name, event, now)
                answer = client.post(f"/webhooks/{preset.name}", content=body, headers=headers,
                                     params=headers.pop(":query", None))
                assert answer.status_code == 200, (preset.name, event, answer.text)
                sent[(f"/webhooks/{preset.name}", answer.json()["id"])] = f"{preset.name}.{event}"
    records = read_topic(broker.bootstrap, sorted({f"{prefix}.{p.name}" for p in PRESETS}))
    got = {}
    for record in records:
        envelope = msgspec.json.decode(record.value, type=Envelope)
        got[(envelope.source, envelope.id)] = envelope.type
        schema = json.loads((SCHEMAS / f"{envelope.provider}.schema.json").read_text())
        jsonschema.validate(json.loads(bytes(envelope.data)), schema)
        assert record.topic == f"{prefix}.{envelope.provider}"
    assert got == sent, "each sample exactly once, as its own type"
