"""What is decided before a request is an event (gateway.admission): in which order, and that
every refusal is a Result with its reason, audited."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import pytest

from gateway.admission import Admission, Admitted
from gateway.audit import Auditor, RequestInfo
from gateway.commands.send import build
from gateway.config import Config, parse_config
from gateway.errors import Reason
from gateway.headers import Headers
from gateway.outcome import Result
from gateway.publish.memory import MemoryPublisher
from gateway.rotation import Rotation
from gateway.runtime import build as build_runtime
from gateway.store import Store
from tests.helpers import config_dict


@pytest.fixture
def config(tmp_path: Path) -> Config:
    data = config_dict(tmp_path / "var")
    data["sources"]["notion"] = {"provider": "notion", "secrets": []}
    data["limits"] = {"rate_limit": {"per_source": {"rate_per_sec": 1, "burst": 1}}}
    return parse_config(data)


def admit(config: Config, tmp_path: Path, requests: list[tuple[str, RequestInfo, bytes]]
          ) -> tuple[list[Admitted | Result], dict[str, int]]:
    store = Store(tmp_path / "gateway.db").open()
    try:
        auditor = Auditor("webhooks.rejected", MemoryPublisher(), b"salt", frozenset())
        admission = Admission(auditor, store, Rotation(), config.storage.path)
        runtime = build_runtime(config)

        async def run() -> list[Admitted | Result]:
            return [await admission.admit(runtime, name, request, body, time.time())
                    for name, request, body in requests]

        return asyncio.run(run()), dict(auditor.counts)
    finally:
        store.close()


def signed(config: Config) -> tuple[str, RequestInfo, bytes]:
    body, headers = build(config, "iof", "kyc.verified", time.time())
    return "iof", RequestInfo("POST", "/webhooks/iof", "192.0.2.1", Headers(headers)), body


def test_a_verified_request_is_admitted_with_its_body_hash(config: Config, tmp_path: Path) -> None:
    name, request, body = signed(config)
    [admitted], counts = admit(config, tmp_path, [(name, request, body)])
    assert isinstance(admitted, Admitted) and admitted.source.name == "iof"
    assert admitted.digest == hashlib.sha256(body).digest() and admitted.verdict.ok
    assert not counts


def test_refusals_in_order_each_audited(config: Config, tmp_path: Path) -> None:
    name, request, body = signed(config)
    unknown = ("nope", request, body)
    forged = (name, request, body + b" ")
    results, counts = admit(config, tmp_path, [unknown, forged, (name, request, body),
                                               (name, request, body)])
    reasons = [r.reason if isinstance(r, Result) else "admitted" for r in results]
    # the per-source rate (1/s, burst 1) is spent only by the authenticated request
    assert reasons == [Reason.UNKNOWN_SOURCE, Reason.INVALID_SIGNATURE, "admitted",
                       Reason.RATE_LIMITED]
    assert sum(counts.values()) == 3


def test_an_unsigned_provider_check_is_answered_before_verification(
        config: Config, tmp_path: Path) -> None:
    token = b'{"verification_token": "secret_abc"}'
    request = RequestInfo("POST", "/webhooks/notion", "192.0.2.9", Headers({}))
    [answer], counts = admit(config, tmp_path, [("notion", request, token)])
    assert isinstance(answer, Result) and answer.reply is not None and not counts
