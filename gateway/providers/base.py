"""What a provider module declares. Copy `tlas.py` (the smallest) to add one; register it in
`gateway/providers/__init__.py` and add fixtures under `tests/fixtures/{name}/`."""

from __future__ import annotations

import secrets as _random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from gateway.errors import GatewayError
from gateway.headers import Headers
from gateway.outcome import Reply
from gateway.settings import SourceConfig
from gateway.verify import Verifier

Payload = dict[str, Any]


class CannotSign(GatewayError):
    """`sign` cannot make a sample's signature (a public-key provider without a test key pair, a
    Notion source without its token yet)."""


class Fields(msgspec.Struct, frozen=True, gc=False):  # a Struct: see gateway.publish.Record
    """What the mapper found in a payload; None where the provider's payload does not say."""

    type: str | None
    id: str | None = None
    subject: str | None = None
    time: object = None  # raw value (ISO string or unix number), normalised by gateway.map
    tenant: str | None = None


# decoded JSON object + headers -> Fields (pure; never raises on odd optional fields)
Extract = Callable[[Payload, Headers], Fields]


@dataclass(frozen=True)
class Provider:
    name: str
    config: type[SourceConfig]
    # source config -> the verifier with its secrets bound
    verifier: Callable[[Any], Verifier]
    extract: Extract
    # (source config, body, now) -> the headers a real sender would add (samples, tests, bench)
    sign: Callable[[Any, bytes, float], dict[str, str]]
    # event type -> realistic body built from the seed documents, fresh ids on every call
    samples: dict[str, Callable[[float], bytes]]
    # the documented payload type, for schemas/ and typed consumers
    payload: Any = None
    # header names whose values are credentials (fingerprinted in audit records)
    credential_headers: Callable[[Any], tuple[str, ...]] = lambda cfg: ()
    # source config -> extract, where the mapping depends on the source's options (`generic`)
    extractor: Callable[[Any], Extract] | None = None
    # (source config, event type) -> True to answer 200 "ignored" and not publish (GitHub's `ping`)
    ignores: Callable[[Any, str], bool] = lambda cfg, event_type: False
    # (event type, now) -> the unsigned headers a sample is sent with (event name, delivery id)
    sample_headers: Callable[[str, float], dict[str, str]] = lambda event, now: {}
    # (source config, headers, body) -> the JSON answer to an authenticated endpoint handshake
    # (Slack's url_verification, Zoom's endpoint.url_validation), or None for a normal delivery
    handshake: Callable[[Any, Headers, bytes], Reply | None] | None = None
    # the handshake comes as an authenticated GET (Okta's one-time verification): the one
    # method besides POST a source accepts, and only for its handshake
    handshake_on_get: bool = False
    # (source config, headers, body) -> a verification token sent unsigned before the provider has
    # a secret (Notion), kept for the operator (gateway.tokens) instead of verified; else None
    unsigned_token: Callable[[Any, Headers, bytes], str | None] | None = None
    # (source config, headers, body) -> the answer to an unsigned check whose answer itself proves
    # the endpoint holds the secret (X's CRC), given before verification; else None
    proof: Callable[[Any, Headers, bytes], Reply | None] | None = None
    # (source config, sample body, now) -> the body with its signature inside it, for providers
    # that sign there (Adyen, Mailgun); `sign` then adds the headers, if any
    sign_body: Callable[[Any, bytes, float], bytes] | None = None
    # the body is a JSON array of events (SendGrid): mapped as one envelope, not dead-lettered
    batch: bool = False
    # a form body (`application/x-www-form-urlencoded`, Twilio) is a payload: mapped, and
    # published as the JSON object of its fields (gateway.form)
    form: bool = False

    def extract_for(self, cfg: SourceConfig) -> Extract:
        return self.extractor(cfg) if self.extractor is not None else self.extract


def text(obj: object, *path: str) -> str | None:
    """The string at `path` in nested objects; numbers become strings; anything else is None."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    if isinstance(obj, str):
        return obj or None
    if isinstance(obj, int | float) and not isinstance(obj, bool):
        return str(obj)
    return None


def first_text(obj: Payload, *keys: str) -> str | None:
    for key in keys:
        found = text(obj, key)
        if found is not None:
            return found
    return None


def first_value(obj: Payload, *keys: str) -> object:
    for key in keys:
        if obj.get(key) is not None:
            return obj[key]
    return None


def new_id(prefix: str) -> str:
    return prefix + _random.token_hex(8)
