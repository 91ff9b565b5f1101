"""The configuration file: DESIGN.md's example loads; each mistake is one clear ConfigError naming the
place (never a traceback); secrets resolve from env:/file:/literal and never show in repr()."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway import cli
from gateway.config import Config, load_config, parse_config
from gateway.errors import ConfigError
from gateway.providers import REGISTRY
from gateway.settings import ApiKeyAuth, BasicAuth, Listen

# DESIGN.md's example, verbatim.
DESIGN_EXAMPLE = """\
listen: {host: 0.0.0.0, port: 8080}        # CLI flags override
kafka:
  bootstrap_servers: ["127.0.0.1:9092"]
  topic_prefix: webhooks                    # topics below
  # producer options for production (security_protocol, sasl_*, ssl_*) pass through
storage:
  path: ./var                               # spool, dedupe window, event log, audit log
admin:
  token: env:GATEWAY_ADMIN_TOKEN            # bearer token for /admin/*
sources:                                    # a map: the key is the source's name and its URL
  iof:                                      # POST /webhooks/iof
    provider: iof
    secrets: [env:IOF_WEBHOOK_SECRET, env:IOF_WEBHOOK_SECRET_PREVIOUS]   # any may match: rotation
  compliancely:
    provider: compliancely
    secrets: [env:COMPLIANCELY_WEBHOOK_SECRET]
  tlas:
    provider: tlas
    secrets: [env:TLAS_WEBHOOK_SECRET]
  azakaw-acme:                              # azakaw configures one webhook per tenant
    provider: azakaw
    tenant: acme
    auth: {type: basic, username: acme, password: env:AZAKAW_ACME_PASSWORD}
  azakaw-globex:
    provider: azakaw
    tenant: globex
    auth: {type: api_key, header: X-API-Key, key: env:AZAKAW_GLOBEX_KEY}
