"""Presets checked against the providers' own signing code, not our reading of their docs.

For each provider with an official library that signs (or verifies), a request signed with that
library's own code is accepted by the gateway's source; one flipped body byte, a timestamp past the
tolerance, and a signature made with another secret are rejected. Where the library only verifies,
the same request is shown to pass the library's check too, so both sides agree on the scheme.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from gateway.config import parse_config
from gateway.errors import Reason
from gateway.headers import Headers
from gateway.sources import Source, build_sources
from tests.fixtures import flip

SECRET = "sdk-test-secret-2c9f1e"
OTHER = "sdk-test-secret-other"
URL = "https://gateway.example.com/webhooks/hook"
BODY = '{"type":"thing.happened","id":"evt_1","data":{"id":"obj_1"},"event_id":"e1"}'
FAILED = {Reason.INVALID_SIGNATURE, Reason.INVALID_CREDENTIALS}
Sign = Callable[[str, str, int], dict[str, str]]  # (secret, body, now) -> headers


def source(provider: str, secrets: list[str], **options: Any) -> Source:
    config = parse_config({"sources": {"hook": {"provider": provider, "secrets": secrets,
                                                **options}}})
    return build_sources(config)["hook"]


def check(src: Source, sign: Sign, *, body: str = BODY, signed_timestamp: bool = True,
          other: str = OTHER, secret: str = SECRET) -> None:
    now = int(time.time())
    headers = sign(secret, body, now)
    raw = body.encode()
    verdict = src.verify(Headers(headers), raw, now)
    assert verdict.ok, f"signed by the provider's library, rejected: {verdict.reason}"
    assert src.verify(Headers(headers), flip(raw), now).reason in FAILED
    assert src.verify(Headers(sign(other, body, now)), raw, now).reason in FAILED
    if signed_timestamp:
        late = now + src.config.tolerance_secs + 1
        assert src.verify(Headers(headers), raw, late).reason is Reason.STALE_TIMESTAMP


def test_slack_sdk_signature_verifier() -> None:
    from slack_sdk.signature import SignatureVerifier

    def sign(secret: str, body: str, now: int) -> dict[str, str]:
        signature = SignatureVerifier(secret).generate_signature(timestamp=str(now), body=body)
        assert signature is not None
        return {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": signature}

    check(source("slack", [SECRET]), sign)
    now = int(time.time())
    headers = sign(SECRET, BODY, now)
    assert SignatureVerifier(SECRET).is_valid(BODY, headers["X-Slack-Request-Timestamp"],
                                              headers["X-Slack-Signature"])


def test_stripe_library_signature_header() -> None:
    import stripe

    def sign(secret: str, body: str, now: int) -> dict[str, str]:
        return {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header(
            body, secret, timestamp=now)}

    check(source("stripe", [OTHER + "-old", SECRET]), sign)


@pytest.mark.parametrize("provider", ["clerk", "resend", "standard-webhooks"])
def test_svix_and_standardwebhooks_libraries(provider: str) -> None:
    import standardwebhooks
    import svix

    secret = "whsec_" + base64.b64encode(b"sdk-test-standard-webhooks-key").decode()
    other = "whsec_" + base64.b64encode(b"another-key-entirely").decode()
    options = {"header_prefix": "svix-"} if provider == "standard-webhooks" else {}
    src = source(provider, [secret], **options)
    for library in (svix.Webhook, standardwebhooks.Webhook):
        def sign(key: str, body: str, now: int, library: Any = library) -> dict[str, str]:
            moment = datetime.fromtimestamp(now, UTC)
            signature = library(key).sign("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", moment, body)
            return {"svix-id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "svix-timestamp": str(now),
                    "svix-signature": signature}

        check(src, sign, secret=secret, other=other)


def test_square_webhooks_helper() -> None:
    from square.utils.webhooks_helper import verify_signature

    def sign(secret: str, body: str, now: int) -> dict[str, str]:
        import hashlib
        import hmac
        mac = hmac.new(secret.encode(), (URL + body).encode(), hashlib.sha256).digest()
        return {"x-square-hmacsha256-signature": base64.b64encode(mac).decode()}

    headers = sign(SECRET, BODY, 0)
    assert verify_signature(request_body=BODY, signature_header=headers[
        "x-square-hmacsha256-signature"], signature_key=SECRET, notification_url=URL)
    assert not verify_signature(request_body=BODY, signature_header=headers[
        "x-square-hmacsha256-signature"], signature_key=OTHER, notification_url=URL)
    check(source("square", [SECRET], notification_url=URL), sign, signed_timestamp=False)


def test_hubspot_signature_v3() -> None:
    from hubspot.utils.signature import Signature

    body = '[{"eventId":1,"subscriptionType":"contact.creation","objectId":123,"portalId":62515}]'

    def sign(secret: str, payload: str, now: int) -> dict[str, str]:
        stamp = str(now * 1000)
        signature = Signature.get_signature(client_secret=secret, request_body=payload,
                                            signature_version="v3", http_uri=URL,
                                            http_method="POST", timestamp=stamp)
        return {"X-HubSpot-Request-Timestamp": stamp, "X-HubSpot-Signature-v3": signature}

    check(source("hubspot", [SECRET], notification_url=URL), sign, body=body)


def test_paddle_sdk_signature() -> None:
    from paddle_billing.Notifications import PaddleSignature, Secret, Verifier

    def sign(secret: str, body: str, now: int) -> dict[str, str]:
        mac = PaddleSignature.calculate_hmac(secret, f"{now}:{body}".encode()).hexdigest()
        return {"Paddle-Signature": f"ts={now};h1={mac}"}

    class Request:  # the SDK's request protocol: headers and the raw body
        def __init__(self, headers: dict[str, str], body: str) -> None:
            self.headers, self.body = headers, body.encode()

    now = int(time.time())
    assert Verifier().verify(Request(sign(SECRET, BODY, now), BODY), Secret(SECRET))
    check(source("paddle", [SECRET]), sign)


def test_razorpay_utility() -> None:
    import hashlib
    import hmac

    import razorpay

    def sign(secret: str, body: str, now: int) -> dict[str, str]:
        return {"X-Razorpay-Signature": hmac.new(secret.encode(), body.encode(),
                                                 hashlib.sha256).hexdigest()}

    utility = razorpay.Utility(None)
    assert utility.verify_webhook_signature(BODY, sign(SECRET, BODY, 0)["X-Razorpay-Signature"],
                                            SECRET)
    with pytest.raises(razorpay.errors.SignatureVerificationError):
        utility.verify_webhook_signature(BODY, sign(OTHER, BODY, 0)["X-Razorpay-Signature"],
                                         SECRET)
    check(source("razorpay", [SECRET]), sign, signed_timestamp=False)


def test_sendgrid_event_webhook() -> None:
    from sendgrid.helpers.eventwebhook import EventWebhook

    keys = {name: ec.generate_private_key(ec.SECP256R1()) for name in (SECRET, OTHER)}

    def public(key: ec.EllipticCurvePrivateKey) -> str:
        return base64.b64encode(key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()

    def sign(name: str, body: str, now: int) -> dict[str, str]:
        signature = keys[name].sign(f"{now}{body}".encode(), ec.ECDSA(hashes.SHA256()))
        return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": str(now)}

    body = '[{"email":"example@test.com","timestamp":1513299569,"event":"delivered"}]'
    now = int(time.time())
    headers = sign(SECRET, body, now)
    assert EventWebhook(public(keys[SECRET])).verify_signature(
        body, headers["X-Twilio-Email-Event-Webhook-Signature"], str(now))
    check(source("sendgrid", [public(keys[SECRET])]), sign, body=body)


def test_discord_interactions_verify_key() -> None:
    from discord_interactions import verify_key

    keys = {name: ed25519.Ed25519PrivateKey.generate() for name in (SECRET, OTHER)}

    def public(key: ed25519.Ed25519PrivateKey) -> str:
        return key.public_key().public_bytes(serialization.Encoding.Raw,
                                             serialization.PublicFormat.Raw).hex()

    def sign(name: str, body: str, now: int) -> dict[str, str]:
        return {"X-Signature-Ed25519": keys[name].sign(f"{now}{body}".encode()).hex(),
                "X-Signature-Timestamp": str(now)}

    now = int(time.time())
    headers = sign(SECRET, BODY, now)
    assert verify_key(BODY.encode(), headers["X-Signature-Ed25519"], str(now), public(keys[SECRET]))
    check(source("discord", [public(keys[SECRET])]), sign)
