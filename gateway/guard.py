"""Plain ASGI middleware in front of `/webhooks/{source}`: the abuse limits, applied before the
request's body is read or any signature checked (SECURITY.md).

    client address (X-Forwarded-For only from trusted proxies) -> CIDR allowlist
    -> the address's own request bucket -> body read within the request deadline -> the app

Nothing here is shared between client addresses (gateway.limits says why). The limits come from
the pipeline's current runtime, read once per request, so a reload applies them whole.

The body is buffered here (bounded by the source's `max_body_bytes`) so that a slow sender is cut
off with a 408 and an audit record instead of holding a connection and a task forever; the app
then reads the buffered body at once. A body over the limit is handed on unread past the limit,
and the app's own bounded read answers 413.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import msgspec
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.audit import RequestInfo
from gateway.config import Config
from gateway.errors import Reason
from gateway.headers import Headers
from gateway.limits import allowed, client_address
from gateway.pipeline import Answer, Pipeline

log = logging.getLogger("gateway.guard")
# The app's webhook handler, given what the guard has read: (scope, request, source name, body, send).
Deliver = Callable[[Scope, RequestInfo, str, bytes, Send], Awaitable[None]]

PREFIX = "/webhooks/"
# Set by gateway.httpproto: the loop time by which the whole request must have arrived, and a
# one-item list that turns True once it has (then reading the body cannot wait: no timer needed).
DEADLINE_KEY = "gateway.request_deadline"
ARRIVED_KEY = "gateway.body_arrived"
# Set by gateway.httpproto on a request whose line + headers passed `limits.max_header_bytes`
# (the bytes received): the request as parsed so far, answered 431 and audited here.
HEAD_TOO_LARGE_KEY = "gateway.head_too_large"
_ERRORS = {408: "request timeout", 431: "request header fields too large"}
_encode = msgspec.json.Encoder().encode


class Guard:
    """`deliver`, when given, takes a whole body within its limit straight from here (the fast
    webhook stack: no second parse of the headers, no replayed receive); `app` takes the rest."""

    def __init__(self, app: ASGIApp, pipeline: Pipeline, config: Config,
                 deliver: Deliver | None = None) -> None:
        self.app = app
        self.deliver = deliver
        self.pipeline = pipeline
        self.read_timeout = config.limits.read_timeout_secs  # uvicorn's too: a restart applies it
        self.timeouts = 0  # requests cut off because their body did not arrive in time

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        head_size = scope.get("extensions", {}).get(HEAD_TOO_LARGE_KEY) if scope["type"] == "http" else None
        if head_size is not None:  # whatever its path: nothing else may see a request cut short
            await self._head_too_large(scope, send, head_size)
            return
        name = scope["path"][len(PREFIX):] if scope["type"] == "http" else ""
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX) or not name or "/" in name:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope["headers"])
        runtime = self.pipeline.runtime
        peer = scope["client"][0] if scope.get("client") else None
        client = client_address(peer, headers.getlist("x-forwarded-for"), runtime.trusted_proxies)
        if client != peer:  # the app, its audit records and its logs see the real client
            scope = {**scope, "client": (client, 0)}
        source = runtime.sources.get(name)
        info = RequestInfo(scope["method"], scope["path"], client, headers)
        declared = _content_length(headers)
        if source is not None and not allowed(client, source.config.allow_cidrs):
            await self._reject(scope, send, info, Reason.IP_NOT_ALLOWED, name, declared)
            return
        refused = runtime.limiter.admit(name if source is not None else None, client)
        if refused is not None:
            await self._reject(scope, send, info, Reason.RATE_LIMITED, name, declared,
                               wait=refused.wait, repeats=refused.repeats)
            return
        limit = source.config.max_body_bytes if source is not None else runtime.default_max_body_bytes
        if declared is not None and declared > limit:
            await self.app(scope, receive, send)  # the app refuses it from the header alone
            return
        await self._buffered(scope, receive, send, info, name, limit)

    async def _buffered(self, scope: Scope, receive: Receive, send: Send, info: RequestInfo,
                        name: str, limit: int) -> None:
        extensions = scope.get("extensions", {})
        arrived = extensions.get(ARRIVED_KEY, (False,))
        deadline = extensions.get(DEADLINE_KEY) or asyncio.get_running_loop().time() + self.read_timeout
        chunks: list[bytes] = []
        size, more = 0, True
        while more and size <= limit:
            try:
                if arrived[0]:  # all in: receive() returns at once
                    message = await receive()
                else:
                    async with asyncio.timeout_at(deadline):  # unlike wait_for, no task per receive()
                        message = await receive()
            except TimeoutError:
                self.timeouts += 1
                log.warning("request body from %s not received within %.0fs; cut off",
                            info.remote_addr, self.read_timeout)
                await self._reject(scope, send, info, Reason.MALFORMED_REQUEST, name, size,
                                   body=b"".join(chunks), status=408)
                return
            if message["type"] == "http.disconnect":
                return  # the sender is gone: nobody to answer
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if self.deliver is not None and not more and size <= limit:
            await self.deliver(scope, info, name, body, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": more}

        await self.app(scope, replay, send)

    async def _head_too_large(self, scope: Scope, send: Send, size: int) -> None:
        headers = Headers(scope["headers"])
        runtime = self.pipeline.runtime
        peer = scope["client"][0] if scope.get("client") else None
        client = client_address(peer, headers.getlist("x-forwarded-for"), runtime.trusted_proxies)
        path = scope["path"]
        name = path[len(PREFIX):] if path.startswith(PREFIX) else path
        info = RequestInfo(scope["method"], path, client, headers)
        await self._reject(scope, send, info, Reason.MALFORMED_REQUEST, name, size, status=431)

    async def _reject(self, scope: Scope, send: Send, info: RequestInfo, reason: Reason, name: str,
                      size: int | None, body: bytes = b"", status: int | None = None,
                      wait: float = 1.0, repeats: int | None = 0) -> None:
        answer: Answer = self.pipeline.reject(info, reason, name, body, size or len(body), wait,
                                              repeats)
        extra = {**answer.headers, "Connection": "close"}  # the body stays unread
        payload = answer.body if status is None else {"error": _ERRORS[status]}
        response = Response(_encode(payload), status or answer.status, extra, "application/json")
        await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _content_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    return int(value) if value is not None and value.isascii() and value.isdigit() else None
