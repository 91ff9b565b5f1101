"""The last line of defence in gateway.logs: a configured secret that reaches a log record (a
library echoing a config value, an exception's text) is printed as `[redacted]`, whichever part of
the record carries it; a record without one is printed as it was. The request line's short path
prints exactly what the record would have, and steps aside for a secret or another handler."""

from __future__ import annotations

import io
import json
import logging
import os
import select
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway import logs

SECRET = "whsec_s3cret-value-for-logs"


@pytest.fixture
def configure() -> Iterator[Callable[..., io.StringIO]]:
    """The gateway's logging in a format, printing to the returned buffer (or to `out`)."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)

    def configured(fmt: str, out: io.StringIO | None = None) -> io.StringIO:
        out = io.StringIO() if out is None else out
        logs.configure("info", fmt)
        gateway_handler().setStream(out)
        logs.redact_secrets([SECRET.encode(), b"abc"])  # too short to redact: it would mangle lines
        return out

    try:
        yield configured
    finally:
        root.handlers[:], root.level = saved


@pytest.fixture
def captured(configure: Callable[..., io.StringIO]) -> io.StringIO:
    return configure("json")


def only_the_gateways_handler() -> None:
    """As in a running gateway: pytest's own capture handler would send request lines the long way."""
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if h.get_name() == "gateway"]


FIELDS = {"request_id": "1f-abc-2", "source": "iof", "provider": "iof", "outcome": "published",
          "reason": None, "status": 200, "latency_ms": 1.234, "envelope_id": "evt_1"}


def gateway_handler() -> logs.Handler:
    return next(h for h in logging.getLogger().handlers if isinstance(h, logs.Handler))


def printed(out: io.StringIO) -> str:
    """What the gateway's handler has printed (its writer thread writes the lines)."""
    gateway_handler().flush()
    return out.getvalue()


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in printed(out).splitlines()]


def test_a_secret_in_the_message_its_arguments_or_an_extra_field_is_redacted(captured: io.StringIO) -> None:
    log = logging.getLogger("gateway.test")
    log.info(f"connecting with {SECRET}")
    log.info("connecting with %s", SECRET)
    log.info("rejected", extra={"detail": f"key={SECRET};", "status": 401})
    log.warning("failed: %s", ValueError(f"bad value {SECRET!r}"))
    assert SECRET not in printed(captured)
    first, second, third, fourth = lines(captured)
    assert first["msg"] == second["msg"] == "connecting with [redacted]"
    assert third["detail"] == "key=[redacted];" and third["status"] == 401
    assert fourth["msg"] == "failed: bad value '[redacted]'"


def test_a_record_without_a_secret_is_printed_unchanged(captured: io.StringIO) -> None:
    logging.getLogger("gateway.request").info(
        "webhook %s %s", "iof", "published",
        extra={"request_id": "1f-abc-2", "source": "iof", "reason": None, "status": 200, "note": "abc-ish"})
    (line,) = lines(captured)
    assert line["msg"] == "webhook iof published" and line["logger"] == "gateway.request"
    assert line["request_id"] == "1f-abc-2" and line["status"] == 200 and line["note"] == "abc-ish"
    assert line["level"] == "info" and "reason" in line


