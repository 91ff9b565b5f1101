"""Adyen's HMAC signatures on standard webhooks
(https://docs.adyen.com/development-resources/webhooks/verify-hmac-signatures), as the `Adyen`
library's util.is_valid_hmac_notification checks them.

The signature is inside the body: each `notificationItems[].NotificationRequestItem` carries
`additionalData.hmacSignature`, the base64 HMAC-SHA256, keyed with the hex-decoded HMAC key, of
`pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success`
(`value` and `currency` from `amount`; a missing field is empty). Every item must be signed by
the same configured key; the key's slot is the match (rotation). The body is parsed here because
the signed fields are in it; a body not in that shape fails like a malformed header (the detail
codes name the signature's place, a body field here). Adyen signs no timestamp.

With `basic:` configured, the Basic credentials Adyen can send are required too (checked first).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence

import msgspec

from gateway.errors import Reason
from gateway.headers import Headers
from gateway.verify import Detail, Reject, Verdict, Verifier, first_slot, guarded

FIELDS = ("pspReference", "originalReference", "merchantAccountCode", "merchantReference",
          "value", "currency", "eventCode", "success")
MAX_ITEMS = 100  # Adyen sends one item per webhook now; a batch used to hold a few
_decode = msgspec.json.Decoder(float_hook=float).decode
_MALFORMED = Reject(Reason.INVALID_SIGNATURE, Detail.HEADER_MALFORMED)


def hmac_key(secret: bytes) -> bytes:
    """The HMAC key as the Customer Area shows it (hex) -> its bytes; ValueError (a start-up
    error) when it is not hex."""
    try:
        key = bytes.fromhex(secret.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("an Adyen HMAC key is hex, as the Customer Area shows it") from None
    if not key:
        raise ValueError("an Adyen HMAC key is hex, as the Customer Area shows it")
    return key


def _text(value: object) -> str:
    # As the library joins them (str() of each), with an absent or null field empty.
    return "" if value is None else str(value)


def signing_string(item: dict[str, object]) -> bytes:
    amount = item.get("amount")
    amount = amount if isinstance(amount, dict) else {}
    values = {**item, "value": amount.get("value"), "currency": amount.get("currency")}
    return ":".join(_text(values.get(name)) for name in FIELDS).encode()


def items(body: bytes) -> list[dict[str, object]]:
    """The NotificationRequestItems of a body; Reject when it is not Adyen's shape."""
    try:
        payload = _decode(body)
    except (msgspec.DecodeError, ValueError, RecursionError):
        raise _MALFORMED from None
    found = payload.get("notificationItems") if isinstance(payload, dict) else None
    if not isinstance(found, list) or not found or len(found) > MAX_ITEMS:
        raise _MALFORMED
    wrapped = [entry.get("NotificationRequestItem") if isinstance(entry, dict) else None
               for entry in found]
    if not all(isinstance(item, dict) for item in wrapped):
        raise _MALFORMED
    return wrapped  # type: ignore[return-value]


def _signature(item: dict[str, object]) -> bytes:
    extra = item.get("additionalData")
    text = extra.get("hmacSignature") if isinstance(extra, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise Reject(Reason.MISSING_SIGNATURE, Detail.HEADER_MISSING)
    try:
        signature = base64.b64decode(text.strip(), validate=True)
    except (ValueError, binascii.Error):
        raise Reject(Reason.INVALID_SIGNATURE, Detail.SIGNATURE_ENCODING) from None
    if len(signature) != hashlib.sha256().digest_size:
        raise Reject(Reason.INVALID_SIGNATURE, Detail.SIGNATURE_LENGTH)
    return signature


def verifier(keys: Sequence[bytes], basic: Verifier | None = None) -> Verifier:
    def check(headers: Headers, body: bytes, now: float) -> int:
        signed = [(_signature(item), signing_string(item)) for item in items(body)]
        hits = []
        for key in keys:  # every key against every item: no early exit (first_slot)
            every = True
            for signature, message in signed:
                expected = hmac.new(key, message, hashlib.sha256).digest()
                every &= hmac.compare_digest(signature, expected)
            hits.append(every)
        slot = first_slot(hits)
        if slot is None:
            raise Reject(Reason.INVALID_SIGNATURE, Detail.NO_SECRET_MATCHED)
        return slot

    signature = guarded("hmac-sha256", check)
    if basic is None:
        return signature

    def verify(headers: Headers, body: bytes, now: float) -> Verdict:
        credentials = basic(headers, body, now)
        return signature(headers, body, now) if credentials.ok else credentials

    return verify


def sign(key: bytes, item: dict[str, object]) -> str:
    """What Adyen puts in the item's hmacSignature: samples and tests."""
    return base64.b64encode(hmac.new(key, signing_string(item), hashlib.sha256).digest()).decode()
