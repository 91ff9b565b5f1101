"""GET /metrics: names, bounded labels, what each counter counts (memory publisher)."""

from __future__ import annotations

import io
import logging
import re
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway import logs
from gateway.app import create_app
from gateway.config import parse_config
from gateway.providers import REGISTRY
from gateway.publish.memory import MemoryPublisher
from tests.helpers import config_dict

SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")


def scrape(http: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = http.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    found = {}
    for line in answer.text.splitlines():
        if line.startswith("#") or not line:
            continue
        name, labels, value = SAMPLE.match(line).groups()  # type: ignore[union-attr]
        pairs = frozenset(tuple(p.split("=", 1)) for p in re.findall(r'\w+="[^"]*"', labels or ""))
        found[name, frozenset((k, v.strip('"')) for k, v in pairs)] = float(value)
    return found


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def signed(source: str, body: bytes, data: dict) -> dict[str, str]:
    cfg = parse_config(data).sources[source]
    return {"Content-Type": "application/json", **REGISTRY[cfg.provider].sign(cfg, body, time.time())}


def tlas_body(n: int) -> bytes:
    return (b'{"event":"application.submitted","timestamp":"2026-01-01T00:00:00Z",'
            b'"data":{"applicationId":"APP-%d"}}' % n)


def test_requests_rejections_duplicates_and_dead_letters_are_counted(tmp_path: Path) -> None:
    data = config_dict(tmp_path)
    with TestClient(create_app(parse_config(data), MemoryPublisher())) as http:
        for n in range(3):
            assert http.post("/webhooks/tlas", content=tlas_body(n), headers=signed("tlas", tlas_body(n), data)).status_code == 200
        http.post("/webhooks/tlas", content=tlas_body(0), headers=signed("tlas", tlas_body(0), data))  # retry
        http.post("/webhooks/tlas", content=b"not json", headers=signed("tlas", b"not json", data))
        http.post("/webhooks/tlas", content=tlas_body(9), headers={"X-Webhook-Signature": "sha256=00"})
        samples = scrape(http)
    assert value(samples, "gateway_requests_total", source="tlas", outcome="published") == 3
    assert value(samples, "gateway_requests_total", source="tlas", outcome="duplicate") == 1
    assert value(samples, "gateway_requests_total", source="tlas", outcome="deadlettered") == 1
    assert value(samples, "gateway_requests_total", source="tlas", outcome="rejected") == 1
    assert value(samples, "gateway_rejections_total", source="tlas", reason="invalid_signature") == 1
    assert value(samples, "gateway_dedupe_hits_total", source="tlas") == 1
    assert value(samples, "gateway_deadletters_total", source="tlas") == 1
    assert value(samples, "gateway_publish_latency_seconds_count", source="tlas") == 4  # 3 + dead letter
    assert value(samples, "gateway_spool_depth") == 0


def test_unknown_source_names_and_client_addresses_never_become_labels(tmp_path: Path) -> None:
    with TestClient(create_app(parse_config(config_dict(tmp_path)), MemoryPublisher())) as http:
        for name in ("attacker-chosen-1", "attacker-chosen-2", "x" * 60):
            assert http.post(f"/webhooks/{name}", content=b"{}",
                             headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
        text = http.get("/metrics").text
        samples = scrape(http)
    assert "attacker-chosen" not in text and "x" * 60 not in text
    assert "203.0.113.9" not in text and "testclient" not in text
    assert value(samples, "gateway_rejections_total", source="unknown", reason="unknown_source") == 3
    sources = {v for (_, labels) in samples for k, v in labels if k == "source"}
    assert sources <= {"iof", "compliancely", "tlas", "azakaw-acme", "azakaw-globex", "unknown"}


def test_counter_names_end_in_total_and_spool_gauges_follow_the_store(tmp_path: Path) -> None:
    data = config_dict(tmp_path)
    publisher = MemoryPublisher()
    with TestClient(create_app(parse_config(data), publisher)) as http:
        publisher.available = False  # Kafka down: events go to the spool
        for n in range(2):
            assert http.post("/webhooks/tlas", content=tlas_body(n), headers=signed("tlas", tlas_body(n), data)).status_code == 202
        samples = scrape(http)
        types = {line.split()[2]: line.split()[3] for line in http.get("/metrics").text.splitlines()
                 if line.startswith("# TYPE")}
    assert value(samples, "gateway_spool_depth") == 2
    assert value(samples, "gateway_spool_oldest_age_seconds") >= 0
    assert value(samples, "gateway_spooled_total", source="tlas") == 2
    for name, kind in types.items():
        assert name.startswith("gateway_")
        if kind == "counter":
            assert name.endswith("_total"), name


def test_log_lines_dropped_by_a_stalled_stream_are_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "MAX_PENDING", 0)  # as if the stream had stopped taking lines long ago
    handler = logs.Handler(io.StringIO())
    handler.setFormatter(logs.TextFormatter())
    with TestClient(create_app(parse_config(config_dict(tmp_path)), MemoryPublisher())) as http:
        assert value(scrape(http), "gateway_log_lines_dropped_total") == 0
        for n in range(3):
            handler.handle(logging.LogRecord("gateway.test", logging.INFO, "", 0, f"line {n}", (), None))
        assert value(scrape(http), "gateway_log_lines_dropped_total") == 3


def rendered(metrics: object) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    from gateway.metrics import SpoolCollector

    found = {}
    for line in metrics.render(SpoolCollector(lambda: (0, None))).decode().splitlines():  # type: ignore[attr-defined]
        if line and not line.startswith("#"):
            name, labels, number = SAMPLE.match(line).groups()  # type: ignore[union-attr]
            pairs = frozenset(tuple(p.split("=", 1)) for p in re.findall(r'\w+="[^"]*"', labels or ""))
            found[name, frozenset((k, v.strip('"')) for k, v in pairs)] = float(number)
    return found


def test_a_commit_the_disk_refuses_is_counted(tmp_path: Path) -> None:
    from gateway.metrics import Metrics
    from gateway.publish import Record
    from gateway.store import Job, Store

    metrics = Metrics(["iof"])
    store = Store(tmp_path / "gateway.db", expire_every_secs=None).open()
    metrics.watch_store(store)
    assert value(rendered(metrics), "gateway_store_write_failures_total") == 0
    conn = store.connect("FULL")
    try:  # a value SQLite refuses (NOT NULL), as it refuses a write to a full disk
        assert not store.writer.commit(conn, [Job("spool", records=[Record("t", b"k", None, [])],  # type: ignore[arg-type]
                                                  keys=[("iof", "1")])])
    finally:
        conn.close()
        store.close()
    assert store.failures == 1
    assert value(rendered(metrics), "gateway_store_write_failures_total") == 1


def test_slow_clients_cut_off_are_exported_by_stage() -> None:
    from gateway.metrics import Metrics

    metrics = Metrics(["iof"])
    assert value(rendered(metrics), "gateway_slow_clients_total", stage="headers") == 0
    for stage in ("headers", "headers", "headers", "body"):
        metrics.slow_client(stage)
    samples = rendered(metrics)
    assert value(samples, "gateway_slow_clients_total", stage="headers") == 3
    assert value(samples, "gateway_slow_clients_total", stage="body") == 1
    assert value(samples, "gateway_slow_clients_total", stage="body_unread") == 0
