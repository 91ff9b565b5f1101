"""Mailgun's webhook signature
(https://documentation.mailgun.com/docs/mailgun/user-manual/tracking-messages/#securing-webhooks),
as the `mailgun` library's SecurityGuard.verify_webhook checks it.

The signature is inside the JSON body: `signature: {timestamp, token, signature}`, the hex
HMAC-SHA256 of `{timestamp}{token}` keyed with the HTTP webhook signing key. It does not cover
`event-data`: whoever holds one signed triple can attach it to another event until the timestamp
is out of tolerance. Mailgun's answer is a single-use token; this gateway keeps no state in its
verifiers, so it hands the token on (Verdict.nonce) and admission keeps it (gateway.nonces): a
token authenticates one body. The signature is checked first, then the timestamp against the
tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

import msgspec

from gateway.errors import Reason
from gateway.headers import Headers
from gateway.verify import Detail, Reject, Verifier, guarded
from gateway.verify.hmac import check_tolerance, decode_candidates, signed_by

MAX_TOKEN_CHARS = 256  # Mailgun's are 50 characters


class _Signature(msgspec.Struct):
    timestamp: str | int
    token: str
    signature: str


class _Body(msgspec.Struct):  # only the signature is read; event-data is left to the mapper
    signature: _Signature


_decode = msgspec.json.Decoder(_Body).decode


def message(timestamp: str, token: str) -> bytes:
    return f"{timestamp}{token}".encode()


def verifier(keys: Sequence[bytes], tolerance_secs: float) -> Verifier:
    def check(headers: Headers, body: bytes, now: float) -> tuple[int, str]:
        try:
            found = _decode(body).signature
        except msgspec.ValidationError:  # JSON, but no signature object in Mailgun's shape
            raise Reject(Reason.MISSING_SIGNATURE, Detail.HEADER_MISSING) from None
        except (msgspec.DecodeError, RecursionError):
            raise Reject(Reason.INVALID_SIGNATURE, Detail.HEADER_MALFORMED) from None
        stamp = str(found.timestamp)
        if len(found.token) > MAX_TOKEN_CHARS:
            raise Reject(Reason.INVALID_SIGNATURE, Detail.HEADER_MALFORMED)
        candidates = decode_candidates([found.signature.strip()], ("hex",), "sha256")
        slot = signed_by(candidates, keys, message(stamp, found.token), "sha256")
        check_tolerance(stamp, now, tolerance_secs, slot=slot)
        return slot, found.token  # single use: Verdict.nonce (gateway.nonces)

    return guarded("hmac-sha256", check)


def sign(key: bytes, timestamp: str, token: str) -> str:
    """What Mailgun puts in signature.signature: samples and tests."""
    return hmac.new(key, message(timestamp, token), hashlib.sha256).hexdigest()
