"""/readyz tells the truth, and the first events after start-up wait for Kafka (docs/operations.md).

- ready exactly when Kafka or the spool can take an event: a dead broker is reported within a
  couple of seconds, a full disk under the spool makes the spool unwritable, and either coming
  back makes the gateway ready again;
- while the first connection to Kafka is being made, /readyz says `connecting` (not ready) and an
  event waits for it (within the ack timeout) and is published, not spooled.

These are about the gateway's knowledge of its broker, not about what reaches Kafka: each test
has a broker of its own (the embedded one, which starts at once) that it can kill.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.dev.broker import Broker, free_port
from gateway.dev.proxy import Proxy
from tests.helpers import GatewayProcess, config_dict, write_config
from tests.integration.running import config, post, prefix, sample, signed, wait_for


def ready(gateway: GatewayProcess) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(gateway.url + "/readyz", timeout=5)
    return answer.status_code, answer.json()


def test_a_killed_broker_is_reported_within_seconds_and_its_return_too(tmp_path: Path) -> None:
    port = free_port()
    broker = Broker(port=port, log_path=tmp_path / "broker.log").start()
    data = config_dict(tmp_path / "var", broker.bootstrap, topic_prefix=prefix())
    gateway = GatewayProcess(write_config(tmp_path / "gateway.yaml", data)).start()
    try:
        wait_for(lambda: ready(gateway)[1]["kafka"] == "reachable", 20, "the publisher to connect")
        assert broker._process is not None
        broker._process.kill()  # SIGKILL: no goodbye to the clients
        broker._process.wait()
        status, body = wait_for(lambda: (r := ready(gateway))[1]["kafka"] == "unreachable" and r, 4,
                                "/readyz to report the killed broker")
        assert status == 200 and body["ready"] and body["spool"]["writable"]  # ready through the spool
        broker = Broker(port=port, log_path=tmp_path / "broker.log").start()
        wait_for(lambda: ready(gateway)[1]["kafka"] == "reachable", 10, "the broker's return")
    finally:
        gateway.stop()
        broker.stop()


@contextlib.contextmanager
def small_disk(path: Path, size: str = "8m") -> Iterator[Path]:
    path.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"a small disk needs mount (root): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with contextlib.suppress(OSError), open(filler, "wb") as out:  # its close fails too
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    return filler


def test_not_ready_exactly_while_neither_kafka_nor_the_spool_can_take_an_event(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk:
        data = config_dict(disk / "var")  # its broker, 127.0.0.1:9, is never there
        gateway = GatewayProcess(write_config(tmp_path / "gateway.yaml", data)).start()
        try:
            status, body = wait_for(lambda: (r := ready(gateway))[1]["kafka"] != "connecting" and r,
                                    10, "the first connection attempt to fail")
            assert (status, body["kafka"], body["spool"]["writable"]) == (200, "unreachable", True)
            filler = fill(disk)
            status, body = wait_for(lambda: (r := ready(gateway))[0] == 503 and r, 5,
                                    "/readyz to say not ready with the disk full")
            assert body["ready"] is False and body["spool"]["writable"] is False
            cfg = config(disk / "var", "127.0.0.1:9", "webhooks")
            event = sample(cfg, "tlas")
            samples = [ready(gateway) for _ in range(20)]  # it stays not ready: no flip-flop
            assert {s[0] for s in samples} == {503}, samples
            answer = post(gateway.url, (event, signed(cfg, "tlas", event)), "tlas")
            assert answer.status_code == 503, answer.text
            filler.unlink()
            status, body = wait_for(lambda: (r := ready(gateway))[0] == 200 and r, 5,
                                    "/readyz to be ready again once the disk has room")
            assert body["spool"]["writable"] is True
            answer = post(gateway.url, (event, signed(cfg, "tlas", event)), "tlas")
            assert (answer.status_code, answer.json()["status"]) == (202, "spooled")
        finally:
            gateway.stop()


def test_events_during_the_first_connection_wait_for_it_and_are_published(
        tmp_path: Path, broker: Broker) -> None:
    """The broker answers slowly at first (a proxy holds its bytes): /readyz says `connecting`,
    not ready, and an event posted meanwhile is published once the connection is made."""
    proxy = Proxy(int(broker.bootstrap.rsplit(":", 1)[1]))
    proxy.stall()
    cfg = config(tmp_path / "var", f"127.0.0.1:{proxy.port}", prefix(), ack_timeout_ms=5000)
    try:
        with TestClient(create_app(cfg)) as client:
            first = client.get("/readyz")
            assert (first.status_code, first.json()["kafka"], first.json()["ready"]) == (
                503, "connecting", False)
            event = sample(cfg, "tlas")
            answers: list[httpx.Response] = []
            sender = threading.Thread(target=lambda: answers.append(
                client.post("/webhooks/tlas", content=event, headers=signed(cfg, "tlas", event))))
            sender.start()
            wait_for(lambda: client.get("/readyz").json()["in_flight"] == 1, 5,
                     "the event to be waiting")
            proxy.up()
            sender.join(10)
            assert [(a.status_code, a.json()["status"]) for a in answers] == [(200, "published")]
            after = client.get("/readyz")
            assert (after.status_code, after.json()["kafka"]) == (200, "reachable")
    finally:
        proxy.close()
