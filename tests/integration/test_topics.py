"""`webhook-gateway topics create|list` against the real broker: every implied topic, idempotent."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import msgspec
import pytest

from gateway.cli import main
from gateway.commands.topics import plan
from gateway.config import load_config
from gateway.envelope import DeadLetter, encode
from gateway.publish.kafka_admin import TopicAdmin
from tests.helpers import config_dict, write_config

pytestmark = pytest.mark.kafka


def _config_file(tmp_path: Path, bootstrap: str) -> tuple[Path, str]:
    prefix = f"t{uuid4().hex[:8]}"
    data = config_dict(tmp_path / "state", bootstrap, topic_prefix=prefix)
    data["sources"]["tlas"]["topic"] = f"{prefix}-custom.tlas"  # a source's own topic counts too
    return write_config(tmp_path / "gateway.yaml", data), prefix


def test_create_makes_every_implied_topic_then_creates_nothing(broker, tmp_path, capsys) -> None:
    path, prefix = _config_file(tmp_path, broker.bootstrap)
    wanted = {
        f"{prefix}.iof",
        f"{prefix}.compliancely",
        f"{prefix}-custom.tlas",
        f"{prefix}.azakaw",
        f"{prefix}.deadletter",
        f"{prefix}.rejected",
    }

    assert main(["topics", "create", "--config", str(path), "--partitions", "3"]) == 0
    first = capsys.readouterr().out
    assert "6 created, 0 already there" in first
    with TopicAdmin([broker.bootstrap]) as admin:
        existing = admin.partitions()
    assert {name: existing.get(name) for name in wanted} == dict.fromkeys(wanted, 3)

    assert main(["topics", "create", "--config", str(path), "--partitions", "3"]) == 0
    second = capsys.readouterr().out
    assert "0 created, 6 already there" in second
    assert all(f"exists   {name}" in second for name in wanted)


def test_create_keeps_a_topic_someone_made_and_adds_the_rest(broker, tmp_path, capsys) -> None:
    path, prefix = _config_file(tmp_path, broker.bootstrap)
    with TopicAdmin([broker.bootstrap]) as admin:
        assert admin.create(f"{prefix}.iof", 2, 1, {})
        assert not admin.create(f"{prefix}.iof", 2, 1, {})  # exists: reported, not an error

    assert main(["topics", "create", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"exists   {prefix}.iof  (2 partitions" in out
    assert "5 created, 1 already there" in out


def test_list_shows_present_and_missing_topics(broker, tmp_path, capsys) -> None:
    path, prefix = _config_file(tmp_path, broker.bootstrap)
    with TopicAdmin([broker.bootstrap]) as admin:
        admin.create(f"{prefix}.deadletter", 1, 1, {})

    assert main(["topics", "list", "--config", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    state = {line.split()[0]: line.split()[1] for line in lines}
    assert state[f"{prefix}.deadletter"] == "1"
    assert state[f"{prefix}.iof"] == "missing"


def test_unreachable_broker_is_a_clear_error_not_a_traceback(tmp_path) -> None:
    # a real process: kafka-python leaves a failed bootstrap's sockets to the garbage collector,
    # which would warn inside whichever test ran next
    data = config_dict(tmp_path / "state", "127.0.0.1:9", bootstrap_timeout_ms=1000)
    path = write_config(tmp_path / "gateway.yaml", data)
    run = subprocess.run(
        [sys.executable, "-m", "gateway", "topics", "list", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert run.stderr.startswith("topics list: connecting to kafka 127.0.0.1:9: ")
    assert "Traceback" not in run.stderr


def test_dead_letter_of_the_largest_body_fits_the_topic_setting(tmp_path) -> None:
    data = config_dict(tmp_path)
    data["sources"]["iof"]["max_body_bytes"] = 4 * 1_048_576
    config = load_config(write_config(tmp_path / "gateway.yaml", data))
    body = b"\xff" * config.sources["iof"].max_body_bytes
    letter = DeadLetter(
        id=hashlib.sha256(body).hexdigest(),
        at="2026-11-23T10:30:00.123Z",
        source="iof",
        provider="iof",
        reason="not_utf8",
        body_base64=base64.b64encode(body).decode(),
    )
    deadletter = next(p for p in plan(config, 6, 3) if p.name.endswith(".deadletter"))
    assert len(encode(letter)) < int(deadletter.configs["max.message.bytes"])
    assert deadletter.configs["min.insync.replicas"] == "2"
    assert msgspec.json.decode(encode(letter), type=DeadLetter) == letter


def test_replication_one_sets_no_min_insync_and_a_too_high_one_is_refused(tmp_path) -> None:
    config = load_config(write_config(tmp_path / "gateway.yaml", config_dict(tmp_path)))
    assert all("min.insync.replicas" not in p.configs for p in plan(config, 6, 1))
    with pytest.raises(ValueError, match="exceeds the replication factor"):
        plan(config, 6, 2, min_insync=3)
