"""Standard Webhooks (standardwebhooks.com; what Svix-powered senders send).

`webhook-signature: v1,<base64> [v1,<base64> ...]` is HMAC-SHA256 over
`{webhook-id}.{webhook-timestamp}.{body}` with the key that the `whsec_<base64>` secret encodes (base64-decoded, unlike IOF's and Stripe's
`whsec_` secrets, which are used whole). Several space-separated signatures allow rotation; entries
of other schemes (`v1a,` asymmetric) are skipped. The timestamp must be within `tolerance_secs`
(default 300, the spec's 5 minutes). `header_prefix: svix-` reads `svix-id`, `svix-timestamp` and
`svix-signature` instead. `webhook-id` is the envelope id: the spec keeps it across retries.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal

import msgspec
from pydantic import field_validator

from gateway.headers import Headers
from gateway.providers.base import Extract, Fields, Payload, Provider, new_id, text
from gateway.secrets import Secret
from gateway.settings import SignedSourceConfig
from gateway.verify import Verifier, guarded
from gateway.verify.hmac import HmacSpec, whsec_key


class Config(SignedSourceConfig):
    header_prefix: Literal["webhook-", "svix-"] = "webhook-"

    @field_validator("secrets")
    @classmethod
    def _base64_secrets(cls, secrets: list[Secret]) -> list[Secret]:
        for index, secret in enumerate(secrets):
            try:
                whsec_key(secret.reveal())
            except ValueError as exc:
                raise ValueError(f"secret {index + 1} ({secret.ref}): {exc}") from None
        return secrets


class Event(msgspec.Struct):
    """The payload shape the specification recommends, exactly as loose as what the gateway
    accepts: the specification fixes no shape, so only `type` is needed (text, or a number).
    `timestamp` is ISO 8601 in the specification's example and integer milliseconds in Clerk's;
    `data` is the sender's own."""

    type: Annotated[str, msgspec.Meta(min_length=1)] | int | float
    timestamp: Annotated[Any, msgspec.Meta(
        description="ISO 8601 text (the specification) or unix milliseconds (Clerk)")] = None
    data: Annotated[Any, msgspec.Meta(description="the sender's own; `data.id` is the subject")
                    ] = None


def spec(cfg: Config) -> HmacSpec:
    prefix = cfg.header_prefix
    return HmacSpec(
        header=f"{prefix}signature",
        encodings=("base64",),
        prefix="v1,",
        require_prefix=True,
        commas=False,  # the comma belongs to `v1,`: signatures are separated by spaces only
        template="{id}.{timestamp}.{body}",
        headers=(("id", f"{prefix}id"), ("timestamp", f"{prefix}timestamp")),
        timestamp="timestamp",
        tolerance_secs=cfg.tolerance_secs,
    )


def verifier(cfg: Config) -> Verifier:
    keys = [whsec_key(secret.reveal()) for secret in cfg.secrets]
    mac = spec(cfg)
    return guarded("hmac-sha256", lambda headers, body, now: mac.check(headers, body, now, keys))


def extractor(cfg: Config) -> Extract:
    # Only the configured id header: it is signed; the other prefix's would not be.
    return _extract_with(f"{cfg.header_prefix}id")


def _extract_with(id_header: str) -> Extract:
    def extract(payload: Payload, headers: Headers) -> Fields:
        return Fields(
            type=text(payload, "type"),
            id=headers.get(id_header) or None,
            subject=text(payload, "data", "id"),
            time=payload.get("timestamp"),
        )

    return extract


def sign(cfg: Config, body: bytes, now: float) -> dict[str, str]:
    prefix = cfg.header_prefix
    headers = {f"{prefix}id": new_id("msg_"), f"{prefix}timestamp": str(int(now))}
    signature = spec(cfg).sign(whsec_key(cfg.secrets[0].reveal()), body, Headers(headers))
    return {**headers, f"{prefix}signature": f"v1,{signature}"}


def _sample(event: str):
    def build(now: float) -> bytes:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        # The specification's "full payload" example, with a fresh contact id.
        return json.dumps({
            "type": event,
            "timestamp": stamp,
            "data": {
                "id": new_id("contact_"),
                "type": "contact",
                "fullName": "John Smith",
                "address": "800 W NASA Pkwy, Webster, TX 77598, USA",
                "phoneNumber": "(281) 332-2575",
                "birthday": "1980-04-19",
                "occupation": "Engineer, ACME",
            },
        }).encode()

    return build


EVENTS = ("contact.created", "contact.updated", "contact.deleted")

PROVIDER = Provider(
    name="standard-webhooks",
    config=Config,
    verifier=verifier,
    extract=_extract_with("webhook-id"),
    extractor=extractor,
    sign=sign,
    samples={event: _sample(event) for event in EVENTS},
    payload=Event,
    credential_headers=lambda cfg: (f"{cfg.header_prefix}signature",),
)
