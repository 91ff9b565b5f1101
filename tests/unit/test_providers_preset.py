"""The catalogue's presets as a user meets them: a source with `provider: <name>` and a secret,
its start-up errors, the endpoint handshakes answered over HTTP, and `webhook-gateway send` for
every preset producing a delivery its own source accepts and publishes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.commands import check_config, send
from gateway.config import parse_config
from gateway.envelope import Envelope
from gateway.errors import ConfigError, Reason
from gateway.headers import Headers
from gateway.map import map_delivery
from gateway.providers.base import CannotSign
from gateway.providers.catalogue import PRESETS
from gateway.publish.memory import MemoryPublisher
from gateway.sources import build_sources

SECRET = "preset-test-secret"
URL = "https://gateway.example.com/webhooks/x"


def _pem(key: Any) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


ED = ed25519.Ed25519PrivateKey.generate()
EC = ec.generate_private_key(ec.SECP256R1())
OPTIONS: dict[str, dict[str, Any]] = {
    "square": {"notification_url": URL},
    "hubspot": {"notification_url": URL},
    "postmark": {"username": "postmark"},
    "twilio": {"notification_url": URL},
    "adyen": {"secrets": ["44782def547aaa06c910c43932b1eb0c71fc68d9d0c057550c48ec2acf6ba056"],
              "basic": {"username": "adyen", "password": SECRET}},
    "airtable": {"secrets": [base64.b64encode(b"airtable-key").decode()]},
    "clerk": {"secrets": ["whsec_" + base64.b64encode(b"clerk-key").decode()]},
    "resend": {"secrets": ["whsec_" + base64.b64encode(b"resend-key").decode()]},
    "discord": {"secrets": [ED.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()],
        "sample_signing_key": _pem(ED)},
    "sendgrid": {"secrets": [base64.b64encode(EC.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()],
        "sample_signing_key": _pem(EC)},
}


def source_config(name: str) -> dict[str, Any]:
    return {"provider": name, "secrets": [SECRET], **OPTIONS.get(name, {})}


def problem(sources: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config({"sources": sources})
    return str(caught.value)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_send_signs_every_sample_as_the_provider_does(preset: Any) -> None:
    config = parse_config({"sources": {"x": source_config(preset.name)}})
    source = build_sources(config)["x"]
    now = time.time()
    for event in preset.samples:
        body, headers = send.build(config, "x", event, now)
        verdict = source.verify(Headers(headers), body, now)
        assert verdict.ok, f"{preset.name} {event}: {verdict.reason}"
        mapped = map_delivery(source, Headers(headers), body, verdict.scheme, datetime.now(UTC))
        assert isinstance(mapped, Envelope), f"{preset.name} {event}: {mapped}"
        assert mapped.type == f"{preset.name}.{event}"


def test_send_without_a_private_key_says_what_is_missing() -> None:
    options = {k: v for k, v in source_config("discord").items() if k != "sample_signing_key"}
    config = parse_config({"sources": {"x": options}})
    with pytest.raises(CannotSign, match="sample_signing_key"):
        send.build(config, "x", "APPLICATION_AUTHORIZED", time.time())


def test_check_config_lists_the_presets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("sources:\n  shop:\n    provider: shopify\n    secrets: [shpss_test]\n")
    assert check_config.run(type("Args", (), {"config": str(path)})()) == 0
    out = capsys.readouterr().out
    assert "provider=shopify" in out
    assert all(preset.name in out for preset in PRESETS)


def test_missing_preset_option_is_a_startup_error_naming_it() -> None:
    message = problem({"sq": {"provider": "square", "secrets": [SECRET]}})
    assert "sources.sq.notification_url: required key is missing" in message


@pytest.mark.parametrize("provider, secret, says", [
    ("airtable", "not base64!", "sources.a.secrets"),
    ("clerk", "whsec_%%%", "whsec_"),
    ("discord", "abcd", "Ed25519 public key"),
    ("sendgrid", "bm90IGEga2V5", "verification key"),
])
def test_unusable_secret_is_a_startup_error(provider: str, secret: str, says: str) -> None:
    assert says in problem({"a": {"provider": provider, "secrets": [secret]}})


@pytest.mark.parametrize(("stamp", "reason"), [
    ("$NOW_MS", None),                        # within Linear's minute
    ("$OLD_MS", Reason.STALE_TIMESTAMP),      # 61 s ago, signed: a replay
    ("\"$NOW_MS\"", Reason.INVALID_SIGNATURE),  # not a whole number
    (None, None),                             # not sent: nothing to check (it would be signed)
])
def test_a_signed_timestamp_in_the_body_is_checked_after_the_signature(
        stamp: str | None, reason: Reason | None) -> None:
    now = time.time()
    src = build_sources(parse_config({"sources": {"l": {"provider": "linear",
                                                        "secrets": [SECRET]}}}))["l"]
    body = '{"type":"Issue","action":"create","data":{"id":"1"}'
    if stamp is not None:
        body += ',"webhookTimestamp":' + stamp.replace("$NOW_MS", str(int(now * 1000))).replace(
            "$OLD_MS", str(int((now - 61) * 1000)))
    raw = (body + "}").encode()
    headers = {"Linear-Signature": hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()}
    assert src.verify(Headers(headers), raw, now).reason is reason
    assert src.verify(Headers(headers), raw.replace(b"Issue", b"Issuf"), now).reason is (
        Reason.INVALID_SIGNATURE)  # the signature first: a forged body's stamp is not read


# -- handshakes, over HTTP ---------------------------------------------------------------------

@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


@pytest.fixture
def client(tmp_path: Path, publisher: MemoryPublisher) -> Iterator[TestClient]:
    config = parse_config({"storage": {"path": str(tmp_path / "var")}, "sources": {
        "slack": {"provider": "slack", "secrets": [SECRET]},
        "zoom": {"provider": "zoom", "secrets": [SECRET]},
        "xero": {"provider": "xero", "secrets": [SECRET]},
        "okta": {"provider": "okta", "secrets": [SECRET]},
        "twitch": {"provider": "twitch", "secrets": [SECRET]},
        "twitter": {"provider": "twitter", "secrets": [SECRET]},
        "discord": {"provider": "discord", "secrets": [DISCORD_KEY.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()]},
    }})
    with TestClient(create_app(config, publisher=publisher)) as running:
        yield running


DISCORD_KEY = ed25519.Ed25519PrivateKey.generate()


def _hex(message: str) -> str:
    return hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()


def slack_headers(body: str, now: int) -> dict[str, str]:
    return {"X-Slack-Request-Timestamp": str(now),
            "X-Slack-Signature": "v0=" + _hex(f"v0:{now}:{body}")}


def test_slack_url_verification_is_answered_and_not_published(
        client: TestClient, publisher: MemoryPublisher) -> None:
    body = ('{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":'
            '"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}')
    answer = client.post("/webhooks/slack", content=body,
                         headers=slack_headers(body, int(time.time())))
    assert answer.status_code == 200
    assert answer.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    unsigned = client.post("/webhooks/slack", content=body)
    assert unsigned.status_code == 401
    assert not [r for r in publisher.records if r.topic == "webhooks.slack"]


def test_zoom_url_validation_answers_the_encrypted_token(client: TestClient) -> None:
    body = ('{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,'
            '"event":"endpoint.url_validation"}')
    now = int(time.time())
    headers = {"x-zm-request-timestamp": str(now),
               "x-zm-signature": "v0=" + _hex(f"v0:{now}:{body}")}
    answer = client.post("/webhooks/zoom", content=body, headers=headers)
    assert answer.status_code == 200
    assert answer.json() == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw",
                             "encryptedToken": _hex("qgg8vlvZRS6UYooatFL8Aw")}


def test_xero_intent_to_receive(client: TestClient, publisher: MemoryPublisher) -> None:
    body = '{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"OSQQTDBLBVEYNBMJQGKA"}'
    signature = base64.b64encode(hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).digest())
    good = client.post("/webhooks/xero", content=body,
                       headers={"x-xero-signature": signature.decode()})
    assert good.status_code == 200
    bad = client.post("/webhooks/xero", content=body, headers={"x-xero-signature": "AAAA"})
    assert bad.status_code == 401
    assert not [r for r in publisher.records if r.topic == "webhooks.xero"]


def test_okta_one_time_verification_is_an_authenticated_get(
        client: TestClient, publisher: MemoryPublisher) -> None:
    """Okta's event hook verification is a GET with a challenge header (and the hook's
    Authorization value): answered; any other GET is refused, and so is an unauthenticated one."""
    challenge = {"X-Okta-Verification-Challenge": "Ojbdj5Ik_P0Fxl-y8d2mx0rWkbLXbf-ec5_PUvEa"}
    good = client.get("/webhooks/okta", headers={"Authorization": SECRET, **challenge})
    assert (good.status_code, good.json()) == (200, {"verification": challenge[
        "X-Okta-Verification-Challenge"]})
    assert client.get("/webhooks/okta", headers=challenge).status_code == 401
    assert client.get("/webhooks/okta", headers={"Authorization": SECRET}).status_code == 405
    assert client.get("/webhooks/slack", headers={"Authorization": SECRET, **challenge}).status_code == 405
    assert not [r for r in publisher.records if r.topic == "webhooks.okta"]


def twitch_headers(body: str, kind: str, message_id: str = "e4a1b3c8") -> dict[str, str]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"Twitch-Eventsub-Message-Id": message_id, "Twitch-Eventsub-Message-Timestamp": stamp,
            "Twitch-Eventsub-Message-Type": kind,
            "Twitch-Eventsub-Subscription-Type": "channel.follow",
            "Twitch-Eventsub-Message-Signature": "sha256=" + _hex(f"{message_id}{stamp}{body}")}


def test_twitch_callback_verification_answers_the_bare_challenge(
        client: TestClient, publisher: MemoryPublisher) -> None:
    """Twitch's example: the challenge comes back as the whole body, text/plain, 200."""
    body = ('{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":'
            '"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending",'
            '"type":"channel.follow","version":"2","cost":1,"condition":{"broadcaster_user_id":'
            '"12826"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/'
            'callback"},"created_at":"2019-11-16T10:11:12.634234626Z"}}')
    answer = client.post("/webhooks/twitch", content=body,
                         headers=twitch_headers(body, "webhook_callback_verification"))
    assert answer.status_code == 200
    assert answer.text == "pogchamp-kappa-360noscope-vohiyo"
    assert answer.headers["content-type"].startswith("text/plain")
    forged = twitch_headers(body, "webhook_callback_verification")
    forged["Twitch-Eventsub-Message-Signature"] = "sha256=" + "0" * 64
    assert client.post("/webhooks/twitch", content=body, headers=forged).status_code == 401
    assert not [r for r in publisher.records if r.topic == "webhooks.twitch"]


