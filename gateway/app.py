"""HTTP: the Starlette app. Reads the body within its limit, hands it to the pipeline, answers.

Built by `create_app(config, publisher=...)`: no module-level state, so tests build what they need.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable

import msgspec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import admin, logs
from gateway.audit import Auditor, RequestInfo, install_salt, secret_values
from gateway.auditlog import AuditLog
from gateway.config import Config
from gateway.drain import Drainer
from gateway.errors import Outcome, Reason
from gateway.guard import HEAD_TOO_LARGE_KEY, Guard
from gateway.headers import Headers
from gateway.metrics import CONTENT_TYPE, Metrics, SpoolCollector
from gateway.observe import Observe
from gateway.pipeline import Answer, Pipeline
from gateway.publish import CONNECTING, REACHABLE, Publisher
from gateway.publish.backend import worker_publisher
from gateway.reload import Reloader
from gateway.sources import topics
from gateway.store import Store

log = logging.getLogger("gateway.http")
_encode = msgspec.json.Encoder().encode
SHUTDOWN_FLUSH_SECS = 10.0
WEBHOOKS = "/webhooks/"


class BodyTooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


async def read_body(receive: Receive, headers: Headers, limit: int) -> bytes | None:
    """The raw body, refused as soon as it is known to exceed `limit` (never buffered past it);
    None when the client went away before sending it all (nobody left to answer)."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(int(declared))
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_answer(send: Send, answer: Answer) -> None:
    """The Answer as raw ASGI messages (a Starlette Response costs several times more)."""
    body = _encode(answer.body)
    headers = [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()]
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Gateway(Starlette):
    """Starlette, with `POST /webhooks/{source}` dispatched straight to its own ASGI stack
    (observe -> guard -> handler): the webhook path skips the router, the exception layers and
    the Request/Response objects, which cost as much CPU as the pipeline itself
    (docs/benchmarks.md). Everything else, and any odd webhook URL or method, goes through
    Starlette as before."""

    webhooks: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["method"] == "POST" and _webhook_path(scope["path"])
                                        or HEAD_TOO_LARGE_KEY in scope.get("extensions", {})):
            scope["app"] = self
            await self.webhooks(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class _Endpoint:
    """A plain ASGI function as a Route endpoint (Starlette wraps bare functions as
    request -> response handlers)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _webhook_path(path: str) -> bool:
    name = path[len(WEBHOOKS):]
    return path.startswith(WEBHOOKS) and bool(name) and "/" not in name


class _Last:
    """The fast stack's last resort, as Starlette's ServerErrorMiddleware: an unexpected error is
    logged and answered 500 (if nothing was sent yet), never a dropped connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = [False]

        async def sending(message: Message) -> None:
            started[0] = started[0] or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            log.exception("handling %s", scope["path"])
            if not started[0]:
                await send_answer(send, Answer(500, {"error": "internal error"}, Outcome.UNAVAILABLE))


def create_app(config: Config, publisher: Publisher | None = None,
               clock: Callable[[], float] = time.time) -> Starlette:
    if publisher is None:
        publisher = worker_publisher(config)
    storage = config.storage
    store = Store(storage.path / "gateway.db", window_secs=storage.dedupe_window_secs,
                  max_entries=storage.dedupe_max_entries, clock=clock,
                  history_retention_secs=storage.history_retention_secs,
                  history_max_rows=storage.history_max_rows)
    metrics = Metrics(config.sources)
    drainer = Drainer(store, publisher, storage.path / "drain.lock", metrics)
    # The redaction comes with each record from the pipeline's current runtime (gateway.runtime).
    auditor = Auditor(f"{config.kafka.topic_prefix}.rejected", publisher,
                      install_salt(storage.path), frozenset(), auditlog=AuditLog(storage.path / "audit"))
    pipeline = Pipeline(config, publisher, auditor, store, clock=clock, on_spooled=drainer.wake,
                        metrics=metrics)
    metrics.known = lambda: pipeline.runtime.sources  # labels follow reloads
    reloader = Reloader(config, pipeline, metrics)
    spool_gauges = SpoolCollector(store.depth, clock)
    stopping = threading.Event()
    in_flight = [0]  # webhook requests being handled, for /readyz (shutdown waits for them)

    async def webhook(scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path"][len(WEBHOOKS):]
        runtime = pipeline.runtime
        source = runtime.sources.get(name)
        headers = Headers(scope["headers"])
        client = scope.get("client")
        info = RequestInfo(scope["method"], scope["path"], client[0] if client else None, headers)
        try:
            body = await read_body(receive, headers, source.config.max_body_bytes if source
                                   else runtime.default_max_body_bytes)
        except BodyTooLarge as too_large:
            answer = pipeline.reject(info, Reason.BODY_TOO_LARGE, name, b"", too_large.size)
            answer.headers["Connection"] = "close"  # the rest of the body is never read
            await send_answer(send, answer)
            return
        if body is None:
            return  # the sender is gone: nobody to answer
        await deliver(scope, info, name, body, send)

    async def deliver(scope: Scope, info: RequestInfo, name: str, body: bytes, send: Send) -> None:
        """A whole body: through the pipeline, answered. The guard calls this directly."""
        in_flight[0] += 1
        try:
            answer = await pipeline.handle(name, info, body)
        finally:
            in_flight[0] -= 1
        await send_answer(send, answer)

    async def metrics_page(request: Request) -> Response:
        return Response(metrics.render(spool_gauges), 200, media_type=CONTENT_TYPE)

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', 200, media_type="application/json")

    async def readyz(request: Request) -> Response:
        """Ready when not shutting down and an event can be made safe: Kafka or the spool; not
        while the first connection to Kafka is being made (events would wait for it)."""
        kafka = publisher.state
        depth, oldest = store.depth()
        spool_ok = store.spool_writable()
        ready = (not stopping.is_set() and kafka != CONNECTING
                 and (kafka == REACHABLE or spool_ok))
        body = {
            "ready": ready,
            "shutting_down": stopping.is_set(),
            "in_flight": in_flight[0],
            "kafka": kafka,
            "spool": {"writable": spool_ok, "depth": depth,
                      "oldest_age_secs": round(clock() - oldest, 3) if oldest else None},
        }
        return Response(_encode(body), 200 if ready else 503, media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for warning in config.warnings:
            log.warning("config: %s", warning)
        store.open()
        logs.redact_secrets(secret_values(config))  # last line of defence: see gateway.logs
        logs.count_dropped_lines(metrics.log_lines_dropped.inc)
        _chain_stop_signals(stopping)
        hup = _on_sighup(reloader.on_signal)
        await publisher.start(topics(config))
        drainer.start()
        auditor.start()  # ships audit records kept while Kafka was down
        yield
        stopping.set()
        hup()
        await drainer.stop()
        await auditor.drain()
        await publisher.close(SHUTDOWN_FLUSH_SECS)  # unsent events stay in the spool
        store.close()

    app = _Gateway(
        routes=[
            Route("/webhooks/{source}", _Endpoint(webhook), methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_page, methods=["GET"]),
            *admin.routes(config, clock, admin.Ops(store, pipeline, publisher, reloader, metrics,
                                                          drainer.wake)),
        ],
        middleware=[
            Middleware(Observe, metrics=metrics),  # outermost: counts and logs every webhook once
            Middleware(Guard, pipeline=pipeline, config=config),  # abuse limits
        ],
        lifespan=lifespan,
    )
    app.webhooks = Observe(_Last(Guard(webhook, pipeline=pipeline, config=config, deliver=deliver)),
                           metrics=metrics)
    app.state.pipeline = pipeline
    app.state.store = store
    app.state.drainer = drainer
    app.state.metrics = metrics
    app.state.reloader = reloader
    return app


def _on_sighup(reload: Callable[[], None]) -> Callable[[], None]:
    """SIGHUP reloads the configuration in-process (gateway.reload); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # test clients run the app in a thread; only the main thread has signals
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, reload)

    def undo() -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    return undo


def _chain_stop_signals(stopping: threading.Event) -> None:
    """Mark the app as stopping (/readyz 503) the moment SIGTERM/SIGINT arrives, before the server
    finishes in-flight requests, then let the server's own handler run."""
    if threading.current_thread() is not threading.main_thread():
        return  # test clients run the app in a thread; only the main thread has signals
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(sig)
        if not callable(previous):
            continue

        def handler(signum: int, frame: object, previous: Callable[..., object] = previous) -> None:
            stopping.set()
            previous(signum, frame)

        signal.signal(sig, handler)
