"""uvicorn's httptools protocol with a deadline on receiving each request (SECURITY.md).

uvicorn sets none: a client that sends a header byte every few seconds holds a connection (and,
up to `limit_concurrency`, a slot) forever. Here each request must arrive whole within
`read_timeout_secs`, counted from its first byte (from the connection for the first request):

- headers not complete by then: the connection is closed (counted in `headers_timeouts`);
- headers complete, body not: the deadline is handed to the app in the scope
  (`extensions["gateway.request_deadline"]`), where `gateway.guard` answers 408 and audits it
  (with `extensions["gateway.body_arrived"]`, which says when no wait is needed at all);
  if the message is still incomplete a grace second later, the connection is closed anyway.

httptools (llhttp) is the parser on purpose: it refuses every request-smuggling shape we tried
(Content-Length with Transfer-Encoding, two Content-Lengths, bare LF, obs-fold) where h11 accepts
CL+TE and bare LF (tests/integration/test_security_http.py).

uvicorn spawns workers from an import string, so the timeout comes from the environment
(`WEBHOOK_GATEWAY_READ_TIMEOUT_SECS`, set by `serve`), not from a constructor argument.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.guard import ARRIVED_KEY, DEADLINE_KEY

log = logging.getLogger("gateway.http")

ENV = "WEBHOOK_GATEWAY_READ_TIMEOUT_SECS"
DEFAULT_READ_TIMEOUT_SECS = 10.0
GRACE_SECS = 1.0


class DeadlineProtocol(HttpToolsProtocol):
    headers_timeouts = 0  # per process: connections closed for slow headers
    body_timeouts = 0  # per process: connections closed for a body the app did not cut off

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timeout = float(os.environ.get(ENV) or DEFAULT_READ_TIMEOUT_SECS)
        self._timer: asyncio.TimerHandle | None = None
        self._armed = False  # a request is arriving, against `_deadline`
        self._deadline = 0.0
        self._in_headers = True
        self._arrived = [False]

    # One timer per connection, not per request: a request's end only disarms, and the timer, when
    # it fires, finds no request or a later one's deadline and waits on. Scheduling and cancelling
    # a timer for every request cost 2.4 us of the event loop's thread.
    def _arm(self) -> None:
        if not self._armed:
            self._armed = True
            self._deadline = self.loop.time() + self._read_timeout
            self._in_headers = True
            if self._timer is None:
                self._timer = self.loop.call_at(self._deadline, self._check)

    def _disarm(self) -> None:
        self._armed = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        self._arm()  # the first byte of a request on a kept-alive connection starts its clock
        super().data_received(data)

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
            DeadlineProtocol.headers_timeouts += 1
            log.warning("request headers from %s not received within %.0fs; connection closed",
                        self.client[0] if self.client else "?", self._read_timeout)
            self.transport.close()
        elif now < self._deadline + GRACE_SECS:
            # The app has the same deadline and answers 408 itself; this is the backstop for
            # routes that never read their body.
            self._timer = self.loop.call_at(self._deadline + GRACE_SECS, self._check)
        else:
            DeadlineProtocol.body_timeouts += 1
            self.transport.close()
