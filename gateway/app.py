"""HTTP: the Starlette app. `/webhooks/*` goes to its one path (gateway.guard); the operational
endpoints and the admin API go through Starlette's routes.

Built by `create_app(config, publisher=..., store=..., auditor=..., metrics=...)`: no module-level
state and nothing read from the environment, so tests build what they need.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import admin, logs
from gateway.answers import respond
from gateway.audit import Auditor, install_salt, secret_values
from gateway.auditchain import Chain, key_from_secret
from gateway.auditlog import AuditLog
from gateway.config import Config
from gateway.drain import Drainer
from gateway.guard import HEAD_TOO_LARGE_KEY, Guard
from gateway.httpproto import DeadlineProtocol
from gateway.metrics import CONTENT_TYPE, Metrics, SpoolCollector
from gateway.observe import Observe
from gateway.outcome import UNAVAILABLE
from gateway.pipeline import Pipeline
from gateway.publish import CONNECTING, REACHABLE, Publisher
from gateway.publish.backend import kafka_publisher
from gateway.reload import Reloader
from gateway.sources import topics
from gateway.store import Store

log = logging.getLogger("gateway.http")
_encode = msgspec.json.Encoder().encode
SHUTDOWN_FLUSH_SECS = 10.0
WEBHOOKS = "/webhooks/"


class _Gateway(Starlette):
    """Starlette, with every request to `/webhooks/*` (and every request whose head was too large)
    dispatched straight to the webhook stack (observe -> last resort -> guard, which answers it):
    one path for a webhook, without the router, the exception layers and the Request/Response
    objects (docs/benchmarks.md). Everything else goes through Starlette's routes."""

    webhooks: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["path"].startswith(WEBHOOKS)
                                        or HEAD_TOO_LARGE_KEY in scope.get("extensions", {})):
            scope["app"] = self
            await self.webhooks(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class _Last:
    """The webhook stack's last resort, as Starlette's ServerErrorMiddleware: an unexpected error
    is logged and answered 503 with Retry-After (if nothing was sent yet), never a dropped
    connection: the event is not safe, so the provider must keep it and retry."""

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
                await respond(send, UNAVAILABLE, close=True)


def local_store(config: Config, clock: Callable[[], float] = time.time) -> Store:
    """The host's store under `storage.path`, as the configuration sizes it."""
    storage = config.storage
    return Store(storage.path / "gateway.db", window_secs=storage.dedupe_window_secs,
                 max_entries=storage.dedupe_max_entries, clock=clock,
                 history_retention_secs=storage.history_retention_secs,
                 history_max_rows=storage.history_max_rows)


def local_auditor(config: Config, publisher: Publisher) -> Auditor:
    """The audit log under `storage.path`, shipped to `{prefix}.rejected`. The redaction comes
    with each record from the pipeline's current runtime (gateway.runtime)."""
    storage, audit = config.storage, config.audit
    key = key_from_secret(audit.checkpoint_key.reveal()) if audit.checkpoint_key else None
    chain = Chain(audit.replica or socket.gethostname(), key, audit.checkpoint_every_secs,
                  audit.checkpoint_every_records)
    return Auditor(f"{config.kafka.topic_prefix}.rejected", publisher, install_salt(storage.path),
                   frozenset(), auditlog=AuditLog(storage.path / "audit", chain=chain))


def create_app(config: Config, publisher: Publisher | None = None,
               clock: Callable[[], float] = time.time, *, store: Store | None = None,
               auditor: Auditor | None = None, metrics: Metrics | None = None) -> Starlette:
    """The app, from its collaborators; those not given are built from `config` (a producer in
    this process: `serve` passes the host's publisher process instead)."""
    if publisher is None:
        publisher = kafka_publisher(config)
    storage = config.storage
    store = store or local_store(config, clock)
    metrics = metrics or Metrics(config.sources)
    auditor = auditor or local_auditor(config, publisher)
    drainer = Drainer(store, publisher, storage.path / "drain.lock", metrics)
    pipeline = Pipeline(config, publisher, auditor, store, clock=clock, on_spooled=drainer.wake,
                        metrics=metrics)
    metrics.known = lambda: pipeline.runtime.sources  # labels follow reloads
    reloader = Reloader(config, pipeline, metrics)
    spool_gauges = SpoolCollector(store.depth, clock)
    stopping = threading.Event()
    guard = Guard(pipeline, config)
    metrics.watch_store(store)
    DeadlineProtocol.on_cut = metrics.slow_client  # the process's one metrics (one app a worker)

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
            "in_flight": guard.in_flight,
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
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_page, methods=["GET"]),
            *admin.routes(config, clock, admin.Ops(store, pipeline, publisher, reloader, metrics,
                                                          drainer.wake)),
        ],
        lifespan=lifespan,
    )
    app.webhooks = Observe(_Last(guard), metrics=metrics)  # outermost: counts and logs each once
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
