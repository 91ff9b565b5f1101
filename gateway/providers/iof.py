"""Islamic Open Finance (seeds 000, 001): `X-IOF-Signature`, HMAC-SHA256, hex.

IOF's documents disagree on the signature form; all three are accepted, told apart by headers:
1. bare hex (or `sha256=<hex>`) over the raw body (seed 000's `verify(rawBody, signature, secret)`);
2. `sha256=<hex>` with `X-IOF-Timestamp: <unix>` over `{timestamp}.{body}` (their SDK); when that
   header is present the raw-body form is not tried, so a timestamp cannot be stripped off;
3. `t=<unix>,v1=<hex>[,v1=<hex>]` over `{t}.{body}` (their "Webhooks Security" page).
The `whsec_...` secret is used whole as the HMAC key (IOF's sample does not base64-decode it).
"""

from __future__ import annotations

import json
import re
import time

import msgspec

from gateway.errors import Reason
from gateway.headers import Headers
from gateway.providers.base import Fields, Payload, Provider, first_text, first_value, new_id, text
from gateway.providers.published import published
from gateway.settings import SignedSourceConfig
from gateway.verify import Detail, Reject, Verifier, guarded, required
from gateway.verify.hmac import HmacSpec, check_tolerance, decode_candidates, parse_pairs, signed_by

HEADER = "X-IOF-Signature"
TIMESTAMP_HEADER = "X-IOF-Timestamp"
_PAIRS = re.compile(r"\s*(t|v1)=")  # form 3, whichever pair comes first
RAW_BODY = HmacSpec(header=HEADER, prefix="sha256=")


def _timestamped(tolerance_secs: float) -> HmacSpec:
    return HmacSpec(header=HEADER, prefix="sha256=", template="{timestamp}.{body}",
                    headers=(("timestamp", TIMESTAMP_HEADER),), timestamp="timestamp",
                    tolerance_secs=tolerance_secs)


class Config(SignedSourceConfig):
    pass


class EventObject(msgspec.Struct):
    id: str
    type: str | None = None
    status: str | None = None


class EventData(msgspec.Struct):
    object: EventObject


class Metadata(msgspec.Struct):
    workspaceId: str | None = None
    tenantId: str | None = None


class Event(msgspec.Struct):
    """An IOF webhook body as seed 000 shows it."""

    id: str
    type: str
    created: str
    data: EventData
    metadata: Metadata | None = None
    event_type: str | None = None  # the event type where `type` is absent (the mapper reads both)


def verifier(cfg: Config) -> Verifier:
    keys = [secret.reveal() for secret in cfg.secrets]
    timestamped = _timestamped(cfg.tolerance_secs)

    def check(headers: Headers, body: bytes, now: float) -> int:
        value = required(headers, HEADER)
        if _PAIRS.match(value):
            return _check_pairs(value, body, now, keys, cfg.tolerance_secs)
        if TIMESTAMP_HEADER in headers:
            return timestamped.check(headers, body, now, keys)
        return RAW_BODY.check(headers, body, now, keys)

    return guarded("hmac-sha256", check)


def _check_pairs(value: str, body: bytes, now: float, keys: list[bytes], tolerance: float) -> int:
    pairs = parse_pairs(value)
    stamps = pairs.get("t", [])
    if len(stamps) != 1 or not pairs.get("v1"):
        raise Reject(Reason.INVALID_SIGNATURE, Detail.HEADER_MALFORMED)
    candidates = decode_candidates(pairs["v1"], ("hex",), "sha256")
    slot = signed_by(candidates, keys, stamps[0].encode() + b"." + body, "sha256")
    check_tolerance(stamps[0], now, tolerance, slot=slot)
    return slot


def extract(payload: Payload, headers: Headers) -> Fields:
    return Fields(
        type=first_text(payload, "type", "event_type"),
        id=text(payload, "id"),
        subject=text(payload, "data", "object", "id"),
        time=first_value(payload, "created", "created_at"),
        tenant=text(payload, "metadata", "tenantId"),
    )


def sign(cfg: Config, body: bytes, now: float) -> dict[str, str]:
    """Form 3, the one IOF's security page documents; the tests cover all three."""
    stamp = str(int(now))
    mac = HmacSpec(header=HEADER, template="{t}.{body}", headers=(("t", "t"),))
    signature = mac.sign(cfg.secrets[0].reveal(), body, Headers({"t": stamp}))
    return {HEADER: f"t={stamp},v1={signature}"}


def _sample(event: str):
    family = event.split(".")[0]
    kinds = {"contract": ("contract_", "MURABAHA", "draft"), "kyc": ("kyc_", "INDIVIDUAL", "pending"),
             "compliance": ("cmp_", "SANCTIONS", "open"), "billing": ("inv_", "INVOICE", "open")}
    prefix, kind, status = kinds[family]

    def build(now: float) -> bytes:
        return json.dumps({
            "id": new_id("evt_"),
            "type": event,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "data": {"object": {"id": new_id(prefix), "type": kind, "status": status}},
            "metadata": {"workspaceId": "ws_123", "tenantId": "tenant_456"},
        }).encode()

    return build


EVENTS = (
    "contract.created", "contract.updated", "contract.activated", "contract.payment.received",
    "contract.matured", "contract.closed", "kyc.submitted", "kyc.verified", "kyc.rejected",
    "kyc.expired", "compliance.alert", "compliance.review.required", "compliance.check.completed",
    "compliance.alert.triggered", "billing.invoice.created", "billing.invoice.paid",
)

PROVIDER = Provider(
    name="iof",
    config=Config,
    verifier=verifier,
    extract=extract,
    sign=sign,
    samples={event: _sample(event) for event in EVENTS},
    payload=published(Event, "An IOF webhook body as the gateway publishes it: seed 000's fields, "
                      "the event type in `type` or `event_type`."),
    credential_headers=lambda cfg: (HEADER,),
)
