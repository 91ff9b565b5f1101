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


def test_verify_passes_then_names_the_tampered_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "keygen", "--out", str(tmp_path / "audit-key")]) == 0
    assert (tmp_path / "audit-key").stat().st_mode & 0o777 == 0o600
    assert "audit-key.pub" in capsys.readouterr().out
    data = config_dict(tmp_path / "var")
    data["audit"] = {"checkpoint_key": f"file:{tmp_path / 'audit-key'}", "replica": "gw-test"}
    with TestClient(create_app(parse_config(data), MemoryPublisher())) as http:
        for _ in range(3):
            http.post("/webhooks/tlas", content=b"{}")
    path = write_config(tmp_path / "gateway.yaml", data)
    verify = ["audit", "verify", "--config", str(path), "--public-key", str(tmp_path / "audit-key.pub")]
    out = run(capsys, *verify)
    assert "chain gw-test/w0@" in out and ": seq 1-4, 3 record(s), 1 checkpoint(s) verified: ok" in out
    assert out.rstrip().endswith("verdict: every chain verifies")
    assert "checkpoint" not in run(capsys, "audit", "--config", str(path), "--json")  # not a rejection
    segment = tmp_path / "var" / "audit" / "w0" / "000000000001.jsonl"
    lines = segment.read_bytes().splitlines(keepends=True)
    segment.write_bytes(lines[0] + lines[2] + lines[3])
    assert main(verify) == 1
    out = capsys.readouterr().out
    assert f"FAILED removed: seq 2, between seq 1 at w0/000000000001.jsonl offset 0 and seq 3 at " \
           f"w0/000000000001.jsonl offset {len(lines[0])}" in out
    assert "verdict: 1 problem(s)" in out


def test_keygen_prints_a_pair_and_a_wrong_public_key_is_a_clear_error(
        config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "audit", "keygen")
    assert "BEGIN PRIVATE KEY" in out and "BEGIN PUBLIC KEY" in out
    (tmp_path / "bad.pub").write_text("not a key")
    assert main(["audit", "verify", "--config", str(config_path), "--public-key", str(tmp_path / "bad.pub")]) == 2
    assert "--public-key" in capsys.readouterr().err
