"""Fixtures the configuration tests share (test_config, test_check_config, test_secrets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_config import DESIGN_EXAMPLE, ENV


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every environment variable the design example's secrets name, set."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return ENV


@pytest.fixture
def design_file(tmp_path: Path) -> Path:
    """The design example as a configuration file."""
    path = tmp_path / "gateway.yaml"
    path.write_text(DESIGN_EXAMPLE)
    return path
