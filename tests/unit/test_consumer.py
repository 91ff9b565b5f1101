"""gateway.consumer, and the envelope-versioning rule (docs/envelope-versioning.md): an envelope the
gateway produces today, and one stored in a golden file, decodes with the published JSON Schema
(schemas/envelope.schema.json) and with the consumer helper."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import msgspec
import pytest

from gateway.consumer import (
    DecodeError,
    RecentIds,
    ce_headers,
    data_as,
    decode,
    decode_audit,
    decode_dead_letter,
    payload_type,
    typed_data,
)
from gateway.envelope import (
    AuditRecord,
    DeadLetter,
    Envelope,
    encode,
    encode_envelope,
    record_headers,
)
from gateway.form import as_object, is_form, pairs
from gateway.headers import Headers
from gateway.map import map_delivery
from gateway.providers import REGISTRY, tlas
from tests.fixtures import Fixture, load

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
ACCEPTED = [f for f in load() if "envelope" in f.expect and f.provider in REGISTRY]


def schema(name: str) -> jsonschema.protocols.Validator:
    document = json.loads((SCHEMAS / name).read_text())
    return jsonschema.Draft202012Validator(document)


def produced_today(fixture: Fixture) -> bytes:
    """The record value the gateway writes for the fixture's request, through the real mapper."""
    received = datetime.fromtimestamp(fixture.now, UTC)
    envelope = map_delivery(
        fixture.source(), Headers(fixture.headers), fixture.body, "hmac-sha256", received
    )
    assert isinstance(envelope, Envelope)
    return encode_envelope(envelope)


@pytest.mark.parametrize("fixture", ACCEPTED, ids=lambda f: f.id)
def test_an_envelope_produced_today_matches_the_published_schemas(fixture: Fixture) -> None:
    value = produced_today(fixture)
    schema("envelope.schema.json").validate(json.loads(value))
    envelope = decode(value)
    assert envelope.provider == fixture.provider
    # the provider's bytes, as signed (whitespace around the JSON value is not part of the value);
    # a form (Twilio) is published as its fields' JSON object
    if fixture.source().form and is_form(Headers(fixture.headers)):
        payload = msgspec.json.encode(as_object(pairs(fixture.body)))
    else:
        payload = fixture.body.strip()
    assert bytes(envelope.data) == payload
    provider_schema = SCHEMAS / "providers" / f"{fixture.provider}.schema.json"
    if provider_schema.exists():
        schema(f"providers/{fixture.provider}.schema.json").validate(json.loads(payload))
    data = typed_data(envelope)
    kind = payload_type(fixture.provider)
    assert isinstance(data, kind if kind is not None else dict)


@pytest.mark.parametrize("fixture", ACCEPTED, ids=lambda f: f.id)
def test_a_stored_golden_envelope_still_decodes(fixture: Fixture) -> None:
    """Golden files are envelopes produced by earlier versions: today's readers must accept them."""
    value = json.dumps(fixture.expect["envelope"]).encode()
    schema("envelope.schema.json").validate(json.loads(value))
    envelope = decode(value)
    assert envelope.id == fixture.expect["envelope"]["id"]
    assert json.loads(bytes(envelope.data)) == fixture.expect["envelope"]["data"]


def _envelope(**changes: object) -> Envelope:
    fields = dict(
        specversion="1.0",
        id="evt_1",
        source="/webhooks/tlas",
        type="tlas.certificate.issued",
        subject="APP-2026-00001",
        time="2026-02-09T10:00:00Z",
        datacontenttype="application/json",
        data=msgspec.Raw(
            b'{"event":"certificate.issued","timestamp":"2026-02-09T10:00:00Z",'
            b'"data":{"applicationId":"APP-2026-00001"}}'
        ),
        provider="tlas",
        receivedat="2026-02-09T10:00:00.123Z",
        authscheme="hmac-sha256",
    )
    fields.update(changes)
    return Envelope(**fields)  # type: ignore[arg-type]


def test_a_field_added_later_is_ignored_by_todays_consumer() -> None:
    newer = encode_envelope(_envelope())[:-1] + b',"traceparent":"00-0af7651916cd43dd-01","x":{}}'
    envelope = decode(newer)
    assert encode_envelope(envelope) == encode_envelope(_envelope())


