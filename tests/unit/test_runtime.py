"""Everything built from one configuration, and what a running gateway takes from a new file."""

from __future__ import annotations

from pathlib import Path

from gateway.config import parse_config
from gateway.runtime import build, in_force, restart_required
from tests.helpers import SECRETS, config_dict


def test_the_runtime_holds_every_derived_part(tmp_path: Path) -> None:
    data = config_dict(tmp_path / "var")
    data["trusted_proxies"] = ["10.0.0.0/8"]
    runtime = build(parse_config(data))
    assert set(runtime.sources) == set(data["sources"])
    assert [str(n) for n in runtime.trusted_proxies] == ["10.0.0.0/8"]
    assert "x-globex-key" in runtime.redaction.headers  # a source's API-key header
    assert SECRETS["tlas"] in runtime.redaction.secrets
    assert runtime.redaction.scrub(f"/webhooks/{SECRETS['tlas']}") == "/webhooks/[redacted]"


def test_a_new_file_applies_except_what_only_a_restart_can(tmp_path: Path) -> None:
    old = parse_config(config_dict(tmp_path / "var"))
    data = config_dict(tmp_path / "elsewhere")
    data["limits"] = {"max_header_bytes": 4096, "failed_auth": {"rate_per_sec": 5, "burst": 9},
                      "read_timeout_secs": 3}
    data["listen"] = {"port": 9999}
    new = parse_config(data)
    assert restart_required(old, new) == ["listen", "storage", "limits.read_timeout_secs",
                                          "limits.max_header_bytes"]
    applied = in_force(old, new)
    assert (applied.listen, applied.storage) == (old.listen, old.storage)
    assert applied.limits.max_header_bytes == old.limits.max_header_bytes  # uvicorn's: restart
    assert applied.limits.read_timeout_secs == old.limits.read_timeout_secs
    assert applied.limits.failed_auth == new.limits.failed_auth  # the gateway's own: applied
