"""The security teams' view, end to end: a real `webhook-gateway serve` and the real broker.

Every rejection reason is produced by a real HTTP request and found, with DESIGN.md's fields, both
in the local audit log and in `{prefix}.rejected`; records kept while Kafka is down reach it once
it is back; and no secret appears in anything the run wrote.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import msgspec
import pytest

from gateway.auditlog import read_records
from gateway.config import parse_config
from gateway.dev.broker import Broker, free_port
from gateway.errors import Reason
from gateway.providers import REGISTRY
from tests.helpers import SECRETS, GatewayProcess, config_dict, read_topic, write_config
from tests.kafka import brokers

pytestmark = pytest.mark.kafka

ADMIN_TOKEN = "admin-test-token-5f1c2e"
FIELDS = {"id", "at", "source", "provider", "reason", "remote_addr", "user_agent", "method", "path",
          "body_sha256", "body_size", "headers", "chain", "seq", "prev"}  # chain: gateway.auditchain
# written only where they say something (schemas/audit.schema.json)
OPTIONAL_FIELDS = {"repeats", "detail", "skew_secs", "accepted_body_sha256"}


def security_config(storage: Path, bootstrap: str, prefix: str) -> dict[str, Any]:
    data = config_dict(storage, bootstrap, topic_prefix=prefix)
    sources = data["sources"]
    sources["compliancely"]["max_body_bytes"] = 1000
    sources["tlas"]["max_age_secs"] = 600
    sources["tlas-limited"] = {"provider": "tlas", "secrets": [SECRETS["tlas"]],
                               "rate_limit": {"per_client": {"rate_per_sec": 0.01, "burst": 1}}}
    sources["tlas-allow"] = {"provider": "tlas", "secrets": [SECRETS["tlas"]],
                             "allow_cidrs": ["10.9.9.0/24"]}
    data["admin"] = {"token": "env:TEST_GATEWAY_ADMIN_TOKEN"}
    return data


def signed(data: dict[str, Any], source: str, body: bytes, now: float | None = None) -> dict[str, str]:
    cfg = parse_config(data).sources[source]
    return REGISTRY[cfg.provider].sign(cfg, body, time.time() if now is None else now)


def tlas_body(at: float) -> bytes:
    return REGISTRY["tlas"].samples["application.submitted"](at)


def one_of_each(url: str, data: dict[str, Any]) -> tuple[dict[Reason, str], str]:
    """One request per reason code, plus a replayed event; -> (reason: the User-Agent that tags
    its request, the replayed request's User-Agent)."""
    now = time.time()
    body = tlas_body(now)
    basic_wrong = "Basic " + base64.b64encode(b"acme:" + SECRETS["acme_password"].encode() + b"x").decode()
    iof_body = REGISTRY["iof"].samples["contract.created"](now)
    stale_iof = signed(data, "iof", iof_body, now - 3600)  # form 3: the signed t= is an hour old
    old_tlas = tlas_body(now - 7200)  # signed correctly, but its own `timestamp` is 2 h old
    requests: dict[Reason, tuple[str, bytes, list[tuple[str, str]]]] = {
        Reason.UNKNOWN_SOURCE: ("nope", body, []),
        Reason.MISSING_SIGNATURE: ("tlas", body, []),
        Reason.INVALID_SIGNATURE: ("tlas", body, [("X-Webhook-Signature", "sha256=" + "ab" * 32)]),
        Reason.INVALID_CREDENTIALS: ("azakaw-acme", b"{}", [("Authorization", basic_wrong)]),
        Reason.STALE_TIMESTAMP: ("iof", iof_body, list(stale_iof.items())),
        Reason.BODY_TOO_LARGE: ("compliancely", b"x" * 5000, []),
        Reason.IP_NOT_ALLOWED: ("tlas-allow", body, list(signed(data, "tlas-allow", body).items())),
        Reason.MALFORMED_REQUEST: ("tlas", body, [("X-Webhook-Signature", "sha256=00"),
                                                  ("X-Webhook-Signature", "sha256=11")]),
    }
    agents = {}
    with httpx.Client(base_url=url, timeout=10) as client:
        for reason, (source, content, headers) in requests.items():
            agent = f"security-test-{reason.value}-{uuid4().hex[:6]}"
            response = client.post(f"/webhooks/{source}", content=content,
                                    headers=[("User-Agent", agent), *headers])
            assert 400 <= response.status_code < 500, (reason, response.status_code)
            agents[reason] = agent
        # The replay check: a correctly signed TLAS event whose signed time is too old.
        agent = f"security-test-replay-{uuid4().hex[:6]}"
        response = client.post("/webhooks/tlas", content=old_tlas,
                               headers={"User-Agent": agent, **signed(data, "tlas", old_tlas)})
        assert response.status_code == 401
        replay_agent = agent
        # Rate limit: burst 1, so the second request from this client is refused with Retry-After.
        agent = f"security-test-rate_limited-{uuid4().hex[:6]}"
        first = client.post("/webhooks/tlas-limited", content=b"{}", headers={"User-Agent": agent})
        second = client.post("/webhooks/tlas-limited", content=b"{}", headers={"User-Agent": agent})
        assert first.status_code == 401 and second.status_code == 429
        assert int(second.headers["retry-after"]) >= 1
        agents[Reason.RATE_LIMITED] = agent
        # An accepted id again with another body: answered as a duplicate (the default) and audited.
        agent = f"security-test-id_conflict-{uuid4().hex[:6]}"
        fresh = REGISTRY["iof"].samples["kyc.verified"](now)
        altered = fresh.replace(b'"data"', b'"altered":true,"data"', 1)
        first = client.post("/webhooks/iof", content=fresh, headers=signed(data, "iof", fresh, now))
        again = client.post("/webhooks/iof", content=altered,
                            headers={"User-Agent": agent, **signed(data, "iof", altered, now)})
        assert first.status_code in (200, 202) and again.json()["status"] == "duplicate", again.text
        agents[Reason.ID_CONFLICT] = agent
    return agents, replay_agent


def local_records(storage: Path) -> list[dict[str, Any]]:
    return [msgspec.json.decode(line) for line in read_records(storage / "audit")]


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("TEST_GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN)  # for the config parsed here too
    return {"TEST_GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN}


@pytest.fixture
def gateway(tmp_path: Path, broker: Broker, env: dict[str, str]) -> Iterator[tuple[GatewayProcess, dict[str, Any]]]:
    prefix = f"t{uuid4().hex[:8]}"
    data = security_config(tmp_path / "var", broker.bootstrap, prefix)
    process = GatewayProcess(write_config(tmp_path / "gateway.yaml", data), env=env).start()
    try:
        yield process, data
    finally:
        process.stop()


def test_every_reason_is_audited_locally_and_in_the_rejected_topic(
        gateway: tuple[GatewayProcess, dict[str, Any]], broker: Broker, tmp_path: Path) -> None:
    process, data = gateway
    storage = tmp_path / "var"
    prefix = data["kafka"]["topic_prefix"]
    agents, replay_agent = one_of_each(process.url, data)
    assert set(agents) == set(Reason)
    by_agent = {agent: reason for reason, agent in agents.items()}
    by_agent[replay_agent] = Reason.STALE_TIMESTAMP
    rejected = f"{prefix}.rejected"

    def in_topic() -> dict[str, dict[str, Any]]:
        records = [msgspec.json.decode(r.value) for r in read_topic(broker.bootstrap, rejected, idle_secs=1.0)]
        found = {r["user_agent"]: r for r in records if r["user_agent"] in by_agent}
        return found if len(found) == len(by_agent) else {}

    topic = wait_for(in_topic, 30, "every audit record in the rejected topic")
    local = {r["user_agent"]: r for r in local_records(storage) if r["user_agent"] in by_agent}
    assert set(local) == set(by_agent)
    for agent, reason in by_agent.items():
        record = local[agent]
        assert FIELDS <= set(record) <= FIELDS | OPTIONAL_FIELDS, set(record) ^ FIELDS
        assert record["reason"] == reason.value, agent
        assert record == topic[agent]  # the same record, byte for byte in content
        assert record["remote_addr"] == "127.0.0.1"
        assert record["method"] == "POST" and record["path"] == f"/webhooks/{record['source']}"
    # Credential headers carry fingerprints, never values.
    assert local[agents[Reason.INVALID_CREDENTIALS]]["headers"]["authorization"].startswith("fp:")
    assert local[agents[Reason.INVALID_SIGNATURE]]["headers"]["x-webhook-signature"].startswith("fp:")
    assert local[agents[Reason.BODY_TOO_LARGE]]["body_size"] == 5000
    assert local[agents[Reason.UNKNOWN_SOURCE]]["provider"] is None
    conflict = local[agents[Reason.ID_CONFLICT]]  # both hashes, never the bodies
    assert conflict["accepted_body_sha256"] not in (None, conflict["body_sha256"])

    # The admin API serves the same trail, behind its token.
    url = process.url + "/admin/rejections"
    assert httpx.get(url, timeout=5).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 401
    answer = httpx.get(url, params={"reason": "rate_limited", "since": "1h"},
                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5)
    assert answer.status_code == 200
    assert [r["user_agent"] for r in answer.json()["rejections"]] == [agents[Reason.RATE_LIMITED]]

    secrets_never_written(storage, process, broker, prefix)


def secrets_never_written(storage: Path, process: GatewayProcess, broker: Broker, prefix: str) -> None:
    """Grep everything the run wrote: files under storage.path, the gateway's log, every topic."""
    values = [s.encode() for s in SECRETS.values()] + [ADMIN_TOKEN.encode()]
    values.append(base64.b64encode(b"acme:" + SECRETS["acme_password"].encode()))
    written = [path.read_bytes() for path in storage.rglob("*") if path.is_file()]
    written.append(process.log.read_bytes())
    topics = [f"{prefix}.{name}" for name in ("rejected", "deadletter", "iof", "tlas", "compliancely", "azakaw")]
    written += [r.value + (r.key or b"") for r in read_topic(broker.bootstrap, topics, idle_secs=1.0)]
    assert len(written) > 3
    for blob in written:
        for value in values:
            assert value not in blob


def test_records_kept_while_kafka_is_down_are_published_when_it_is_back(tmp_path: Path, env: dict[str, str]) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    prefix = f"t{uuid4().hex[:8]}"
    data = security_config(tmp_path / "var", bootstrap, prefix)
    process = GatewayProcess(write_config(tmp_path / "gateway.yaml", data), env=env).start()
    try:
        agent = f"while-down-{uuid4().hex[:6]}"
        for _ in range(3):
            answer = httpx.post(process.url + "/webhooks/tlas", content=b"{}", headers={"User-Agent": agent},
                                timeout=10)
            assert answer.status_code == 401  # no broker: the answer does not wait for one
        kept = [r for r in local_records(tmp_path / "var") if r["user_agent"] == agent]
        assert len(kept) == 3
        with brokers.make(tmp_path, port=port) as late_broker:
            def published() -> list[dict[str, Any]]:
                records = [msgspec.json.decode(r.value)
                           for r in read_topic(late_broker.bootstrap, f"{prefix}.rejected", idle_secs=1.0)]
                return [r for r in records if r["user_agent"] == agent]

            arrived = wait_for(lambda: len(published()) >= 3 and published(), 45, "records shipped late")
            assert sorted(r["id"] for r in arrived) == sorted(r["id"] for r in kept)
            process.stop()
    finally:
        process.stop()
