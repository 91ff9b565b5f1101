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
from gateway.verify import Detail, Reject, Verifier, guarded, required
from gateway.verify.hmac import stamped_slot


def public_key(text: bytes) -> Ed25519PublicKey:
    """A hex public key -> the key; ValueError (a start-up error) when it is not one."""
    try:
        raw = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("an Ed25519 public key is 64 hex digits") from None
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 64 hex digits")
    return Ed25519PublicKey.from_public_bytes(raw)


SIGNATURE_BYTES = 64


def _verifies(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def verifier(keys: Sequence[Ed25519PublicKey], signature_header: str, timestamp_header: str,
             tolerance_secs: float) -> Verifier:
    def check(headers: Headers, body: bytes, now: float) -> int:
        try:
            signature = bytes.fromhex(required(headers, signature_header).strip())
        except ValueError:
            raise Reject(Reason.INVALID_SIGNATURE, Detail.SIGNATURE_ENCODING) from None
        if len(signature) != SIGNATURE_BYTES:
            raise Reject(Reason.INVALID_SIGNATURE, Detail.SIGNATURE_LENGTH)
        return stamped_slot(headers, timestamp_header, body, now, tolerance_secs,
                            lambda message: [_verifies(key, signature, message) for key in keys])

    return guarded("ed25519", check)
