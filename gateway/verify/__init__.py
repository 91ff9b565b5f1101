"""Authentication schemes: pure functions of (headers, raw body, secrets, now) -> Verdict.

No I/O, no logging, no JSON parsing. Every exception raised while looking at attacker-controlled
input becomes a rejection (`guarded`), so a hostile header is a 401, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from gateway.errors import GatewayError, Reason
from gateway.headers import DuplicateHeader, Headers


class Verdict(msgspec.Struct, frozen=True, gc=False):  # a Struct: see gateway.publish.Record
    """`reason` is None when the request authenticated; `scheme` names how (envelope `authscheme`)."""

    scheme: str
    reason: Reason | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


# (headers, raw body, now as unix seconds) -> Verdict; secrets are bound when the source is built.
Verifier = Callable[[Headers, bytes, float], Verdict]


class Reject(GatewayError):
    """Raised inside a verifier to stop at the first failed check; `guarded` turns it into a Verdict."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.value)
        self.reason = reason


def guarded(scheme: str, check: Callable[[Headers, bytes, float], None]) -> Verifier:
    """Wrap a check that raises on failure into a Verifier that never raises."""
    accepted = Verdict(scheme)  # frozen: one for every request that passes

    def verify(headers: Headers, body: bytes, now: float) -> Verdict:
        try:
            check(headers, body, now)
        except Reject as rejected:
            return Verdict(scheme, rejected.reason)
        except DuplicateHeader:
            return Verdict(scheme, Reason.MALFORMED_REQUEST)
        except Exception:  # noqa: BLE001 - attacker input must never become a 500
            return Verdict(scheme, Reason.INVALID_SIGNATURE)
        return accepted

    return verify


def required(headers: Headers, *names: str) -> str:
    """The first of `names` present (aliases), exactly once; else missing_signature.

    A blank value counts as missing: a sender (or proxy) that sends an empty header sent nothing.
    """
    for name in names:
        value = headers.one(name)
        if value is not None and value.strip():
            return value
    raise Reject(Reason.MISSING_SIGNATURE)
