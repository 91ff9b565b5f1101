"""The one table from a pipeline Result to what a provider sees."""

from __future__ import annotations

import pytest

from gateway.answers import answer
from gateway.errors import Outcome, Reason
from gateway.outcome import UNAVAILABLE, Reply, Result


@pytest.mark.parametrize(("result", "status", "body"), [
    (Result(Outcome.PUBLISHED, "e1"), 200, {"id": "e1", "status": "published"}),
    (Result(Outcome.DUPLICATE, "e1"), 200, {"id": "e1", "status": "duplicate"}),
    (Result(Outcome.SPOOLED, "e1"), 202, {"id": "e1", "status": "spooled"}),
    (Result(Outcome.DEADLETTERED, "d1"), 202, {"id": "d1", "status": "deadlettered"}),
    (Result(Outcome.IGNORED), 200, {"status": "ignored"}),
    (Result(Outcome.IGNORED, reply=Reply(json={"challenge": "abc"})), 200, {"challenge": "abc"}),
    (Result(Outcome.IGNORED, reply=Reply(text="pogchamp")), 200, "pogchamp"),
    (Result(Outcome.IGNORED, reply=Reply()), 204, None),
    (UNAVAILABLE, 503, {"error": "unavailable, retry later"}),
    *[(Result(Outcome.REJECTED, reason=r), 401, {"error": "unauthorized"}) for r in (
        Reason.MISSING_SIGNATURE, Reason.INVALID_SIGNATURE, Reason.INVALID_CREDENTIALS,
        Reason.STALE_TIMESTAMP, Reason.IP_NOT_ALLOWED, Reason.MALFORMED_REQUEST)],
    (Result(Outcome.REJECTED, reason=Reason.UNKNOWN_SOURCE), 404, {"error": "not found"}),
    (Result(Outcome.REJECTED, reason=Reason.BODY_TOO_LARGE), 413, {"error": "payload too large"}),
    (Result(Outcome.REJECTED, reason=Reason.RATE_LIMITED), 429, {"error": "too many requests"}),
    (Result(Outcome.REJECTED, reason=Reason.MALFORMED_REQUEST, detail="body_timeout"), 408,
     {"error": "request timeout"}),
    (Result(Outcome.REJECTED, reason=Reason.MALFORMED_REQUEST, detail="head_too_large"), 431,
     {"error": "request header fields too large"}),
    (Result(Outcome.REJECTED, reason=Reason.MALFORMED_REQUEST, detail="method"), 405,
     {"error": "method not allowed"}),
])
def test_each_result_has_one_status_and_a_generic_body(result: Result, status: int,
                                                        body: object) -> None:
    assert answer(result)[:2] == (status, body)


def test_waits_are_whole_seconds_in_retry_after() -> None:
    assert dict(answer(Result(Outcome.REJECTED, reason=Reason.RATE_LIMITED, wait=2.2))[2]) == {
        b"retry-after": b"3"}
    assert dict(answer(UNAVAILABLE)[2]) == {b"retry-after": b"10"}


def test_a_verification_detail_never_changes_the_generic_401() -> None:
    result = Result(Outcome.REJECTED, reason=Reason.INVALID_SIGNATURE, detail="no_secret_matched")
    assert answer(result)[:2] == (401, {"error": "unauthorized"})
