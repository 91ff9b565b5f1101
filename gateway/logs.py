"""Logging: one JSON object per line (`--log-format json`, for collectors) or plain text for a
terminal. Request lines come from gateway.observe; notable events (broker lost/regained, spool
draining, reloads) from the modules where they happen.

Nothing secret is logged: request lines carry ids, names and codes, never headers or bodies; and
as a last line of defence every configured secret value is replaced by `[redacted]` in whatever
a record would print (a library could echo a config value in an exception).

The request line, one per webhook, has a short path (`request_line`): when the gateway's own
handler is the only one that would see it, the line is formatted and written without a LogRecord,
exactly as the handler would print the record. Through `logging` it cost a worker 60-100 µs per
webhook, a fifth of its CPU or more (docs/benchmarks.md, "Request lines").

Lines are formatted by the caller and written by a thread of the handler's own, so a log reader
that stalls (a full pipe to a slow collector) never stalls the event loop: webhooks keep being
answered. Past MAX_PENDING lines waiting, new lines are dropped, and a warning says how many once
the stream takes lines again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TextIO

import msgspec

FORMAT_ENV = "WEBHOOK_GATEWAY_LOG_FORMAT"
LEVEL_ENV = "WEBHOOK_GATEWAY_LOG_LEVEL"
FORMATS = ("text", "json")
# Lines held while the stream does not take them (about 250 B each): a few seconds of a busy worker.
MAX_PENDING = 20_000
FLUSH_SECS = 2.0  # how long flush() (at exit) waits for a stalled stream
# After a write, the writer rests this long and lets lines gather: woken for every line instead,
# it cost a worker about 30 µs per webhook at `info` (docs/benchmarks.md, "Log lines off the
# event loop's thread").
GATHER_SECS = 0.02
_PIPE_BUF = getattr(select, "PIPE_BUF", 512)  # POSIX's least
_encode = msgspec.json.Encoder().encode
# LogRecord attributes that are not extra fields (anything else passed with extra= is emitted).
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "color_message"}  # uvicorn's ANSI-coloured copy of the message


class _Seconds:
    """A timestamp's text up to the second, kept for the current second (strftime is most of a
    line's formatting otherwise)."""

    def __init__(self, convert: Callable[[float | None], time.struct_time], fmt: str) -> None:
        self._convert, self._fmt = convert, fmt
        self._kept = (-1, "")  # one tuple, so a thread never pairs one second with another's text

    def __call__(self, created: float) -> str:
        second, text = self._kept
        if int(created) != second:
            text = time.strftime(self._fmt, self._convert(created))
            self._kept = (int(created), text)
        return text


def _extra(record: logging.LogRecord) -> dict[str, object]:
    """The fields passed with `extra=`."""
    return {name: value for name, value in record.__dict__.items()
            if name not in _STANDARD and not name.startswith("_")}