@pytest.mark.parametrize("fmt", logs.FORMATS)
def test_the_short_request_line_prints_what_the_record_would(
        configure: Callable[..., io.StringIO], fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    out = configure(fmt)
    only_the_gateways_handler()
    made = []
    make_record = logging.Logger.makeRecord
    monkeypatch.setattr(logging.Logger, "makeRecord",
                        lambda self, *args, **kwargs: made.append(args[1]) or make_record(self, *args, **kwargs))
    log = logging.getLogger("gateway.request")
    # a millisecond's edge, and a new second after the first (the second's text is kept)
    for now in (1_700_000_000.999, 1_700_000_000.0005, 1_700_003_599.5071):
        monkeypatch.setattr(time, "time", lambda now=now: now)
        logs.request_line(log, "webhook iof published", FIELDS)
        assert made == []  # no LogRecord: the short path
        log.info("webhook iof published", extra=FIELDS)
        assert len(made) == 1
        made.clear()
    printed_lines = printed(out).splitlines()
    assert len(printed_lines) == 6
    for short, record in zip(printed_lines[::2], printed_lines[1::2], strict=True):
        assert short == record
    assert len(set(printed_lines)) == 3
    if fmt == "json":
        assert json.loads(printed_lines[0])["ts"] == "2023-11-14T22:13:20.999Z"
        assert json.loads(printed_lines[0])["reason"] is None and json.loads(printed_lines[0])["status"] == 200
    else:
        assert printed_lines[0].endswith(" INFO gateway.request: webhook iof published request_id=1f-abc-2 source=iof"
                                         " provider=iof outcome=published status=200 latency_ms=1.234 envelope_id=evt_1")


def test_a_request_line_holding_a_secret_takes_the_record_s_path_and_is_redacted(captured: io.StringIO) -> None:
    only_the_gateways_handler()
    logs.request_line(logging.getLogger("gateway.request"), "webhook iof published",
                      {**FIELDS, "envelope_id": f"evt_{SECRET}"})
    (line,) = lines(captured)
    assert SECRET not in printed(captured)
    assert line["envelope_id"] == "evt_[redacted]" and line["request_id"] == "1f-abc-2"


def test_another_handler_gets_the_request_line_as_a_record(captured: io.StringIO) -> None:
    seen: list[logging.LogRecord] = []
    other = logging.Handler()
    other.emit = seen.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(other)
    logs.request_line(logging.getLogger("gateway.request"), "webhook iof published", FIELDS)
    (record,) = seen
    assert record.getMessage() == "webhook iof published" and record.request_id == "1f-abc-2"  # type: ignore[attr-defined]
    assert lines(captured)[0]["request_id"] == "1f-abc-2"  # and the gateway's handler printed it too


class Stalled(io.StringIO):
    """A stream whose reader has stopped: a write blocks until `resume` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.resume = threading.Event(), threading.Event()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.entered.set()
        assert self.resume.wait(10)
        self.writes.append(text)
        return super().write(text)


def test_a_stalled_stream_holds_lines_up_to_a_bound_and_then_says_how_many_it_dropped(
        configure: Callable[..., io.StringIO], monkeypatch: pytest.MonkeyPatch) -> None:
    stream = Stalled()
    configure("json", stream)
    only_the_gateways_handler()
    monkeypatch.setattr(logs, "MAX_PENDING", 5)
    log = logging.getLogger("gateway.request")
    logs.request_line(log, "webhook 0", FIELDS)
    assert stream.entered.wait(10)  # the writer is blocked in the stream: the caller is not
    for n in range(1, 9):
        logs.request_line(log, f"webhook {n}", FIELDS)
    log.info("webhook 9")
    stream.resume.set()
    printed_lines = lines(stream)
    assert [line["msg"] for line in printed_lines[:6]] == [f"webhook {n}" for n in range(6)]
    assert printed_lines[6]["level"] == "warning"
    assert printed_lines[6]["msg"] == "4 log lines dropped: the log stream was not taking them"
    assert len(printed_lines) == 7


def test_lines_are_written_whole_in_writes_a_pipe_keeps_atomic(
        configure: Callable[..., io.StringIO]) -> None:
    """Workers and the publisher process share one stderr: a write of at most PIPE_BUF bytes to a
    pipe is never interleaved with another process's."""
    stream = Stalled()
    configure("text", stream)
    stream.resume.set()
    only_the_gateways_handler()
    log = logging.getLogger("gateway.request")
    for n in range(200):
        logs.request_line(log, f"webhook {n} ünïcode", FIELDS)
    printed_lines = printed(stream).splitlines()
    assert [line.split(": ", 1)[1].split(" request_id")[0] for line in printed_lines] == [
        f"webhook {n} ünïcode" for n in range(200)]
    assert all(write.endswith("\n") and len(write.encode()) <= select.PIPE_BUF for write in stream.writes)
    assert len(stream.writes) < 200  # gathered, not one write per line


def test_a_forked_child_writes_its_lines_with_a_writer_of_its_own(
        configure: Callable[..., io.StringIO], tmp_path: Path) -> None:
    """The parent's writer thread does not exist in a child forked from it (nor may its lock)."""
    with (tmp_path / "stderr").open("a", encoding="utf-8") as stream:
        configure("text", stream)
        only_the_gateways_handler()
        log = logging.getLogger("gateway.request")
        logs.request_line(log, "webhook from the parent", FIELDS)  # the parent's writer starts
        gateway_handler().flush()
        child = os.fork()
        if child == 0:
            try:
                logs.request_line(log, "webhook from the child", FIELDS)
                gateway_handler().flush()
            finally:
                os._exit(0)
        assert os.waitpid(child, 0)[1] == 0
    written = [line.split(": ", 1)[1].split(" request_id")[0]
               for line in (tmp_path / "stderr").read_text(encoding="utf-8").splitlines()]
    assert written == ["webhook from the parent", "webhook from the child"]
