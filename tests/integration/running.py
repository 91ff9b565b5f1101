"""What the Kafka integration tests share: the real app in-process, signed sample requests, waiting."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import msgspec
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config import Config, parse_config
from gateway.envelope import Envelope
from gateway.providers import REGISTRY
from tests.helpers import GatewayProcess, config_dict


def prefix() -> str:
    """A topic prefix of its own for each test: the tests share one broker."""
    return f"t{uuid4().hex[:8]}"


def config(storage: Path, bootstrap: str, topic_prefix: str, sources: dict[str, dict[str, Any]] | None = None,
           **kafka: Any) -> Config:
    data = config_dict(storage, bootstrap, topic_prefix=topic_prefix, **kafka)
    for name, changes in (sources or {}).items():
        data["sources"][name] = {**data["sources"].get(name, {}), **changes}
    return parse_config(data)


def post(url: str, delivery: tuple[bytes, dict[str, str]], source: str = "iof") -> httpx.Response:
    """A signed delivery (gateway.commands.send.build) to a running `serve`."""
    body, headers = delivery
    return httpx.post(f"{url}/webhooks/{source}", content=body, headers=headers, timeout=30)


def readyz(gateway: GatewayProcess) -> dict[str, Any]:
    return httpx.get(gateway.url + "/readyz", timeout=5).json()


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll until `condition()` is truthy (and return it), or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def kafka_reachable(client: Any) -> bool:
    response = client.get("/readyz")
    return response.json().get("kafka") == "reachable"


@contextmanager
def running(cfg: Config) -> Iterator[TestClient]:
    """The real app (lifespan included) publishing to the configured broker, once it is connected.

    Leaving the block runs the shutdown: pending audit records are published and the producer
    flushed, so what the test posted is in Kafka by then.
    """
    with TestClient(create_app(cfg)) as client:
        wait_for(lambda: kafka_reachable(client), 20, "the publisher to connect")
        yield client


def signed(cfg: Config, source: str, body: bytes) -> dict[str, str]:
    """The headers the source's provider would send with `body`."""
    source_cfg = cfg.sources[source]
    now = time.time()
    return {"Content-Type": "application/json", **REGISTRY[source_cfg.provider].sign(source_cfg, body, now)}


def sample(cfg: Config, source: str, event: str | None = None) -> bytes:
    samples = REGISTRY[cfg.sources[source].provider].samples
    return samples[event or next(iter(samples))](time.time())


def envelope(value: bytes) -> Envelope:
    return msgspec.json.decode(value, type=Envelope)
