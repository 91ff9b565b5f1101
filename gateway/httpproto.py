"""uvicorn's httptools protocol with a deadline on receiving each request and a bound on its
head (SECURITY.md).

uvicorn sets none: a client that sends a header byte every few seconds holds a connection (and,
up to `limit_concurrency`, a slot) forever. Here each request must arrive whole within
`read_timeout_secs`, counted from its first byte (from the connection for the first request):

- headers not complete by then: the connection is closed (counted: `on_cut`, the app's metrics);
- headers complete, body not: the deadline is handed to the app in the scope
  (`extensions["gateway.request_deadline"]`), where `gateway.guard` answers 408 and audits it
  (with `extensions["gateway.body_arrived"]`, which says when no wait is needed at all);
  if the message is still incomplete a grace second later, the connection is closed anyway.

The request line and headers together may take at most `limits.max_header_bytes` (default
64 KiB, as nginx's and h11's defaults), counted while they arrive: past it nothing more is read
or parsed (httptools would buffer a header of any size), and the app is handed the request as
parsed so far with `extensions["gateway.head_too_large"]`, so the one webhook stack answers 431
and audits it; the connection is then closed.

httptools (llhttp) is the parser on purpose: it refuses every request-smuggling shape we tried
(Content-Length with Transfer-Encoding, two Content-Lengths, bare LF, obs-fold) where h11 accepts
CL+TE and bare LF (tests/integration/test_security_http.py).

uvicorn spawns workers from an import string, so the limits come from the environment
(`WEBHOOK_GATEWAY_READ_TIMEOUT_SECS`, `WEBHOOK_GATEWAY_MAX_HEADER_BYTES`, set by `serve`), not
from a constructor argument.

uvicorn offers none of this as options: the protocol overrides HttpToolsProtocol's methods and
reads its state, each listed (with the uvicorn version read) and checked in
gateway/uvicorn_compat.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.guard import ARRIVED_KEY, DEADLINE_KEY, HEAD_TOO_LARGE_KEY

log = logging.getLogger("gateway.http")

ENV = "WEBHOOK_GATEWAY_READ_TIMEOUT_SECS"
HEAD_ENV = "WEBHOOK_GATEWAY_MAX_HEADER_BYTES"
DEFAULT_READ_TIMEOUT_SECS = 10.0
DEFAULT_MAX_HEADER_BYTES = 65_536
GRACE_SECS = 1.0
MAX_PATH_CHARS = 2048  # of a request cut off mid-head: enough to name the source


class DeadlineProtocol(HttpToolsProtocol):
    # told of each connection cut off (stage: `headers`, or `body_unread`: a body the app did not
    # cut off); the app points it at its metrics (gateway_slow_clients_total)
    on_cut: Callable[[str], None] = staticmethod(lambda stage: None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timeout = float(os.environ.get(ENV) or DEFAULT_READ_TIMEOUT_SECS)
        self._timer: asyncio.TimerHandle | None = None
        self._armed = False  # a request is arriving, against `_deadline`
        self._deadline = 0.0
        self._in_headers = True
        self._arrived = [False]
        self._max_head = int(os.environ.get(HEAD_ENV) or DEFAULT_MAX_HEADER_BYTES)
        self._head_bytes = 0  # of the request arriving, while its head is incomplete
        self._refused = False  # its head was too large: nothing more is read

    # One timer per connection, not per request: a request's end only disarms, and the timer, when
    # it fires, finds no request or a later one's deadline and waits on. Scheduling and cancelling
    # a timer for every request cost 2.4 us of the event loop's thread.
    def _arm(self) -> None:
        if not self._armed:
            self._armed = True
            self._deadline = self.loop.time() + self._read_timeout
            self._in_headers = True
            self._head_bytes = 0
            if self._timer is None:
                self._timer = self.loop.call_at(self._deadline, self._check)

    def _disarm(self) -> None:
        self._armed = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._arm()  # the first byte of a request on a kept-alive connection starts its clock
        super().data_received(data)
        if self._in_headers and self._armed and not self.transport.is_closing():
            # Counted after parsing, so a chunk that completes a small head and carries body bytes
            # is never held against it; a head still incomplete is bounded by limit + one read.
            self._head_bytes += len(data)
            if self._head_bytes > self._max_head:
                self._refuse_head()

    def _refuse_head(self) -> None:
        """Stop reading, and let the app answer (431) and audit the request as parsed so far."""
        self._refused = True
        self._disarm()
        self.transport.pause_reading()
        scope: dict[str, Any] = dict(self.scope or {})
        try:
            method = self.parser.get_method().decode("ascii", "replace")
        except Exception:  # noqa: BLE001 - the request line itself did not finish
            method = "GET"
        url = (getattr(self, "url", b"") or b"/").split(b"?", 1)[0]
        scope.update(type="http", method=method, path=url[:MAX_PATH_CHARS].decode("latin-1"),
                     raw_path=url[:MAX_PATH_CHARS], query_string=b"", http_version="1.1",
                     headers=list(scope.get("headers") or []), client=self.client,
                     extensions={HEAD_TOO_LARGE_KEY: self._head_bytes})
        log.warning("request head from %s over %d bytes; refused",
                    self.client[0] if self.client else "?", self._max_head)
        task = self.loop.create_task(self._answer_refused(scope))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer_refused(self, scope: dict[str, Any]) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if self.transport.is_closing():
                return
            if message["type"] == "http.response.start":
                status = HTTPStatus(message["status"])
                head = [b"HTTP/1.1 %d %s\r\n" % (status.value, status.phrase.encode())]
                head += [name + b": " + value + b"\r\n" for name, value in message.get("headers", [])
                         if name.lower() != b"connection"]
                self.transport.write(b"".join(head) + b"connection: close\r\n\r\n")
            elif message["type"] == "http.response.body":
                self.transport.write(message.get("body", b""))

        try:
            await self.app(scope, receive, send)
        except Exception:
            log.exception("answering a request whose head was too large")
        finally:
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._arrived = [False]  # this request's, set once its whole body is in
        extensions = self.scope.setdefault("extensions", {})
        extensions[DEADLINE_KEY] = self._deadline  # type: ignore[assignment]
        extensions[ARRIVED_KEY] = self._arrived  # type: ignore[assignment]
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._arrived[0] = True
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def _check(self) -> None:
        self._timer = None
        if not self._armed or self.transport.is_closing():
            return
        now = self.loop.time()
        if now < self._deadline:  # set for an earlier request: this one has until its own deadline
            self._timer = self.loop.call_at(self._deadline, self._check)
        elif self._in_headers:
            DeadlineProtocol.on_cut("headers")
            log.warning("request headers from %s not received within %.0fs; connection closed",
                        self.client[0] if self.client else "?", self._read_timeout)
            self.transport.close()
        elif now < self._deadline + GRACE_SECS:
            # The app has the same deadline and answers 408 itself; this is the backstop for
            # routes that never read their body.
            self._timer = self.loop.call_at(self._deadline + GRACE_SECS, self._check)
        else:
            DeadlineProtocol.on_cut("body_unread")
            self.transport.close()
