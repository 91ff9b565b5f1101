"""Shared-secret schemes without a signature: API key header, HTTP Basic, and explicit `none`."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Sequence

from gateway.errors import Reason
from gateway.headers import Headers
from gateway.verify import Detail, Reject, Verdict, Verifier, first_slot, guarded, required

MAX_CREDENTIAL_CHARS = 1024


def _slot(given: bytes, accepted: Sequence[bytes]) -> int | None:
    """The position of the accepted value `given` equals (rotation), or None. Constant-time
    against every value, no early exit (first_slot)."""
    return first_slot([hmac.compare_digest(given, value) for value in accepted])


_MALFORMED = Reject(Reason.INVALID_CREDENTIALS, Detail.CREDENTIALS_MALFORMED)


def api_key(header: str, keys: Sequence[bytes], scheme: str | None = None) -> Verifier:
    """`{header}: <key>` or, with a scheme, `{header}: {scheme} <key>` (e.g. `Authorization: ApiKey k`)."""

    def check(headers: Headers, body: bytes, now: float) -> int:
        value = required(headers, header)
        if len(value) > MAX_CREDENTIAL_CHARS:
            raise _MALFORMED
        if scheme is not None:
            given_scheme, _, value = value.strip().partition(" ")
            if given_scheme.lower() != scheme.lower():
                raise _MALFORMED
        slot = _slot(value.strip().encode("latin-1"), keys)
        if slot is None:
            raise Reject(Reason.INVALID_CREDENTIALS, Detail.CREDENTIALS_WRONG)
        return slot

    return guarded("api_key", check)


def basic(username: bytes, passwords: Sequence[bytes]) -> Verifier:
    """RFC 7617 Basic; the user name and the password are both compared in constant time."""

    def check(headers: Headers, body: bytes, now: float) -> int:
        value = required(headers, "authorization")
        if len(value) > MAX_CREDENTIAL_CHARS:
            raise _MALFORMED
        given_scheme, _, encoded = value.strip().partition(" ")
        if given_scheme.lower() != "basic":
            raise _MALFORMED
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (ValueError, binascii.Error):
            raise _MALFORMED from None
        user, sep, password = decoded.partition(b":")
        if not sep:
            raise _MALFORMED
        user_ok = hmac.compare_digest(user, username)
        slot = _slot(password, passwords)
        if not user_ok or slot is None:
            raise Reject(Reason.INVALID_CREDENTIALS, Detail.CREDENTIALS_WRONG)
        return slot

    return guarded("basic", check)


def basic_header(username: bytes, password: bytes) -> dict[str, str]:
    """The header a sender using Basic adds: samples (`webhook-gateway send`) and tests."""
    return {"Authorization": "Basic " + base64.b64encode(username + b":" + password).decode()}


def none() -> Verifier:
    """Accept everything: only reachable when a source spells out `auth: {type: none}`."""

    def verify(headers: Headers, body: bytes, now: float) -> Verdict:
        return Verdict("none")

    return verify