def test_twitch_revocation_is_published_as_such_not_as_the_event(
        client: TestClient, publisher: MemoryPublisher) -> None:
    """Twitch ends a subscription with a `revocation` message carrying the subscription's type:
    published as `<type>.revocation`, so no consumer takes it for a follow."""
    body = ('{"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":'
            '"authorization_revoked","type":"channel.follow","version":"2","cost":1}}')
    answer = client.post("/webhooks/twitch", content=body,
                         headers=twitch_headers(body, "revocation", message_id="r1"))
    assert answer.status_code == 200, answer.text
    follow = '{"subscription":{"id":"s2","type":"channel.follow"},"event":{"user_id":"1"}}'
    assert client.post("/webhooks/twitch", content=follow,
                       headers=twitch_headers(follow, "notification", "n1")).status_code == 200
    types = [json.loads(r.value)["type"] for r in publisher.records if r.topic == "webhooks.twitch"]
    assert types == ["twitch.channel.follow.revocation", "twitch.channel.follow"]


def test_twitter_crc_is_answered_unsigned_and_cannot_sign_a_delivery(
        client: TestClient, publisher: MemoryPublisher) -> None:
    """X's CRC: a GET with `crc_token`, answered with the token's base64 HMAC-SHA256 under the
    consumer secret (X's recipe). The answer signs what a stranger chose, with the key deliveries
    are signed with: using it as a delivery's signature is refused, and so is a token with `{`."""
    token = "Yzc1ZmE4MzQtZDk2NC00ZjY2LWE1ZTYtOWEzZTRhNDI2MTE5"
    answer = client.get("/webhooks/twitter", params={"crc_token": token})
    expected = "sha256=" + base64.b64encode(hmac.new(SECRET.encode(), token.encode(),
                                                     hashlib.sha256).digest()).decode()
    assert (answer.status_code, answer.json()) == (200, {"response_token": expected})
    oracle = client.post("/webhooks/twitter", content=token,
                         headers={"x-twitter-webhooks-signature": expected})
    assert oracle.status_code == 401
    body = '{"for_user_id":"1","tweet_create_events":[{"id_str":"9"}]}'
    assert client.get("/webhooks/twitter", params={"crc_token": body}).status_code == 401
    assert client.get("/webhooks/twitter").status_code == 401
    assert not [r for r in publisher.records if r.topic == "webhooks.twitter"]
    signature = "sha256=" + base64.b64encode(hmac.new(SECRET.encode(), body.encode(),
                                                      hashlib.sha256).digest()).decode()
    event = client.post("/webhooks/twitter", content=body,
                        headers={"x-twitter-webhooks-signature": signature})
    assert event.status_code == 200, event.text
    [record] = [r for r in publisher.records if r.topic == "webhooks.twitter"]
    assert json.loads(record.value)["type"] == "twitter.tweet_create"


