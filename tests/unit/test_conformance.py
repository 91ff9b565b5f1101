"""Every registered provider against its fixtures (tests/fixtures/<provider>/*.json, see README.md there):
the captured request gets the expected outcome, one flipped byte is rejected, a signed timestamp goes
stale past the tolerance, and the envelope equals the golden file with `data` carried byte for byte."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import msgspec
import pytest

from gateway.envelope import DeadLetter, Envelope, encode_envelope
from gateway.errors import Reason
from gateway.form import as_object, is_form, pairs
from gateway.headers import Headers
from gateway.map import map_delivery
from gateway.providers import REGISTRY
from tests.fixtures import FIXTURES, Fixture, flip, load

ALL = load()
FAILED_CHECK = {Reason.INVALID_SIGNATURE, Reason.INVALID_CREDENTIALS}


def test_every_registered_provider_has_fixtures() -> None:
    on_disk = {f.provider for f in ALL}
    missing = sorted(set(REGISTRY) - on_disk)
    assert not missing, f"registered providers without fixtures in {FIXTURES}: {missing}"
    stray = sorted(on_disk - set(REGISTRY))
    assert not stray, f"fixture directories for providers that are not registered: {stray}"
    for name in REGISTRY:
        accepted = [f for f in ALL if f.provider == name and "envelope" in f.expect]
        assert accepted, f"provider {name} has no fixture with a golden envelope"


@pytest.mark.parametrize("fixture", [f for f in ALL if f.provider in REGISTRY], ids=lambda f: f.id)
def test_fixture(fixture: Fixture) -> None:
    source = fixture.source()
    assert source.provider == fixture.provider
    headers, body, now = fixture.headers, fixture.body, fixture.now
    verdict = source.verify(Headers(headers), body, now)
    expect = fixture.expect

    if "rejected" in expect:
        assert verdict.reason == Reason(expect["rejected"])
        return
    assert verdict.ok, f"valid request rejected: {verdict.reason}"

    tamper = fixture.data.get("tamper")
    if verdict.scheme == "none":
        assert tamper is None, "a request nobody authenticates cannot be tampered with"
    else:
        assert tamper is not None, "an authenticated fixture must say where a flipped byte is noticed"
        if tamper == "body":
            tampered_headers, tampered_body = headers, flip(body)
        elif "body_at" in tamper:  # a signature inside the body covers part of it (Mailgun)
            start = body.index(tamper["body_at"].encode())
            end = start + len(tamper["body_at"].encode())
            tampered_headers, tampered_body = headers, body[:start] + flip(body[start:end]) + body[end:]
        else:
            name = tamper["header"]
            assert name in headers, f"tamper names a header the request does not have: {name}"
            flipped = flip(headers[name].encode("latin-1")).decode("latin-1")
            tampered_headers, tampered_body = {**headers, name: flipped}, body
        tampered = source.verify(Headers(tampered_headers), tampered_body, now)
        assert tampered.reason in FAILED_CHECK, f"one flipped byte gave {tampered.reason}"

    if fixture.data.get("signed_timestamp"):
        tolerance = source.config.tolerance_secs
        late = source.verify(Headers(headers), body, now + tolerance + 1)
        assert late.reason == Reason.STALE_TIMESTAMP

    received = datetime.fromtimestamp(now, UTC)
    mapped = map_delivery(source, Headers(headers), body, verdict.scheme, received)
    if "deadletter" in expect:
        assert isinstance(mapped, DeadLetter), f"expected a dead letter, got {mapped}"
        assert mapped.reason == expect["deadletter"]
        assert base64.b64decode(mapped.body_base64) == body
        assert mapped.id == hashlib.sha256(body).hexdigest()
        assert mapped.source == source.name and mapped.provider == source.provider
        return

    assert isinstance(mapped, Envelope), f"expected an envelope, got {mapped}"
    encoded = encode_envelope(mapped)
    assert msgspec.json.decode(encoded) == expect["envelope"]
    if source.form and is_form(Headers(headers)):  # a form (Twilio): its fields as a JSON object
        assert bytes(mapped.data) == msgspec.json.encode(as_object(pairs(body)))
        return
    # Equal decoded JSON is not enough: the payload must be the signed bytes, not a re-encoding.
    assert bytes(mapped.data) == body
    assert b'"data":' + body + b',"provider":' in encoded
