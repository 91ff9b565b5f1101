"""A reload swaps the whole runtime built from the file, or changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.audit import Auditor
from gateway.config import load_config
from gateway.pipeline import Pipeline
from gateway.publish.memory import MemoryPublisher
from gateway.reload import Reloader, ReloadError
from gateway.store import Store
from tests.helpers import config_dict, write_config


def setup(tmp_path: Path) -> tuple[Path, dict, Pipeline, Reloader]:  # type: ignore[type-arg]
    data = config_dict(tmp_path / "var")
    path = write_config(tmp_path / "gateway.yaml", data)
    config = load_config(path)
    publisher = MemoryPublisher()
    pipeline = Pipeline(config, publisher, Auditor("t", publisher, b"salt", frozenset()),
                        Store(tmp_path / "gateway.db"))
    return path, data, pipeline, Reloader(config, pipeline)


def test_a_reload_replaces_the_runtime_whole(tmp_path: Path) -> None:
    path, data, pipeline, reloader = setup(tmp_path)
    before = pipeline.runtime
    data["sources"]["tlas"]["secrets"] = ["rotated-in-secret-0123", *data["sources"]["tlas"]["secrets"]]
    data["sources"]["new-one"] = {"provider": "tlas", "secrets": ["another-secret-4567"]}
    data["limits"] = {"max_header_bytes": 2048}
    write_config(path, data)
    done = reloader.reload()
    after = pipeline.runtime
    assert after is not before and after.limiter is not before.limiter
    assert "new-one" in after.sources and "rotated-in-secret-0123" in after.redaction.secrets
    assert done.restart_required == ["limits.max_header_bytes"]
    assert after.config.limits.max_header_bytes == before.config.limits.max_header_bytes


def test_a_bad_file_changes_nothing(tmp_path: Path) -> None:
    path, data, pipeline, reloader = setup(tmp_path)
    before = pipeline.runtime
    data["sources"]["tlas"]["secrest"] = ["typo"]
    write_config(path, data)
    with pytest.raises(ReloadError, match="secrest: unknown key"):
        reloader.reload()
    assert pipeline.runtime is before
