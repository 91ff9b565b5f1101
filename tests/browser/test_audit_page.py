"""The audit page in a real browser: headless Chromium opens /admin/audit?token=... after
rejected requests of several reasons, an `id_conflict` and a user agent carrying a <script>,
and what it renders (the charts' bars and legends, the top addresses, the conflicts, the latest
records, the audit chain verified, a filter kept across the login redirect) is checked against
that traffic.

The screenshot in docs/ shows a day: the log is seeded beforehand with a day of made-up
rejections in a slot of its own (w7), all older than the range the assertions look at."""

from __future__ import annotations

import hashlib
import random
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from gateway.auditquery import iso
from gateway.dev.broker import Broker
from gateway.providers import REGISTRY
from tests.browser.pages import dump_dom, needs_chromium, parse, screenshot
from tests.helpers import GatewayProcess, config_dict, write_config
from tests.integration.running import prefix, wait_for

TOKEN = "audit-page-token-7311"
SCRIPT_AGENT = "<script>document.body.setAttribute('data-pwned','1')</script>"
RECENT = "10m"  # the assertions' range: the live requests, none of the seeded day
pytestmark = [pytest.mark.kafka, needs_chromium]


def seed_day(audit_root: Path, now: float) -> None:
    """A day of rejections before the test's own: background probing of unknown paths, a
    provider signing with a secret we lack for an hour, one address hammering until limited."""
    rng = random.Random(24)
    records = []

    def add(ago: float, source: str, reason: str, addr: str, detail: str | None = None,
            repeats: int = 0) -> None:
        records.append({"id": f"seed-{len(records)}", "at": iso(now - ago), "source": source,
                        "provider": None, "reason": reason, "remote_addr": addr,
                        "user_agent": "curl/8.5.0", "method": "POST", "path": f"/webhooks/{source}",
                        "body_sha256": hashlib.sha256(str(ago).encode()).hexdigest(),
                        "body_size": 120, "headers": {}, "repeats": repeats, "detail": detail})

    for _ in range(160):
        add(rng.uniform(900, 86400), rng.choice(["wp-login", "admin", "iof"]), "unknown_source",
            f"198.51.100.{rng.randint(2, 40)}")
    for _ in range(70):  # 09:00-10:00 hours ago: a rotated secret not configured yet
        add(rng.uniform(9 * 3600, 10 * 3600), "iof", "invalid_signature", f"203.0.113.{rng.randint(10, 13)}",
            "no_secret_matched")
    for _ in range(30):
        add(rng.uniform(900, 86400), rng.choice(["tlas", "compliancely"]), "missing_signature",
            f"192.0.2.{rng.randint(2, 9)}", "header_missing")
    for _ in range(12):
        add(rng.uniform(4 * 3600, 4.5 * 3600), "azakaw-acme", "rate_limited", "192.0.2.66", repeats=9)
    slot = audit_root / "w7"
    slot.mkdir(parents=True)
    records.sort(key=lambda r: r["at"])
    (slot / "000000000001.jsonl").write_bytes(b"".join(msgspec.json.encode(r) + b"\n" for r in records))


def post(client: httpx.Client, source: str, body: bytes, headers: dict[str, str]) -> int:
    return client.post(f"/webhooks/{source}", content=body, headers=headers).status_code


def traffic(url: str, data: dict[str, Any]) -> tuple[bytes, bytes]:
    """Rejections of five reasons from 127.0.0.1, then an id_conflict; -> the conflict's bodies."""
    now = time.time()
    tlas = b'{"event":"application.submitted","timestamp":"2026-01-01T00:00:00Z","data":{}}'
    iof_cfg = REGISTRY["iof"].config.model_validate(data["sources"]["iof"])
    accepted = REGISTRY["iof"].samples["kyc.verified"](now)
    altered = accepted.replace(b'"data"', b'"altered":true,"data"', 1)
    wrong = {"X-Webhook-Signature": "sha256=" + "0" * 64, "User-Agent": SCRIPT_AGENT}
    with httpx.Client(base_url=url, timeout=10) as client:
        assert [post(client, "tlas", tlas, wrong) for _ in range(3)] == [401] * 3
        assert [post(client, "iof", accepted, {}) for _ in range(2)] == [401] * 2  # no signature
        assert post(client, "azakaw-acme", b"{}", {"Authorization": "Basic YWNtZTp3cm9uZw=="}) == 401
        assert post(client, "no-such-source", b"{}", {}) == 404
        assert post(client, "iof", accepted, REGISTRY["iof"].sign(iof_cfg, accepted, now)) == 200
        again = client.post("/webhooks/iof", content=altered,
                            headers={"User-Agent": "iof-redelivery",
                                     **REGISTRY["iof"].sign(iof_cfg, altered, now)})
        assert again.json()["status"] == "duplicate", again.text  # on_id_conflict: record
    return accepted, altered


