"""The HTTP app with the in-memory publisher: what a provider sees (status, body, headers) and what
would reach Kafka (records handed to the publisher). Claims about Kafka itself live in
tests/integration, against the real broker."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config import Config, parse_config
from gateway.publish.memory import MemoryPublisher
from tests.fixtures import load

IOF_SECRET = "whsec_app_test_secret"
TLAS_SECRET = "tlas-app-test-secret"
SEED_000 = next(f for f in load("iof") if f.path.stem == "form1_bare_hex").body
LIMIT = 4096  # max_body_bytes of the `small` source


def sources() -> dict[str, Any]:
    return {
        "iof": {"provider": "iof", "secrets": [IOF_SECRET]},
        "iof-kyc-only": {"provider": "iof", "secrets": [IOF_SECRET], "events": ["kyc.*"]},
        "tlas": {"provider": "tlas", "secrets": [TLAS_SECRET]},
        "small": {"provider": "tlas", "secrets": [TLAS_SECRET], "max_body_bytes": LIMIT},
        "azakaw-acme": {"provider": "azakaw", "tenant": "acme",
                        "auth": {"type": "basic", "username": "acme", "password": "acme-pw"}},
    }


def make_config(storage: Path) -> Config:
    return parse_config({"kafka": {"topic_prefix": "webhooks"}, "storage": {"path": str(storage)},
                         "sources": sources()})


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
def client(tmp_path: Path, publisher: MemoryPublisher) -> Iterator[TestClient]:
    app = create_app(make_config(tmp_path / "var"), publisher=publisher)
    with TestClient(app) as running:  # runs the lifespan
        yield running


def iof_signature(body: bytes, secret: str = IOF_SECRET) -> dict[str, str]:
    return {"X-IOF-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
            "Content-Type": "application/json"}


def tlas_signature(body: bytes) -> dict[str, str]:
    return {"X-Webhook-Signature": "sha256=" + hmac.new(TLAS_SECRET.encode(), body, hashlib.sha256).hexdigest()}


def provider_records(publisher: MemoryPublisher) -> list:
    return [r for r in publisher.records if not r.topic.endswith(".rejected")]


# -- accepted ------------------------------------------------------------------------------------

def test_published(client: TestClient, publisher: MemoryPublisher) -> None:
    response = client.post("/webhooks/iof", content=SEED_000, headers=iof_signature(SEED_000))
    assert response.status_code == 200
    assert response.json() == {"id": "evt_abc123", "status": "published"}
    [record] = provider_records(publisher)
    assert record.topic == "webhooks.iof"
    assert record.key == b"contract_xyz"  # the subject: one entity's events stay in order
    headers = dict(record.headers)
    assert headers["ce_id"] == b"evt_abc123" and headers["ce_type"] == b"iof.contract.created"
    assert headers["ce_source"] == b"/webhooks/iof" and headers["ce_subject"] == b"contract_xyz"
    assert headers["ce_specversion"] == b"1.0" and headers["ce_time"] == b"2024-01-15T10:30:00Z"
    assert headers["content-type"] == b"application/cloudevents+json"
    envelope = json.loads(record.value)
    assert envelope["id"] == "evt_abc123" and envelope["tenantid"] == "tenant_456"
    assert envelope["authscheme"] == "hmac-sha256"
    assert b'"data":' + SEED_000 + b"," in record.value  # the signed bytes, untouched


def test_same_delivery_again_is_a_duplicate(client: TestClient, publisher: MemoryPublisher) -> None:
    first = client.post("/webhooks/iof", content=SEED_000, headers=iof_signature(SEED_000))
    again = client.post("/webhooks/iof", content=SEED_000, headers=iof_signature(SEED_000))
    assert first.json()["status"] == "published"
    assert again.status_code == 200
    assert again.json() == {"id": "evt_abc123", "status": "duplicate"}
    assert len(provider_records(publisher)) == 1


def test_dedupe_is_keyed_by_source_and_id(client: TestClient, publisher: MemoryPublisher) -> None:
    # Same id at the same source is a duplicate even with other bytes; at another source it is not.
    assert client.post("/webhooks/iof", content=SEED_000, headers=iof_signature(SEED_000)).status_code == 200
    body = SEED_000.replace(b"contract.created", b"kyc.verified")
    assert client.post("/webhooks/iof", content=body, headers=iof_signature(body)).json()["status"] == "duplicate"
    assert client.post("/webhooks/iof-kyc-only", content=body,
                       headers=iof_signature(body)).json()["status"] == "published"


def test_deadlettered(client: TestClient, publisher: MemoryPublisher) -> None:
    body = b'{"timestamp": "2026-02-09T10:00:00Z"}'  # signed, but no `event`
    response = client.post("/webhooks/tlas", content=body, headers=tlas_signature(body))
    body_id = hashlib.sha256(body).hexdigest()
    assert response.status_code == 202
    assert response.json() == {"id": body_id, "status": "deadlettered"}
    [record] = provider_records(publisher)
    assert record.topic == "webhooks.deadletter" and record.key == body_id.encode()
    letter = json.loads(record.value)
    assert letter["reason"] == "missing_type" and letter["source"] == "tlas"
    assert base64.b64decode(letter["body_base64"]) == body


def test_events_filter_ignores_and_publishes_nothing(client: TestClient,
                                                     publisher: MemoryPublisher) -> None:
    response = client.post("/webhooks/iof-kyc-only", content=SEED_000, headers=iof_signature(SEED_000))
    assert response.status_code == 200
    assert response.json() == {"status": "ignored"}
    assert provider_records(publisher) == []


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


# -- refused -------------------------------------------------------------------------------------

def test_unknown_source(client: TestClient, publisher: MemoryPublisher) -> None:
    response = client.post("/webhooks/nope", content=SEED_000, headers=iof_signature(SEED_000))
    assert response.status_code == 404
    assert response.json() == {"error": "not found"}
    assert provider_records(publisher) == []


def test_every_request_under_webhooks_takes_the_one_path_and_is_audited(
        client: TestClient, publisher: MemoryPublisher) -> None:
    """Odd URLs and methods get the generic answers of the webhook path, each with an audit
    record (no router 404 or 405 that a security team would never see)."""
    nested = client.post("/webhooks/iof/extra", content=SEED_000, headers=iof_signature(SEED_000))
    empty = client.post("/webhooks/", content=b"{}")
    get = client.get("/webhooks/iof")
    assert (nested.status_code, nested.json()) == (404, {"error": "not found"})
    assert (empty.status_code, empty.json()) == (404, {"error": "not found"})
    assert (get.status_code, get.json(), get.headers["allow"]) == (
        405, {"error": "method not allowed"}, "POST")
    app = client.app
    counts = app.state.pipeline.auditor.counts  # type: ignore[attr-defined]
    assert counts[("iof/extra", "unknown_source")] == 1 and counts[("", "unknown_source")] == 1
    assert counts[("iof", "malformed_request")] == 1
    assert provider_records(publisher) == []


def _bad_requests() -> list[tuple[str, str, list[tuple[str, str | bytes]], bytes]]:
    stamp = int(time.time()) - 3600
    old = hmac.new(IOF_SECRET.encode(), f"{stamp}.".encode() + SEED_000, hashlib.sha256).hexdigest()
    good = iof_signature(SEED_000)["X-IOF-Signature"]
    return [
        ("missing signature", "iof", [], SEED_000),
        ("wrong secret", "iof", list(iof_signature(SEED_000, "whsec_other").items()), SEED_000),
        ("tampered body", "iof", list(iof_signature(SEED_000).items()), SEED_000 + b" "),
        ("duplicated header", "iof", [("X-IOF-Signature", good), ("X-IOF-Signature", good)], SEED_000),
        ("10 KB signature", "iof", [("X-IOF-Signature", "a" * 10_240)], SEED_000),
        ("stale timestamp", "iof", [("X-IOF-Signature", f"t={stamp},v1={old}")], SEED_000),
        ("garbage basic", "azakaw-acme", [("Authorization", "Basic %%%garbage")], b"{}"),
        ("wrong password", "azakaw-acme",
         [("Authorization", "Basic " + base64.b64encode(b"acme:wrong").decode())], b"{}"),
        ("latin-1 bytes", "tlas", [("X-Webhook-Signature", b"sha256=\xe9\xff")], b"{}"),
    ]


def test_every_auth_failure_is_the_same_401(client: TestClient, publisher: MemoryPublisher) -> None:
    answers = set()
    for what, source, headers, body in _bad_requests():
        response = client.post(f"/webhooks/{source}", content=body, headers=headers)
        assert response.status_code == 401, what
        answers.add((response.content, response.headers.get("content-type")))
    assert answers == {(b'{"error":"unauthorized"}', "application/json")}  # nothing says why
    assert provider_records(publisher) == []


def test_body_over_the_limit_with_content_length(client: TestClient, publisher: MemoryPublisher) -> None:
    body = b'{"event": "application.approved", "pad": "' + b"x" * LIMIT + b'"}'
    response = client.post("/webhooks/small", content=body, headers=tlas_signature(body))
    assert response.status_code == 413
    assert response.json() == {"error": "payload too large"}
    assert provider_records(publisher) == []


def test_body_at_the_limit_is_accepted(client: TestClient) -> None:
    prefix, suffix = b'{"event": "application.approved", "pad": "', b'"}'
    body = prefix + b"x" * (LIMIT - len(prefix) - len(suffix)) + suffix
    assert len(body) == LIMIT
    assert client.post("/webhooks/small", content=body, headers=tlas_signature(body)).status_code == 200


def test_body_over_the_limit_chunked(client: TestClient, publisher: MemoryPublisher) -> None:
    body = b'{"event": "application.approved", "pad": "' + b"x" * LIMIT + b'"}'

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 1000):
            yield body[start:start + 1000]

    response = client.post("/webhooks/small", content=chunks(), headers=tlas_signature(body))
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert provider_records(publisher) == []


def _asgi_post(client: TestClient, path: str, chunk: bytes, chunks: int,
               content_length: int | None = None) -> tuple[int, int]:
    """Drive the app directly with a body arriving chunk by chunk -> (status, chunks it pulled)."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        if pulled > chunks:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunk, "more_body": pulled < chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json")]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": b"", "headers": headers, "client": ("127.0.0.1", 50000),
             "server": ("testserver", 80), "state": {}}
    client.portal.call(client.app, scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], pulled


