"""Two gateway replicas, the real broker, and docs/examples/consumer.py: what reaches Kafka matches
schemas/asyncapi.json, and the example consumer handles once a delivery both replicas published."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import jsonschema
import pytest

from gateway.commands.send import build
from gateway.config import load_config
from tests.helpers import GatewayProcess, config_dict, read_topic, write_config
from tests.integration.running import readyz, wait_for

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "consumer.py"


def _replica(tmp_path: Path, name: str, bootstrap: str, prefix: str) -> GatewayProcess:
    data = config_dict(tmp_path / name, bootstrap, topic_prefix=prefix)
    return GatewayProcess(write_config(tmp_path / f"{name}.yaml", data))


def _post(
    replica: GatewayProcess, source: str, body: bytes, headers: dict[str, str]
) -> dict[str, Any]:
    answer = httpx.post(
        f"{replica.url}/webhooks/{source}", content=body, headers=headers, timeout=10
    )
    assert answer.status_code in (200, 202), answer.text  # published, or spooled and drained later
    return answer.json()


def _message(doc: dict[str, Any], channel: str) -> dict[str, Any]:
    ref = next(iter(doc["channels"][channel]["messages"].values()))["$ref"]
    return doc["components"]["messages"][ref.rsplit("/", 1)[1]]


def _valid(doc: dict[str, Any], schema: dict[str, Any], instance: object) -> None:
    jsonschema.Draft7Validator({**schema, "components": doc["components"]}).validate(instance)


def test_a_delivery_published_by_two_replicas_is_handled_once(broker, tmp_path) -> None:
    prefix = f"t{uuid4().hex[:8]}"
    a = _replica(tmp_path, "a", broker.bootstrap, prefix)
    b = _replica(tmp_path, "b", broker.bootstrap, prefix)
    try:
        a.start(), b.start()
        for replica in (a, b):  # connected: a spooled event could stay spooled at the stop below
            wait_for(lambda r=replica: readyz(r)["kafka"] == "reachable", 30, "the replica to connect")
        config = load_config(a.config_path)
        now = time.time()
        iof = build(config, "iof", "contract.created", now)
        first = _post(a, "iof", *iof)
        assert _post(a, "iof", *iof)["status"] == "duplicate"  # the replica's own window
        assert (
            _post(b, "iof", *iof)["id"] == first["id"]
        )  # another replica: same id, published again
        _post(a, "tlas", *build(config, "tlas", "certificate.issued", now))
        _post(b, "azakaw-acme", *build(config, "azakaw-acme", "RiskAssessmentCalculated", now))
    finally:
        a.stop(), b.stop()  # stopping flushes what either replica published

    wanted = [f"{prefix}.iof", f"{prefix}.tlas", f"{prefix}.azakaw"]
    records = read_topic(broker.bootstrap, wanted)
    assert sorted(r.topic for r in records) == sorted([wanted[0], wanted[0], wanted[1], wanted[2]])

    doc = json.loads((ROOT / "schemas" / "asyncapi.json").read_text())
    for record in records:
        message = _message(doc, record.topic.removeprefix(f"{prefix}."))
        value = json.loads(record.value)
        _valid(doc, message["payload"], value)
        _valid(doc, message["headers"], {name: v.decode() for name, v in record.headers})
        _valid(doc, message["bindings"]["kafka"]["key"], record.key.decode())
        assert record.key.decode() == value.get("subject", value["id"])

    run = subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            *wanted,
            "--bootstrap",
            broker.bootstrap,
            "--group",
            f"g{prefix}",
            "--stop-after",
            str(len(records)),
            # Tansu holds a group join for about half the session timeout (kafka-python: 45 s);
            # Apache Kafka refuses one under its group.min.session.timeout.ms (6 s)
            "--option",
            "session_timeout_ms=6000",
            "--option",
            "max_poll_interval_ms=6000",
            "--option",
            "heartbeat_interval_ms=1000",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    handled = [line.split()[2] for line in run.stdout.splitlines() if line.startswith("handled ")]
    skipped = [
        line.split()[3] for line in run.stdout.splitlines() if line.startswith("skipped repeat ")
    ]
    assert sorted(handled) == sorted({json.loads(r.value)["id"] for r in records})
    assert skipped == [first["id"]]
