"""Per-request observation of `/webhooks/*`: the outermost ASGI layer gives each request an id and
a start time, the pipeline notes its Answer on the request's slot (a context variable, so the
guard's early rejections are seen too), and when the response is sent this layer counts it and
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

log = logging.getLogger("gateway.request")
PREFIX = "/webhooks/"


@dataclass(slots=True)
class Slot:
    request_id: str
    answer: object | None = None  # gateway.pipeline.Answer (not imported: pipeline imports us)
    provider: str | None = None
    publish_secs: float | None = None


_current: contextvars.ContextVar[Slot | None] = contextvars.ContextVar("gateway_request", default=None)


def note(answer: object, provider: str | None) -> None:
    """Called by the pipeline with the Answer it decided on (the last note wins)."""
    slot = _current.get()
    if slot is not None:
        slot.answer = answer
        slot.provider = provider


def current() -> Slot | None:
    return _current.get()


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
        answer = slot.answer
        name = scope["path"][len(PREFIX):]
        outcome: Outcome = getattr(answer, "outcome", None) or (
            Outcome.UNAVAILABLE if status >= 500 or status == 0 else Outcome.REJECTED)
        reason = getattr(answer, "reason", None)
        self.metrics.answered(name, outcome, reason)
        if slot.publish_secs is not None:
            self.metrics.published(name, slot.publish_secs)
        if not log.isEnabledFor(logging.INFO):
            return
        body = getattr(answer, "body", None) or {}
        source = self.metrics.source(name)
        logs.request_line(log, f"webhook {source} {outcome.value}", {
            "request_id": slot.request_id,
            "source": source,
            "provider": slot.provider,
            "outcome": outcome.value,
            "reason": reason.value if reason is not None else None,
            "status": status,
            "latency_ms": round(secs * 1000, 3),
            "envelope_id": body.get("id"),
        })
