"""Exactly once across the workers of a host (docs/durability.md): copies of one webhook posted at
the same moment to `serve --workers 2` land on both workers, and Kafka still gets one record.

The workers meet in the host's publisher process (gateway.publish.claims) while Kafka is up, and
in the store's write transaction while the events are spooled.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

from gateway.config import parse_config
from tests.helpers import GatewayProcess, config_dict, read_topic, write_config
from tests.integration.running import prefix, sample, signed, wait_for

EVENTS = 200
COPIES = 8


async def _post(port: int, raw: bytes) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)  # a connection per copy
    try:
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        body = json.loads(await reader.readexactly(length))
        return int(head[9:12]), body.get("status", "")
    finally:
        writer.close()


async def _storm(port: int, requests: list[bytes]) -> list[tuple[int, str]]:
    """Each event's copies at once; a few events at a time."""
    limit = asyncio.Semaphore(8)

    async def copies(raw: bytes) -> list[tuple[int, str]]:
        async with limit:
            return await asyncio.gather(*(_post(port, raw) for _ in range(COPIES)))

    answers = await asyncio.gather(*(copies(raw) for raw in requests))
    return [answer for group in answers for answer in group]


def _requests(data: dict[str, object]) -> tuple[list[bytes], list[str]]:
    cfg = parse_config(data)
    template = sample(cfg, "iof", "contract.created")
    requests, ids = [], []
    for n in range(EVENTS):
        event_id = f"evt_workers_{n:04d}"
        body = template.replace(json.loads(template)["id"].encode(), event_id.encode(), 1)
        headers = {**signed(cfg, "iof", body), "Host": "gateway", "Content-Length": str(len(body))}
        head = "POST /webhooks/iof HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        requests.append(head.encode() + b"\r\n" + body)
        ids.append(event_id)
    return requests, ids


def test_copies_racing_on_two_workers_reach_kafka_once(tmp_path: Path, broker) -> None:  # noqa: ANN001
    topic_prefix = prefix()
    data = config_dict(tmp_path / "var", broker.bootstrap, topic_prefix=topic_prefix)
    data["limits"] = {"rate_limit": {"per_client": None}}  # one client address, 1,600 requests
    gateway = GatewayProcess(write_config(tmp_path / "gateway.yaml", data), workers=2).start()
    try:
        wait_for(lambda: _ready(gateway), 30, "both workers to reach Kafka")
        requests, ids = _requests(data)
        answers = asyncio.run(_storm(gateway.port, requests))
    finally:
        gateway.stop()
    counted = Counter(answers)
    records = read_topic(broker.bootstrap, f"{topic_prefix}.iof")
    in_kafka = Counter(json.loads(r.value)["id"] for r in records)
    twice = sorted(i for i, n in in_kafka.items() if n > 1)
    assert set(counted) <= {(200, "published"), (200, "duplicate")}, counted
    assert counted[(200, "published")] == EVENTS and sorted(in_kafka) == sorted(ids) and not twice, (
        f"{EVENTS} events x {COPIES} copies: answered {dict(counted)}; {len(records)} records in "
        f"Kafka, {len(in_kafka)} distinct, {len(twice)} twice ({twice[:5]})")


def _ready(gateway: GatewayProcess) -> bool:
    import httpx

    # Each worker answers /readyz for itself: ask often enough to hear from both.
    states = {httpx.get(gateway.url + "/readyz", timeout=5).json()["kafka"] for _ in range(8)}
    return states == {"reachable"}


def test_copies_racing_on_two_workers_are_spooled_once_while_kafka_is_down(tmp_path: Path) -> None:
    data = config_dict(tmp_path / "var")  # its broker, 127.0.0.1:9, is never there
    data["limits"] = {"rate_limit": {"per_client": None}}
    gateway = GatewayProcess(write_config(tmp_path / "gateway.yaml", data), workers=2).start()
    try:
        import httpx

        wait_for(lambda: all(httpx.get(gateway.url + "/readyz", timeout=5).json()["kafka"]
                             == "unreachable" for _ in range(8)), 30, "both workers to give up on Kafka")
        requests, _ = _requests(data)
        answers = Counter(asyncio.run(_storm(gateway.port, requests)))
        depth = httpx.get(gateway.url + "/readyz", timeout=5).json()["spool"]["depth"]
    finally:
        gateway.stop()
    assert set(answers) <= {(202, "spooled"), (200, "duplicate")}, answers
    assert (answers[(202, "spooled")], depth) == (EVENTS, EVENTS), (
        f"{EVENTS} events x {COPIES} copies: answered {dict(answers)}, {depth} in the spool")
