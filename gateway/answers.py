"""The one table from a pipeline Result to an HTTP answer, and the answer sent as raw ASGI
messages (a Starlette Response costs several times more on the webhook path).

One generic body per status: a sender learns nothing about why a check failed; the audit record
says it (DESIGN.md, SECURITY.md).
"""

from __future__ import annotations

import msgspec
from starlette.types import Send

from gateway import observe
from gateway.errors import Outcome, Reason
from gateway.limits import retry_after
from gateway.outcome import Result

RETRY_AFTER_SECS = 10  # 503: when the provider should try again

STATUS = {
    Outcome.PUBLISHED: 200,
    Outcome.DUPLICATE: 200,
    Outcome.IGNORED: 200,
    Outcome.SPOOLED: 202,
    Outcome.DEADLETTERED: 202,
    Outcome.UNAVAILABLE: 503,
    Outcome.REJECTED: 401,  # unless below: every authentication failure alike
}
REJECTED = {
    Reason.UNKNOWN_SOURCE: 404,
    Reason.BODY_TOO_LARGE: 413,
    Reason.RATE_LIMITED: 429,
    Reason.ID_CONFLICT: 409,  # `on_id_conflict: reject`
}
CUT_SHORT = {"body_timeout": 408, "head_too_large": 431, "method": 405}  # Result.detail
ERROR = {401: "unauthorized", 404: "not found", 405: "method not allowed", 408: "request timeout",
         409: "conflict",
         413: "payload too large", 429: "too many requests",
         431: "request header fields too large", 503: "unavailable, retry later"}
# The request's body was not read (whole): the connection cannot be reused.
CLOSE = frozenset({405, 408, 413, 431})
_encode = msgspec.json.Encoder().encode


def status_of(result: Result) -> int:
    if result.outcome is Outcome.REJECTED:
        cut = CUT_SHORT.get(result.detail) if result.detail is not None else None
        if cut is not None:
            return cut
        return REJECTED.get(result.reason, 401) if result.reason is not None else 401
    return STATUS[result.outcome]


def answer(result: Result) -> tuple[int, dict[str, str] | str | None, list[tuple[bytes, bytes]]]:
    """(status, body, headers): the body is JSON, text (a handshake's plain-text answer), or None
    (204, Discord's PING)."""
    if result.reply is not None:
        reply = result.reply
        if reply.json is not None:
            return 200, reply.json, []
        return (200, reply.text, []) if reply.text is not None else (204, None, [])
    status = status_of(result)
    headers: list[tuple[bytes, bytes]] = []
    if status < 400:
        body: dict[str, str] = ({"status": result.outcome.value} if result.id is None
                                else {"id": result.id, "status": result.outcome.value})
    else:
        body = {"error": ERROR[status]}
        if status == 429:
            headers.append((b"retry-after", retry_after(result.wait).encode()))
        elif status == 503:
            headers.append((b"retry-after", b"%d" % RETRY_AFTER_SECS))
        elif status == 405:
            headers.append((b"allow", b"POST"))
    return status, body, headers


async def respond(send: Send, result: Result, close: bool = False) -> None:
    """Answer `result` and note it for the request's metrics and log line (gateway.observe)."""
    observe.note(result)
    status, body, headers = answer(result)
    if isinstance(body, str):
        payload = body.encode()
        headers += [(b"content-length", b"%d" % len(payload)),
                    (b"content-type", b"text/plain; charset=utf-8")]
    elif body is None:  # 204: no body, and no length (RFC 9110, 8.6)
        payload = b""
    else:
        payload = _encode(body)
        headers += [(b"content-length", b"%d" % len(payload)),
                    (b"content-type", b"application/json")]
    if close or status in CLOSE:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
