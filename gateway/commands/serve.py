"""`webhook-gateway serve --config FILE [--host H] [--port P] [--workers N] [--log-format json]`.

SIGHUP reloads the configuration's sources without a restart (gateway.reload): in-process with one
worker; with several, the supervisor checks the file and forwards SIGHUP to every worker (uvicorn's
own supervisor would restart them, and a bad file would then stop them from starting).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator

import uvicorn
from uvicorn.supervisors import Multiprocess

from gateway import httpproto, logs, uvicorn_compat
from gateway.config import Config, load_config
from gateway.errors import ConfigError
from gateway.metrics import MULTIPROC_ENV, clear_multiprocess_dir
from gateway.publish.backend import SOCKET_ENV
from gateway.publish.supervisor import PublisherProcess
from gateway.reload import WORKERS_ENV
from gateway.store import Store, StoreError

log = logging.getLogger("gateway.serve")

# Bounded shutdown: SIGTERM stops accepting, waits this long for in-flight requests, then the app
# flushes the producer (bounded too) and leaves what is unsent in the spool.
GRACEFUL_SHUTDOWN_SECS = 15
LEVELS = ("debug", "info", "warning", "error")


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("serve", help="run the gateway", description=__doc__)
    cmd.add_argument("--config", required=True, metavar="FILE", help="the YAML configuration")
    cmd.add_argument("--host", help="listen address (overrides listen.host)")
    cmd.add_argument("--port", type=int, help="listen port (overrides listen.port)")
    cmd.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    cmd.add_argument("--log-level", default=os.environ.get(logs.LEVEL_ENV) or "info",
                     choices=LEVELS,
                     help=f"info (default, or ${logs.LEVEL_ENV}) writes a line per webhook; warning"
                          " keeps notable events only, for about a tenth more webhooks/s per core"
                          " (requests still reach the metrics, event history and audit log)")
    cmd.add_argument("--log-format", choices=logs.FORMATS,
                     default=os.environ.get(logs.FORMAT_ENV) or "text",
                     help=f"text for a terminal (default, or ${logs.FORMAT_ENV}), json for a log"
                          " collector: one object a line")
    cmd.set_defaults(run=run)


def app_factory():  # noqa: ANN201 - uvicorn's factory protocol: each worker loads the config anew
    from gateway.app import create_app
    from gateway.publish.backend import worker_publisher

    logs.configure()  # a spawned worker starts with no logging set up: from the environment
    config = load_config(os.environ["WEBHOOK_GATEWAY_CONFIG"])
    app = create_app(config, worker_publisher(config))  # the host's publisher process, if started
    _tune_gc()
    return app


def _tune_gc() -> None:
    """The cyclic GC took about a tenth of a worker's CPU under load: it kept re-scanning the
    start-up objects (modules, config, app) and ran a young collection every 700 allocations (a
    webhook makes a few hundred). Freeze what exists now and collect less often; garbage cycles
    still go within a few thousand requests, so memory stays flat (bench/run.py --soak)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def run(args: argparse.Namespace) -> int:
    if args.log_level not in LEVELS:  # argparse checks a value given, not one from the environment
        raise ConfigError(f"${logs.LEVEL_ENV}: {args.log_level!r} is not one of {', '.join(LEVELS)}")
    config = load_config(args.config)  # fail here, before any worker starts, with one message
    serve(config, args.host, args.port, args.workers, args.log_level, args.log_format, hard_exit=True)
    return 0


def check_storage(config: Config) -> None:
    """The spool must be usable before we accept anything: say so now, not on the first outage."""
    store = Store(config.storage.path / "gateway.db", expire_every_secs=None)  # only opened
    try:
        store.open()
    except StoreError as exc:
        raise ConfigError(f"storage.path: {exc}") from None
    finally:
        store.close()


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after a graceful shutdown (so the process dies by the signal);
    a gateway that shut down cleanly exits 0 instead. What this relies on of uvicorn.Server is
    listed and checked in gateway/uvicorn_compat.py."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


class _Supervisor(Multiprocess):
    """SIGHUP: check the file, then let every worker reload itself (gateway.reload). What this
    relies on of Multiprocess is listed and checked in gateway/uvicorn_compat.py."""

    def handle_hup(self) -> None:
        try:
            load_config(os.environ["WEBHOOK_GATEWAY_CONFIG"])
        except ConfigError as exc:
            log.error("reloading the configuration: %s; the previous configuration keeps serving", exc)
            return
        for process in self.processes:
            if process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGHUP)


def serve(config: Config, host: str | None, port: int | None, workers: int = 1,
          log_level: str = "info", log_format: str = "text", hard_exit: bool = False) -> None:
    os.environ[logs.LEVEL_ENV], os.environ[logs.FORMAT_ENV] = log_level, log_format  # for workers
    logs.configure(log_level, log_format)
    uvicorn_compat.check()  # the protocol and the overrides below fit the installed uvicorn
    check_storage(config)
    assert config.path is not None
    os.environ["WEBHOOK_GATEWAY_CONFIG"] = str(config.path.resolve())
    os.environ[WORKERS_ENV] = str(workers)
    if workers > 1:
        # Before any worker imports prometheus-client: each writes its samples there (gateway.metrics).
        os.environ[MULTIPROC_ENV] = clear_multiprocess_dir(config.storage.path / "metrics")
    os.environ[httpproto.ENV] = str(config.limits.read_timeout_secs)  # read by every worker
    os.environ[httpproto.HEAD_ENV] = str(config.limits.max_header_bytes)
    uv_config = uvicorn.Config(
        "gateway.commands.serve:app_factory",
        factory=True,
        host=host or config.listen.host,
        port=port if port is not None else config.listen.port,
        workers=workers,
        log_level=log_level,
        log_config=None,  # gateway.logs formats uvicorn's records too (text or JSON)
        http="gateway.httpproto:DeadlineProtocol",  # httptools + a request deadline (SECURITY.md)
        limit_concurrency=config.limits.max_connections,
        loop="uvloop",
        lifespan="on",
        access_log=False,
        server_header=False,
        # X-Forwarded-For is the guard's to read, from `trusted_proxies` only (SECURITY.md):
        # uvicorn's own middleware would believe it from 127.0.0.1 whatever the configuration says.
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECS,
    )
    publisher = None
    if config.kafka.publisher == "process":
        publisher = PublisherProcess(os.environ["WEBHOOK_GATEWAY_CONFIG"]).start()
        os.environ[SOCKET_ENV] = publisher.socket
    try:
        if workers > 1:
            # The workers share the host's store (one drains at a time) and its publisher process.
            _Supervisor(uv_config, sockets=[uv_config.bind_socket()]).run()
            return
        server = _Server(uv_config)
        server.run()
    finally:
        if publisher is not None:  # after the workers: their last records still get answers
            publisher.stop()
            os.environ.pop(SOCKET_ENV, None)
    if not server.started:
        raise SystemExit(3)  # start-up failed; uvicorn has logged why
    if hard_exit:
        # The app has shut down cleanly: the store is closed and committed, the producer flushed.
        # Skip interpreter finalisation, where a client library's daemon thread still blocked in
        # a socket call (kafka-python after a broker stall) has been seen to crash the process.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