def test_limit_is_enforced_while_reading(client: TestClient) -> None:
    # 100 chunks of 1 KB against a 4 KB limit: the app must stop pulling soon after the limit,
    # never buffer the whole (possibly endless) body first.
    status, pulled = _asgi_post(client, "/webhooks/small", b"x" * 1024, chunks=100)
    assert status == 413
    assert pulled <= LIMIT // 1024 + 2


def test_declared_length_over_the_limit_is_refused_unread(client: TestClient) -> None:
    status, pulled = _asgi_post(client, "/webhooks/small", b"x" * 1024, chunks=100,
                                content_length=100 * 1024)
    assert status == 413
    assert pulled == 0


# -- Kafka unavailable -----------------------------------------------------------------------------

def test_publisher_unavailable_is_spooled_then_published(client: TestClient,
                                                         publisher: MemoryPublisher) -> None:
    """Kafka down: the event is fsynced to the spool and answered 202 spooled (it was 503 before
    the durable spool), and published once Kafka is back."""
    publisher.available = False
    response = client.post("/webhooks/iof", content=SEED_000, headers=iof_signature(SEED_000))
    assert response.status_code == 202
    assert response.json() == {"id": "evt_abc123", "status": "spooled"}
    assert provider_records(publisher) == []
    # A retry of a spooled event is already safe.
    again = client.post("/webhooks/iof", content=SEED_000, headers=iof_signature(SEED_000))
    assert again.json() == {"id": "evt_abc123", "status": "duplicate"}

    publisher.available = True
    client.app.state.drainer.wake()
    deadline = time.monotonic() + 15
    while not provider_records(publisher) and time.monotonic() < deadline:
        time.sleep(0.05)
    [record] = provider_records(publisher)
    assert record.topic == "webhooks.iof" and json.loads(record.value)["id"] == "evt_abc123"
