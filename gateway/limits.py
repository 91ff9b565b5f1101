"""Abuse limits as small pure pieces: token buckets, the client address, the CIDR allowlist.

`gateway.guard` applies them to each webhook request before its body is read, so a flood costs
a dictionary lookup and a rejection, never a signature check, JSON parsing or Kafka work.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

from gateway.config import Bucket, RateLimit

Network = IPv4Network | IPv6Network


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up; one request takes one token."""

    __slots__ = ("rate", "burst", "tokens", "updated")

    def __init__(self, spec: Bucket, now: float) -> None:
        self.rate = spec.rate_per_sec
        self.burst = float(spec.burst)
        self.tokens = self.burst
        self.updated = now

    def take(self, now: float) -> float:
        """0 when a token was taken, else the seconds until one will be there."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimiter:
    """A bucket per source and a bucket per (source, client address).

    Client buckets are kept in LRU order and capped at `max_clients`, so an attacker rotating
    addresses costs bounded memory (the evicted client simply starts again with a full bucket).
    Requests to unknown sources share the pseudo-source "" so random paths are limited too.
    """

    def __init__(self, limits: dict[str, RateLimit], default: RateLimit, max_clients: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._default = default
        self._max_clients = max_clients
        self._clock = clock
        self._sources: dict[str, TokenBucket] = {}
        self._clients: OrderedDict[tuple[str, str], TokenBucket] = OrderedDict()

    def check(self, source: str | None, client: str | None) -> float:
        """0 when the request may go on, else the seconds to wait (for Retry-After)."""
        name = source or ""
        limit = self._limits.get(name) or self._default
        now = self._clock()
        wait = 0.0
        if limit.per_client is not None and client is not None:
            wait = self._client_bucket(name, client, limit.per_client, now).take(now)
        if wait == 0.0 and limit.per_source is not None:
            # A client already over its own limit does not use up the source's shared tokens.
            bucket = self._sources.get(name)
            if bucket is None:
                bucket = self._sources[name] = TokenBucket(limit.per_source, now)
            wait = bucket.take(now)
        return wait

    def _client_bucket(self, source: str, client: str, spec: Bucket, now: float) -> TokenBucket:
        key = (source, client)
        bucket = self._clients.get(key)
        if bucket is None:
            bucket = self._clients[key] = TokenBucket(spec, now)
            if len(self._clients) > self._max_clients:
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(key)
        return bucket


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
