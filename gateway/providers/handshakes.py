"""Endpoint handshakes: requests a provider sends to prove the endpoint is ours before (or while)
it delivers events. Each is called only after the request authenticated, and answers it with a
small JSON object instead of publishing it; None means "a normal delivery".

Each is a pure function of (source config, headers, raw body); a body that is not the handshake's
shape is a normal delivery, never an error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from gateway.headers import Headers


def _object(body: bytes) -> dict[str, Any] | None:
    if b"challenge" not in body and b"url_validation" not in body and b'"events"' not in body:
        return None  # the common case: a delivery, not parsed twice
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def slack(cfg: Any, headers: Headers, body: bytes) -> dict[str, str] | None:
    """Events API `url_verification`: answer `{"challenge": <the challenge>}` (Slack accepts JSON)."""
    payload = _object(body)
    if payload is None or payload.get("type") != "url_verification":
        return None
    challenge = payload.get("challenge")
    return {"challenge": challenge} if isinstance(challenge, str) else None


def zoom(cfg: Any, headers: Headers, body: bytes) -> dict[str, str] | None:
    """`endpoint.url_validation`: answer the plainToken and its hex HMAC-SHA256 under the secret
    token (the source's first secret: the one Zoom shows for the app now)."""
    payload = _object(body)
    if payload is None or payload.get("event") != "endpoint.url_validation":
        return None
    inner = payload.get("payload")
    token = inner.get("plainToken") if isinstance(inner, dict) else None
    if not isinstance(token, str):
        return None
    key = cfg.secrets[0].reveal()
    encrypted = hmac.new(key, token.encode(), hashlib.sha256).hexdigest()
    return {"plainToken": token, "encryptedToken": encrypted}


def xero(cfg: Any, headers: Headers, body: bytes) -> dict[str, str] | None:
    """"Intent to receive": signed deliveries with no events. Xero wants 200 for a correct
    signature (401 otherwise, which the verifier already gives); there is nothing to publish."""
    payload = _object(body)
    if payload is None or payload.get("events") != []:
        return None
    return {"status": "verified"}


def okta(cfg: Any, headers: Headers, body: bytes) -> dict[str, str] | None:
    """Event hook verification: a one-time GET carrying `X-Okta-Verification-Challenge` (and the
    hook's Authorization value, already checked): answer `{"verification": <the challenge>}`."""
    challenge = headers.get("x-okta-verification-challenge")
    return {"verification": challenge} if challenge else None
