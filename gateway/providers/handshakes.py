"""Endpoint handshakes: requests a provider sends to prove the endpoint is ours before (or while)
it delivers events. Each is called only after the request authenticated, and answers it in the
form the provider asks for (a `Reply`: JSON, plain text, or 204) instead of publishing it; None
means "a normal delivery".

Each is a pure function of (source config, headers, raw body); a body that is not the handshake's
shape is a normal delivery, never an error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any
from urllib.parse import parse_qs

from gateway.headers import QUERY, Headers
from gateway.outcome import Reply
from gateway.verify import twitter


def _object(body: bytes, needle: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, if it holds `needle` (the handshake's own mark): a delivery
    without it, the common case, is not parsed twice."""
    if needle not in body:
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def slack(cfg: Any, headers: Headers, body: bytes) -> Reply | None:
    """Events API `url_verification`: answer `{"challenge": <the challenge>}` (Slack accepts JSON)."""
    payload = _object(body, b"url_verification")
    if payload is None or payload.get("type") != "url_verification":
        return None
    challenge = payload.get("challenge")
    return Reply(json={"challenge": challenge}) if isinstance(challenge, str) else None


def zoom(cfg: Any, headers: Headers, body: bytes) -> Reply | None:
    """`endpoint.url_validation`: answer the plainToken and its hex HMAC-SHA256 under the secret
    token (the source's first secret: the one Zoom shows for the app now)."""
    payload = _object(body, b"endpoint.url_validation")
    if payload is None or payload.get("event") != "endpoint.url_validation":
        return None
    inner = payload.get("payload")
    token = inner.get("plainToken") if isinstance(inner, dict) else None
    if not isinstance(token, str):
        return None
    key = cfg.secrets[0].reveal()
    encrypted = hmac.new(key, token.encode(), hashlib.sha256).hexdigest()
    return Reply(json={"plainToken": token, "encryptedToken": encrypted})


def xero(cfg: Any, headers: Headers, body: bytes) -> Reply | None:
    """"Intent to receive": signed deliveries with no events. Xero wants 200 for a correct
    signature (401 otherwise, which the verifier already gives); there is nothing to publish."""
    payload = _object(body, b'"events"')
    if payload is None or payload.get("events") != []:
        return None
    return Reply(json={"status": "verified"})


def okta(cfg: Any, headers: Headers, body: bytes) -> Reply | None:
    """Event hook verification: a one-time GET carrying `X-Okta-Verification-Challenge` (and the
    hook's Authorization value, already checked): answer `{"verification": <the challenge>}`."""
    challenge = headers.get("x-okta-verification-challenge")
    return Reply(json={"verification": challenge}) if challenge else None


def twitch(cfg: Any, headers: Headers, body: bytes) -> Reply | None:
    """EventSub `webhook_callback_verification` (signed like any message): Twitch wants the bare
    challenge back as text/plain with a 200, else the subscription fails."""
    if headers.get("twitch-eventsub-message-type") != "webhook_callback_verification":
        return None
    payload = _object(body, b"challenge")
    challenge = payload.get("challenge") if payload is not None else None
    return Reply(text=challenge) if isinstance(challenge, str) else None


_PING = re.compile(rb'"type"\s*:\s*0\s*[,}]')


def discord(cfg: Any, headers: Headers, body: bytes) -> Reply | None:
    """Webhook events' PING (`"type": 0`, signed), sent when the URL is saved and now and then:
    Discord wants 204 with no body. An event is `"type": 1` (and a `"type"` inside: parsed
    only when the body could be a PING)."""
    payload = _object(body, b'"type"') if _PING.search(body) else None
    kind = payload.get("type") if payload is not None else None
    return Reply() if type(kind) is int and kind == 0 else None


def notion_token(cfg: Any, headers: Headers, body: bytes) -> str | None:
    """Notion's one-time subscription check, before verification: an unsigned POST whose body is
    exactly `{"verification_token": "<text>"}` (and no `X-Notion-Signature`). The token is what
    the operator pastes into Notion, then configures as the secret (gateway.tokens)."""
    if "x-notion-signature" in headers or len(body) > 1024:
        return None
    payload = _object(body, b"verification_token")
    if payload is None or list(payload) != ["verification_token"]:
        return None
    token = payload["verification_token"]
    return token if isinstance(token, str) and 0 < len(token) <= 256 else None


_CRC_TOKEN = re.compile(r"[A-Za-z0-9+/=_.~-]{1,256}")


def twitter_crc(cfg: Any, headers: Headers, body: bytes) -> Reply | None:
    """X's Challenge-Response Check, answered without a signature (it has none): a GET with one
    `crc_token`, answered `{"response_token": "sha256=<base64 HMAC-SHA256 of the token>"}` under
    the consumer secret (the first). Only a token's alphabet is signed, never a `{`: see
    gateway.verify.twitter for why (a signing oracle)."""
    query = headers.get(QUERY)
    if body or not query or not cfg.secrets:
        return None
    tokens = parse_qs(query, keep_blank_values=True).get("crc_token")
    if tokens is None or len(tokens) != 1 or not _CRC_TOKEN.fullmatch(tokens[0]):
        return None
    return Reply(json={"response_token": twitter.sign(cfg.secrets[0].reveal(), tokens[0].encode())})
