"""Rejections explained to the security team, never to the sender, end to end: a real `serve`
(no broker needed: the audit log is local), one crafted request per detail code, each answered
with the same generic body, and each found with its `detail` in the local audit log. Then
`webhook-gateway secrets status` against the same running gateway."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
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
from gateway.providers import REGISTRY
from tests.helpers import SECRETS, GatewayProcess, config_dict, write_config

TOKEN = "admin-details-token-4d2a"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[GatewayProcess, dict[str, Any], Path]]:
    data = config_dict(tmp_path / "var")
    data["admin"] = {"token": TOKEN}
    path = write_config(tmp_path / "gateway.yaml", data)
    process = GatewayProcess(path).start()
    try:
        yield process, data, path
    finally:
        process.stop()


def crafted(data: dict[str, Any]) -> dict[str, tuple[str, bytes, list[tuple[str, str]]]]:
    """detail -> (source, body, headers) of a request that must produce it."""
    now = time.time()
    iof = parse_config(data).sources["iof"]
    body = REGISTRY["iof"].samples["kyc.verified"](now)
    stale = REGISTRY["iof"].sign(iof, body, now - 3600)  # t= an hour ago, correctly signed
    compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
    spaced = json.dumps(json.loads(body), indent=2).encode()
    basic = "Basic " + base64.b64encode(b"acme:" + SECRETS["acme_password"].encode() + b"x").decode()
    return {
        "header_missing": ("tlas", body, []),
        "header_repeated": ("tlas", body, [("X-Webhook-Signature", "00"), ("X-Webhook-Signature", "11")]),
        "header_malformed": ("iof", body, [("X-IOF-Signature", "t=1700000000")]),
        "signature_encoding": ("tlas", body, [("X-Webhook-Signature", "sha256=" + "zz" * 32)]),
        "signature_length": ("tlas", body, [("X-Webhook-Signature", "sha256=abcd")]),
        "timestamp_malformed": ("iof", body, [("X-IOF-Timestamp", "soon"), (
            "X-IOF-Signature", "sha256=" + hmac.new(SECRETS["iof"].encode(), b"soon." + body,
                                                    hashlib.sha256).hexdigest())]),
        "timestamp_skew": ("iof", body, list(stale.items())),
        "no_secret_matched": ("tlas", body, [("X-Webhook-Signature", "ab" * 32)]),
        "body_reserialized": ("iof", spaced, list(REGISTRY["iof"].sign(iof, compact, now).items())),
        "credentials_malformed": ("azakaw-acme", b"{}", [("Authorization", "Bearer x")]),
        "credentials_wrong": ("azakaw-acme", b"{}", [("Authorization", basic)]),
    }


def test_each_detail_is_in_the_audit_log_and_the_answer_stays_generic(
        gateway: tuple[GatewayProcess, dict[str, Any], Path], tmp_path: Path) -> None:
    process, data, _ = gateway
    agents = {}
    with httpx.Client(base_url=process.url, timeout=10) as client:
        for detail, (source, body, headers) in crafted(data).items():
            agent = f"details-{detail}-{uuid4().hex[:6]}"
            answer = client.post(f"/webhooks/{source}", content=body,
                                 headers=[("User-Agent", agent), *headers])
            assert answer.status_code == 401 and answer.json() == {"error": "unauthorized"}, detail
            assert detail not in answer.text
            agents[agent] = detail
    deadline = time.monotonic() + 10
    found: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and len(found) < len(agents):
        for line in read_records(tmp_path / "var" / "audit"):
            record = msgspec.json.decode(line)
            if record.get("user_agent") in agents:
                found[agents[record["user_agent"]]] = record
        time.sleep(0.05)
    assert {detail: record.get("detail") for detail, record in found.items()} \
        == {detail: detail for detail in agents.values()}
    assert 3590 <= found["timestamp_skew"]["skew_secs"] <= 3700
    assert found["body_reserialized"]["reason"] == "invalid_signature"


def test_secrets_status_reads_the_running_gateway(
        gateway: tuple[GatewayProcess, dict[str, Any], Path]) -> None:
    process, data, path = gateway
    now = time.time()
    iof = parse_config(data).sources["iof"]
    previous = iof.model_copy(update={"secrets": iof.secrets[1:]})  # the provider still on slot 1
    body = REGISTRY["iof"].samples["kyc.verified"](now)
    answer = httpx.post(process.url + "/webhooks/iof", content=body,
                        headers=REGISTRY["iof"].sign(previous, body, now), timeout=10)
    assert answer.status_code in (200, 202)
    run = subprocess.run([sys.executable, "-m", "gateway", "secrets", "status", "--config", str(path),
                          "--url", process.url, "--source", "iof", "--json"],
                         capture_output=True, text=True, timeout=30,
                         env={"PATH": "/usr/bin:/bin", "GATEWAY_ADMIN_TOKEN": TOKEN})
    assert run.returncode == 0, run.stderr
    slots = json.loads(run.stdout)["slots"]
    assert slots[0] == {"slot": 0, "last_matched_at": None}
    assert slots[1]["slot"] == 1 and slots[1]["last_matched_at"] is not None
    assert SECRETS["iof_previous"] not in run.stdout + run.stderr