"""
ENV = {
    "GATEWAY_ADMIN_TOKEN": "admin-token-value-1",
    "IOF_WEBHOOK_SECRET": "whsec_current_value_2",
    "IOF_WEBHOOK_SECRET_PREVIOUS": "whsec_previous_value_3",
    "COMPLIANCELY_WEBHOOK_SECRET": "cmp-secret-value-4",
    "TLAS_WEBHOOK_SECRET": "tlas-secret-value-5",
    "AZAKAW_ACME_PASSWORD": "acme-password-value-6",
    "AZAKAW_GLOBEX_KEY": "globex-key-value-7",
}


def problem(data: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return str(caught.value)


def iof(**extra: Any) -> dict[str, Any]:
    return {"provider": "iof", "secrets": ["whsec_literal"], **extra}


# -- the example -----------------------------------------------------------------------------------

def test_design_example_loads(env: dict[str, str], design_file: Path) -> None:
    config = load_config(design_file)
    assert list(config.sources) == ["iof", "compliancely", "tlas", "azakaw-acme", "azakaw-globex"]
    assert [s.reveal() for s in config.sources["iof"].secrets] == [b"whsec_current_value_2",
                                                                   b"whsec_previous_value_3"]
    acme = config.sources["azakaw-acme"].auth
    assert isinstance(acme, BasicAuth) and acme.username == "acme"
    assert acme.password[0].reveal() == b"acme-password-value-6"
    globex = config.sources["azakaw-globex"].auth
    assert isinstance(globex, ApiKeyAuth) and globex.header == "X-API-Key"
    assert globex.key[0].reveal() == b"globex-key-value-7"
    assert config.admin.token is not None and config.admin.token.reveal() == b"admin-token-value-1"
    assert config.kafka.bootstrap_servers == ["127.0.0.1:9092"]
    assert config.kafka.topic_prefix == "webhooks"
    assert (config.listen.host, config.listen.port) == ("0.0.0.0", 8080)
    iof_source = config.sources["iof"]
    assert (iof_source.max_body_bytes, iof_source.tolerance_secs) == (1_048_576, 300)
    assert config.warnings == []  # env references only, no `none` auth: nothing to warn about


def test_auth_none_is_warned_about() -> None:
    config = parse_config({"sources": {"open": {"provider": "azakaw", "tenant": "t", "auth": {"type": "none"}}}})
    assert any("sources.open" in w and "none" in w for w in config.warnings)


# -- each mistake, one clear message naming the place ------------------------------------------------

def test_unknown_provider() -> None:
    message = problem({"sources": {"shop": {"provider": "shopfiy", "secrets": ["x"]}}})
    assert "sources.shop.provider" in message and "'shopfiy'" in message and "shopify" in message


def test_missing_provider() -> None:
    assert "sources.shop.provider" in problem({"sources": {"shop": {"secrets": ["x"]}}})


def test_typo_at_top_level() -> None:
    message = problem({"source": {}, "sources": {"iof": iof()}})
    assert "source: unknown key" in message


def test_typo_in_listen() -> None:
    assert "listen.prot: unknown key" in problem({"listen": {"prot": 80}, "sources": {"iof": iof()}})


def test_unknown_kafka_producer_option() -> None:
    message = problem({"kafka": {"bootstrap_server": ["127.0.0.1:9092"]}, "sources": {"iof": iof()}})
    assert "kafka.bootstrap_server" in message and "not a kafka producer option" in message


def test_kafka_producer_options_pass_through() -> None:
    config = parse_config({"kafka": {"security_protocol": "SSL", "ssl_cafile": "/etc/ca.pem"},
                           "sources": {"iof": iof()}})
    assert config.kafka.producer_options == {"security_protocol": "SSL", "ssl_cafile": "/etc/ca.pem"}


def test_typo_in_a_source() -> None:
    message = problem({"sources": {"iof": {"provider": "iof", "secret": ["x"]}}})
    assert "sources.iof.secret: unknown key" in message
    assert "sources.iof.secrets: required key is missing" in message


def test_typo_in_auth() -> None:
    message = problem({"sources": {"a": {"provider": "azakaw", "tenant": "t",
                                         "auth": {"type": "basic", "username": "u", "pasword": "p"}}}})
    assert "sources.a.auth.pasword: unknown key" in message


def test_unknown_auth_type() -> None:
    message = problem({"sources": {"a": {"provider": "azakaw", "tenant": "t", "auth": {"type": "hmac"}}}})
    assert "sources.a.auth" in message and "'hmac'" in message


def test_azakaw_without_auth() -> None:
    # Unsigned providers fail closed: `none` must be written, never assumed.
    assert "sources.a.auth: required key is missing" in problem(
        {"sources": {"a": {"provider": "azakaw", "tenant": "t"}}})


@pytest.mark.parametrize("name", ["IOF", "my source", "a/b", "-x", "x" * 64, "ü"])
def test_bad_source_name(name: str) -> None:
    message = problem({"sources": {name: iof()}})
    assert f"sources.{name}: a source name" in message


def test_numeric_source_name_is_a_name() -> None:
    config = parse_config({"sources": {123: iof()}})  # YAML `123:` is an int key
    assert list(config.sources) == ["123"]


@pytest.mark.parametrize(("data", "expected"), [
    ({}, "sources: required key is missing"),
    ({"sources": {}}, "sources: "),
    ({"sources": ["iof"]}, "sources: "),
    ({"sources": {"iof": "iof"}}, "sources.iof: expected a mapping"),
    ([], "must be a YAML mapping"),
    (None, "must be a YAML mapping"),
])
def test_shape_errors(data: Any, expected: str) -> None:
    assert expected in problem(data)


def test_every_problem_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_1", raising=False)
    message = problem({"kafka": {"acks_typo": 1}, "sources": {
        "iof": iof(secrets=["env:NOT_SET_1"]), "tlas": {"provider": "tlaz"}}})
    assert "kafka.acks_typo" in message and "sources.iof.secrets[0]" in message
    assert "sources.tlas.provider" in message


def test_each_source_is_validated_by_its_providers_model() -> None:
    config = parse_config({"sources": {"a": iof(), "b": {"provider": "tlas", "secrets": ["x"]}}})
    assert [type(s) for s in config.sources.values()] == [REGISTRY["iof"].config, REGISTRY["tlas"].config]


@pytest.mark.parametrize("provider", [["iof"], {"a": 1}, 7])
def test_a_provider_that_is_not_a_name_is_one_message(provider: Any) -> None:
    message = problem({"sources": {"acme": {"provider": provider, "secrest": 1}}})
    assert f"sources.acme.provider: unknown provider {provider!r} (known: " in message
    assert message.count("\n  ") == 1  # nothing about its other keys


def test_a_bad_name_is_the_sources_one_message() -> None:
    message = problem({"sources": {"IOF": {"provider": "iof", "secrest": ["x"]}}})
    assert message.count("\n  ") == 1 and "sources.IOF: a source name" in message


def test_a_numeric_source_name_is_a_name_in_messages_too() -> None:
    assert "sources.123.secrets: required key is missing" in problem({"sources": {123: {"provider": "iof"}}})


def test_kafka_options_are_named_when_another_section_is_wrong() -> None:
    message = problem({"listen": {"port": -1}, "kafka": {"acks_typo": 1}, "sources": {"iof": iof()}})
    assert "listen.port" in message and "kafka.acks_typo: not a kafka producer option" in message


@pytest.mark.parametrize("key", ["path", "warnings"])
def test_the_file_cannot_set_what_loading_records(key: str) -> None:
    assert f"{key}: unknown key" in problem({key: "x", "sources": {"iof": iof()}})


def test_a_copy_keeps_the_path_and_warnings(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("sources:\n  iof: {provider: iof, secrets: [whsec_literal]}\n")
    config = load_config(path)
    copy = config.model_copy(update={"listen": Listen(port=9)})
    assert (copy.path, copy.warnings, copy.listen.port) == (path, config.warnings, 9)
    assert config.warnings and config.listen.port == 8080


def test_a_config_built_in_code_keeps_its_source_models() -> None:
    model = parse_config({"sources": {"a": iof()}}).sources["a"]
    assert Config(sources={"b": model}).sources["b"] is model


def test_bad_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("sources:\n  iof:\n    provider: iof\n    secrets: [a, b\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message and "line " in message and "column " in message


def test_unreadable_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the configuration file"):
        load_config(tmp_path / "absent.yaml")


def test_serve_names_a_log_level_from_the_environment_it_does_not_know(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_GATEWAY_LOG_LEVEL", "verbose")
    assert cli.main(["serve", "--config", str(tmp_path / "gateway.yaml")]) == 2
    err = capsys.readouterr().err
    assert "$WEBHOOK_GATEWAY_LOG_LEVEL: 'verbose' is not one of debug, info, warning, error" in err
    assert "Traceback" not in err
