"""The webhook path's HTTP side, driven as raw ASGI (no server): the client address it believes,
the body it reads within its limit and deadline, and the answers it gives before the pipeline."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.audit import Auditor
from gateway.config import Config, parse_config
from gateway.guard import ARRIVED_KEY, DEADLINE_KEY, HEAD_TOO_LARGE_KEY, Guard
from gateway.metrics import Metrics
from gateway.pipeline import Pipeline
from gateway.publish.memory import MemoryPublisher
from gateway.store import Store
from tests.helpers import config_dict


@pytest.fixture
def config(tmp_path: Path) -> Config:
    data = config_dict(tmp_path / "var")
    data["trusted_proxies"] = ["10.0.0.0/8"]
    data["sources"]["small"] = {"provider": "tlas", "secrets": ["small-secret-0123"],
                                "max_body_bytes": 10, "allow_cidrs": ["192.0.2.0/24"]}
    return parse_config(data)


@pytest.fixture
def guard(config: Config, tmp_path: Path) -> Iterator[Guard]:
    store = Store(tmp_path / "gateway.db").open()
    publisher = MemoryPublisher()
    yield Guard(Pipeline(config, publisher, Auditor("t", publisher, b"salt", frozenset()), store,
                         metrics=Metrics(list(config.sources))), config)
    store.close()


def call(guard: Guard, path: str, chunks: list[bytes], method: str = "POST",
         headers: list[tuple[bytes, bytes]] | None = None, client: str = "198.51.100.1",
         extensions: dict[str, Any] | None = None, hang: bool = False) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Run one request through the guard; its status, headers and JSON body."""
    messages = [{"type": "http.request", "body": c, "more_body": hang or i < len(chunks) - 1}
                for i, c in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        if hang:
            await asyncio.Event().wait()  # a sender that never finishes its body
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        ext = {DEADLINE_KEY: asyncio.get_running_loop().time() + 0.05, ARRIVED_KEY: [not hang],
               **(extensions or {})}
        scope = {"type": "http", "method": method, "path": path, "headers": headers or [],
                 "client": (client, 1234), "extensions": ext}
        await guard(scope, receive, send)

    asyncio.run(run())
    start, body = sent[0], sent[1]
    answer_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], answer_headers, json.loads(body["body"])


def audited(guard: Guard) -> dict[tuple[str, str], int]:
    return dict(guard.pipeline.auditor.counts)


def test_the_body_is_read_no_further_than_its_limit(guard: Guard) -> None:
    status, headers, body = call(guard, "/webhooks/small", [b"12345", b"67890", b"X" * 1000],
                                 client="192.0.2.5")
    assert (status, body, headers["connection"]) == (413, {"error": "payload too large"}, "close")


def test_a_body_that_does_not_arrive_in_time_is_408(guard: Guard) -> None:
    status, headers, body = call(guard, "/webhooks/tlas", [b"{"], hang=True)
    assert (status, body) == (408, {"error": "request timeout"})
    assert audited(guard) == {("tlas", "malformed_request"): 1}
    metrics = guard.pipeline.metrics
    assert metrics is not None and metrics.registry is not None
    assert metrics.registry.get_sample_value("gateway_slow_clients_total", {"stage": "body"}) == 1


def test_x_forwarded_for_is_believed_from_trusted_proxies_only(guard: Guard) -> None:
    forwarded = [(b"x-forwarded-for", b"192.0.2.7")]
    inside = call(guard, "/webhooks/small", [b"{}"], headers=forwarded, client="10.1.1.1")
    outside = call(guard, "/webhooks/small", [b"{}"], headers=forwarded, client="203.0.113.9")
    assert inside[0] == 401 and audited(guard)[("small", "missing_signature")] == 1  # let in, verified
    assert outside[0] == 401 and audited(guard)[("small", "ip_not_allowed")] == 1  # its own address


def test_a_head_cut_short_is_431_whatever_its_path(guard: Guard) -> None:
    status, headers, body = call(guard, "/healthz", [b""], method="GET",
                                 extensions={HEAD_TOO_LARGE_KEY: 70_000})
    assert (status, headers["connection"]) == (431, "close")
    assert audited(guard) == {("/healthz", "malformed_request"): 1}


def test_only_post_is_a_delivery(guard: Guard) -> None:
    status, headers, _ = call(guard, "/webhooks/tlas", [b""], method="PUT")
    assert (status, headers["allow"]) == (405, "POST")
