"""Each webhook request is counted and logged once, with an id its answer carries."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from gateway.answers import respond
from gateway.errors import Outcome, Reason
from gateway.metrics import Metrics
from gateway.observe import Observe
from gateway.outcome import Result


def run(app: Any, path: str) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "http", "method": "POST", "path": path, "headers": []}, receive, send))
    return sent


def counted(metrics: Metrics, source: str, outcome: str) -> float:
    return metrics.requests.labels(source, outcome)._value.get()


def test_a_request_is_counted_once_and_logged_with_its_id(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics(["iof"])

    async def answered(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, Result(Outcome.PUBLISHED, "evt_1", provider="iof"))

    with caplog.at_level(logging.INFO, logger="gateway.request"):
        sent = run(Observe(answered, metrics), "/webhooks/iof")
    request_id = dict(sent[0]["headers"])[b"x-request-id"].decode()
    assert counted(metrics, "iof", "published") == 1
    lines = [r for r in caplog.records if r.name == "gateway.request"]
    assert len(lines) == 1 and request_id in lines[0].getMessage() + str(lines[0].__dict__)


def test_an_answer_nobody_noted_counts_as_what_its_status_says() -> None:
    metrics = Metrics(["iof"])

    async def broken(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    run(Observe(broken, metrics), "/webhooks/iof")
    assert counted(metrics, "iof", "unavailable") == 1


def test_an_unknown_source_name_is_one_label_whatever_was_posted() -> None:
    metrics = Metrics(["iof"])

    async def rejected(scope: Any, receive: Any, send: Any) -> None:
        await respond(send, Result(Outcome.REJECTED, reason=Reason.UNKNOWN_SOURCE))

    for name in ("a", "b", "c" * 300):
        run(Observe(rejected, metrics), f"/webhooks/{name}")
    assert counted(metrics, "unknown", "rejected") == 3