def _msecs(created: float) -> int:
    return int((created - int(created)) * 1000)  # as LogRecord computes `msecs`


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._seconds = _Seconds(time.gmtime, "%Y-%m-%dT%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        fields = _extra(record)
        if record.exc_info:
            fields["error"] = self.formatException(record.exc_info)
        return self.line(record.created, int(record.msecs), record.levelname, record.name,
                         record.getMessage(), fields)

    def line(self, created: float, msecs: int, level: str, name: str, message: str,
             fields: Mapping[str, object]) -> str:
        return _encode({"ts": f"{self._seconds(created)}.{msecs:03d}Z", "level": level.lower(),
                        "logger": name, "msg": message, **fields}).decode()


class TextFormatter(logging.Formatter):
    """`time level logger: message key=value ...` for a terminal."""

    def __init__(self) -> None:
        super().__init__()
        self._seconds = _Seconds(time.localtime, self.default_time_format)  # logging's asctime

    def format(self, record: logging.LogRecord) -> str:
        text = self.line(record.created, int(record.msecs), record.levelname, record.name,
                         record.getMessage(), _extra(record))
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        if record.stack_info:
            text = f"{text}\n{self.formatStack(record.stack_info)}"
        return text

    def line(self, created: float, msecs: int, level: str, name: str, message: str,
             fields: Mapping[str, object]) -> str:
        extra = " ".join([f"{k}={v}" for k, v in fields.items() if v is not None])
        text = f"{self._seconds(created)},{msecs:03d} {level} {name}: {message}"
        return f"{text} {extra}" if extra else text


class Handler(logging.StreamHandler[TextIO]):
    """The gateway's handler: records, and request lines formatted without a record. Both are
    formatted on the caller's thread and written by the handler's writer thread (module doc)."""

    formatter: JsonFormatter | TextFormatter

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._start_afresh()
        # A forked child has no writer thread, and the lock may have been held by it at the fork.
        # (Asking `is_alive()` on every line instead cost about 1 µs per webhook at `info`.)
        handler = weakref.ref(self)

        def after_fork() -> None:
            if (alive := handler()) is not None:
                alive._start_afresh()

        os.register_at_fork(after_in_child=after_fork)

    def _start_afresh(self) -> None:
        self._pending: list[str] = []  # in a child: the parent's lines, which the parent writes
        self._dropped = 0
        self._writing = False
        lock = threading.Lock()
        self._ready = threading.Condition(lock)  # the writer waits for lines
        self._idle = threading.Condition(lock)  # flush() waits for the writer
        self._writer: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # noqa: BLE001 -- as logging.StreamHandler.emit: report, never raise
            self.handleError(record)
            return
        self._put(text + self.terminator)

    def line(self, name: str, message: str, fields: Mapping[str, object]) -> bool:
        """Write an INFO line as this handler would print the record -> False (nothing written)
        when a secret is in it: the caller then logs a record, which the Redact filter scrubs."""
        text = self._line_now("INFO", name, message, fields)
        for redact in self.filters:
            if not isinstance(redact, Redact) or redact.finds(text):
                return False
        self._put(text + self.terminator)
        return True

    def _line_now(self, level: str, name: str, message: str, fields: Mapping[str, object]) -> str:
        """A line stamped now, as this handler's formatter prints a record made now."""
        now = time.time()
        return self.formatter.line(now, _msecs(now), level, name, message, fields)

    def _put(self, text: str) -> None:
        with self._ready:
            if len(self._pending) < MAX_PENDING:
                self._pending.append(text)
                if self._writer is None:  # the first line (of this process: see _start_afresh)
                    self._writer = threading.Thread(target=self._write, name="gateway-log-writer",
                                                    daemon=True)
                    self._writer.start()
                elif len(self._pending) == 1:
                    self._ready.notify()
                return
            self._dropped += 1
        _count_dropped()  # outside the lock: a metric takes its own

    def _write(self) -> None:
        while True:
            with self._ready:
                self._writing = False
                self._idle.notify_all()
                while not self._pending and not self._dropped:
                    self._ready.wait()
                lines, self._pending = self._pending, []
                dropped, self._dropped = self._dropped, 0
                self._writing = True
            if dropped:
                lines.append(self._line_now("WARNING", __name__, f"{dropped} log lines dropped: the"
                                            " log stream was not taking them", {}) + self.terminator)
            with contextlib.suppress(OSError, ValueError):  # a broken or closed stream: nowhere to say so
                for chunk in _chunks(lines):
                    self.stream.write(chunk)
                    self.stream.flush()
            time.sleep(GATHER_SECS)

    def flush(self) -> None:
        """Wait (up to FLUSH_SECS) until every line so far is written, then flush the stream."""
        with self._idle:
            self._idle.wait_for(lambda: not self._pending and not self._writing, FLUSH_SECS)
        super().flush()


_count_dropped: Callable[[], None] = lambda: None  # noqa: E731  # a hook, replaced below


def count_dropped_lines(count: Callable[[], None]) -> None:
    """Call `count` for each line dropped because the stream was not taking lines (a metric)."""
    global _count_dropped
    _count_dropped = count


def _chunks(lines: list[str]) -> Iterator[str]:
    """Whole lines joined into writes of at most PIPE_BUF bytes. Such a write to a pipe is atomic,
    so the lines of processes sharing a stderr (the workers, the publisher process) never
    interleave mid-line, as they did with one write per batch."""
    chunk: list[str] = []
    size = 0
    for line in lines:
        length = len(line) if line.isascii() else len(line.encode())
        if chunk and size + length > _PIPE_BUF:
            yield "".join(chunk)
            chunk, size = [], 0
        chunk.append(line)
        size += length
    if chunk:
        yield "".join(chunk)


def request_line(logger: logging.Logger, message: str, fields: Mapping[str, object]) -> None:
    """`logger.info(message, extra=fields)`, by the short path when only the gateway's handler
    would see the record (another handler, a filter, a test's capture: the usual path)."""
    root = logging.root
    handlers = root.handlers
    if len(handlers) == 1 and type(handler := handlers[0]) is Handler and not root.filters \
            and handler.level <= logging.INFO and logger.isEnabledFor(logging.INFO):
        node: logging.Logger | None = logger
        while node is not None and node is not root:
            if node.handlers or node.filters or not node.propagate:
                break
            node = node.parent
        else:
            if handler.line(logger.name, message, fields):
                return
    logger.info(message, extra=dict(fields))


class Redact(logging.Filter):
    """Replaces configured secret values in the formatted message and extra fields."""

    def __init__(self, secrets: Iterable[bytes]) -> None:
        super().__init__()
        self.secrets = tuple(s.decode("utf-8", "replace") for s in secrets if len(s) >= 4)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        # The common case, every webhook's line: no secret anywhere. One search per secret over
        # all the record's text at once, not one per field (this filter was a third of the line's cost).
        text = "\0".join([message, *(v for v in record.__dict__.values() if type(v) is str)])
        if not self.finds(text):
            return True
        if self.finds(message):
            record.msg, record.args = self._scrub(message), None
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD and isinstance(value, str) and self.finds(value):
                setattr(record, name, self._scrub(value))
        return True

    def finds(self, text: str) -> bool:
        """Whether a configured secret appears in `text`."""
        return any(s in text for s in self.secrets)

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[redacted]")
        return text


def configure(level: str | None = None, fmt: str | None = None) -> None:
    """Root logging for the process (each worker calls this; settings come via the environment
    from `serve`). Idempotent: a second call replaces the handler."""
    level = (level or os.environ.get(LEVEL_ENV) or "info").upper()
    fmt = fmt or os.environ.get(FORMAT_ENV) or "text"
    handler = Handler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.set_name("gateway")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "gateway"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Neither format prints where a call was made, nor thread or process names: not gathering them
    # takes a sixth off every record (the logging HOWTO's "Optimization" section).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    # kafka-python is chatty at INFO (every connection); its warnings are enough.
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # gateway.observe writes one line per webhook request (with its outcome); the access log would
    # repeat it with the client's address.
    logging.getLogger("uvicorn.access").propagate = False


def redact_secrets(secrets: Iterable[bytes]) -> None:
    """Install (or replace) the redacting filter on the gateway's handler(s)."""
    redact = Redact(secrets)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, Redact)]:
            handler.removeFilter(old)
        handler.addFilter(redact)
