"""ECDSA P-256 / SHA-256 signatures (SendGrid's Event Webhook): the sender signs
`{timestamp}{body}`; the source holds the verification key SendGrid shows (base64 of the DER
SubjectPublicKeyInfo). The signature header is base64 DER.

Verification is `cryptography`'s, never hand-written. Every configured key is tried (rotation).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from gateway.errors import Reason
from gateway.headers import Headers
from gateway.verify import Detail, Reject, Verifier, guarded, required
from gateway.verify.hmac import stamped_slot


def public_key(text: bytes) -> ec.EllipticCurvePublicKey:
    """A base64 DER public key -> the key; ValueError (a start-up error) when it is not one."""
    try:
        key = load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error):
        raise ValueError("a verification key is base64 of an EC public key (DER), as SendGrid "
                         "shows it") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("the verification key is not an elliptic-curve key")
    return key


def _verifies(key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def verifier(keys: Sequence[ec.EllipticCurvePublicKey], signature_header: str,
             timestamp_header: str, tolerance_secs: float) -> Verifier:
    def check(headers: Headers, body: bytes, now: float) -> int:
        try:
            signature = base64.b64decode(required(headers, signature_header).strip(), validate=True)
        except (ValueError, binascii.Error):
            raise Reject(Reason.INVALID_SIGNATURE, Detail.SIGNATURE_ENCODING) from None
        return stamped_slot(headers, timestamp_header, body, now, tolerance_secs,
                            lambda message: [_verifies(key, signature, message) for key in keys])

    return guarded("ecdsa-p256", check)
