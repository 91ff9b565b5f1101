"""The admin API of a running gateway against its own OpenAPI document (schemathesis): every
answer is one the document declares, with the declared body; never a 500. Bounded: a few dozen
generated requests in all."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from gateway.adminmodels import openapi
from gateway.dev.broker import Broker
from gateway.providers import REGISTRY
from tests.helpers import GatewayProcess, config_dict, write_config
from tests.integration.running import prefix, wait_for

pytestmark = pytest.mark.kafka
TOKEN = "schemathesis-admin-token-42"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
schema = schemathesis.openapi.from_dict(openapi())


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, broker: Broker) -> Iterator[GatewayProcess]:
    root = tmp_path_factory.mktemp("admin-api")
    data = config_dict(root / "var", broker.bootstrap, topic_prefix=prefix())
    data["admin"] = {"token": TOKEN}
    running = GatewayProcess(write_config(root / "gateway.yaml", data)).start()
    try:
        wait_for(lambda: httpx.get(running.url + "/readyz").json()["kafka"] == "reachable", 20, "kafka")
        cfg = REGISTRY["tlas"].config.model_validate(data["sources"]["tlas"])
        for n in range(3):  # some history, so that lists and filters have rows to show
            body = (b'{"event":"application.submitted","timestamp":"2026-01-01T00:00:00Z",'
                    b'"data":{"applicationId":"APP-%d"}}' % n)
            headers = {"Content-Type": "application/json", **REGISTRY["tlas"].sign(cfg, body, time.time())}
            assert httpx.post(running.url + "/webhooks/tlas", content=body, headers=headers).status_code == 200
        yield running
    finally:
        running.stop()


def test_the_served_document_is_the_generated_one(gateway: GatewayProcess) -> None:
    assert httpx.get(gateway.url + "/admin/openapi.json", headers=AUTH).json() == openapi()


@schema.parametrize()
# Random locally (it explores); the same examples in CI, so a landing never hangs on luck.
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=os.environ.get("CI") == "true")
def test_admin_api_conforms_to_its_openapi_document(case: schemathesis.Case, gateway: GatewayProcess) -> None:
    case.call_and_validate(base_url=gateway.url, headers=AUTH)


def test_an_event_from_the_history_is_found_and_replayed(gateway: GatewayProcess, tmp_path: Path) -> None:
    listed = httpx.get(gateway.url + "/admin/events", params={"limit": 1}, headers=AUTH).json()
    id_ = listed["events"][0]["id"]
    assert httpx.get(f"{gateway.url}/admin/events/{id_}", headers=AUTH).json()["id"] == id_
    replayed = httpx.post(f"{gateway.url}/admin/events/{id_}/replay", headers=AUTH)
    assert replayed.status_code == 200 and replayed.json()["offset"] is not None
