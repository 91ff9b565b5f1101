"""Token buckets, the client address behind proxies, CIDR allowlists, the replay check."""

from __future__ import annotations

from datetime import UTC, datetime
from ipaddress import ip_network

import pytest

from gateway.envelope import Envelope
from gateway.limits import Limiter, TokenBucket, allowed, client_address, retry_after
from gateway.replay import stale
from gateway.settings import Bucket, RateLimit, SourceConfig


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(Bucket(rate_per_sec=2, burst=3), now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)  # one token every half second
    assert bucket.take(0.5) == 0.0
    assert bucket.take(100.0) == 0.0 and bucket.tokens == pytest.approx(2.0)  # capped at burst


def test_before_verification_only_the_address_own_bucket_refuses() -> None:
    clock = Clock()
    limit = RateLimit(per_client=Bucket(rate_per_sec=1, burst=2))
    limiter = Limiter({"tlas": limit}, RateLimit(), clock=clock)
    assert limiter.admit("tlas", "10.0.0.1") is None and limiter.admit("tlas", "10.0.0.1") is None
    assert limiter.admit("tlas", "10.0.0.1") is not None  # this client's burst is spent
    # A thousand other addresses each spending their own burst leave nothing shared behind:
    for i in range(1000):
        limiter.admit("tlas", f"10.1.{i // 256}.{i % 256}")
        limiter.admit("tlas", f"10.1.{i // 256}.{i % 256}")
    assert limiter.admit("tlas", "10.0.0.2") is None
    clock.now += 5
    assert limiter.admit("tlas", "10.0.0.1") is None


def test_failures_penalise_only_the_failing_address_and_refill() -> None:
    clock = Clock()
    limiter = Limiter({}, RateLimit(), failed_auth=Bucket(rate_per_sec=0.5, burst=3), clock=clock)
    assert [limiter.failed("10.0.0.1") for _ in range(3)] == [None, None, None]  # ordinary 401s
    refused = limiter.failed("10.0.0.1")
    assert refused is not None and refused.wait == pytest.approx(2.0)  # one token every 2 s
    assert limiter.failed("10.0.0.2") is None  # another address is untouched
    clock.now += 2
    assert limiter.failed("10.0.0.1") is None


def test_a_penalised_address_is_audited_once_a_second_folding_in_the_rest() -> None:
    clock = Clock()
    limiter = Limiter({}, RateLimit(), failed_auth=Bucket(rate_per_sec=0.001, burst=1), clock=clock)
    limiter.failed("10.0.0.1")
    first = limiter.failed("10.0.0.1")
    assert first is not None and first.repeats == 0  # written in full
    assert [limiter.failed("10.0.0.1").repeats for _ in range(5)] == [None] * 5  # counted only
    clock.now += 1
    assert limiter.failed("10.0.0.1").repeats == 5  # the next record says how many it stands for


def test_authenticated_events_spend_only_their_source_bucket_which_is_off_by_default() -> None:
    limiter = Limiter({"iof": RateLimit(per_source=Bucket(rate_per_sec=0.001, burst=2))},
                      RateLimit(), clock=Clock())
    assert all(limiter.authenticated("tlas") == 0 for _ in range(10_000))  # off by default
    assert limiter.authenticated("iof") == 0 and limiter.authenticated("iof") == 0
    assert limiter.authenticated("iof") > 0


def test_unknown_sources_share_one_limit_and_client_buckets_are_bounded() -> None:
    limiter = Limiter({}, RateLimit(per_source=None, per_client=Bucket(rate_per_sec=0.001, burst=1)),
                      failed_auth=Bucket(rate_per_sec=1, burst=20), max_clients=100, clock=Clock())
    assert limiter.admit(None, "10.0.0.9") is None
    assert limiter.admit(None, "10.0.0.9") is not None  # random paths cost the same client tokens
    for i in range(1000):
        limiter.admit(None, f"10.1.{i // 256}.{i % 256}")
        limiter.failed(f"10.1.{i // 256}.{i % 256}")
    # an attacker rotating addresses costs bounded memory
    assert len(limiter._clients) == 100 and len(limiter._failures) == 100


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after(0.01) == "1" and retry_after(2.2) == "3"


TRUSTED = [ip_network("10.0.0.0/8"), ip_network("::1/128")]


@pytest.mark.parametrize(("peer", "xff", "trusted", "expected"), [
    ("203.0.113.5", ["198.51.100.7"], [], "203.0.113.5"),  # never believed by default
    ("203.0.113.5", ["198.51.100.7"], TRUSTED, "203.0.113.5"),  # peer is not a trusted proxy
    ("10.0.0.2", ["198.51.100.7"], TRUSTED, "198.51.100.7"),
    ("10.0.0.2", ["6.6.6.6, 198.51.100.7, 10.0.0.3"], TRUSTED, "198.51.100.7"),  # client-written left part ignored
    ("10.0.0.2", ["6.6.6.6", "198.51.100.7"], TRUSTED, "198.51.100.7"),  # several headers
    ("10.0.0.2", ["not-an-ip"], TRUSTED, "10.0.0.2"),
    ("10.0.0.2", [], TRUSTED, "10.0.0.2"),
    ("::ffff:10.0.0.2", ["198.51.100.7"], TRUSTED, "198.51.100.7"),  # IPv4-mapped peer
])
def test_client_address(peer: str, xff: list[str], trusted: list, expected: str) -> None:
    assert client_address(peer, xff, trusted) == expected


def test_allowlist() -> None:
    cidrs = [ip_network("192.0.2.0/24")]
    assert allowed("192.0.2.10", None) and allowed(None, None)
    assert allowed("192.0.2.10", cidrs) and allowed("::ffff:192.0.2.10", cidrs)
    assert not allowed("198.51.100.1", cidrs) and not allowed(None, cidrs) and not allowed("testclient", cidrs)


def envelope(time: str, received: str = "2026-01-01T12:00:00.000Z") -> Envelope:
    import msgspec

    return Envelope(specversion="1.0", id="e", source="/webhooks/x", type="x.y", time=time,
                    datacontenttype="application/json", data=msgspec.Raw(b"{}"), provider="x",
                    receivedat=received, authscheme="hmac-sha256")


NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(("time", "max_age", "expected"), [
    ("2026-01-01T11:59:00Z", 600, False),
    ("2026-01-01T11:49:59Z", 600, True),  # older than max_age
    ("2026-01-01T12:04:59Z", 600, False),  # within tolerance_secs (300) ahead: clock skew
    ("2026-01-01T12:05:01Z", 600, True),  # too far in the future
    ("2020-01-01T00:00:00Z", None, False),  # off unless configured
    ("2026-01-01T12:00:00.000Z", 1, False),  # no provider time: the received time is never stale
])
def test_stale(time: str, max_age: int | None, expected: bool) -> None:
    config = SourceConfig(provider="x", max_age_secs=max_age)
    assert stale(envelope(time), config, NOW) is expected
