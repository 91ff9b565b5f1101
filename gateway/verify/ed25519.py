"""Ed25519 signatures (Discord): the sender signs `{timestamp}{body}` with its private key; the
source holds the application's public key (hex, as the developer portal shows it).

Verification is `cryptography`'s, never hand-written. Every configured key is tried (rotation).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.errors import Reason
from gateway.headers import Headers
from gateway.verify import Reject, Verifier, guarded, required
from gateway.verify.hmac import check_tolerance


def public_key(text: bytes) -> Ed25519PublicKey:
    """A hex public key -> the key; ValueError (a start-up error) when it is not one."""
    try:
        raw = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("an Ed25519 public key is 64 hex digits") from None
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 64 hex digits")
    return Ed25519PublicKey.from_public_bytes(raw)


def verifier(keys: Sequence[Ed25519PublicKey], signature_header: str, timestamp_header: str,
             tolerance_secs: float) -> Verifier:
    def check(headers: Headers, body: bytes, now: float) -> None:
        signature = bytes.fromhex(required(headers, signature_header).strip())
        stamp = required(headers, timestamp_header).strip()
        message = stamp.encode("latin-1") + body
        # No early exit: every key is tried, so timing does not tell which key is configured.
        matched = False
        for key in keys:
            try:
                key.verify(signature, message)
                matched = True
            except InvalidSignature:
                pass
        if not matched:
            raise Reject(Reason.INVALID_SIGNATURE)
        check_tolerance(stamp, now, tolerance_secs)

    return guarded("ed25519", check)
