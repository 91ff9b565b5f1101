"""uvicorn's shape, as gateway/httpproto.py and gateway/commands/serve.py rely on it
(gateway/uvicorn_compat.py): these fail when an upgrade moves, renames or stops calling a part."""

from __future__ import annotations

import asyncio
import re
import signal
import tomllib
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from uvicorn.supervisors import multiprocess

from gateway import uvicorn_compat
from gateway.guard import ARRIVED_KEY, DEADLINE_KEY
from gateway.httpproto import DeadlineProtocol
from gateway.uvicorn_compat import UVICORN_CHECKED

ROOT = Path(__file__).resolve().parents[2]


def test_the_pinned_uvicorn_is_the_one_checked_and_has_everything() -> None:
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"uvicorn[standard]=={UVICORN_CHECKED}" in pins
    assert uvicorn.__version__ == UVICORN_CHECKED
    assert uvicorn_compat.missing() == []
    uvicorn_compat.check()  # does not raise


def test_every_overridden_protocol_method_is_listed() -> None:
    """A new override in DeadlineProtocol must be listed (and so checked) too."""
    own = {name for name, value in vars(DeadlineProtocol).items()
           if callable(value) and hasattr(HttpToolsProtocol, name)}
    assert own == set(uvicorn_compat.PROTOCOL_METHODS)


def test_a_changed_method_fails_naming_it_and_both_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    def on_message_begin(self: Any, parser: Any) -> None:  # a new parameter
        return None

    monkeypatch.setattr(uvicorn, "__version__", "9.9.9")
    monkeypatch.setattr(HttpToolsProtocol, "on_message_begin", on_message_begin)
    monkeypatch.delattr(uvicorn.Server, "capture_signals")
    with pytest.raises(RuntimeError) as raised:
        uvicorn_compat.check()
    message = str(raised.value)
    assert "uvicorn 9.9.9 is installed" in message
    assert f"checked against {UVICORN_CHECKED}" in message
    assert "HttpToolsProtocol.on_message_begin(self)" in message
    assert "Server.capture_signals(self)" in message


def test_an_attribute_no_longer_set_where_listed_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def on_message_begin(self: Any) -> None:  # no longer sets self.url
        self.scope = {}

    monkeypatch.setattr(HttpToolsProtocol, "on_message_begin", on_message_begin)
    assert uvicorn_compat.missing() == ["HttpToolsProtocol.url (set by on_message_begin)"]


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("192.0.2.7", 40000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def write(self, data: Any) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def protocol(kind: type[HttpToolsProtocol], app: Any) -> HttpToolsProtocol:
    config = uvicorn.Config(app, http="gateway.httpproto:DeadlineProtocol", log_config=None)
    config.load()
    assert config.http_protocol_class is DeadlineProtocol  # what serve's `http=` import string names
    return kind(config=config, server_state=ServerState(), app_state={},
                _loop=asyncio.get_running_loop())


def test_the_protocol_sets_what_httpproto_reads_where_listed() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    async def scenario() -> None:
        proto = protocol(HttpToolsProtocol, app)
        assert proto.loop is asyncio.get_running_loop()
        assert proto.app is not None and isinstance(proto.tasks, set)
        transport = Transport()
        proto.connection_made(transport)
        assert (proto.transport, proto.client) == (transport, ("192.0.2.7", 40000))
        proto.data_received(b"POST /webhooks/iof?x=1 HTTP/1.1\r\nHost: a\r\nX-Long: ")  # head cut short
        assert proto.url == b"/webhooks/iof?x=1"
        assert isinstance(proto.scope, dict) and proto.scope["type"] == "http"
        assert proto.parser.get_method() == b"POST"
        proto.connection_lost(None)

    asyncio.run(scenario())


def test_uvicorn_calls_the_deadline_protocols_hooks_for_a_request() -> None:
    """on_message_begin, on_headers_complete and on_message_complete are still httptools'
    callbacks: the app sees the deadline and, once the body is in, that it has arrived."""
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(dict(scope["extensions"]))
        await receive()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def scenario() -> None:
        proto = protocol(DeadlineProtocol, app)
        transport = Transport()
        proto.connection_made(transport)
        proto.data_received(b"POST /webhooks/iof HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}")
        await asyncio.gather(*proto.tasks)
        assert transport.written.startswith(b"HTTP/1.1 204 ")
        proto.connection_lost(None)

    asyncio.run(scenario())
    [extensions] = seen
    assert extensions[DEADLINE_KEY] > 0
    assert extensions[ARRIVED_KEY] == [True]


def test_the_server_still_serves_inside_capture_signals_and_the_supervisor_dispatches_hup() -> None:
    """serve's _Server replaces capture_signals (no signal re-raised after a clean shutdown), and
    _Supervisor handle_hup (a reload): both only matter while uvicorn still calls them."""
    assert "capture_signals" in uvicorn.Server.serve.__code__.co_names
    assert multiprocess.SIGNALS[signal.SIGHUP] == "HUP"  # -> getattr(self, "handle_hup")
    assert re.search(r'getattr\(self, f"handle_\{sig_name.lower\(\)\}"',
                     Path(multiprocess.__file__).read_text())
