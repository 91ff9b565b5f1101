"""Shared-secret schemes without a signature: API key header, HTTP Basic, and explicit `none`."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Sequence

from gateway.errors import Reason
from gateway.headers import Headers
from gateway.verify import Reject, Verdict, Verifier, guarded, required

MAX_CREDENTIAL_CHARS = 1024


def _equal_any(given: bytes, accepted: Sequence[bytes]) -> bool:
    """Constant-time against every accepted value (rotation), no early exit."""
    matched = False
    for value in accepted:
        matched |= hmac.compare_digest(given, value)
    return matched


def api_key(header: str, keys: Sequence[bytes], scheme: str | None = None) -> Verifier:
    """`{header}: <key>` or, with a scheme, `{header}: {scheme} <key>` (e.g. `Authorization: ApiKey k`)."""

    def check(headers: Headers, body: bytes, now: float) -> None:
        value = required(headers, header)
        if len(value) > MAX_CREDENTIAL_CHARS:
            raise Reject(Reason.INVALID_CREDENTIALS)
        if scheme is not None:
            given_scheme, _, value = value.strip().partition(" ")
            if given_scheme.lower() != scheme.lower():
                raise Reject(Reason.INVALID_CREDENTIALS)
        if not _equal_any(value.strip().encode("latin-1"), keys):
            raise Reject(Reason.INVALID_CREDENTIALS)

    return guarded("api_key", check)


def basic(username: bytes, passwords: Sequence[bytes]) -> Verifier:
    """RFC 7617 Basic; the user name and the password are both compared in constant time."""

    def check(headers: Headers, body: bytes, now: float) -> None:
        value = required(headers, "authorization")
        if len(value) > MAX_CREDENTIAL_CHARS:
            raise Reject(Reason.INVALID_CREDENTIALS)
        given_scheme, _, encoded = value.strip().partition(" ")
        if given_scheme.lower() != "basic":
            raise Reject(Reason.INVALID_CREDENTIALS)
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (ValueError, binascii.Error):
            raise Reject(Reason.INVALID_CREDENTIALS) from None
        user, sep, password = decoded.partition(b":")
        user_ok = hmac.compare_digest(user, username)
        password_ok = _equal_any(password, passwords)
        if not (sep and user_ok and password_ok):
            raise Reject(Reason.INVALID_CREDENTIALS)

    return guarded("basic", check)


def none() -> Verifier:
    """Accept everything: only reachable when a source spells out `auth: {type: none}`."""

    def verify(headers: Headers, body: bytes, now: float) -> Verdict:
        return Verdict("none")

    return verify
