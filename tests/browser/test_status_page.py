"""The status page in a real browser: Debian's headless Chromium opens /admin/?token=... (the
one-time token becomes a cookie across the redirect), and what it renders is checked against
known traffic: per-source counts, the latest events and rejections. A screenshot is kept."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from gateway.dev.broker import Broker
from gateway.providers import REGISTRY
from tests.helpers import GatewayProcess, config_dict, write_config
from tests.integration.running import prefix, wait_for

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TOKEN = "status-page-token-5150"
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "status-page.png"
pytestmark = [pytest.mark.kafka, pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) or shutil.which("chromium")),
    reason=f"no chromium at {CHROMIUM}: `make test` installs Debian's package (apt-get install chromium)")]


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=90)


class Tables(HTMLParser):
    """Rows of every table with an id: {table id: [[cell text, ...], ...]}, plus row attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.row_sources: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and found.get("id"):
            self._table = found["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
            if self._table == "sources" and found.get("data-source"):
                self.row_sources.append(found["data-source"] or "")
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None


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
        dom = chromium(tmp_path / "profile-dom", "--dump-dom", url)
        assert dom.returncode == 0, dom.stderr[-2000:]
        shot = tmp_path / "status-page.png"
        taken = chromium(tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,900",
                         "--hide-scrollbars", url)
        assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr[-2000:]
        if not DOCS_SCREENSHOT.exists() or os.environ.get("UPDATE_DOCS_SCREENSHOT"):
            shutil.copyfile(shot, DOCS_SCREENSHOT)  # docs/operations.md shows it
    finally:
        gateway.stop()
    page = Tables()
    page.feed(dom.stdout)
    assert "webhook-gateway" in dom.stdout and "unauthorized" not in dom.stdout
    header, *rows = page.tables["sources"]
    by_source = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
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
