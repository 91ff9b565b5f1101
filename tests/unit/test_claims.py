"""The publisher process's claims: one copy of a (source, id) sent at a time, the others answered."""

from __future__ import annotations

from gateway.publish import Ack
from gateway.publish.claims import Claims


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_copy_waits_for_the_owner_and_is_answered_with_its_ack() -> None:
    claims, heard = Claims(clock=Clock()), []
    assert claims.claim(("iof", "e1"), heard.append) is True  # the owner sends
    assert claims.claim(("iof", "e1"), heard.append) is False  # a copy waits
    assert heard == []
    claims.settle(("iof", "e1"), Ack("t", 0, 7))
    assert heard == [Ack("t", 0, 7)]
    assert claims.claim(("iof", "e1"), heard.append) is False  # acknowledged: answered at once
    assert heard == [Ack("t", 0, 7)] * 2
    assert claims.claim(("iof", "e2"), heard.append) is True  # another id is its own


def test_a_failed_owner_releases_the_claim_and_fails_its_copies() -> None:
    claims, heard = Claims(clock=Clock()), []
    claims.claim(("iof", "e1"), heard.append)
    claims.claim(("iof", "e1"), heard.append)
    claims.settle(("iof", "e1"), None)
    assert heard == [None]  # the copy fails too: each worker spools its own, the store keeps one
    assert claims.claim(("iof", "e1"), heard.append) is True  # a later retry may send it


def test_acknowledged_claims_are_forgotten_after_their_ttl_and_bounded() -> None:
    clock = Clock()
    claims = Claims(ttl=30, cap=100, clock=clock)
    claims.claim(("iof", "old"), print)
    claims.settle(("iof", "old"), Ack("t", 0, 1))
    clock.now += 31
    assert claims.claim(("iof", "old"), print) is True  # past the TTL: the mark has long been written
    for n in range(1000):
        claims.claim(("iof", str(n)), print)
        claims.settle(("iof", str(n)), Ack("t", 0, n))
    assert len(claims) <= 102
