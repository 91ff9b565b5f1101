"""Notion's unsigned verification token, as the operator meets it: answered 200 and kept (never
published) before the source has a secret, readable with `webhook-gateway secrets tokens`, and
no way for a stranger to flood the file or get an event published."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway import tokens
from gateway.app import create_app
from gateway.cli import main
from gateway.config import parse_config
from gateway.publish.memory import MemoryPublisher

TOKEN = "secret_tMrlL1qK5vuQAh1b6cZGhFChZTSYJlce98V0pYn7yBl"  # the shape of Notion's example
VERIFICATION = json.dumps({"verification_token": TOKEN})


@pytest.fixture
def storage(tmp_path: Path) -> Path:
    return tmp_path / "var"


def _client(storage: Path, secrets: list[str], publisher: MemoryPublisher | None = None
            ) -> TestClient:
    config = parse_config({"storage": {"path": str(storage)},
                           "sources": {"notion": {"provider": "notion", "secrets": secrets}}})
    return TestClient(create_app(config, publisher=publisher or MemoryPublisher()))


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
def client(storage: Path, publisher: MemoryPublisher) -> Iterator[TestClient]:
    with _client(storage, [], publisher) as running:
        yield running


def test_the_token_is_answered_kept_for_the_operator_and_not_published(
        client: TestClient, storage: Path, publisher: MemoryPublisher) -> None:
    answer = client.post("/webhooks/notion", content=VERIFICATION,
                         headers={"content-type": "application/json"})
    assert (answer.status_code, answer.json()) == (200, {"status": "received"})
    [kept] = tokens.read(storage, "notion")
    assert kept["token"] == TOKEN and kept["from"] == "testclient" and kept["at"].endswith("Z")
    assert stat.S_IMODE(tokens.path(storage, "notion").stat().st_mode) == 0o600
    assert not [r for r in publisher.records if r.topic == "webhooks.notion"]


def test_a_second_token_within_a_second_is_refused_not_written(
        client: TestClient, storage: Path) -> None:
    assert client.post("/webhooks/notion", content=VERIFICATION).status_code == 200
    other = json.dumps({"verification_token": "secret_from_a_stranger"})
    assert client.post("/webhooks/notion", content=other).status_code == 429
    assert [k["token"] for k in tokens.read(storage, "notion")] == [TOKEN]


@pytest.mark.parametrize("body", [
    json.dumps({"verification_token": TOKEN, "type": "page.created"}),  # not only the token
    json.dumps({"verification_token": 5}),
    json.dumps({"verification_token": "x" * 300}),
    json.dumps({"type": "page.created", "id": "1"}),
])
def test_anything_else_unsigned_is_verified_and_refused(client: TestClient, storage: Path,
                                                        body: str) -> None:
    assert client.post("/webhooks/notion", content=body).status_code == 401
    assert tokens.read(storage, "notion") == []


def test_a_signed_body_is_never_taken_for_a_token(storage: Path) -> None:
    """With `X-Notion-Signature`, the same body is a delivery: verified like any other."""
    with _client(storage, [TOKEN]) as client:
        forged = client.post("/webhooks/notion", content=VERIFICATION,
                             headers={"X-Notion-Signature": "sha256=" + "0" * 64})
        assert forged.status_code == 401
    assert tokens.read(storage, "notion") == []


def test_with_the_token_configured_notions_events_are_accepted(storage: Path) -> None:
    event = json.dumps({"id": "e1", "type": "page.created", "entity": {"id": "p1"}})
    signature = hmac.new(TOKEN.encode(), event.encode(), hashlib.sha256).hexdigest()
    with _client(storage, [TOKEN]) as client:
        answer = client.post("/webhooks/notion", content=event,
                             headers={"X-Notion-Signature": f"sha256={signature}"})
        assert answer.status_code == 200, answer.text


def test_secrets_tokens_prints_what_was_kept(storage: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    tokens.keep(storage, "notion", TOKEN, "203.0.113.7", "2026-12-05T02:30:00.000Z")
    config = tmp_path / "gateway.yaml"
    config.write_text(f"storage: {{path: {storage}}}\n"
                      "sources: {notion: {provider: notion, secrets: []}}\n")
    assert main(["secrets", "tokens", "--config", str(config)]) == 0
    assert capsys.readouterr().out == (
        f"notion\t2026-12-05T02:30:00.000Z\tfrom 203.0.113.7\t{TOKEN}\n")
    assert main(["secrets", "tokens", "--config", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["token"] == TOKEN


def test_only_the_last_ten_are_kept(storage: Path) -> None:
    for n in range(tokens.KEEP + 3):
        tokens.keep(storage, "notion", f"secret_{n}", None, "t")
    assert [k["token"] for k in tokens.read(storage, "notion")] == [
        f"secret_{n}" for n in range(3, tokens.KEEP + 3)]
