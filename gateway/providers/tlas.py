"""TLAS (seed 003): `X-Webhook-Signature: sha256=<hex>`, HMAC-SHA256 of the raw body.

The seed's own sample compares bare hex, so the `sha256=` prefix is optional. TLAS payloads carry
no event id: the envelope id is the SHA-256 of the body, so identical redeliveries collapse.
"""

from __future__ import annotations

import json
import secrets
import time

import msgspec

from gateway.headers import Headers
from gateway.providers.base import Fields, Payload, Provider, text
from gateway.providers.published import EVENT_TYPE, published
from gateway.settings import SignedSourceConfig
from gateway.verify import Verifier, guarded
from gateway.verify.hmac import HmacSpec

SIGNATURE = HmacSpec(header="X-Webhook-Signature", prefix="sha256=")


class Config(SignedSourceConfig):
    pass


class ApplicationData(msgspec.Struct):
    applicationId: str
    licenseType: str | None = None
    applicantId: str | None = None


class Event(msgspec.Struct):
    """A TLAS webhook body as seed 003 shows it."""

    event: str
    timestamp: str
    data: ApplicationData


def verifier(cfg: Config) -> Verifier:
    keys = [secret.reveal() for secret in cfg.secrets]
    return guarded("hmac-sha256", lambda headers, body, now: SIGNATURE.check(headers, body, now, keys))


def extract(payload: Payload, headers: Headers) -> Fields:
    return Fields(
        type=text(payload, "event"),
        subject=text(payload, "data", "applicationId"),
        time=payload.get("timestamp"),
    )


def sign(cfg: Config, body: bytes, now: float) -> dict[str, str]:
    return {"X-Webhook-Signature": "sha256=" + SIGNATURE.sign(cfg.secrets[0].reveal(), body, Headers())}


def _sample(event: str):
    def build(now: float) -> bytes:
        number = secrets.randbelow(10**8)  # a fresh application per sample: no accidental dedupe
        return json.dumps({
            "event": event,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "data": {
                "applicationId": f"APP-{time.gmtime(now).tm_year}-{number:08d}",
                "licenseType": "TRADE_LICENSE",
                "applicantId": f"DL-{secrets.randbelow(10**8):08d}",
            },
        }).encode()

    return build


EVENTS = ("application.submitted", "application.approved", "application.rejected",
          "application.returned", "certificate.issued", "certificate.revoked")

PROVIDER = Provider(
    name="tlas",
    config=Config,
    verifier=verifier,
    extract=extract,
    sign=sign,
    samples={event: _sample(event) for event in EVENTS},
    payload=published(Event, "A TLAS webhook body as the gateway publishes it: the event type in "
                      "`event`.", event=EVENT_TYPE),
    credential_headers=lambda cfg: (SIGNATURE.header,),
)