def discord_headers(body: str) -> dict[str, str]:
    now = str(int(time.time()))
    return {"X-Signature-Ed25519": DISCORD_KEY.sign(f"{now}{body}".encode()).hex(),
            "X-Signature-Timestamp": now}


def test_discord_ping_is_answered_204_and_an_event_published(
        client: TestClient, publisher: MemoryPublisher) -> None:
    ping = '{"version":1,"application_id":"1234560123453231555","type":0}'
    answer = client.post("/webhooks/discord", content=ping, headers=discord_headers(ping))
    assert (answer.status_code, answer.content) == (204, b"")
    assert "content-length" not in answer.headers or answer.headers["content-length"] == "0"
    assert client.post("/webhooks/discord", content=ping).status_code == 401
    assert not [r for r in publisher.records if r.topic.startswith("webhooks.")]
    event = ('{"version":1,"application_id":"1234560123453231555","type":1,"event":{"type":'
             '"APPLICATION_AUTHORIZED","timestamp":"2024-10-18T14:42:53.064834","data":{"user":'
             '{"id":"111178765189277770","username":"nelly"}}}}')
    answer = client.post("/webhooks/discord", content=event, headers=discord_headers(event))
    assert answer.status_code == 200, answer.text
    [record] = [r for r in publisher.records if r.topic == "webhooks.discord"]
    assert json.loads(record.value)["type"] == "discord.APPLICATION_AUTHORIZED"


def test_a_slack_event_is_still_published(client: TestClient, publisher: MemoryPublisher) -> None:
    body = json.dumps({"type": "event_callback", "event_id": "Ev1", "team_id": "T1",
                       "event": {"type": "app_mention", "channel": "C1"}, "event_time": 1})
    answer = client.post("/webhooks/slack", content=body,
                         headers=slack_headers(body, int(time.time())))
    assert answer.status_code == 200 and answer.json()["status"] == "published"