def test_a_changed_field_type_is_a_clear_error() -> None:
    broken = json.loads(encode_envelope(_envelope()))
    broken["time"] = 1770631200
    with pytest.raises(
        DecodeError, match=r"^decoding envelope: Expected `str`, got `int` - at `\$.time`"
    ):
        decode(json.dumps(broken).encode())
    with pytest.raises(DecodeError, match="^decoding envelope: "):
        decode(b"not json")


def test_typed_data_is_the_providers_payload_type_as_published() -> None:
    event = typed_data(_envelope())
    assert type(event) is REGISTRY["tlas"].payload
    assert event.event == "certificate.issued" and event.data["applicationId"] == "APP-2026-00001"


def test_the_documented_type_is_strict_and_an_odd_field_names_the_event() -> None:
    assert data_as(_envelope(), tlas.Event).data.applicationId == "APP-2026-00001"
    odd = _envelope(data=msgspec.Raw(b'{"event": "certificate.issued", "timestamp": 5}'))
    assert typed_data(odd).timestamp == 5  # published as is: the mapper needs only `event`
    with pytest.raises(DecodeError, match=r"^decoding data of evt_1 as Event: "):
        data_as(odd, tlas.Event)


def test_data_as_any_type_and_a_mismatch_names_the_event() -> None:
    assert data_as(_envelope(), dict)["event"] == "certificate.issued"
    with pytest.raises(DecodeError, match=r"^decoding data of evt_1 as list: "):
        data_as(_envelope(), list)


def test_a_provider_without_a_payload_type_gives_plain_json() -> None:
    envelope = _envelope(provider="somewhere-new", data=msgspec.Raw(b'{"a":[1,2]}'))
    assert payload_type("somewhere-new") is None
    assert typed_data(envelope) == {"a": [1, 2]}


def test_dead_letter_and_audit_records_round_trip() -> None:
    letter = DeadLetter(
        id="ab" * 32,
        at="2026-02-09T10:00:00.000Z",
        source="tlas",
        provider="tlas",
        reason="missing_type",
        body_base64="e30=",
    )
    audit = AuditRecord(
        id="r1",
        at="2026-02-09T10:00:00.000Z",
        source="iof",
        provider="iof",
        reason="invalid_signature",
        remote_addr="10.0.0.7",
        user_agent=None,
        method="POST",
        path="/webhooks/iof",
        body_sha256="cd" * 32,
        body_size=2,
        headers={"x-iof-signature": "fp:1a2b"},
    )
    assert decode_dead_letter(encode(letter)) == letter
    assert decode_audit(encode(audit)) == audit
    schema("deadletter.schema.json").validate(json.loads(encode(letter)))
    schema("audit.schema.json").validate(json.loads(encode(audit)))
    with pytest.raises(DecodeError, match="^decoding dead letter: "):
        decode_dead_letter(encode(audit))


def test_ce_headers_give_routing_fields_without_parsing_the_value() -> None:
    headers = record_headers(_envelope())
    assert ce_headers(headers) == {
        "specversion": "1.0",
        "id": "evt_1",
        "source": "/webhooks/tlas",
        "type": "tlas.certificate.issued",
        "time": "2026-02-09T10:00:00Z",
        "subject": "APP-2026-00001",
    }
    assert ce_headers(None) == {}


def test_recent_ids_drop_repeats_per_source_and_stay_bounded() -> None:
    recent = RecentIds(size=2)
    first, again = _envelope(id="a"), _envelope(id="a")
    other_tenant = _envelope(
        id="a", source="/webhooks/azakaw-globex"
    )  # same body hash, other source
    assert recent.first_time(first)
    assert not recent.first_time(again)
    assert recent.first_time(other_tenant)
    assert recent.first_time(_envelope(id="b"))  # pushes out the oldest entry
    assert len(recent) == 2
    assert recent.first_time(first)  # forgotten: the set is bounded, not a full history
    with pytest.raises(ValueError):
        RecentIds(size=0)
