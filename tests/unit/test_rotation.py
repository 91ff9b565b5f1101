"""Secret rotation observed slot by slot: which configured secret matched, in the metric, in
GET /admin/sources and in `webhook-gateway secrets status`; the overlap warning on an injected
clock."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.commands import secrets as command
from gateway.config import parse_config
from gateway.metrics import Metrics
from gateway.providers import REGISTRY
from gateway.publish.memory import MemoryPublisher
from gateway.rotation import Rotation
from gateway.sources import build_sources
from tests.helpers import config_dict, write_config

TOKEN = "admin-rotation-token-0123"
NEW, OLD = "tlas-new-secret-0001", "tlas-old-secret-0002"
DAY = 86400.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rotating(tmp_path: Path) -> dict[str, Any]:
    data = config_dict(tmp_path / "var")
    data["sources"]["tlas"]["secrets"] = [NEW, OLD]  # the new one first: slot 0
    data["sources"]["tlas"]["secret_overlap_secs"] = 3 * 86400
    data["admin"] = {"token": TOKEN}
    return data


def post(http: TestClient, data: dict[str, Any], secret: str, now: float) -> int:
    cfg = parse_config(data).sources["tlas"].model_copy(update={"secrets": [
        s for s in parse_config(data).sources["tlas"].secrets if s.reveal() == secret.encode()]})
    body = REGISTRY["tlas"].samples["application.submitted"](now)
    return http.post("/webhooks/tlas", content=body,
                     headers=REGISTRY["tlas"].sign(cfg, body, now)).status_code


def slots(http: TestClient) -> dict[int, str | None]:
    answer = http.get("/admin/sources", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    tlas = next(s for s in answer["sources"] if s["name"] == "tlas")
    return {slot["slot"]: slot["last_matched_at"] for slot in tlas["slots"]}


def test_a_rotation_is_seen_slot_by_slot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    data = rotating(tmp_path)
    clock = Clock(1_767_225_600.0)  # 2026-01-01T00:00:00Z
    config = parse_config(data)
    with TestClient(create_app(config, MemoryPublisher(), clock, metrics=Metrics(config.sources))
                    ) as http:
        assert slots(http) == {0: None, 1: None}
        assert post(http, data, OLD, clock.now) in (200, 202)  # the provider has not switched yet
        assert slots(http) == {0: None, 1: "2026-01-01T00:00:00.000Z"}
        clock.now += 3600
        assert post(http, data, NEW, clock.now) in (200, 202)  # ... and now it has
        assert slots(http) == {0: "2026-01-01T01:00:00.000Z", 1: "2026-01-01T00:00:00.000Z"}
        metrics = http.get("/metrics").text
        assert 'gateway_secret_matches_total{slot="0",source="tlas"} 1.0' in metrics
        assert 'gateway_secret_matches_total{slot="1",source="tlas"} 1.0' in metrics
        assert 'gateway_secret_last_match_timestamp_seconds{slot="1",source="tlas"} 1.7672256e+09' \
            in metrics

        # `secrets status` asks the running gateway's admin API (here, the test client's app).
        def call(args: argparse.Namespace, method: str, path: str) -> tuple[int, dict[str, Any]]:
            assert args.token == TOKEN and args.url.endswith(":8080")  # from the config file
            answer = http.request(method, path, headers={"Authorization": f"Bearer {args.token}"})
            return answer.status_code, answer.json()

        monkeypatch.setattr(command, "call", call)
        monkeypatch.setattr(command.time, "time", lambda: clock.now)
        path = write_config(tmp_path / "gateway.yaml", data)
        args = argparse.Namespace(config=str(path), source="tlas", json=False, url=None, token=None)
        monkeypatch.delenv("GATEWAY_URL", raising=False)
        monkeypatch.delenv("GATEWAY_ADMIN_TOKEN", raising=False)
        assert command.run_status(args) == 0
        table = capsys.readouterr().out
        assert "2026-01-01T01:00:00.000Z" in table and "2026-01-01T00:00:00.000Z" in table
        assert "1h" in table and NEW not in table and OLD not in table  # slots, never values


def test_times_follow_a_secret_that_a_reload_moves(tmp_path: Path) -> None:
    data = config_dict(tmp_path / "var")
    data["sources"]["tlas"]["secrets"] = [OLD]
    before = build_sources(parse_config(data))["tlas"]
    rotation = Rotation()
    rotation.matched(before, 0, 100.0)
    data["sources"]["tlas"]["secrets"] = [NEW, OLD]  # the new secret put first: OLD is slot 1
    after = build_sources(parse_config(data))
    assert rotation.last_matches(after) == {("tlas", 1): 100.0}


def test_an_old_secret_still_used_after_the_overlap_is_warned_about_once_an_hour(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = rotating(tmp_path)
    source = build_sources(parse_config(data))["tlas"]  # secret_overlap_secs: 3 days
    rotation = Rotation()
    start = 1_000_000.0
    caplog.set_level(logging.WARNING, "gateway.rotation")

    def warnings() -> list[logging.LogRecord]:
        return [r for r in caplog.records if getattr(r, "event", None) == "old_secret_still_used"]

    rotation.matched(source, 1, start)  # only the old secret so far: nothing to say
    rotation.matched(source, 0, start + 10)  # the provider switched
    rotation.matched(source, 1, start + 3 * DAY)  # within the overlap: a retry of an old delivery
    assert warnings() == []
    rotation.matched(source, 1, start + 3 * DAY + 60)  # past it
    rotation.matched(source, 1, start + 3 * DAY + 120)  # the same hour: not again
    assert [(r.source, r.slot) for r in warnings()] == [("tlas", 1)]  # type: ignore[attr-defined]
    rotation.matched(source, 1, start + 3 * DAY + 60 + 3600)  # an hour later: again
    assert len(warnings()) == 2
    assert OLD not in caplog.text and NEW not in caplog.text
