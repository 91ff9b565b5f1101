"""Per-request observation of `/webhooks/*`: the outermost ASGI layer gives each request an id and
a start time, the answer notes its Result on the request's slot (a context variable: whoever
answers, gateway.answers.respond does it), and when the response is sent this layer counts it and
writes one log line. One place, once per request, whatever path the request took.

Cheap on purpose: no allocation beyond the slot, counters only, one log call.
"""

from __future__ import annotations

import contextvars
import logging
import os
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import logs
from gateway.errors import Outcome
from gateway.metrics import Metrics
from gateway.outcome import Result

log = logging.getLogger("gateway.request")
PREFIX = "/webhooks/"


@dataclass(slots=True)
class Slot:
    request_id: str
    result: Result | None = None


_current: contextvars.ContextVar[Slot | None] = contextvars.ContextVar("gateway_request", default=None)


def note(result: Result) -> None:
    """Called with the Result a request is answered with (the last note wins)."""
    slot = _current.get()
    if slot is not None:
        slot.result = result


class Observe:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # pid and a random part drawn once: unique across workers and restarts (a pid is reused),
        # without a getrandom() call per request
        self._prefix = f"{os.getpid():x}-{os.urandom(3).hex()}-"
        self._count = 0

    def _request_id(self) -> str:
        self._count += 1
        return f"{self._prefix}{self._count:x}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        slot = Slot(self._request_id())
        status = [0]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", slot.request_id.encode()))
            await send(message)

        token = _current.set(slot)
        try:
            await self.app(scope, receive, sending)
        finally:
            _current.reset(token)
            self._finish(scope, slot, status[0], time.perf_counter() - started)

    def _finish(self, scope: Scope, slot: Slot, status: int, secs: float) -> None:
        result = slot.result
        name = scope["path"][len(PREFIX):]
        if result is None:  # nothing answered through gateway.answers: an error, or gone
            result = Result(Outcome.UNAVAILABLE if status >= 500 or status == 0 else Outcome.REJECTED)
        self.metrics.answered(name, result.outcome, result.reason)
        if result.publish_secs is not None:
            self.metrics.published(name, result.publish_secs)
        if not log.isEnabledFor(logging.INFO):
            return
        source = self.metrics.source(name)
        logs.request_line(log, f"webhook {source} {result.outcome.value}", {
            "request_id": slot.request_id,
            "source": source,
            "provider": result.provider,
            "outcome": result.outcome.value,
            "reason": result.reason.value if result.reason is not None else None,
            "status": status,
            "latency_ms": round(secs * 1000, 3),
            "envelope_id": result.id,
        })
