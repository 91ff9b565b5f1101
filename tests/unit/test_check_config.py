"""`webhook-gateway check-config`: 0 and a summary on a good file; 2 and one message on stderr, no
traceback, on a bad one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway import cli
from tests.unit.test_config import ENV


def test_check_config_good_file(env: dict[str, str], design_file: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check-config", "--config", str(design_file)]) == 0
    out = capsys.readouterr().out
    assert "ok, 5 source(s)" in out and "/webhooks/azakaw-globex" in out
    assert not any(value in out for value in ENV.values())


def test_check_config_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IOF_WEBHOOK_SECRET", raising=False)
    path = tmp_path / "bad.yaml"
    path.write_text("sources:\n  iof:\n    provider: iof\n    secrets: [env:IOF_WEBHOOK_SECRET]\n")
    assert cli.main(["check-config", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    assert "sources.iof.secrets[0]: environment variable IOF_WEBHOOK_SECRET is not set" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_check_config_console_script_exit_codes(env: dict[str, str], design_file: Path,
                                                tmp_path: Path) -> None:
    """The real process: 0 on a good file; 2 and one message on stderr, no traceback, on a bad one."""
    good = subprocess.run([sys.executable, "-m", "gateway", "check-config", "--config", str(design_file)],
                          capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stderr
    bad_path = tmp_path / "bad.yaml"
    bad_path.write_text("sources:\n  iof:\n    provider: iof\n    secrets: [x]\n    tolerance: 5\n")
    bad = subprocess.run([sys.executable, "-m", "gateway", "check-config", "--config", str(bad_path)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert "sources.iof.tolerance: unknown key" in bad.stderr
    assert "Traceback" not in bad.stderr
