"""Shared test helpers: demo configs, signed sample requests, reading topics, a real gateway process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from gateway.config import Config, parse_config
from gateway.dev.broker import free_port
from gateway.publish.kafka_consumer import Consumed, follow

# Literal secrets keep unit tests self-contained (the config warns about them; that is fine here).
SECRETS = {
    "iof": "whsec_test_iof_secret_0123456789",
    "iof_previous": "whsec_test_iof_previous_secret_9876",
    "compliancely": "cmp_test_secret_abcdef",
    "tlas": "tlas-test-webhook-secret",
    "acme_password": "acme-test-password",
    "globex_key": "globex-test-api-key",
}


def source_configs() -> dict[str, dict[str, Any]]:
    return {
        "iof": {"provider": "iof", "secrets": [SECRETS["iof"], SECRETS["iof_previous"]]},
        "compliancely": {"provider": "compliancely", "secrets": [SECRETS["compliancely"]]},
        "tlas": {"provider": "tlas", "secrets": [SECRETS["tlas"]]},
        "azakaw-acme": {"provider": "azakaw", "tenant": "acme",
                        "auth": {"type": "basic", "username": "acme", "password": SECRETS["acme_password"]}},
        "azakaw-globex": {"provider": "azakaw", "tenant": "globex",
                          "auth": {"type": "api_key", "header": "X-Globex-Key", "key": SECRETS["globex_key"]}},
    }


def config_dict(storage: Path, bootstrap: str = "127.0.0.1:9", **kafka: Any) -> dict[str, Any]:
    return {
        "kafka": {"bootstrap_servers": [bootstrap], "topic_prefix": "webhooks", **kafka},
        "storage": {"path": str(storage)},
        "sources": source_configs(),
    }


def make_config(storage: Path, bootstrap: str = "127.0.0.1:9", **kafka: Any) -> Config:
    return parse_config(config_dict(storage, bootstrap, **kafka))


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def read_topic(bootstrap: str, topic: str | list[str], idle_secs: float = 1.5) -> list[Consumed]:
    """Every record of the topic(s), read until the partitions stay quiet (Tansu's end offsets lag)."""
    topics = [topic] if isinstance(topic, str) else topic
    return list(follow([bootstrap], topics, from_beginning=True, idle_secs=idle_secs))


class GatewayProcess:
    """`webhook-gateway serve` as a real process on a free port."""

    def __init__(self, config_path: Path, workers: int = 1, env: dict[str, str] | None = None) -> None:
        self.config_path = config_path
        self.port = free_port()
        self.workers = workers
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = config_path.with_suffix(".log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> GatewayProcess:
        cmd = [sys.executable, "-m", "gateway", "serve", "--config", str(self.config_path),
               "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers)]
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError(f"gateway did not come up: {self.log.read_text()[-2000:]}")

    def signal(self, sig: int) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, sig)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait()
