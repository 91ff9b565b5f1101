"""`webhook-gateway audit` over the local log, and `webhook-gateway secrets generate`."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.cli import main
from gateway.config import parse_config
from gateway.publish.memory import MemoryPublisher
from tests.helpers import config_dict, write_config


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    data = config_dict(tmp_path / "var")
    with TestClient(create_app(parse_config(data), MemoryPublisher())) as http:
        http.post("/webhooks/tlas", content=b"{}", headers={"User-Agent": "[bold red]markup[/]"})
        http.post("/webhooks/tlas", content=b"{}", headers={"X-Webhook-Signature": "sha256=00"})
        http.post("/webhooks/iof", content=b"{}")
    return write_config(tmp_path / "gateway.yaml", data)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_json_lines_filtered_by_source_and_reason(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "audit", "--config", str(config_path), "--json", "--source", "tlas",
              "--reason", "missing_signature", "--since", "1h")
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["source"], r["reason"]) for r in records] == [("tlas", "missing_signature")]
    assert records[0]["user_agent"] == "[bold red]markup[/]"


def test_table_and_summary(config_path: Path, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "240")  # rich folds cells to fit 80 columns when not on a terminal
    table = run(capsys, "audit", "--config", str(config_path))
    assert "3 rejected requests" in table and "invalid_signature" in table
    assert "[bold red]markup[/]" in table  # attacker text is shown, not rendered as markup
    summary = run(capsys, "audit", "--config", str(config_path), "--summary")
    rows = {tuple(re.split(r"\s*│\s*", line.strip("│ "))) for line in summary.splitlines() if "│" in line}
    assert ("tlas", "missing_signature", "1") in rows
    assert ("tlas", "invalid_signature", "1") in rows and ("iof", "missing_signature", "1") in rows


def test_a_bad_filter_is_a_clear_error(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--config", str(config_path), "--reason", "bogus"]) == 2
    assert "unknown reason bogus" in capsys.readouterr().err


def test_secrets_generate_in_the_provider_format(capsys: pytest.CaptureFixture[str]) -> None:
    iof = run(capsys, "secrets", "generate", "--provider", "iof").strip()
    assert iof.startswith("whsec_") and len(base64.b64decode(iof[6:])) == 32
    assert iof != run(capsys, "secrets", "generate", "--provider", "iof").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", run(capsys, "secrets", "generate", "--provider", "tlas").strip())
    assert re.fullmatch(r"[0-9a-f]{64}", run(capsys, "secrets", "generate").strip())
    assert len(run(capsys, "secrets", "generate", "--provider", "azakaw").strip()) >= 43