def test_audit_page_charts_filters_and_flags_conflicts(tmp_path: Path, broker: Broker) -> None:
    data = config_dict(tmp_path / "var", broker.bootstrap, topic_prefix=prefix())
    data["admin"] = {"token": TOKEN}
    seed_day(tmp_path / "var" / "audit", time.time())
    gateway = GatewayProcess(write_config(tmp_path / "gateway.yaml", data)).start()
    try:
        wait_for(lambda: httpx.get(gateway.url + "/readyz").json()["kafka"] == "reachable", 20, "kafka")
        accepted, altered = traffic(gateway.url, data)
        base = f"{gateway.url}/admin/audit?token={TOKEN}"
        recent = dump_dom(tmp_path / "profile-recent", f"{base}&since={RECENT}")
        filtered = dump_dom(tmp_path / "profile-filtered",
                            f"{base}&since={RECENT}&source=tlas&reason=invalid_signature")
        screenshot(tmp_path / "profile-shot", base, tmp_path / "audit-page.png", "1280,1500")
    finally:
        gateway.stop()

    page = parse(recent)
    reasons = {"invalid_signature": 3, "missing_signature": 2, "invalid_credentials": 1,
               "unknown_source": 1, "id_conflict": 1}
    assert legend(page, "by-reason") == reasons
    assert legend(page, "by-source") == {"tlas": 3, "iof": 3, "azakaw-acme": 1, "(unknown)": 1}
    for chart in ("by-reason", "by-source"):  # the bars add up to the legend, per series
        drawn: dict[str, int] = {}
        for key, count in page.bars[chart]:
            drawn[key] = drawn.get(key, 0) + count
        assert drawn == legend(page, chart)
    assert page.tables["addresses"][1][:2] == ["127.0.0.1", "8"]
    assert page.text["summary"].startswith("8 rejected requests in 8 records")

    _, conflict = page.tables["conflicts"]
    assert conflict[1:3] == ["iof", "127.0.0.1"] and conflict[-1] == "iof-redelivery"
    assert (conflict[3], conflict[4]) == (hashlib.sha256(altered).hexdigest()[:16],
                                          hashlib.sha256(accepted).hexdigest()[:16])

    header, *records = page.tables["records"]
    assert sorted(r[2] for r in records) == sorted(r for r, n in reasons.items() for _ in range(n))
    # The sender's <script> is text in a cell, not an element: it neither ran nor was dropped.
    tlas_agents = {r[-1] for r in records if r[1] == "tlas"}
    assert tlas_agents == {SCRIPT_AGENT} and "data-pwned=" not in recent
    # The gateway's own slot is one chain, verified; the seeded day predates chaining.
    [chain] = [row for row in page.tables["chains"][1:]]
    assert chain[1] == "8" and chain[3] == "verified: seq 1 to 8", chain
    assert "272 older records were written before chaining" in recent

    narrowed = parse(filtered)
    _, *rows = narrowed.tables["records"]
    assert [(r[1], r[2]) for r in rows] == [("tlas", "invalid_signature")] * 3
    assert legend(narrowed, "by-reason") == {"invalid_signature": 3}
    # The filter survived the login redirect and the form shows it.
    assert '<option selected="">invalid_signature</option>' in filtered and 'value="tlas"' in filtered


def legend(page: Any, chart: str) -> dict[str, int]:
    _, *rows = page.tables[f"{chart}-legend"]
    return {name: int(count) for name, count in rows}
