"""The one path of a webhook over HTTP: every request to `/webhooks/*` (and any request whose head
was too large) is handled here, from its client address to its answer (SECURITY.md).

    request head within limits.max_header_bytes (gateway.httpproto) -> POST only
    -> client address (X-Forwarded-For only from trusted proxies) -> CIDR allowlist
    -> the address's own request bucket -> body read within its limit and the request deadline
    -> the pipeline (verify, map, dedupe, publish or spool) -> the answer (gateway.answers)

Nothing before verification is shared between client addresses (gateway.limits says why). The
limits come from the pipeline's current runtime, read once per request, so a reload applies them
whole. The body is read here, bounded by the source's `max_body_bytes`, so that a slow sender is
cut off with a 408 and an audit record instead of holding a connection and a task forever.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import Receive, Scope, Send

from gateway.answers import respond
from gateway.audit import RequestInfo
from gateway.config import Config
from gateway.errors import Reason
from gateway.headers import QUERY, Headers
from gateway.limits import allowed, client_address
from gateway.outcome import Result
from gateway.pipeline import Pipeline

log = logging.getLogger("gateway.guard")

PREFIX = "/webhooks/"
# Set by gateway.httpproto: the loop time by which the whole request must have arrived, and a
# one-item list that turns True once it has (then reading the body cannot wait: no timer needed).
DEADLINE_KEY = "gateway.request_deadline"
ARRIVED_KEY = "gateway.body_arrived"
# Set by gateway.httpproto on a request whose line + headers passed `limits.max_header_bytes`
# (the bytes received): the request as parsed so far, answered 431 and audited here.
HEAD_TOO_LARGE_KEY = "gateway.head_too_large"
_QUERY = QUERY.encode()


class Guard:
    """The ASGI app of `/webhooks/*`."""

    def __init__(self, pipeline: Pipeline, config: Config) -> None:
        self.pipeline = pipeline
        self.read_timeout = config.limits.read_timeout_secs  # uvicorn's too: a restart applies it
        self.in_flight = 0  # requests in the pipeline, for /readyz (shutdown waits for them)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string")
        # A scheme that signs the URL needs the query as sent (Twilio): a pseudo-header, so
        # verifiers stay functions of (headers, body, now). Nothing is added to a request without.
        headers = Headers([*scope["headers"], (_QUERY, query)] if query else scope["headers"])
        runtime = self.pipeline.runtime
        peer = scope["client"][0] if scope.get("client") else None
        client = client_address(peer, headers.getlist("x-forwarded-for"), runtime.trusted_proxies)
        if client != peer:  # its audit records and log line see the real client
            scope = {**scope, "client": (client, 0)}
        path = scope["path"]
        name = path[len(PREFIX):] if path.startswith(PREFIX) else path
        info = RequestInfo(scope["method"], path, client, headers)
        head_size = scope.get("extensions", {}).get(HEAD_TOO_LARGE_KEY)
        if head_size is not None:
            await self._reject(send, info, Reason.MALFORMED_REQUEST, name, head_size,
                               detail="head_too_large")
            return
        declared = _content_length(headers)
        source = runtime.sources.get(name)
        if scope["method"] != "POST" and not (scope["method"] == "GET" and source is not None
                                              and source.handshake_on_get):
            await self._reject(send, info, Reason.MALFORMED_REQUEST, name, declared, detail="method")
            return
        if source is not None and not allowed(client, source.config.allow_cidrs):
            await self._reject(send, info, Reason.IP_NOT_ALLOWED, name, declared)
            return
        refused = runtime.limiter.admit(name if source is not None else None, client)
        if refused is not None:
            await self._reject(send, info, Reason.RATE_LIMITED, name, declared,
                               wait=refused.wait, repeats=refused.repeats)
            return
        limit = source.config.max_body_bytes if source is not None else runtime.default_max_body_bytes
        if declared is not None and declared > limit:  # refused from the header alone
            await self._reject(send, info, Reason.BODY_TOO_LARGE, name, declared)
            return
        body = await self._read(scope, receive, send, info, name, limit)
        if body is None:
            return
        self.in_flight += 1
        try:
            result = await self.pipeline.handle(name, info, body)
        finally:
            self.in_flight -= 1
        await respond(send, result)

    async def _read(self, scope: Scope, receive: Receive, send: Send, info: RequestInfo,
                    name: str, limit: int) -> bytes | None:
        """The whole body, or None once the request has been answered (too large, too slow) or
        its sender has gone."""
        extensions = scope.get("extensions", {})
        arrived = extensions.get(ARRIVED_KEY, (False,))
        deadline = extensions.get(DEADLINE_KEY) or asyncio.get_running_loop().time() + self.read_timeout
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            try:
                if arrived[0]:  # all in: receive() returns at once
                    message = await receive()
                else:
                    async with asyncio.timeout_at(deadline):  # unlike wait_for, no task per receive()
                        message = await receive()
            except TimeoutError:
                if self.pipeline.metrics is not None:
                    self.pipeline.metrics.slow_client("body")
                log.warning("request body from %s not received within %.0fs; cut off",
                            info.remote_addr, self.read_timeout)
                await self._reject(send, info, Reason.MALFORMED_REQUEST, name, size,
                                   body=b"".join(chunks), detail="body_timeout")
                return None
            if message["type"] == "http.disconnect":
                return None  # the sender is gone: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:  # never buffered past the limit; the rest is never read
                await self._reject(send, info, Reason.BODY_TOO_LARGE, name, size)
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _reject(self, send: Send, info: RequestInfo, reason: Reason, name: str,
                      size: int | None, body: bytes = b"", detail: str | None = None,
                      wait: float = 1.0, repeats: int | None = 0) -> None:
        """Refused before the pipeline verified anything: the body is left unread."""
        result: Result = self.pipeline.reject(info, reason, name, body, size or len(body), wait,
                                              repeats, detail=detail)
        await respond(send, result, close=True)


def _content_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    return int(value) if value is not None and value.isascii() and value.isdigit() else None
