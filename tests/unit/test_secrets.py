"""Secrets in the configuration: `env:`, `file:` and literal references resolve at start-up, one or
several (rotation), each unusable one a message naming its place; a secret never shows in repr()."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.config import parse_config
from tests.unit.test_config import DESIGN_EXAMPLE, ENV, iof, problem


def test_repr_never_shows_a_secret(env: dict[str, str], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = tmp_path / "iof.secret"
    secret_file.write_text("whsec_from_file_value_8\n")
    data = yaml.safe_load(DESIGN_EXAMPLE)
    data["sources"]["iof"]["secrets"].append(f"file:{secret_file}")
    data["sources"]["tlas"]["secrets"] = ["tlas-literal-value-9"]
    monkeypatch.setenv("KAFKA_PASSWORD", "kafka-password-value-10")
    data["kafka"].update(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_plain_username="gw",
                         sasl_plain_password="env:KAFKA_PASSWORD", ssl_password="ssl-literal-value-11")
    config = parse_config(data)
    shown = repr(config) + str(config) + repr(config.sources) + repr(config.kafka)
    for value in [*ENV.values(), "whsec_from_file_value_8", "tlas-literal-value-9",
                  "kafka-password-value-10", "ssl-literal-value-11"]:
        assert value not in shown
    # ...while kafka-python still gets the resolved values.
    options = config.kafka.producer_options
    assert options["sasl_plain_password"] == "kafka-password-value-10"
    assert options["ssl_password"] == "ssl-literal-value-11"
    assert options["security_protocol"] == "SASL_SSL"


def test_secret_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "secret").write_text("from-file\n")
    monkeypatch.setenv("FROM_ENV", "from-env")
    config = parse_config({"sources": {"iof": iof(secrets=["env:FROM_ENV", f"file:{tmp_path}/secret",
                                                           "literal"])}})
    assert [s.reveal() for s in config.sources["iof"].secrets] == [b"from-env", b"from-file", b"literal"]
    assert any("literal" in w for w in config.warnings)  # a literal secret is allowed, and warned about


def test_one_secret_may_be_a_string() -> None:
    config = parse_config({"sources": {"iof": {"provider": "iof", "secrets": "whsec_one"}}})
    assert [s.reveal() for s in config.sources["iof"].secrets] == [b"whsec_one"]


def test_missing_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IOF_WEBHOOK_SECRET_PREVIOUS", raising=False)
    monkeypatch.setenv("IOF_WEBHOOK_SECRET", "set")
    message = problem({"sources": {"iof": iof(secrets=["env:IOF_WEBHOOK_SECRET",
                                                       "env:IOF_WEBHOOK_SECRET_PREVIOUS"])}})
    assert "sources.iof.secrets[1]" in message
    assert "IOF_WEBHOOK_SECRET_PREVIOUS is not set" in message


def test_empty_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMPTY_SECRET", "")
    assert "EMPTY_SECRET is empty" in problem({"sources": {"iof": iof(secrets=["env:EMPTY_SECRET"])}})


def test_missing_env_var_in_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZAKAW_ACME_PASSWORD", raising=False)
    message = problem({"sources": {"azakaw-acme": {
        "provider": "azakaw", "tenant": "acme",
        "auth": {"type": "basic", "username": "acme", "password": "env:AZAKAW_ACME_PASSWORD"}}}})
    assert "sources.azakaw-acme.auth.password[0]" in message and "AZAKAW_ACME_PASSWORD" in message


@pytest.mark.parametrize(("content", "expected"), [
    (None, "cannot be read"),                 # no such file
    ("", "is empty"),
    ("\n", "is empty"),
    (b"\xff\xfe", "cannot be read"),           # not UTF-8
    ("directory", "cannot be read"),
], ids=["absent", "empty", "newline only", "not utf-8", "a directory"])
def test_unusable_secret_file(tmp_path: Path, content: str | bytes | None, expected: str) -> None:
    path = tmp_path / "secret"
    if content == "directory":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    message = problem({"sources": {"tlas": {"provider": "tlas", "secrets": [f"file:{path}"]}}})
    assert "sources.tlas.secrets[0]" in message and str(path) in message and expected in message


@pytest.mark.parametrize("where", ["secrets", "key", "password"])
def test_empty_secrets_list(where: str) -> None:
    if where == "secrets":
        source, place = {"provider": "tlas", "secrets": []}, "sources.s.secrets"
    elif where == "key":
        source, place = {"provider": "azakaw", "tenant": "t", "auth": {"type": "api_key", "key": []}}, \
            "sources.s.auth.key"
    else:
        source, place = {"provider": "azakaw", "tenant": "t",
                         "auth": {"type": "basic", "username": "u", "password": []}}, "sources.s.auth.password"
    message = problem({"sources": {"s": source}})
    assert f"{place}: " in message and "at least 1" in message
