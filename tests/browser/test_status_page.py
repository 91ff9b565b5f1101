"""The status page in a real browser: Debian's headless Chromium opens /admin/?token=... (the
one-time token becomes a cookie across the redirect), and what it renders is checked against
known traffic: per-source counts, the latest events and rejections. A screenshot is kept."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from gateway.dev.broker import Broker
from gateway.providers import REGISTRY
from tests.browser.pages import dump_dom, needs_chromium, parse, screenshot
from tests.helpers import GatewayProcess, config_dict, write_config
from tests.integration.running import prefix, wait_for

TOKEN = "status-page-token-5150"
pytestmark = [pytest.mark.kafka, needs_chromium]


def post_tlas(url: str, cfg: object, n: int, signed: bool = True) -> int:
    body = (b'{"event":"application.submitted","timestamp":"2026-01-01T00:00:00Z",'
            b'"data":{"applicationId":"APP-%d"}}' % n)
    headers = {"Content-Type": "application/json", "User-Agent": "status-page-test"}
    headers.update(REGISTRY["tlas"].sign(cfg, body, time.time()) if signed  # type: ignore[arg-type]
                   else {"X-Webhook-Signature": "sha256=" + "0" * 64})
    return httpx.post(url + "/webhooks/tlas", content=body, headers=headers).status_code


def test_status_page_shows_per_source_counts_and_the_latest_events(tmp_path: Path, broker: Broker) -> None:
    data = config_dict(tmp_path / "var", broker.bootstrap, topic_prefix=prefix())
    data["admin"] = {"token": TOKEN}
    gateway = GatewayProcess(write_config(tmp_path / "gateway.yaml", data)).start()
    try:
        wait_for(lambda: httpx.get(gateway.url + "/readyz").json()["kafka"] == "reachable", 20, "kafka")
        cfg = REGISTRY["tlas"].config.model_validate(data["sources"]["tlas"])
        assert [post_tlas(gateway.url, cfg, n) for n in (1, 2, 3, 1)] == [200] * 4  # 3 + a duplicate
        assert [post_tlas(gateway.url, cfg, 9, signed=False) for _ in range(2)] == [401, 401]
        assert httpx.post(gateway.url + "/webhooks/no-such-source", content=b"{}").status_code == 404
        url = f"{gateway.url}/admin/?token={TOKEN}"
        dom = dump_dom(tmp_path / "profile-dom", url)
        screenshot(tmp_path / "profile-shot", url, tmp_path / "status-page.png", "1280,900")
    finally:
        gateway.stop()
    page = parse(dom)
    assert "webhook-gateway" in dom and "unauthorized" not in dom
    header, *rows = page.tables["sources"]
    by_source = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert [a.get("data-source") for a in page.row_attrs["sources"][1:]] == list(by_source)
    assert set(by_source) == {"iof", "compliancely", "tlas", "azakaw-acme", "azakaw-globex", "(unknown)"}
    tlas = by_source["tlas"]
    assert (tlas["requests"], tlas["published"], tlas["duplicate"], tlas["spooled"], tlas["rejected"]) == (
        "6", "3", "1", "0", "2")
    assert by_source["(unknown)"]["rejected"] == "1" and by_source["iof"]["requests"] == "0"
    overview = dict(page.tables["overview"])  # type: ignore[arg-type]
    assert overview["Kafka"] == "reachable" and overview["spool depth"] == "0"
    _, *events = page.tables["events"]
    assert [(e[1], e[3]) for e in events] == [("tlas", "duplicate")] + [("tlas", "published")] * 3
    assert all(e[4].endswith(".tlas") for e in events)
    _, *rejections = page.tables["rejections"]
    assert [(r[1], r[2]) for r in rejections] == [
        ("no-such-source", "unknown_source"), ("tlas", "invalid_signature"), ("tlas", "invalid_signature")]
    assert rejections[1][4] == "status-page-test"
