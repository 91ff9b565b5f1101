"""X (Twitter) Account Activity webhooks: `x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256
of the body>` under the app's consumer secret.

X also checks the endpoint with a Challenge-Response Check: an unsigned GET with `crc_token`, to
be answered with the token's HMAC under the same secret (gateway.providers.handshakes.twitter_crc).
That answer signs a message a stranger chose, with the key that signs deliveries: a signing
oracle. So the check answers only tokens of a token's alphabet (no `{`), and this verifier accepts
only a body that is a JSON object (its first byte `{`): no token the check signs is a body it
accepts. X's deliveries are JSON objects, so nothing of theirs is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from gateway.errors import Reason
from gateway.headers import Headers
from gateway.verify import Detail, Reject, Verifier, guarded
from gateway.verify.hmac import HmacSpec

SIGNATURE = HmacSpec(header="x-twitter-webhooks-signature", prefix="sha256=", require_prefix=True,
                     encodings=("base64",))
_SPACE = b" \t\r\n"


def verifier(keys: list[bytes]) -> Verifier:
    def check(headers: Headers, body: bytes, now: float) -> int:
        if body.lstrip(_SPACE)[:1] != b"{":  # before the signature: it does not depend on it
            raise Reject(Reason.INVALID_SIGNATURE, Detail.BODY_NOT_OBJECT)
        return SIGNATURE.check(headers, body, now, keys)

    return guarded("hmac-sha256", check)


def sign(key: bytes, message: bytes) -> str:
    """`sha256=` + base64 HMAC-SHA256: a delivery's header, and the CRC's response_token."""
    return "sha256=" + base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
