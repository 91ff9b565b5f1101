"""`body_reserialized`: a body a secret signed, rewritten on the way (keys reordered, whitespace
changed), is named in the audit record, never accepted, and looked for within a budget."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.answers import status_of
from gateway.audit import Auditor, RequestInfo
from gateway.config import Config, parse_config
from gateway.diagnose import BURST, Diagnosis, reserialized, variants
from gateway.envelope import AuditRecord
from gateway.errors import Outcome, Reason
from gateway.headers import Headers
from gateway.pipeline import Pipeline
from gateway.publish.memory import MemoryPublisher
from gateway.store import Store
from gateway.verify import Detail
from tests.helpers import SECRETS, config_dict
from tests.unit.sources import NOW, mac, source

SIGNED = {"type": "application.submitted", "timestamp": "2024-01-15T10:30:00Z",
          "data": {"applicationId": "APP-1", "licenseType": "TRADE_LICENSE"}}
COMPACT = json.dumps(SIGNED, separators=(",", ":")).encode()  # what the provider signed
REWRITTEN = json.dumps(SIGNED, indent=4).encode()  # what a proxy passed on: whitespace changed


def test_the_canonical_form_is_among_the_variants() -> None:
    found = list(variants(REWRITTEN))
    assert COMPACT in found
    canonical = json.dumps(SIGNED, sort_keys=True, separators=(",", ":")).encode()
    assert canonical in found  # keys reordered by a proxy: found when the provider signs sorted
    assert canonical in list(variants(json.dumps(SIGNED, sort_keys=False).encode()))


def test_a_rewritten_body_is_recognised_and_a_forgery_is_not() -> None:
    tlas = source("tlas")
    signed = Headers({"X-Webhook-Signature": "sha256=" + mac("whsec_previous_secret_bbbb", COMPACT)})
    assert tlas.verify(signed, COMPACT, NOW).slot == 1
    assert not tlas.verify(signed, REWRITTEN, NOW).ok  # the exact bytes are what is verified
    assert reserialized(tlas.verify, signed, REWRITTEN, NOW)
    forged = Headers({"X-Webhook-Signature": "sha256=" + mac("whsec_not_ours", COMPACT)})
    assert not reserialized(tlas.verify, forged, REWRITTEN, NOW)
    assert not reserialized(tlas.verify, signed, b"\xff not json", NOW)
    assert not reserialized(tlas.verify, signed, b"[" * 100_000, NOW)  # nested past the parser


def test_only_no_secret_matched_is_diagnosed() -> None:
    tlas = source("tlas")
    diagnosis = Diagnosis()
    missing = tlas.verify(Headers({}), REWRITTEN, NOW)
    assert diagnosis.explain("tlas", tlas.verify, Headers({}), REWRITTEN, missing, NOW) \
        == Detail.HEADER_MISSING
    assert diagnosis.checks == 0


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return parse_config(config_dict(tmp_path / "var"))


def run(config: Config, tmp_path: Path, requests: list[tuple[str, dict[str, str], bytes]],
        now: float = NOW) -> tuple[list[Any], list[AuditRecord], Pipeline, MemoryPublisher]:
    """Each (client address, headers, body) posted to tlas; -> (results, audit records, ...)."""
    publisher = MemoryPublisher()
    auditor = Auditor("webhooks.rejected", publisher, b"salt", frozenset())
    records: list[AuditRecord] = []
    build = auditor.build

    def keep(*args: Any, **kwargs: Any) -> AuditRecord:
        records.append(build(*args, **kwargs))
        return records[-1]

    auditor.build = keep  # type: ignore[method-assign]
    store = Store(tmp_path / "gateway.db").open()
    pipeline = Pipeline(config, publisher, auditor, store, clock=lambda: now)

    async def send() -> list[Any]:
        return [await pipeline.handle("tlas", RequestInfo("POST", "/webhooks/tlas", addr,
                                                          Headers(headers)), body)
                for addr, headers, body in requests]

    try:
        results = asyncio.run(send())
    finally:
        store.close()
    return results, records, pipeline, publisher


def test_a_rewritten_body_is_rejected_with_the_generic_401_and_explained(
        config: Config, tmp_path: Path) -> None:
    headers = {"X-Webhook-Signature": "sha256=" + mac(SECRETS["tlas"], COMPACT)}
    results, records, _, publisher = run(config, tmp_path, [("192.0.2.1", headers, REWRITTEN)])
    assert results[0].outcome is Outcome.REJECTED and results[0].reason is Reason.INVALID_SIGNATURE
    assert status_of(results[0]) == 401  # the same answer as any bad signature
    assert [(r.reason, r.detail) for r in records] == [("invalid_signature", "body_reserialized")]
    assert not publisher.on("webhooks.tlas")  # never accepted


def test_a_flood_of_bad_signatures_does_at_most_the_budget_of_reserialisations(
        config: Config, tmp_path: Path) -> None:
    bad = {"X-Webhook-Signature": "sha256=" + mac("whsec_attacker", COMPACT)}
    # From 400 addresses, so none is penalised (each stays under its own failure budget) and
    # every request is audited on its own, at one instant (no token comes back).
    flood = [(f"198.51.100.{i % 200}", bad, REWRITTEN) for i in range(400)]
    results, records, pipeline, _ = run(config, tmp_path, flood)
    assert len(records) == 400 and all(r.detail == "no_secret_matched" for r in records)
    assert pipeline.runtime.diagnosis.checks == BURST


def test_the_budget_refills_with_time() -> None:
    tlas = source("tlas")
    bad = Headers({"X-Webhook-Signature": "sha256=" + mac("whsec_attacker", COMPACT)})
    verdict = tlas.verify(bad, REWRITTEN, NOW)
    diagnosis = Diagnosis()
    for tick in range(1000):  # 1000 failures over 100 s: at most the burst plus one a second
        diagnosis.explain("tlas", tlas.verify, bad, REWRITTEN, verdict, NOW + tick / 10)
    assert BURST < diagnosis.checks <= BURST + 100
    other = Diagnosis()
    other.explain("iof", tlas.verify, bad, REWRITTEN, verdict, NOW)  # a budget per source
    assert other.checks == 1
