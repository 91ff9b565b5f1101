"""Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`, HMAC-SHA256 over `{t}.{body}`
(Stripe's "Verify webhook signatures"). Any `v1` may match (Stripe sends one per active secret while
a secret is being rolled); `v0` (test-mode legacy) is ignored. The `whsec_...` secret is used whole
as the key, as Stripe's libraries do. `t` must be within `tolerance_secs` (default 300, Stripe's own
default). The envelope id is the event's `id` (Stripe keeps it across retries), the type its `type`,
the subject `data.object.id`, the time `created`, the tenant the Connect `account` when present.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from gateway.headers import Headers
from gateway.providers.base import Fields, Payload, Provider, new_id, text
from gateway.providers.published import EVENT_TYPE, published
from gateway.settings import SignedSourceConfig
from gateway.verify import Verifier, guarded
from gateway.verify.hmac import HmacSpec

HEADER = "Stripe-Signature"


def spec(tolerance_secs: float) -> HmacSpec:
    return HmacSpec(header=HEADER, pairs="v1", template="{t}.{body}", timestamp="t",
                    tolerance_secs=tolerance_secs)


class Config(SignedSourceConfig):
    pass


class EventData(msgspec.Struct):
    object: dict[str, Any]
    previous_attributes: dict[str, Any] | None = None


class EventRequest(msgspec.Struct):
    id: str | None = None
    idempotency_key: str | None = None


class Event(msgspec.Struct):
    """A Stripe Event object (API reference, "The Event object")."""

    id: str
    type: str
    created: int
    data: EventData
    object: str = "event"
    api_version: str | None = None
    livemode: bool | None = None
    pending_webhooks: int | None = None
    request: EventRequest | None = None
    account: str | None = None


def verifier(cfg: Config) -> Verifier:
    keys = [secret.reveal() for secret in cfg.secrets]
    mac = spec(cfg.tolerance_secs)
    return guarded("hmac-sha256", lambda headers, body, now: mac.check(headers, body, now, keys))


def extract(payload: Payload, headers: Headers) -> Fields:
    return Fields(
        type=text(payload, "type"),
        id=text(payload, "id"),
        subject=text(payload, "data", "object", "id"),
        time=payload.get("created"),
        tenant=text(payload, "account"),
    )


def sign(cfg: Config, body: bytes, now: float) -> dict[str, str]:
    stamp = str(int(now))
    mac = spec(cfg.tolerance_secs)
    signature = mac.sign(cfg.secrets[0].reveal(), body, Headers(), {"t": stamp})
    return {HEADER: f"t={stamp},v1={signature}"}


def _payment_intent(event: str, status: str):
    def build(now: float) -> bytes:
        return json.dumps({
            "id": new_id("evt_"),
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(now),
            "data": {"object": {
                "id": new_id("pi_"), "object": "payment_intent", "amount": 2000,
                "amount_received": 2000 if status == "succeeded" else 0, "currency": "usd",
                "customer": None, "livemode": False, "status": status,
            }},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": new_id("req_"), "idempotency_key": new_id("")},
            "type": event,
        }).encode()

    return build


def _customer_created(now: float) -> bytes:
    return json.dumps({
        "id": new_id("evt_"),
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(now),
        "data": {"object": {"id": new_id("cus_"), "object": "customer",
                            "email": "jenny.rosen@example.com", "name": "Jenny Rosen",
                            "created": int(now), "livemode": False}},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "customer.created",
    }).encode()


PROVIDER = Provider(
    name="stripe",
    config=Config,
    verifier=verifier,
    extract=extract,
    sign=sign,
    samples={
        "payment_intent.succeeded": _payment_intent("payment_intent.succeeded", "succeeded"),
        "payment_intent.payment_failed": _payment_intent("payment_intent.payment_failed",
                                                         "requires_payment_method"),
        "customer.created": _customer_created,
    },
    payload=published(Event, "A Stripe event as the gateway publishes it: the event type in `type`.",
                      type=EVENT_TYPE),
    credential_headers=lambda cfg: (HEADER,),
)
