"""Mapping a verified delivery to the envelope or to a dead letter (DESIGN.md, "The envelope")."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.envelope import (
    DeadLetter,
    Envelope,
    encode,
    encode_envelope,
    record_headers,
    record_key,
)
from gateway.errors import Unmappable
from gateway.headers import Headers
from gateway.map import iso, map_delivery
from gateway.providers.azakaw import snake
from tests.unit.sources import source

RECEIVED = datetime(2026, 11, 23, 10, 30, 0, 123456, tzinfo=UTC)
IOF = source("iof")
TLAS = source("tlas")
CMP = source("compliancely")
AZAKAW = source("azakaw", "azakaw-acme", tenant="acme", auth={"type": "none"})


def mapped(src, body: bytes | str) -> Envelope | DeadLetter:
    raw = body.encode() if isinstance(body, str) else body
    return map_delivery(src, Headers(), raw, "hmac-sha256", RECEIVED)


def envelope(src, body: bytes | str) -> dict:
    result = mapped(src, body)
    assert isinstance(result, Envelope), f"dead-lettered: {result}"
    return json.loads(encode_envelope(result))


# -- dead letters --------------------------------------------------------------------------------

DEEP = b'{"type":"x","a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
UNMAPPABLE = [
    (IOF, b'\xff\xfe{"type": "contract.created"}', Unmappable.NOT_UTF8),
    (IOF, b'{"type": "caf\xe9"}', Unmappable.NOT_UTF8),              # latin-1, not UTF-8
    (IOF, b'{"type": "contract.created"', Unmappable.NOT_JSON),
    (IOF, b"", Unmappable.NOT_JSON),
    (IOF, b"type=contract.created&id=1", Unmappable.NOT_JSON),
    (IOF, b'{"type": "x"} {"type": "y"}', Unmappable.NOT_JSON),
    (IOF, b'{"type": "x\\ud800"}', Unmappable.NOT_JSON),             # lone surrogate
    (IOF, b'[{"type": "contract.created"}]', Unmappable.NOT_OBJECT),
    (IOF, b'"contract.created"', Unmappable.NOT_OBJECT),
    (IOF, b"null", Unmappable.NOT_OBJECT),
    (IOF, b"42", Unmappable.NOT_OBJECT),
    (IOF, DEEP, Unmappable.TOO_DEEP),
    (IOF, DEEP[:-1] + b"\xff}", Unmappable.NOT_UTF8),                 # too deep and not UTF-8
    (IOF, b'{"type": "contract.created", "s": "\xed\xa0\x80"}', Unmappable.NOT_UTF8),  # raw surrogate
    (IOF, b'{"type": "contract.created", "s": "\xc0\xae"}', Unmappable.NOT_UTF8),     # overlong
    (IOF, b'{"type": "contract.created", "\xff": 1}', Unmappable.NOT_UTF8),           # in a key
    (IOF, b'{"type": "contract.created"}\xff', Unmappable.NOT_UTF8),                  # after the JSON
    (AZAKAW, b'{"Type": "ProfileStatusUpdated", "x": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001,
     Unmappable.TOO_DEEP),
    (IOF, b'{"id": "evt_1", "data": {}}', Unmappable.MISSING_TYPE),
    (IOF, b'{"type": "", "id": "evt_1"}', Unmappable.MISSING_TYPE),
    (IOF, b'{"type": ["contract.created"]}', Unmappable.MISSING_TYPE),
    (TLAS, b'{"timestamp": "2026-02-09T10:00:00Z"}', Unmappable.MISSING_TYPE),
    (AZAKAW, b'{"type": "RiskAssessmentCalculated"}', Unmappable.MISSING_TYPE),  # it is `Type`
    (AZAKAW, b'{"Type": null, "SubmissionId": "1"}', Unmappable.MISSING_TYPE),
]


@pytest.mark.parametrize(("src", "body", "reason"), UNMAPPABLE,
                         ids=[f"{r.value}-{i}" for i, (_, _, r) in enumerate(UNMAPPABLE)])
def test_unmappable_goes_to_dead_letter(src, body: bytes, reason: Unmappable) -> None:
    result = mapped(src, body)
    assert isinstance(result, DeadLetter) and result.reason == reason.value
    assert base64.b64decode(result.body_base64) == body
    assert result.id == hashlib.sha256(body).hexdigest()
    assert (result.source, result.provider) == (src.name, src.provider)
    assert result.at == "2026-11-23T10:30:00.123Z"
    # The record itself is JSON whatever the body was.
    assert json.loads(encode(result))["body_base64"] == result.body_base64


def test_compliancely_never_lacks_a_type() -> None:
    # Compliancely has a default event type, so a bare object is mappable.
    assert envelope(CMP, b"{}")["type"] == "compliancely.business.updated"


# -- odd optional fields never dead-letter ---------------------------------------------------------

ODD_IOF = [
    '{"type": "kyc.verified", "data": {"object": {"id": ["a", "b"]}}}',       # subject a list
    '{"type": "kyc.verified", "data": {"object": {"id": {"nested": 1}}}}',
    '{"type": "kyc.verified", "data": [1, 2]}',
    '{"type": "kyc.verified", "data": "text"}',
    '{"type": "kyc.verified", "created": "yesterday"}',                        # time garbage
    '{"type": "kyc.verified", "created": "2024-13-45T99:00:00Z"}',
    '{"type": "kyc.verified", "created": "0001-01-01T00:00:00+01:00"}',        # before year 1 in UTC
    '{"type": "kyc.verified", "created": "9999-12-31T23:59:59-01:00"}',        # after year 9999 in UTC
    '{"type": "kyc.verified", "created": 1e300}',
    '{"type": "kyc.verified", "created": -1e300}',
    '{"type": "kyc.verified", "created": 1e400}',                              # beyond a double
    '{"type": "kyc.verified", "created": true}',
    '{"type": "kyc.verified", "created": {"at": 1}}',
    '{"type": "kyc.verified", "metadata": {"tenantId": 42}}',                  # tenantId a number
    '{"type": "kyc.verified", "metadata": {"tenantId": ["t"]}}',
    '{"type": "kyc.verified", "metadata": "tenant_456"}',
    '{"type": "kyc.verified", "id": {"evt": 1}}',                              # id an object
    '{"type": "kyc.verified", "id": null}',
    '{"type": "kyc.verified", "unknown": {"deep": [1, 2, {"x": null}]}}',
    '{"type": "kyc.verified", "amount": 1e400}',                               # a number beyond a double
    '{"type": "kyc.verified", "amount": 123456789012345678901234567890}',
]


@pytest.mark.parametrize("body", ODD_IOF, ids=range(len(ODD_IOF)))
def test_odd_optional_fields_never_dead_letter(body: str) -> None:
    result = envelope(IOF, body)
    assert result["type"] == "iof.kyc.verified"
    assert "subject" not in result or isinstance(result["subject"], str)
    assert "tenantid" not in result or isinstance(result["tenantid"], str)
    assert isinstance(result["id"], str) and result["id"]
    datetime.fromisoformat(result["time"])  # always a readable RFC 3339 time


@pytest.mark.parametrize("body", [
    '{"Type": "ProfileStatusUpdated", "SubmissionId": ["x"], "ApprovedBy": "me", "Roles": 5}',
    '{"Type": "RiskAssessmentCalculated", "SubmissionId": null, "Risk": {"level": 3}}',
])
def test_azakaw_odd_fields_never_dead_letter(body: str) -> None:
    result = envelope(AZAKAW, body)
    assert "subject" not in result


# -- id, type, subject, time, tenantid -------------------------------------------------------------

def test_id_is_the_providers_event_id() -> None:
    assert envelope(IOF, '{"id": "evt_abc123", "type": "kyc.verified"}')["id"] == "evt_abc123"
    assert envelope(CMP, '{"id": "evt_c1"}')["id"] == "evt_c1"


@pytest.mark.parametrize(("src", "body"), [
    (IOF, '{"type": "kyc.verified"}'),
    (TLAS, '{"event": "application.approved", "data": {"applicationId": "APP-1"}}'),
    (AZAKAW, '{"Type": "RiskAssessmentCalculated", "SubmissionId": "67890"}'),
    (CMP, '{"event": "business.updated"}'),
])
def test_id_without_a_provider_id_is_the_body_sha256(src, body: str) -> None:
    assert envelope(src, body)["id"] == hashlib.sha256(body.encode()).hexdigest()
    # Deterministic: a retry of the same bytes gets the same id; other bytes another one.
    assert envelope(src, body)["id"] == envelope(src, body)["id"]
    assert envelope(src, body + " ")["id"] != envelope(src, body)["id"]


@pytest.mark.parametrize(("name", "snaked"), [
    ("RiskAssessmentCalculated", "risk_assessment_calculated"),
    ("ProfileStatusUpdated", "profile_status_updated"),
    ("KYCCompleted", "kyc_completed"),
    ("ProfileV2Updated", "profile_v2_updated"),
    ("Updated", "updated"),
    ("already_snake", "already_snake"),
])
def test_azakaw_type_is_snake_cased(name: str, snaked: str) -> None:
    assert snake(name) == snaked
    result = envelope(AZAKAW, json.dumps({"Type": name, "SubmissionId": "67890"}))
    assert result["type"] == f"azakaw.{snaked}"
    assert result["subject"] == "67890"
    assert result["tenantid"] == "acme"


def test_iof_falls_back_to_event_type_and_created_at() -> None:
    result = envelope(IOF, '{"event_type": "kyc.verified", "created_at": "2024-01-15T10:30:00+02:00"}')
    assert result["type"] == "iof.kyc.verified"
    assert result["time"] == "2024-01-15T08:30:00Z"


@pytest.mark.parametrize(("created", "time"), [
    ('"2024-01-15T10:30:00Z"', "2024-01-15T10:30:00Z"),
    ('"2024-01-15T10:30:00.250Z"', "2024-01-15T10:30:00.250Z"),
    ('"2024-01-15T12:30:00+02:00"', "2024-01-15T10:30:00Z"),
    ('"2024-01-15T10:30:00"', "2024-01-15T10:30:00Z"),       # no zone: taken as UTC
    ("1705314600", "2024-01-15T10:30:00Z"),                  # unix seconds
    ("1705314600250", "2024-01-15T10:30:00.250Z"),           # unix milliseconds
    ('"garbage"', "2026-11-23T10:30:00.123Z"),               # unreadable: the received time
])
def test_event_time_is_rfc3339_utc(created: str, time: str) -> None:
    result = envelope(IOF, f'{{"type": "kyc.verified", "created": {created}}}')
    assert datetime.fromisoformat(result["time"]) == datetime.fromisoformat(time)
    assert result["time"].endswith("Z")


def test_receivedat_has_milliseconds_and_z() -> None:
    assert envelope(IOF, '{"type": "kyc.verified"}')["receivedat"] == "2026-11-23T10:30:00.123Z"


_TIMES = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC))


@given(_TIMES, _TIMES)
def test_times_are_written_the_same_whatever_came_before(first: datetime, then: datetime) -> None:
    """`iso()` formats each second once: a time in the same second as the one before (or not,
    or in another zone) is written exactly as isoformat() writes it."""
    for moment in (first, then, then.replace(microsecond=999_999), then.astimezone(timezone(timedelta(hours=-5)))):
        expected = moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
        assert iso(moment) == expected


@given(st.binary(max_size=40), st.integers(min_value=0, max_value=60))
def test_an_envelope_is_only_ever_made_of_utf8(noise: bytes, at: int) -> None:
    """Whatever bytes land wherever in a body, it is published only if it is UTF-8; otherwise
    it is a dead letter that says so (the envelope embeds the body as JSON text)."""
    valid = b'{"id": "evt_1", "type": "kyc.verified", "note": "caf\xc3\xa9 ok"}'
    body = valid[:at] + noise + valid[at:]
    result = mapped(IOF, body)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        assert isinstance(result, DeadLetter) and result.reason == Unmappable.NOT_UTF8.value
    else:
        assert isinstance(result, Envelope) or result.reason != Unmappable.NOT_UTF8.value


def test_subject_and_tenantid_are_omitted_when_unknown() -> None:
    result = envelope(TLAS, '{"event": "application.approved"}')
    assert "subject" not in result and "tenantid" not in result
    assert set(result) == {"specversion", "id", "source", "type", "time", "datacontenttype", "data",
                           "provider", "receivedat", "authscheme"}


def test_record_key_and_headers() -> None:
    with_subject = mapped(IOF, '{"id": "evt_1", "type": "kyc.verified", "data": {"object": {"id": "kyc_9"}}}')
    without = mapped(IOF, '{"id": "evt_2", "type": "kyc.verified"}')
    assert isinstance(with_subject, Envelope) and isinstance(without, Envelope)
    assert record_key(with_subject) == b"kyc_9"
    assert record_key(without) == b"evt_2"
    headers = dict(record_headers(with_subject))
    assert headers == {
        "ce_specversion": b"1.0", "ce_id": b"evt_1", "ce_source": b"/webhooks/iof",
        "ce_type": b"iof.kyc.verified", "ce_time": with_subject.time.encode(), "ce_subject": b"kyc_9",
        "content-type": b"application/cloudevents+json",
    }
    assert "ce_subject" not in dict(record_headers(without))


# -- data, byte for byte ---------------------------------------------------------------------------

BYTE_FOR_BYTE = [
    b'{"z": 1, "type": "kyc.verified", "a": 2}',                           # key order
    b'{"type":"kyc.verified","n":[1.0,1e3,1E+3,-0,0.10,1.5e-7,12345678901234567890]}',
    b'{"type": "kyc.verified", "s": "caf\\u00e9 \\/ \\"q\\" \\n \xc3\xa9 \\ud83d\\ude00"}',
    b'\n  {\t"type" :\r\n "kyc.verified" }  \n',                          # whitespace around and inside
    b'{"type": "kyc.verified", "type": "kyc.rejected"}',                   # duplicate keys as sent
]


@pytest.mark.parametrize("body", BYTE_FOR_BYTE, ids=range(len(BYTE_FOR_BYTE)))
def test_data_is_embedded_byte_for_byte(body: bytes) -> None:
    result = mapped(IOF, body)
    assert isinstance(result, Envelope)
    assert bytes(result.data) == body
    encoded = encode_envelope(result)
    assert b'"data":' + body + b',"provider":' in encoded
    assert json.loads(encoded)["data"] == json.loads(body)  # and the whole is still valid JSON
