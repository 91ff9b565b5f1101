"""Authentication schemes: pure functions of (headers, raw body, secrets, now) -> Verdict.

No I/O, no logging, no JSON parsing. Every exception raised while looking at attacker-controlled
input becomes a rejection (`guarded`), so a hostile header is a 401, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum

import msgspec

from gateway.errors import GatewayError, Reason
from gateway.headers import DuplicateHeader, Headers


class Detail(StrEnum):
    """Why verification failed, more precisely than `Reason`: for the audit record only (the
    security team's), never for the sender, whose answer is the same generic 401 whatever this
    says. A fixed vocabulary, documented in SECURITY.md ("Why a request was rejected")."""

    HEADER_MISSING = "header_missing"  # a required header is absent or blank
    HEADER_REPEATED = "header_repeated"  # a header that must appear once came several times
    HEADER_MALFORMED = "header_malformed"  # present, but not in the scheme's shape
    SIGNATURE_ENCODING = "signature_encoding"  # not hex / base64 as the scheme says
    SIGNATURE_LENGTH = "signature_length"  # decodes, but to the wrong number of bytes
    TIMESTAMP_MALFORMED = "timestamp_malformed"  # the signed timestamp is not one
    TIMESTAMP_SKEW = "timestamp_skew"  # signature good, timestamp off by `skew_secs`
    NO_SECRET_MATCHED = "no_secret_matched"  # well-formed, but no configured secret signed it
    BODY_RESERIALIZED = "body_reserialized"  # a secret signed the same JSON written differently
    CREDENTIALS_MALFORMED = "credentials_malformed"  # Basic / API key not in its shape
    CREDENTIALS_WRONG = "credentials_wrong"  # well-formed, but no configured key/password
    TOKEN_REUSED = "token_reused"  # a single-use signed token came back with another body
    BODY_NOT_OBJECT = "body_not_object"  # a scheme that signs only JSON objects got another body
    VERIFIER_ERROR = "verifier_error"  # the check itself failed on this input (report it)


class Verdict(msgspec.Struct, frozen=True, gc=False):  # a Struct: see gateway.publish.Record
    """`reason` is None when the request authenticated; `scheme` names how (envelope `authscheme`).

    `slot` is the position (0-based) in the source's configured list of the secret, key or
    password that matched: set when the request authenticated, and on a rejection that came after
    the match (a timestamp out of tolerance). `detail` and `skew_secs` (now minus the signed
    timestamp: positive is in the past) say why a check failed; they never change the answer.
    `nonce`: a single-use token the signature covered, where it does not cover the whole body
    (Mailgun's): one token authenticates one body (gateway.nonces).
    """

    scheme: str
    reason: Reason | None = None
    slot: int | None = None
    detail: str | None = None
    skew_secs: int | None = None
    nonce: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None


# (headers, raw body, now as unix seconds) -> Verdict; secrets are bound when the source is built.
Verifier = Callable[[Headers, bytes, float], Verdict]
# A check returns the matching slot (with the single-use token it verified, if any: Verdict.nonce),
# or raises Reject.
Check = Callable[[Headers, bytes, float], int | tuple[int, str]]


class Reject(GatewayError):
    """Raised inside a verifier to stop at the first failed check; `guarded` turns it into a Verdict."""

    def __init__(self, reason: Reason, detail: Detail | None = None, *, slot: int | None = None,
                 skew_secs: int | None = None) -> None:
        super().__init__(reason.value)
        self.reason = reason
        self.detail = detail
        self.slot = slot
        self.skew_secs = skew_secs


MAX_SLOTS = 64  # accepted Verdicts kept per verifier (a source has a handful of secrets)


def guarded(scheme: str, check: Check) -> Verifier:
    """Wrap a check that raises on failure into a Verifier that never raises."""
    # frozen: one per slot for every request that passes
    accepted = [Verdict(scheme, slot=slot) for slot in range(MAX_SLOTS)]

    def verify(headers: Headers, body: bytes, now: float) -> Verdict:
        try:
            found = check(headers, body, now)
        except Reject as rejected:
            return Verdict(scheme, rejected.reason, rejected.slot, rejected.detail,
                           rejected.skew_secs)
        except DuplicateHeader:
            return Verdict(scheme, Reason.MALFORMED_REQUEST, detail=Detail.HEADER_REPEATED)
        except Exception:  # noqa: BLE001 - attacker input must never become a 500
            return Verdict(scheme, Reason.INVALID_SIGNATURE, detail=Detail.VERIFIER_ERROR)
        if isinstance(found, tuple):  # the slot and the single-use token it verified
            return Verdict(scheme, slot=found[0], nonce=found[1])
        return accepted[found] if 0 <= found < MAX_SLOTS else Verdict(scheme, slot=found)

    return verify


def first_slot(hits: Sequence[bool]) -> int | None:
    """The lowest index whose comparison matched, chosen without branching on any of them: every
    comparison has been made already, and this walks them all alike, so which secret matched
    (the old or the new) shows in no timing."""
    found = len(hits)
    for index in range(len(hits) - 1, -1, -1):
        hit = int(hits[index])
        found = hit * index + (1 - hit) * found
    return found if found < len(hits) else None


def required(headers: Headers, *names: str) -> str:
    """The first of `names` present (aliases), exactly once; else missing_signature.

    A blank value counts as missing: a sender (or proxy) that sends an empty header sent nothing.
    """
    for name in names:
        value = headers.one(name)
        if value is not None and value.strip():
            return value
    raise Reject(Reason.MISSING_SIGNATURE, Detail.HEADER_MISSING)
