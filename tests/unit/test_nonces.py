"""Mailgun's single-use token (gateway.nonces), as an attacker meets it: a signature object lifted
from one delivery and attached to another event is refused (401, audited `token_reused`), while the
same delivery sent again is the usual duplicate, and a fresh token is a new delivery."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.auditlog import read_records
from gateway.config import parse_config
from gateway.publish.memory import MemoryPublisher
from gateway.verify import mailgun

KEY = "key-mailgun-signing-0001"


def delivery(event_id: str, token: str, stamp: int, event: str = "delivered") -> bytes:
    return json.dumps({
        "signature": {"timestamp": str(stamp), "token": token,
                      "signature": mailgun.sign(KEY.encode(), str(stamp), token)},
        "event-data": {"id": event_id, "event": event, "timestamp": stamp,
                       "message": {"headers": {"message-id": "m1@example.com"}}},
    }).encode()


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
def client(tmp_path: Path, publisher: MemoryPublisher) -> Iterator[TestClient]:
    config = parse_config({"storage": {"path": str(tmp_path / "var")},
                           "sources": {"mg": {"provider": "mailgun", "secrets": [KEY]}}})
    with TestClient(create_app(config, publisher=publisher)) as running:
        yield running


def audited(storage: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in read_records(storage / "audit")]
    return [line for line in lines if line.get("type") != "checkpoint"]


def test_a_lifted_signature_on_another_event_is_refused(client: TestClient,
                                                        publisher: MemoryPublisher,
                                                        tmp_path: Path) -> None:
    now = int(time.time())
    first = delivery("ev-1", "a" * 50, now)
    assert client.post("/webhooks/mg", content=first).status_code == 200
    forged = delivery("ev-forged", "a" * 50, now, event="complained")  # same token, other event
    assert client.post("/webhooks/mg", content=forged).status_code == 401
    assert client.post("/webhooks/mg", content=first).json()["status"] == "duplicate"
    assert client.post("/webhooks/mg", content=delivery("ev-2", "b" * 50, now)).status_code == 200
    ids = [json.loads(r.value)["id"] for r in publisher.records if r.topic == "webhooks.mailgun"]
    assert ids == ["ev-1", "ev-2"]
    [record] = audited(tmp_path / "var")
    assert (record["reason"], record["detail"]) == ("invalid_signature", "token_reused")


def test_the_token_is_remembered_across_a_restart(tmp_path: Path) -> None:
    """Kept with the dedupe marks in the host's store, not in a worker's memory."""
    config = parse_config({"storage": {"path": str(tmp_path / "var")},
                           "sources": {"mg": {"provider": "mailgun", "secrets": [KEY]}}})
    now = int(time.time())
    with TestClient(create_app(config, publisher=MemoryPublisher())) as client:
        assert client.post("/webhooks/mg", content=delivery("ev-1", "c" * 50, now)).status_code == 200
    with TestClient(create_app(config, publisher=MemoryPublisher())) as client:
        forged = delivery("ev-3", "c" * 50, now, event="failed")
        assert client.post("/webhooks/mg", content=forged).status_code == 401
