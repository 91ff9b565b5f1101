"""What the gateway accepts is what it publishes: for every provider, a payload the mapper turns into
an envelope validates against the provider's schema in schemas/providers/ and decodes with the
consumer helper (`gateway.consumer.typed_data`).

Payloads are each provider's golden fixture bodies with fields replaced, dropped or added at random
(any JSON value, at any depth); only those the mapper accepts are checked, which is the claim.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gateway.consumer import decode, typed_data
from gateway.envelope import Envelope, encode_envelope
from gateway.headers import Headers
from gateway.map import map_delivery
from gateway.providers import REGISTRY
from tests.fixtures import Fixture, load

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "providers"

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False,
                                                                       allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8,
)


def _first_accepted(provider: str) -> Fixture:
    return next(f for f in load(provider) if "envelope" in f.expect)


def _mutate(document: Any, draw: Any) -> Any:
    """Replace, drop or add one member somewhere in the document."""
    if isinstance(document, dict) and document:
        key = draw(st.sampled_from(sorted(document)))
        action = draw(st.sampled_from(["replace", "drop", "add", "descend"]))
        changed = dict(document)
        if action == "replace":
            changed[key] = draw(JSON)
        elif action == "drop":
            del changed[key]
        elif action == "add":
            changed[draw(st.text(max_size=8))] = draw(JSON)
        else:
            changed[key] = _mutate(document[key], draw)
        return changed
    if isinstance(document, list) and document:
        index = draw(st.integers(0, len(document) - 1))
        return [*document[:index], _mutate(document[index], draw), *document[index + 1:]]
    return draw(JSON)


@st.composite
def mutated(draw: Any, body: Any) -> bytes:
    document = body
    for _ in range(draw(st.integers(1, 4))):
        document = _mutate(document, draw)
    return json.dumps(document).encode()


PROVIDERS = [name for name in sorted(REGISTRY) if REGISTRY[name].payload is not None]


@pytest.mark.parametrize("provider", PROVIDERS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.filter_too_much])
@given(data=st.data())
def test_an_accepted_payload_matches_the_published_schema(provider: str, data: Any) -> None:
    fixture = _first_accepted(provider)
    source = fixture.source()
    body = data.draw(mutated(json.loads(fixture.body)))
    mapped = map_delivery(source, Headers(fixture.headers), body, "hmac-sha256",
                          datetime.fromtimestamp(fixture.now, UTC))
    assume(isinstance(mapped, Envelope))
    schema = json.loads((SCHEMAS / f"{provider}.schema.json").read_text())
    jsonschema.validate(json.loads(body), schema)
    typed_data(decode(encode_envelope(mapped)))


def test_clerk_shaped_standard_webhooks_message_is_published_as_accepted() -> None:
    """Clerk's documented shape: `timestamp` is integer milliseconds, not text."""
    fixture = _first_accepted("standard-webhooks")
    body = (b'{"data":{"id":"user_29w83sxmDNGwOuEthce5gg56FcC","object":"user"},'
            b'"object":"event","timestamp":1654012591835,"type":"user.created"}')
    mapped = map_delivery(fixture.source(), Headers(fixture.headers), body, "hmac-sha256",
                          datetime.fromtimestamp(fixture.now, UTC))
    assert isinstance(mapped, Envelope)
    schema = json.loads((SCHEMAS / "standard-webhooks.schema.json").read_text())
    jsonschema.validate(json.loads(body), schema)
    event = typed_data(decode(encode_envelope(mapped)))
    assert event.timestamp == 1654012591835 and event.type == "user.created"
