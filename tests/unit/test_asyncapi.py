"""schemas/ is what the code generates (drift test); schemas/asyncapi.json is a valid AsyncAPI 3.0
document that describes every topic the gateway writes, with the envelopes it really produces."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gateway import schemas
from gateway.envelope import Envelope, encode_envelope, record_headers, record_key
from gateway.headers import Headers
from gateway.map import map_delivery
from gateway.providers import REGISTRY
from gateway.sources import topics
from tests.fixtures import Fixture, load
from tests.helpers import make_config

ROOT = Path(__file__).resolve().parents[2]
META = ROOT / "tests" / "vendor" / "asyncapi" / "3.0.0-without-id.json"
ACCEPTED = [f for f in load() if "envelope" in f.expect and f.provider in REGISTRY]


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return json.loads((ROOT / "schemas" / "asyncapi.json").read_text())


def test_committed_schemas_are_what_the_code_generates() -> None:
    stale = []
    for name, generated in schemas.generate().items():
        path = ROOT / "schemas" / name
        if not path.exists() or path.read_text() != schemas.render(generated):
            stale.append(name)
    assert not stale, f"schemas/ drifted from the code: {stale}; run `make schemas` and commit"


def test_the_document_is_valid_asyncapi_3(doc: dict[str, Any]) -> None:
    meta = json.loads(META.read_text())
    errors = [
        f"{list(e.absolute_path)}: {e.message[:200]}"
        for e in jsonschema.Draft7Validator(meta).iter_errors(doc)
    ]
    assert not errors
    assert doc["asyncapi"] == "3.0.0"


def test_every_topic_of_a_config_has_a_channel(doc: dict[str, Any], tmp_path: Path) -> None:
    config = make_config(tmp_path, topic_prefix="acme")
    addresses = {c["address"].replace("{prefix}", "acme") for c in doc["channels"].values()}
    assert set(topics(config)) <= addresses
    assert {f"acme.{name}" for name in REGISTRY} | {"acme.deadletter", "acme.rejected"} == addresses


def _validator(doc: dict[str, Any], schema: dict[str, Any]) -> jsonschema.Draft7Validator:
    """A validator for a schema inside the document (its $refs point at #/components/schemas)."""
    return jsonschema.Draft7Validator({**schema, "components": doc["components"]})


def _message(doc: dict[str, Any], channel: str) -> dict[str, Any]:
    ref = next(iter(doc["channels"][channel]["messages"].values()))["$ref"]
    return doc["components"]["messages"][ref.rsplit("/", 1)[1]]


def _produced(fixture: Fixture) -> Envelope:
    mapped = map_delivery(
        fixture.source(),
        Headers(fixture.headers),
        fixture.body,
        "hmac-sha256",
        datetime.fromtimestamp(fixture.now, UTC),
    )
    assert isinstance(mapped, Envelope)
    return mapped


@pytest.mark.parametrize("fixture", ACCEPTED, ids=lambda f: f.id)
def test_a_produced_record_matches_its_channels_message(
    doc: dict[str, Any], fixture: Fixture
) -> None:
    envelope = _produced(fixture)
    message = _message(doc, fixture.provider)
    _validator(doc, message["payload"]).validate(json.loads(encode_envelope(envelope)))
    headers = {name: value.decode() for name, value in record_headers(envelope)}
    _validator(doc, message["headers"]).validate(headers)
    assert message["correlationId"]["location"] == "$message.header#/ce_id"
    assert headers["ce_id"] == envelope.id
    _validator(doc, message["bindings"]["kafka"]["key"]).validate(record_key(envelope).decode())


def test_a_channels_message_refuses_another_providers_envelope(doc: dict[str, Any]) -> None:
    iof = next(f for f in ACCEPTED if f.provider == "iof")
    value = json.loads(encode_envelope(_produced(iof)))
    other = next(name for name in REGISTRY if name != "iof")
    assert not _validator(doc, _message(doc, other)["payload"]).is_valid(value)
    tlas = next(f for f in ACCEPTED if f.provider == "tlas")
    value = json.loads(encode_envelope(_produced(tlas)))
    value["data"] = {"timestamp": "2026-02-09T10:00:00Z"}  # no `event`: the mapper needs it
    assert not _validator(doc, _message(doc, "tlas")["payload"]).is_valid(value)


def test_headers_without_a_subject_omit_ce_subject(doc: dict[str, Any]) -> None:
    schema = doc["components"]["schemas"]["RecordHeaders"]
    assert "ce_subject" in schema["properties"] and "ce_subject" not in schema["required"]
    assert {"ce_id", "ce_source", "ce_type", "ce_time", "ce_specversion", "content-type"} <= set(
        schema["required"]
    )


def test_dead_letter_and_rejected_channels_carry_their_record_schemas(doc: dict[str, Any]) -> None:
    assert _message(doc, "deadletter")["payload"] == {"$ref": "#/components/schemas/DeadLetter"}
    assert _message(doc, "rejected")["payload"] == {"$ref": "#/components/schemas/AuditRecord"}
    assert doc["components"]["schemas"]["DeadLetter"]["required"] == [
        "id",
        "at",
        "source",
        "provider",
        "reason",
        "body_base64",
    ]
