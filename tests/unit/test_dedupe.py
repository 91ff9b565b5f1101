"""Deduplication as providers see it: retries answer `duplicate` and publish nothing (issue 3)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.audit import Auditor, RequestInfo
from gateway.commands.send import build
from gateway.config import Config
from gateway.headers import Headers
from gateway.pipeline import Pipeline
from gateway.publish.memory import MemoryPublisher
from gateway.store import Store
from tests.helpers import make_config

TLAS_BODY = (b'{"event":"application.approved","timestamp":"2026-02-09T10:00:00Z","data":'
             b'{"applicationId":"APP-2026-00001","licenseType":"TRADE_LICENSE","applicantId":"DL-12345678"}}')
AZAKAW_BODY = (b'{"Type":"RiskAssessmentCalculated","RiskAssessmentId":"12345","SubmissionId":"67890",'
               b'"Risk":"Low","ClientRating":"Retail"}')


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path / "var")


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
def client(config: Config, publisher: MemoryPublisher) -> Iterator[TestClient]:
    with TestClient(create_app(config, publisher=publisher)) as test_client:
        yield test_client


def signed(config: Config, source: str, body: bytes) -> dict[str, str]:
    from gateway.providers import REGISTRY

    cfg = config.sources[source]
    return REGISTRY[cfg.provider].sign(cfg, body, time.time())


def post(client: TestClient, config: Config, source: str, body: bytes) -> dict:
    return client.post(f"/webhooks/{source}", content=body, headers=signed(config, source, body)).json()


def test_identical_bytes_from_a_provider_without_event_ids_collapse(
        client: TestClient, config: Config, publisher: MemoryPublisher) -> None:
    # TLAS has no event id: the envelope id is the body's SHA-256, so a redelivery (same bytes)
    # is the same event. This is documented in docs/durability.md.
    first = post(client, config, "tlas", TLAS_BODY)
    again = post(client, config, "tlas", TLAS_BODY)
    assert first["status"] == "published"
    assert again == {"id": first["id"], "status": "duplicate"}
    assert len(publisher.on("webhooks.tlas")) == 1


def test_one_byte_of_difference_is_another_event(client: TestClient, config: Config,
                                                 publisher: MemoryPublisher) -> None:
    later = TLAS_BODY.replace(b"10:00:00Z", b"10:00:01Z")
    assert post(client, config, "tlas", TLAS_BODY)["status"] == "published"
    assert post(client, config, "tlas", later)["status"] == "published"
    assert len(publisher.on("webhooks.tlas")) == 2


def test_identical_azakaw_bodies_collapse_per_tenant_only(client: TestClient, config: Config,
                                                          publisher: MemoryPublisher) -> None:
    acme = [post(client, config, "azakaw-acme", AZAKAW_BODY) for _ in range(2)]
    globex = post(client, config, "azakaw-globex", AZAKAW_BODY)
    assert [a["status"] for a in acme] == ["published", "duplicate"]
    assert globex["status"] == "published"  # same bytes, another tenant's source: not a duplicate
    tenants = [json.loads(r.value)["tenantid"] for r in publisher.on("webhooks.azakaw")]
    assert tenants == ["acme", "globex"]


def test_a_spooled_event_is_a_duplicate_too(client: TestClient, config: Config,
                                            publisher: MemoryPublisher) -> None:
    publisher.available = False
    first = post(client, config, "tlas", TLAS_BODY)
    again = post(client, config, "tlas", TLAS_BODY)
    assert first["status"] == "spooled"
    assert again == {"id": first["id"], "status": "duplicate"}


def test_concurrent_retries_publish_once(config: Config, tmp_path: Path) -> None:
    publisher = MemoryPublisher()
    store = Store(tmp_path / "race.db").open()
    auditor = Auditor("webhooks.rejected", publisher, b"salt", frozenset())
    pipeline = Pipeline(config, publisher, auditor, store)
    body, headers = build(config, "iof", "kyc.verified", time.time())
    request = RequestInfo("POST", "/webhooks/iof", "127.0.0.1", Headers(headers))

    async def race() -> list[str]:
        answers = await asyncio.gather(*(pipeline.handle("iof", request, body) for _ in range(8)))
        return sorted(a.outcome.value for a in answers)

    assert asyncio.run(race()) == ["duplicate"] * 7 + ["published"]
    assert len(publisher.on("webhooks.iof")) == 1
    store.close()
