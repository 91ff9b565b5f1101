"""Why a signature failed, for the audit record only: is the body we received the JSON the
provider signed, written differently (`body_reserialized`)?

When no configured secret matches the raw body, the same JSON re-serialised (compact, sorted
keys, spaced, indented) is verified again with the source's own verifier. A match means something
between the provider and us (a proxy, an API gateway, a framework's body parser) rewrites bodies,
which no secret rotation will mend. This is a diagnosis and nothing else: it runs only after a
failure, its verdict only changes the audit record's `detail`, and the request stays rejected.

It costs a JSON parse and a few HMACs, so it is sampled: a token bucket per source
(`RATE_PER_SEC`, `BURST`), so a flood of bad signatures does at most that many re-serialisations,
whatever its size (the spec's rule "verify the exact bytes received" is kept: the bytes accepted
are always the raw ones).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from gateway.headers import Headers
from gateway.limits import TokenBucket
from gateway.settings import Bucket
from gateway.verify import Detail, Verdict, Verifier

RATE_PER_SEC = 1.0  # per source: a rewriting proxy shows on every delivery, one a second is plenty
BURST = 5
MAX_BODY_BYTES = 262_144  # beyond it, no diagnosis: the budget bounds requests, this their size
BUDGET = Bucket(rate_per_sec=RATE_PER_SEC, burst=BURST)


class Diagnosis:
    """Per-source budgets of re-serialisation checks. `checks` counts those done (tests, bench)."""

    def __init__(self, budget: Bucket = BUDGET) -> None:
        self._budget = budget
        # Keyed by configured source names only (the pipeline calls this for a known source).
        self._buckets: dict[str, TokenBucket] = {}
        self.checks = 0

    def explain(self, source: str, verify: Verifier, headers: Headers, body: bytes,
                verdict: Verdict, now: float) -> str | None:
        """The audit record's detail for a failed `verdict`: body_reserialized when a secret
        matches the body re-serialised (within the budget), else the verifier's own detail."""
        if verdict.detail != Detail.NO_SECRET_MATCHED or len(body) > MAX_BODY_BYTES:
            return verdict.detail
        bucket = self._buckets.get(source)
        if bucket is None:
            bucket = self._buckets[source] = TokenBucket(self._budget, now)
        if bucket.take(now):  # no token: not sampled
            return verdict.detail
        self.checks += 1
        if reserialized(verify, headers, body, now):
            return Detail.BODY_RESERIALIZED
        return verdict.detail


def reserialized(verify: Verifier, headers: Headers, body: bytes, now: float) -> bool:
    """True when a configured secret signed `body`'s JSON written another way. Never accepts: the
    caller has rejected the request already; this only names a likely cause."""
    try:
        return any(variant != body and verify(headers, variant, now).slot is not None
                   for variant in variants(body))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested past the parser
        return False


def variants(body: bytes) -> Iterator[bytes]:
    """The usual ways a JSON body gets rewritten: a deterministic canonical form (sorted keys,
    compact), compact in the received order, and the spaced and indented forms of common
    serialisers (Python's json, JSON.stringify(v, null, 2)). ValueError for a body that is not JSON."""
    value = json.loads(body)
    for sort in (True, False):
        yield json.dumps(value, sort_keys=sort, separators=(",", ":"), ensure_ascii=False).encode()
        yield json.dumps(value, sort_keys=sort).encode()
        yield json.dumps(value, sort_keys=sort, indent=2, ensure_ascii=False).encode()
