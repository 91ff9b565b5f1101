"""The audit trail's chains end to end: a real `webhook-gateway serve` (two workers, so two chains)
and the real broker, checked with the `audit verify` command on the local log and the topic, then
again after the local log was tampered with."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from uuid import uuid4

import httpx
import msgspec
import pytest

from gateway.dev.broker import Broker
from tests.helpers import GatewayProcess, config_dict, read_topic, write_config

pytestmark = pytest.mark.kafka

_SCRIPT = Path(sys.executable).with_name("webhook-gateway")
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "gateway"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def local_lines(audit: Path) -> list[bytes]:
    return [line for path in sorted(audit.glob("w*/*.jsonl")) for line in path.read_bytes().splitlines()]


def test_verify_passes_on_the_log_and_topic_then_names_a_tampered_record(tmp_path: Path, broker: Broker) -> None:
    assert cli("audit", "keygen", "--out", str(tmp_path / "audit-key")).returncode == 0
    prefix = f"t{uuid4().hex[:8]}"
    data = config_dict(tmp_path / "var", broker.bootstrap, topic_prefix=prefix)
    data["audit"] = {"checkpoint_key": f"file:{tmp_path / 'audit-key'}", "replica": "it",
                     "checkpoint_every_secs": 0.5}
    config = write_config(tmp_path / "gateway.yaml", data)
    process = GatewayProcess(config, workers=2).start()
    try:
        with httpx.Client(base_url=process.url, timeout=10) as client:
            for n in range(12):
                assert client.post("/webhooks/tlas", content=b"{}").status_code == 401
                if n == 5:
                    time.sleep(0.6)  # the next record finds a checkpoint due
    finally:
        process.stop()  # drained: each chain sealed with a last checkpoint, and shipped
    audit = tmp_path / "var" / "audit"
    written = local_lines(audit)
    assert sum(b'"type":"checkpoint"' in line for line in written) >= 2
    deadline = time.monotonic() + 30
    while set(r.value for r in read_topic(broker.bootstrap, f"{prefix}.rejected")) != set(written):
        assert time.monotonic() < deadline, "every line of the local log in the topic"

    verify = ["audit", "verify", "--config", str(config), "--public-key", str(tmp_path / "audit-key.pub")]
    clean = cli(*verify, "--from-kafka")
    print(clean.stdout)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.count("verified: ok") == 2 * len({msgspec.json.decode(line)["chain"] for line in written})
    assert clean.stdout.rstrip().endswith("verdict: every chain verifies")

    segment = sorted(audit.glob("w*/000000000001.jsonl"))[0]
    lines = segment.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"reason":"missing_signature"', b'"reason":"body_too_large"')
    segment.write_bytes(b"".join(lines))
    tampered = cli(*verify)
    print(tampered.stdout)
    assert tampered.returncode == 1
    assert (f"FAILED edited: seq 2 at {segment.parent.name}/{segment.name} offset {len(lines[0])} "
            "(its hash is not seq 3's prev)") in tampered.stdout
    assert cli(*verify, "--from-kafka").returncode == 1
