"""Stripe: `t=,v1=` parsing shared with IOF's form 3, several v1 entries, the tolerance, and the
envelope fields taken from the Event object."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from gateway.config import parse_config
from gateway.errors import Reason
from gateway.headers import Headers
from gateway.providers import stripe
from gateway.sources import Source, build_sources

SECRET = "whsec_test_stripe_secret"
NOW = 1_718_700_030
BODY = (b'{"id":"evt_1","object":"event","created":1718700000,"type":"invoice.paid",'
        b'"data":{"object":{"id":"in_1","object":"invoice"}}}')


def source(**options: object) -> Source:
    cfg = {"provider": "stripe", "secrets": [SECRET], **options}
    return build_sources(parse_config({"sources": {"stripe": cfg}}))["stripe"]


def v1(stamp: int, secret: str = SECRET, body: bytes = BODY) -> str:
    return hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(value: str, now: float = NOW, src: Source | None = None):
    return (src or source()).verify(Headers({"Stripe-Signature": value}), BODY, now)


def test_a_signed_event_verifies_and_maps() -> None:
    src = source()
    assert verify(f"t={NOW},v1={v1(NOW)}", src=src).ok
    fields = src.extract(json.loads(BODY), Headers())
    found = (fields.id, fields.type, fields.subject, fields.time)
    assert found == ("evt_1", "invoice.paid", "in_1", 1718700000)


@pytest.mark.parametrize("value", [
    f"v1={v1(NOW)},t={NOW}",                     # order is not significant
    f"t={NOW}, v1={v1(NOW)}",                    # a space after the comma
    f"t={NOW},v1={v1(NOW, 'whsec_other')},v1={v1(NOW)}",  # the second v1 matches
    f"t={NOW},v1={v1(NOW).upper()}",
])
def test_accepted_forms(value: str) -> None:
    assert verify(value).ok


@pytest.mark.parametrize("value", [
    f"t={NOW},v0={v1(NOW)}",                     # v0 is never checked
    f"t={NOW}",                                   # no signature at all
    f"v1={v1(NOW)}",                              # no timestamp
    f"t={NOW},t={NOW},v1={v1(NOW)}",              # two timestamps: ambiguous
    f"t={NOW + 1},v1={v1(NOW)}",                  # the timestamp is signed
    f"t={NOW}.5,v1={v1(NOW)}",
    "garbage", "t=,v1=", ",,,", "=" * 3000,
])
def test_rejected_forms(value: str) -> None:
    assert verify(value).reason == Reason.INVALID_SIGNATURE


def test_an_old_signature_is_stale_after_the_tolerance() -> None:
    value = f"t={NOW - 301},v1={v1(NOW - 301)}"
    assert verify(value).reason == Reason.STALE_TIMESTAMP
    assert verify(value, src=source(tolerance_secs=600)).ok


def test_a_missing_header_is_missing() -> None:
    assert source().verify(Headers({}), BODY, NOW).reason == Reason.MISSING_SIGNATURE


def test_send_signs_what_the_verifier_accepts() -> None:
    src = source()
    for event, sample in stripe.PROVIDER.samples.items():
        body = sample(NOW)
        sent = stripe.sign(src.config, body, NOW)
        assert src.verify(Headers(sent), body, NOW).ok
        assert src.extract(json.loads(body), Headers(sent)).type == event
