"""The publisher process's table of claims: a webhook's (source, id) handed to the producer by one
worker of the host, so that a copy racing it on another worker is not published again.

A worker writes an event's dedupe mark only after Kafka's ack, and a retry that arrives meanwhile
on another worker finds no mark; both would publish. Every worker's records pass through this one
process first, so here the first copy of a (source, id) is sent and any other copy waits for it:
acknowledged -> the copy is answered as a duplicate; failed -> the copy fails too, and each
worker spools its own, where the store's write transaction keeps only the first. An acknowledged
claim is remembered for CLAIM_TTL_SECS, far longer than the owner takes to commit its mark.

Runs on the publisher process's event loop only: no locks.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from gateway.publish import Ack

Key = tuple[str, str]
Waiter = Callable[[Ack | None], None]
CLAIM_TTL_SECS = 30.0
MAX_CLAIMS = 200_000  # acknowledged ones kept at most (in flight ones are bounded by the producer)


class Claims:
    def __init__(self, ttl: float = CLAIM_TTL_SECS, cap: int = MAX_CLAIMS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._cap = cap
        self._clock = clock
        self._sending: dict[Key, list[Waiter]] = {}  # in flight -> the copies waiting for it
        self._acked: OrderedDict[Key, tuple[Ack, float]] = OrderedDict()  # -> (ack, expiry)

    def __len__(self) -> int:
        return len(self._sending) + len(self._acked)

    def claim(self, key: Key, waiter: Waiter) -> bool:
        """True: the caller owns `key` now and sends its record. False: another copy owns it;
        `waiter` is called with that copy's Ack (now, if it has one) or None if it failed."""
        self._expire()
        acked = self._acked.get(key)
        if acked is not None:
            waiter(acked[0])
            return False
        waiting = self._sending.get(key)
        if waiting is not None:
            waiting.append(waiter)
            return False
        self._sending[key] = []
        return True

    def settle(self, key: Key, ack: Ack | None) -> None:
        """The owner's outcome: its Ack, or None (not in Kafka: the claim is released)."""
        waiting = self._sending.pop(key, None)
        if waiting is None:
            return
        if ack is not None:
            self._acked[key] = (ack, self._clock() + self._ttl)
        for waiter in waiting:
            waiter(ack)

    def _expire(self) -> None:
        now = self._clock()
        acked = self._acked
        while acked and (len(acked) > self._cap or next(iter(acked.values()))[1] <= now):
            acked.popitem(last=False)
