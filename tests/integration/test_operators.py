"""The operators' view on a real `webhook-gateway serve` process and the real broker: a secret
rotated by reload under steady traffic loses nothing, JSON logs carry one line per request and no
secret, replay republishes the same record, the CLI reads the history, and metrics add up over
several workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.dev.broker import Broker
from gateway.providers import REGISTRY
from tests.helpers import SECRETS, GatewayProcess, config_dict, read_topic, write_config
from tests.integration.running import prefix, wait_for

pytestmark = pytest.mark.kafka
TOKEN = "operators-admin-token-7f3a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OLD, NEW = "tlas-rotation-old-secret-1", "tlas-rotation-new-secret-2"


def tlas_config(tmp_path: Path, broker: Broker, topic_prefix: str, secrets: list[str]) -> dict[str, Any]:
    data = config_dict(tmp_path / "var", broker.bootstrap, topic_prefix=topic_prefix)
    data["admin"] = {"token": TOKEN}
    data["sources"]["tlas"]["secrets"] = secrets
    return data


class Sender(threading.Thread):
    """Posts signed TLAS webhooks back to back, each with a new applicationId, signed with
    whatever `secret` is at that moment."""

    def __init__(self, url: str, secret: str) -> None:
        super().__init__(daemon=True)
        self.url, self.secret = url, secret
        self.answers: list[tuple[int, str | None]] = []
        self.n = 0
        self.stopping = threading.Event()
        self.cfg = REGISTRY["tlas"].config.model_validate({"provider": "tlas", "secrets": ["x"]})

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stopping.is_set():
                self.once(client)

    def once(self, client: Any = httpx) -> None:
        """One webhook (by default on a new connection)."""
        self.n += 1
        body = json.dumps({"event": "application.submitted", "timestamp": "2026-01-01T00:00:00Z",
                           "data": {"applicationId": f"APP-{self.n}"}}).encode()
        cfg = self.cfg.model_copy(update={"secrets": [_secret(self.secret)]})
        headers = {"Content-Type": "application/json", **REGISTRY["tlas"].sign(cfg, body, time.time())}
        answer = client.post(self.url + "/webhooks/tlas", content=body, headers=headers)
        self.answers.append((answer.status_code, answer.json().get("id")))


def _secret(value: str) -> Any:
    from gateway.secrets import resolve

    return resolve(value)[0]


def sources(url: str) -> dict[str, Any]:
    return {s["name"]: s for s in httpx.get(url + "/admin/sources", headers=AUTH).json()["sources"]}


def test_rotating_a_secret_by_reload_under_traffic_loses_no_request(tmp_path: Path, broker: Broker) -> None:
    topic_prefix = prefix()
    path = write_config(tmp_path / "gateway.yaml", tlas_config(tmp_path, broker, topic_prefix, [OLD]))
    gateway = GatewayProcess(path, env={"WEBHOOK_GATEWAY_LOG_FORMAT": "json"}).start()
    sender = Sender(gateway.url, OLD)
    try:
        wait_for(lambda: httpx.get(gateway.url + "/readyz").json()["kafka"] == "reachable", 20, "kafka")
        sender.start()
        wait_for(lambda: len(sender.answers) >= 20, 20, "traffic with the old secret")
        # 1. both secrets (SIGHUP), then sign with the new one
        write_config(path, tlas_config(tmp_path, broker, topic_prefix, [NEW, OLD]))
        gateway.signal(signal.SIGHUP)
        wait_for(lambda: sources(gateway.url)["tlas"]["credentials"] == 2, 10, "the SIGHUP reload")
        sender.secret = NEW
        count = len(sender.answers)
        wait_for(lambda: len(sender.answers) >= count + 20, 20, "traffic with the new secret")
        # 2. only the new secret (POST /admin/reload)
        write_config(path, tlas_config(tmp_path, broker, topic_prefix, [NEW]))
        reloaded = httpx.post(gateway.url + "/admin/reload", headers=AUTH)
        assert reloaded.status_code == 200 and sources(gateway.url)["tlas"]["credentials"] == 1
        count = len(sender.answers)
        wait_for(lambda: len(sender.answers) >= count + 20, 20, "traffic after the old secret went")
        # a bad file is refused and the running configuration keeps answering
        path.write_text("sources: {tlas: {provider: tlas, secrets: [env:UNSET_ROTATION_VAR]}}\n")
        refused = httpx.post(gateway.url + "/admin/reload", headers=AUTH)
        assert refused.status_code == 400 and "UNSET_ROTATION_VAR" in refused.json()["error"]
        count = len(sender.answers)
        wait_for(lambda: len(sender.answers) >= count + 10, 20, "traffic after a refused reload")
    finally:
        sender.stopping.set()
        sender.join(20)
        gateway.stop()
    statuses = {status for status, _ in sender.answers}
    assert statuses == {200}, f"answers other than 200: {statuses}"
    ids = {id_ for _, id_ in sender.answers}
    in_kafka = {_ce_id(r) for r in read_topic(broker.bootstrap, f"{topic_prefix}.tlas")}
    assert ids <= in_kafka and len(ids) == len(sender.answers)
    log = gateway.log.read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line["logger"] == "gateway.request"]
    assert len(requests) == len(sender.answers)
    assert {r["envelope_id"] for r in requests} == ids
    assert all(r["source"] == "tlas" and r["provider"] == "tlas" and r["status"] == 200
               and r["outcome"] == "published" and r["latency_ms"] >= 0 and r["request_id"] for r in requests)
    assert any(line.get("event") == "config_reloaded" for line in lines)
    assert any(line.get("event") == "config_rejected" and "UNSET_ROTATION_VAR" in line["msg"] for line in lines)
    for secret in (OLD, NEW, TOKEN, *SECRETS.values()):
        assert secret not in log


def _ce_id(record: Any) -> str:
    return dict(record.headers)["ce_id"].decode()


def test_replay_and_the_cli_read_a_running_gateway(tmp_path: Path, broker: Broker) -> None:
    topic_prefix = prefix()
    path = write_config(tmp_path / "gateway.yaml", tlas_config(tmp_path, broker, topic_prefix, [OLD]))
    gateway = GatewayProcess(path).start()
    try:
        wait_for(lambda: httpx.get(gateway.url + "/readyz").json()["kafka"] == "reachable", 20, "kafka")
        sender = Sender(gateway.url, OLD)
        sender.once()
        (status, id_), = sender.answers
        assert status == 200
        cli = [sys.executable, "-m", "gateway"]
        env_args = ["--url", gateway.url, "--token", TOKEN]
        listed = subprocess.run([*cli, "events", "--source", "tlas", *env_args], capture_output=True,
                                text=True, timeout=30, env={**os.environ, "COLUMNS": "220"})
        assert listed.returncode == 0 and "published" in listed.stdout and "tlas.application" in listed.stdout
        replayed = subprocess.run([*cli, "replay", id_, *env_args], capture_output=True, text=True, timeout=30)
        assert replayed.returncode == 0 and replayed.stdout.startswith(f"published {id_} to {topic_prefix}.tlas")
        as_json = subprocess.run([*cli, "events", "--json", *env_args], capture_output=True, text=True, timeout=30)
        rows = [json.loads(line) for line in as_json.stdout.splitlines()]
        assert [(r["id"], r["replayed"]) for r in rows] == [(id_, True), (id_, False)]
        missing = subprocess.run([*cli, "replay", "no-such-id", *env_args], capture_output=True, text=True, timeout=30)
        assert missing.returncode == 1 and "no such event" in missing.stderr
        refused = subprocess.run([*cli, "events", "--url", gateway.url, "--token", "wrong"],
                                 capture_output=True, text=True, timeout=30)
        assert refused.returncode == 2 and "token was refused" in refused.stderr
    finally:
        gateway.stop()
    records = read_topic(broker.bootstrap, f"{topic_prefix}.tlas")
    assert len(records) == 2  # the original and its replay: same key, value (envelope id) and headers
    first, again = records
    assert (first.key, first.value, list(first.headers)) == (again.key, again.value, list(again.headers))
    assert _ce_id(first) == id_


def test_metrics_add_up_over_workers_and_sighup_with_a_bad_file_keeps_them_serving(
        tmp_path: Path, broker: Broker) -> None:
    topic_prefix = prefix()
    path = write_config(tmp_path / "gateway.yaml", tlas_config(tmp_path, broker, topic_prefix, [OLD]))
    stale = tmp_path / "var" / "metrics"
    stale.mkdir(parents=True)
    (stale / "counter_99999.db").write_bytes(b"left over from an earlier run")
    gateway = GatewayProcess(path, workers=2).start()
    try:
        wait_for(lambda: httpx.get(gateway.url + "/readyz").json()["kafka"] == "reachable", 20, "kafka")
        sender = Sender(gateway.url, OLD)
        for _ in range(12):  # a new connection each time: the kernel spreads them over the workers
            sender.once()
        # /readyz answered for one worker; the other may still be connecting, and spools meanwhile
        outcomes = Counter({200: "published", 202: "spooled"}[s] for s, _ in sender.answers)
        assert outcomes["published"] >= 1 and sum(outcomes.values()) == 12
        path.write_text("sources: {}\n")
        gateway.signal(signal.SIGHUP)  # the supervisor and both workers; all refuse the file
        for _ in range(8):  # every scrape, whichever worker answers, counts all 12
            text = httpx.get(gateway.url + "/metrics").text
            for outcome, count in outcomes.items():
                assert f'gateway_requests_total{{outcome="{outcome}",source="tlas"}} {count}.0' in text
        sender.answers.clear()
        for _ in range(4):
            sender.once()
        assert {s for s, _ in sender.answers} <= {200, 202}  # the old configuration still serves
    finally:
        gateway.stop()
    assert not (stale / "counter_99999.db").exists()
