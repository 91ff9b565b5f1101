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

Lines are formatted by the caller and written by the standard library's QueueListener thread
(the handler is a QueueHandler), so a log reader that stalls (a full pipe to a slow collector)
never stalls the event loop: webhooks keep being answered. The queue is bounded: past MAX_PENDING
lines waiting, new lines are dropped and counted, and a warning says how many once the stream
takes lines again. What the library does not do is kept here: the listener's handler gathers
lines and writes them whole in writes of at most PIPE_BUF (so processes sharing a stderr never
interleave mid-line), and a forked child starts a listener of its own.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import queue
import select
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TextIO

from gateway.logformat import STANDARD, JsonFormatter, TextFormatter, msecs

__all__ = ["FORMATS", "Handler", "JsonFormatter", "Redact", "TextFormatter", "configure", "redact_secrets",
           "request_line"]

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
class Handler(logging.handlers.QueueHandler):
    """The gateway's handler: records, and request lines formatted without a record. Both are
    formatted on the caller's thread (`prepare`), queued, and written by a QueueListener's
    thread (module doc). The queue is bounded: past MAX_PENDING lines, `enqueue` drops and
    counts instead of blocking the caller."""

    formatter: JsonFormatter | TextFormatter
    terminator = "\n"

    def __init__(self, stream: TextIO) -> None:
        super().__init__(queue.Queue())  # replaced by a bounded one with the first line
        self._writer = _Writer(stream, self)
        self._start_afresh()
        # A forked child has no listener thread, and the queue's lock may have been held by it
        # at the fork. (Asking `is_alive()` on every line instead cost about 1 µs per webhook.)
        handler = weakref.ref(self)

        def after_fork() -> None:
            if (alive := handler()) is not None:
                alive._start_afresh()

        os.register_at_fork(after_in_child=after_fork)

    def _start_afresh(self) -> None:
        self._listener: logging.handlers.QueueListener | None = None  # started by the first line
        self._writer.named = False
        self._lines: queue.Queue[str | threading.Event] = queue.Queue(MAX_PENDING)
        self._dropped = 0
        self._dropping = threading.Lock()

    @property
    def stream(self) -> TextIO:
        return self._writer.stream

    def setStream(self, stream: TextIO) -> TextIO:  # noqa: N802 -- logging.StreamHandler's name
        old, self._writer.stream = self._writer.stream, stream
        return old

    def prepare(self, record: logging.LogRecord) -> str:
        """The whole line, formatted here on the caller's thread (the listener only writes)."""
        return self.format(record) + self.terminator

    def line(self, name: str, message: str, fields: Mapping[str, object]) -> bool:
        """Write an INFO line as this handler would print the record -> False (nothing written)
        when a secret is in it: the caller then logs a record, which the Redact filter scrubs."""
        text = self.now("INFO", name, message, fields)
        for redact in self.filters:
            if not isinstance(redact, Redact) or redact.finds(text):
                return False
        self._put(text + self.terminator)
        return True

    def now(self, level: str, name: str, message: str, fields: Mapping[str, object]) -> str:
        """A line stamped now, as this handler's formatter prints a record made now."""
        stamp = time.time()
        return self.formatter.line(stamp, msecs(stamp), level, name, message, fields)

    def enqueue(self, record: logging.LogRecord) -> None:
        self._put(record)  # type: ignore[arg-type]  # a line: see prepare

    def _put(self, line: str) -> None:
        if self._listener is None:  # the first line (of this process: see _start_afresh)
            self.queue = self._lines = queue.Queue(MAX_PENDING)  # MAX_PENDING as it is now
            self._listener = logging.handlers.QueueListener(self._lines, self._writer)
            self._listener.start()
        try:
            if self._lines.maxsize <= 0:  # a bound of 0 holds nothing (to Queue, 0 is no bound)
                raise queue.Full
            self._lines.put_nowait(line)
        except queue.Full:
            with self._dropping:
                self._dropped += 1
            _count_dropped()

    def dropped(self) -> int:
        """Lines dropped since the last call (the writer says how many)."""
        with self._dropping:
            dropped, self._dropped = self._dropped, 0
        return dropped

    def flush(self) -> None:
        """Wait (up to FLUSH_SECS) until every line so far is written, then flush the stream."""
        if self._listener is not None:
            written = threading.Event()
            with contextlib.suppress(queue.Full):  # a stalled stream: as far as FLUSH_SECS goes
                self._lines.put(written, timeout=FLUSH_SECS)
                written.wait(FLUSH_SECS)
        with contextlib.suppress(OSError, ValueError):
            self._writer.stream.flush()


class _Writer(logging.Handler):
    """The QueueListener's handler: lines gathered while the queue has more, written in whole
    lines of at most PIPE_BUF bytes per write; then it rests GATHER_SECS so that lines gather
    (QueueListener itself takes one item per wake-up)."""

    def __init__(self, stream: TextIO, handler: Handler) -> None:
        super().__init__()
        self.stream = stream
        self.named = False  # the listener's thread, named as docs/architecture.md lists it
        self._handler = handler
        self._lines: list[str] = []

    def handle(self, record: logging.LogRecord) -> bool:
        item: object = record  # a line, or Handler.flush's event: see Handler.prepare
        if not self.named:
            threading.current_thread().name, self.named = "gateway-log-writer", True
        if isinstance(item, str):
            self._lines.append(item)
            if not self._handler._lines.empty():
                return True
        lines, self._lines = self._lines, []
        dropped = self._handler.dropped()
        if dropped:
            lines.append(self._handler.now("WARNING", __name__, f"{dropped} log lines dropped: the"
                                           " log stream was not taking them", {}) + "\n")
        with contextlib.suppress(OSError, ValueError):  # a broken or closed stream: nowhere to say so
            for chunk in _chunks(lines):
                self.stream.write(chunk)
                self.stream.flush()
        if isinstance(item, threading.Event):
            item.set()  # Handler.flush: written
        else:
            time.sleep(GATHER_SECS)
        return True


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
            if name not in STANDARD and isinstance(value, str) and self.finds(value):
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
