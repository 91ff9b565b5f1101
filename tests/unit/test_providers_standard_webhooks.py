"""Standard Webhooks: the specification's published vector, `whsec_` secrets, rotation, the 5-minute
tolerance, the svix- aliases, and `webhook-id` as the envelope id (conformance fixtures cover the
captured requests; these cover what they cannot)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from gateway.config import parse_config
from gateway.errors import ConfigError, Reason
from gateway.headers import Headers
from gateway.providers import standard_webhooks
from gateway.sources import Source, build_sources
from gateway.verify.hmac import whsec_key

# Published with the specification (standard-webhooks/standard-webhooks, every library's tests).
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID, STAMP, BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
EVENT = b'{"type":"contact.created","timestamp":"2022-11-03T20:26:10Z","data":{"id":"c_1"}}'


def source(**options: object) -> Source:
    cfg = {"provider": "standard-webhooks", "secrets": [SECRET], **options}
    return build_sources(parse_config({"sources": {"contacts": cfg}}))["contacts"]


def headers(prefix: str = "webhook-", signature: str = SIGNATURE, stamp: int = STAMP,
            msg_id: str = MSG_ID) -> dict[str, str]:
    return {f"{prefix}id": msg_id, f"{prefix}timestamp": str(stamp),
            f"{prefix}signature": signature}


def signed(body: bytes, msg_id: str = MSG_ID, stamp: int = STAMP, secret: str = SECRET) -> str:
    mac = hmac.new(whsec_key(secret.encode()), f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def test_signing_reproduces_the_published_vector() -> None:
    cfg = source().config
    mac = standard_webhooks.spec(cfg)
    request = Headers({"webhook-id": MSG_ID, "webhook-timestamp": str(STAMP)})
    assert "v1," + mac.sign(whsec_key(SECRET.encode()), BODY, request) == SIGNATURE


def test_a_secret_without_the_whsec_prefix_is_the_same_key() -> None:
    bare = source(secrets=[SECRET.removeprefix("whsec_")])
    assert bare.verify(Headers(headers()), BODY, STAMP).ok


def test_the_key_is_the_decoded_secret_not_the_text() -> None:
    # IOF and Stripe use their whsec_ strings whole; a Standard Webhooks sender never does.
    whole = hmac.new(SECRET.encode(), f"{MSG_ID}.{STAMP}.".encode() + BODY, hashlib.sha256)
    wrong = "v1," + base64.b64encode(whole.digest()).decode()
    verdict = source().verify(Headers(headers(signature=wrong)), BODY, STAMP)
    assert verdict.reason == Reason.INVALID_SIGNATURE


def test_a_secret_that_is_not_base64_is_a_startup_error_naming_the_place() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({"sources": {"contacts": {"provider": "standard-webhooks",
                                                "secrets": [SECRET, "whsec_not base64!"]}}})
    message = str(raised.value)
    assert "sources.contacts.secrets" in message and "secret 2" in message
    assert "not base64!" not in message  # the value itself never appears


@pytest.mark.parametrize("offset", [-300, 300])
def test_five_minutes_either_way_is_accepted(offset: int) -> None:
    assert source().verify(Headers(headers()), BODY, STAMP - offset).ok


@pytest.mark.parametrize("offset", [-301, 301])
def test_beyond_five_minutes_is_stale(offset: int) -> None:
    verdict = source().verify(Headers(headers()), BODY, STAMP - offset)
    assert verdict.reason == Reason.STALE_TIMESTAMP


def test_tolerance_is_configurable() -> None:
    verdict = source(tolerance_secs=60).verify(Headers(headers()), BODY, STAMP + 61)
    assert verdict.reason == Reason.STALE_TIMESTAMP


def test_a_changed_timestamp_is_a_bad_signature_not_a_stale_one() -> None:
    verdict = source().verify(Headers(headers(stamp=STAMP + 1)), BODY, STAMP)
    assert verdict.reason == Reason.INVALID_SIGNATURE


def test_any_of_several_secrets_matches_during_rotation() -> None:
    new = "whsec_" + base64.b64encode(b"a-new-secret-of-24-bytes!").decode()
    rotated = source(secrets=[new, SECRET])
    assert rotated.verify(Headers(headers()), BODY, STAMP).ok
    assert rotated.verify(Headers(headers(signature=signed(BODY, secret=new))), BODY, STAMP).ok


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_header_is_required(header: str) -> None:
    request = headers()
    del request[header]
    assert source().verify(Headers(request), BODY, STAMP).reason == Reason.MISSING_SIGNATURE


@pytest.mark.parametrize("value", [
    "v1," + "A" * 3000,                      # far longer than any rotation
    " ".join([SIGNATURE.replace("g0h", "x0h")] * 17),  # more signatures than anyone rotates
    "v1,%%%", "v1,", ",", "   ",
])
def test_hostile_signature_headers_are_rejected_not_raised(value: str) -> None:
    verdict = source().verify(Headers(headers(signature=value)), BODY, STAMP)
    assert verdict.reason in (Reason.INVALID_SIGNATURE, Reason.MISSING_SIGNATURE)


def test_a_repeated_id_header_is_malformed() -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers().items()] + [(b"webhook-id", b"msg_other")]
    assert source().verify(Headers(raw), BODY, STAMP).reason == Reason.MALFORMED_REQUEST


def test_svix_source_reads_svix_headers_and_ignores_webhook_ones() -> None:
    svix = source(header_prefix="svix-")
    assert svix.verify(Headers(headers("svix-")), BODY, STAMP).ok
    assert svix.verify(Headers(headers("webhook-")), BODY, STAMP).reason == Reason.MISSING_SIGNATURE


def test_an_unknown_header_prefix_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sources.contacts.header_prefix"):
        source(header_prefix="x-")


def test_the_envelope_id_is_the_signed_id_header_only() -> None:
    src = source()
    request = {**headers(signature=signed(EVENT)), "svix-id": "msg_injected"}
    assert src.verify(Headers(request), EVENT, STAMP).ok
    fields = src.extract({"type": "contact.created", "data": {"id": "c_1"}}, Headers(request))
    assert fields.id == MSG_ID and fields.subject == "c_1" and fields.type == "contact.created"


@pytest.mark.parametrize("prefix", ["webhook-", "svix-"])
def test_send_signs_what_the_verifier_accepts(prefix: str) -> None:
    src = source(header_prefix=prefix)
    provider = standard_webhooks.PROVIDER
    for event, sample in provider.samples.items():
        body = sample(STAMP)
        sent = provider.sign(src.config, body, STAMP)
        assert set(sent) == {f"{prefix}id", f"{prefix}timestamp", f"{prefix}signature"}
        assert src.verify(Headers(sent), body, STAMP).ok
        assert src.extract(json.loads(body), Headers(sent)).type == event
