"""GitHub: the documented test values, the `sha256=` prefix, event names with actions, and `ping`
answered but not published unless the source asks for it (through the real app, in memory)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.config import parse_config
from gateway.errors import Reason
from gateway.headers import Headers
from gateway.providers import github
from gateway.publish.memory import MemoryPublisher
from gateway.sources import Source, build_sources

SECRET = "gh-test-webhook-secret"
NOW = 1_700_000_000.0
PING = b'{"zen":"Keep it logically awesome.","hook_id":1,"repository":{"id":1,"full_name":"o/r"}}'
ISSUE = b'{"action":"opened","issue":{"number":1},"repository":{"id":1,"full_name":"o/r"}}'


def source(**options: object) -> Source:
    cfg = {"provider": "github", "secrets": [SECRET], **options}
    return build_sources(parse_config({"sources": {"github": cfg}}))["github"]


def delivery(event: str, body: bytes, delivery_id: str = "d-1") -> dict[str, str]:
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery_id, "X-Hub-Signature-256": f"sha256={signature}"}


def test_the_documented_test_values_verify() -> None:
    src = source(secrets=["It's a Secret to Everybody"])
    docs = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert src.verify(Headers({"X-Hub-Signature-256": docs}), b"Hello, World!", NOW).ok


def test_a_bare_hex_signature_is_not_what_github_sends() -> None:
    bare = delivery("issues", ISSUE)["X-Hub-Signature-256"].removeprefix("sha256=")
    verdict = source().verify(Headers({"X-Hub-Signature-256": bare}), ISSUE, NOW)
    assert verdict.reason == Reason.INVALID_SIGNATURE


@pytest.mark.parametrize(("event", "body", "expected"), [
    ("issues", ISSUE, "issues.opened"),
    ("push", b'{"ref":"refs/heads/main"}', "push"),
    ("issues", b'{"action":42}', "issues"),   # an odd action is left out, not a failure
    ("../etc", ISSUE, None),                  # not a GitHub event name: unmappable
])
def test_the_event_type_is_the_header_and_the_action(event: str, body: bytes,
                                                     expected: str | None) -> None:
    assert github.extract(json.loads(body), Headers({"X-GitHub-Event": event})).type == expected


def test_events_globs_see_the_action() -> None:
    src = source(events=["issues.*"])
    assert src.accepts("issues.opened") and not src.accepts("push")


def post(tmp_path: Path, body: bytes, event: str,
         **options: object) -> tuple[int, dict, MemoryPublisher]:
    config = parse_config({"storage": {"path": str(tmp_path)}, "sources": {
        "github": {"provider": "github", "secrets": [SECRET], **options}}})
    publisher = MemoryPublisher()
    with TestClient(create_app(config, publisher, clock=lambda: NOW)) as client:
        answer = client.post("/webhooks/github", content=body, headers=delivery(event, body))
    return answer.status_code, answer.json(), publisher


def test_ping_is_answered_and_not_published(tmp_path: Path) -> None:
    status, answer, publisher = post(tmp_path, PING, "ping")
    assert (status, answer) == (200, {"status": "ignored"})
    assert publisher.on("webhooks.github") == []


def test_ping_is_published_when_the_source_asks(tmp_path: Path) -> None:
    status, answer, publisher = post(tmp_path, PING, "ping", publish_ping=True)
    assert (status, answer["status"]) == (200, "published")
    [record] = publisher.on("webhooks.github")
    assert json.loads(record.value)["type"] == "github.ping"


def test_other_events_are_published_with_the_delivery_id(tmp_path: Path) -> None:
    status, answer, publisher = post(tmp_path, ISSUE, "issues")
    assert (status, answer) == (200, {"id": "d-1", "status": "published"})
    [record] = publisher.on("webhooks.github")
    assert record.key == b"o/r"


def test_send_signs_what_the_verifier_accepts() -> None:
    src = source()
    for event, sample in github.PROVIDER.samples.items():
        body = sample(NOW)
        sent = github.sign(src.config, body, NOW)
        assert src.verify(Headers(sent), body, NOW).ok
        assert src.extract(json.loads(body), Headers(sent)).type == event
