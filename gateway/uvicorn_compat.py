"""Every part of uvicorn the gateway relies on beyond its documented options, with the version it
was checked against; `check()` runs when `serve` starts, and tests/unit/test_uvicorn_compat.py
fails when uvicorn's shape changes.

uvicorn offers no deadline on receiving a request and no bound on a request's head while it
arrives (SECURITY.md): gateway/httpproto.py subclasses its httptools protocol for both. `serve`
(gateway/commands/serve.py) subclasses its Server, so that a clean shutdown on SIGTERM exits 0
instead of re-raising the signal, and its Multiprocess supervisor, so that SIGHUP checks the file
and reloads every worker instead of restarting them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

UVICORN_CHECKED = "0.54.0"  # the version these were read in, and pyproject.toml's pin

# What gateway.httpproto.DeadlineProtocol overrides (calling uvicorn's own) -> the parameters
# uvicorn's has. Each override must still be called where uvicorn calls its own.
PROTOCOL_METHODS = {
    "__init__": ["self", "config", "server_state", "app_state", "_loop"],
    "connection_made": ["self", "transport"],
    "data_received": ["self", "data"],
    "connection_lost": ["self", "exc"],
    "on_message_begin": ["self"],
    "on_headers_complete": ["self"],
    "on_message_complete": ["self"],
}
# What it reads of the protocol's state -> the uvicorn method that sets it: the event loop, the
# ASGI app, the httptools parser (get_method() of a head cut short), the server's set of tasks
# (the 431 answer is one of them), the transport and client address of the connection, and the
# scope and URL of the request arriving.
PROTOCOL_ATTRIBUTES = {
    "loop": "__init__", "app": "__init__", "parser": "__init__", "tasks": "__init__",
    "transport": "connection_made", "client": "connection_made",
    "scope": "on_message_begin", "url": "on_message_begin",
}
# serve's _Server overrides capture_signals (a context manager around serving, given the
# signal handler handle_exit) and reads `started`; its _Supervisor overrides handle_hup and reads
# `processes` (each with a pid).
SERVER_METHODS = {
    "capture_signals": ["self"],
    "handle_exit": ["self", "sig", "frame"],
    "run": ["self", "sockets"],
}
SUPERVISOR_METHODS = {
    "__init__": ["self", "config", "sockets"],
    "handle_hup": ["self"],
    "run": ["self"],
}
SUPERVISOR_ATTRIBUTES = {"processes": "__init__"}
SERVER_ATTRIBUTES = {"started": "__init__"}
# The options `serve` passes to uvicorn.Config (documented ones, but a rename would break start-up).
CONFIG_OPTIONS = ["app", "host", "port", "loop", "http", "lifespan", "log_config", "log_level",
                  "access_log", "proxy_headers", "server_header", "workers", "limit_concurrency",
                  "timeout_graceful_shutdown", "factory"]


def _methods(owner: type, expected: dict[str, list[str]]) -> list[str]:
    gaps = []
    for name, parameters in expected.items():
        method = getattr(owner, name, None)
        method = inspect.unwrap(method) if callable(method) else None  # capture_signals: a contextmanager
        if method is None or list(inspect.signature(method).parameters) != parameters:
            gaps.append(f"{owner.__name__}.{name}({', '.join(parameters)})")
    return gaps


def _attributes(owner: type, expected: dict[str, str]) -> list[str]:
    """An attribute is set where expected if that method's code still names it."""
    gaps = []
    for attribute, where in expected.items():
        method: Callable[..., object] | None = getattr(owner, where, None)
        code = getattr(inspect.unwrap(method), "__code__", None) if method is not None else None
        if code is None or attribute not in code.co_names:
            gaps.append(f"{owner.__name__}.{attribute} (set by {where})")
    return gaps


def missing() -> list[str]:
    """What the gateway relies on and the installed uvicorn does not have as it was read."""
    options = inspect.signature(uvicorn.Config.__init__).parameters
    return ([f"Config({name}=...)" for name in CONFIG_OPTIONS if name not in options]
            + _methods(HttpToolsProtocol, PROTOCOL_METHODS)
            + _attributes(HttpToolsProtocol, PROTOCOL_ATTRIBUTES)
            + _methods(uvicorn.Server, SERVER_METHODS)
            + _attributes(uvicorn.Server, SERVER_ATTRIBUTES)
            + _methods(Multiprocess, SUPERVISOR_METHODS)
            + _attributes(Multiprocess, SUPERVISOR_ATTRIBUTES))


def check() -> None:
    """Raise RuntimeError, naming every gap, unless all of the above is there."""
    gaps = missing()
    if gaps:
        raise RuntimeError(
            f"uvicorn {uvicorn.__version__} is installed, but the gateway was checked against "
            f"{UVICORN_CHECKED} (pyproject.toml pins it) and relies on parts it lacks or has "
            "changed: " + "; ".join(gaps) + " (see gateway/uvicorn_compat.py)")
