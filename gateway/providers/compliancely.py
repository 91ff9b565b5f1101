"""Compliancely (seed 002): `Compliancely-Signature`, HMAC-SHA256 of the raw body.

The seed does not say hex or base64 and shows no payload: hex is the default, base64 and a
`sha256=` prefix are accepted, the event type defaults to `business.updated` (the seed's example of
an event), and every other field is best effort.
"""

from __future__ import annotations

import json
import time

import msgspec

from gateway.headers import Headers
from gateway.providers.base import Fields, Payload, Provider, first_text, first_value, new_id, text
from gateway.providers.published import published
from gateway.settings import SignedSourceConfig
from gateway.verify import Verifier, guarded
from gateway.verify.hmac import HmacSpec

SIGNATURE = HmacSpec(
    header="Compliancely-Signature",
    aliases=("X-Compliancely-Signature",),
    encodings=("hex", "base64"),
    prefix="sha256=",
)
DEFAULT_TYPE = "business.updated"


class Config(SignedSourceConfig):
    pass


class Event(msgspec.Struct):
    """Compliancely documents no payload; these are the fields the gateway looks at, all optional."""

    id: str | None = None
    event: str | None = None
    type: str | None = None
    event_type: str | None = None
    business_id: str | None = None
    search_id: str | None = None
    timestamp: str | None = None
    created_at: str | None = None


def verifier(cfg: Config) -> Verifier:
    keys = [secret.reveal() for secret in cfg.secrets]
    return guarded("hmac-sha256", lambda headers, body, now: SIGNATURE.check(headers, body, now, keys))


def extract(payload: Payload, headers: Headers) -> Fields:
    return Fields(
        type=first_text(payload, "event", "type", "event_type") or DEFAULT_TYPE,
        id=text(payload, "id"),
        subject=first_text(payload, "business_id", "search_id", "id") or text(payload, "data", "id"),
        time=first_value(payload, "timestamp", "created_at"),
    )


def sign(cfg: Config, body: bytes, now: float) -> dict[str, str]:
    return {"Compliancely-Signature": SIGNATURE.sign(cfg.secrets[0].reveal(), body, Headers())}


def _business_updated(now: float) -> bytes:
    return json.dumps({
        "id": new_id("evt_"),
        "event": DEFAULT_TYPE,
        "business_id": new_id("biz_"),
        "search_id": new_id("srch_"),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "data": {"status": "completed", "updated_fields": ["address", "officers"]},
    }).encode()


PROVIDER = Provider(
    name="compliancely",
    config=Config,
    verifier=verifier,
    extract=extract,
    sign=sign,
    samples={DEFAULT_TYPE: _business_updated},
    payload=published(Event, "A Compliancely webhook body as the gateway publishes it: the event "
                      "type in `event`, `type` or `event_type`, default business.updated."),
    credential_headers=lambda cfg: (SIGNATURE.header, *SIGNATURE.aliases),
)
