"""A log reader that stops reading (a full pipe to a stalled collector) does not stop a running
`webhook-gateway serve` from answering webhooks, and the lines it held meanwhile are printed once
the reader is back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from gateway.config import parse_config
from gateway.dev.broker import free_port
from tests.helpers import config_dict, write_config
from tests.integration.running import sample, signed, wait_for

# Far more request lines than a pipe holds (64 KiB by default on Linux, about 300 such lines).
WEBHOOKS = 1_200


def test_webhooks_are_answered_while_nobody_reads_the_log(tmp_path: Path) -> None:
    data = config_dict(tmp_path / "var")  # no broker: events are spooled, 202
    data["limits"] = {"rate_limit": {"per_source": None, "per_client": None}}  # one client, back to back
    path = write_config(tmp_path / "gateway.yaml", data)
    cfg = parse_config(data)
    body = sample(cfg, "iof")
    port = free_port()
    cmd = [sys.executable, "-m", "gateway", "serve", "--config", str(path), "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "info"]
    # Nobody reads the pipe until every webhook is answered.
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            wait_for(lambda: _up(client), 20, "the gateway to answer /healthz")
            statuses = [client.post("/webhooks/iof", content=body, headers=signed(cfg, "iof", body)).status_code
                        for _ in range(WEBHOOKS)]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    assert statuses[0] == 202 and statuses[1:] == [200] * (WEBHOOKS - 1)  # spooled, then duplicates
    requests = [line for line in out.decode().splitlines() if " gateway.request: webhook iof " in line]
    assert len(requests) == WEBHOOKS
    assert "spooled" in requests[0] and all("duplicate" in line for line in requests[1:])


def _up(client: httpx.Client) -> bool:
    try:
        return client.get("/healthz").status_code == 200
    except httpx.TransportError:
        return False
