"""Abuse limits as small pure pieces: token buckets, the limiter, the client address, the CIDR
allowlist (SECURITY.md).

Before a request is verified, only the client's own address can refuse it: its request bucket
(`rate_limit.per_client`, per source and address). Nothing shared between addresses is spent
before verification, because a shared budget is exactly what a flood from many addresses
spends: a stranger must never be able to make a provider's valid event wait.

After verification:
- a failure takes a token from the address's failure bucket (`failed_auth`); an address with
  none left is *penalised* for a while: its failures are answered 429 and audited in aggregate.
  Its requests are still verified (one HMAC over a bounded body), so a provider that shares an
  address with an attacker (a NAT, an untrusted proxy) still gets its valid events through;
- an authenticated event takes a token from its source's bucket (`rate_limit.per_source`), off
  by default: a provider redelivering a backlog bursts legitimately.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import NamedTuple

from gateway.settings import Bucket, RateLimit

Network = IPv4Network | IPv6Network
AUDIT_EVERY_SECS = 1.0  # a penalised address's failures: one full audit record a second


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; one request takes one token."""

    __slots__ = ("rate", "burst", "tokens", "updated")

    def __init__(self, spec: Bucket, now: float) -> None:
        self.rate = spec.rate_per_sec
        self.burst = float(spec.burst)
        self.tokens = self.burst
        self.updated = now

    def refill(self, now: float) -> float:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return self.tokens

    def take(self, now: float) -> float:
        """0 when a token was taken, else the seconds until one will be there."""
        if self.refill(now) >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Tracked(TokenBucket):
    """An address's bucket, and what its aggregated audit records have folded in."""

    __slots__ = ("audited", "folded")

    def __init__(self, spec: Bucket, now: float) -> None:
        super().__init__(spec, now)
        self.audited = -math.inf  # when its last full audit record was written
        self.folded = 0  # refusals since then that were counted, not written


class Refused(NamedTuple):
    wait: float  # seconds until the address has a token again (Retry-After)
    repeats: int | None  # None: count it only; else write a record folding in this many before


class _Lru(OrderedDict[object, Tracked]):
    """Buckets by key, the least recently used dropped past `cap`: an attacker rotating addresses
    costs bounded memory (an evicted address simply starts again with a full bucket)."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap

    def take(self, key: object, spec: Bucket, now: float) -> Refused | None:
        bucket = self.get(key)
        if bucket is None:
            bucket = self[key] = Tracked(spec, now)
            if len(self) > self.cap:
                self.popitem(last=False)
        else:
            self.move_to_end(key)
        wait = bucket.take(now)
        if not wait:
            return None
        if now - bucket.audited < AUDIT_EVERY_SECS:
            bucket.folded += 1
            return Refused(wait, None)
        folded, bucket.audited, bucket.folded = bucket.folded, now, 0
        return Refused(wait, folded)


class Limiter:
    """The limits of one configuration (built with it, replaced whole on reload). Refusals of
    one address are audited in aggregate: one full record a second, folding in the rest."""

    def __init__(self, limits: dict[str, RateLimit], default: RateLimit,
                 failed_auth: Bucket | None = None, max_clients: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._default = default
        self._failed_auth = failed_auth
        self._clock = clock
        self._sources: dict[str, TokenBucket] = {}
        self._clients = _Lru(max_clients)  # (source, address) -> request bucket
        self._failures = _Lru(max_clients)  # address -> failure bucket

    def _limit(self, source: str | None) -> RateLimit:
        return self._limits.get(source or "") or self._default

    def admit(self, source: str | None, client: str | None) -> Refused | None:
        """Before verification: None when the client's own request bucket for this source has a
        token. Requests to unknown sources share the pseudo-source ""."""
        spec = self._limit(source).per_client
        if spec is None or client is None:
            return None
        return self._clients.take((source or "", client), spec, self._clock())

    def failed(self, client: str | None) -> Refused | None:
        """After a failed verification: None for an ordinary rejection (401, a full record), or
        the refusal of an address past its failure budget (answered 429)."""
        spec = self._failed_auth
        if spec is None or client is None:
            return None
        return self._failures.take(client, spec, self._clock())

    def authenticated(self, source: str) -> float:
        """After verification: 0, or the seconds until the source's own bucket has a token."""
        spec = self._limit(source).per_source
        if spec is None:
            return 0.0
        now = self._clock()
        bucket = self._sources.get(source)
        if bucket is None:
            bucket = self._sources[source] = TokenBucket(spec, now)
        return bucket.take(now)


def retry_after(wait: float) -> str:
    """Whole seconds, at least 1 (Retry-After has no fractions)."""
    return str(max(1, math.ceil(wait)))


def _in(address: str, networks: Sequence[Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:  # ::ffff:10.0.0.1 is 10.0.0.1
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def client_address(peer: str | None, forwarded_for: list[str], trusted: Sequence[Network]) -> str | None:
    """The address a request came from.

    X-Forwarded-For is believed only when the peer is a trusted proxy (never by default: anyone
    can write the header). Then it is read right to left, skipping trusted proxies, and the first
    untrusted address is the client: entries left of it were written by the client itself.
    """
    if peer is None or not trusted or not _in(peer, trusted):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _in(hop, trusted):
            return hop if _valid(hop) else peer
    return hops[0] if hops and _valid(hops[0]) else peer


def _valid(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True


def allowed(client: str | None, cidrs: Sequence[Network] | None) -> bool:
    """No allowlist allows everyone; with one, an unknown or unparsable address is refused."""
    if cidrs is None:
        return True
    return client is not None and _in(client, cidrs)
