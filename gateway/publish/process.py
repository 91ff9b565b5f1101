"""One publisher process per host: the Kafka client's per-record work off the workers' cores.

kafka-python spends about 100 µs of Python per record, and its I/O thread takes the GIL from the
worker's event loop (docs/benchmarks.md). With `kafka.publisher: process` (the default), `serve`
starts one child process that owns the producer (gateway.publish.kafka or .confluent, unchanged,
so every trap they handle is still handled), and each worker hands it records over a Unix socket:

    worker --Send(seq, record)--> publisher process --send()--> Kafka
    worker <--Acked(seq, partition, offset) | Failed(seq, reason)--   once the broker has answered
    worker <--Duplicate(seq, partition, offset)--     another worker's copy of its webhook was acked
    worker <--Status(connected, delivery timeout, connecting)--       on connect and on each change

What a 2xx means does not change: a worker answers 2xx only on an Acked for that record. The hop
adds one failure of its own, the publisher process going away: the socket closing fails every
record it had not acknowledged with Unavailable, so the pipeline spools them. One it did get into
Kafka before dying is then published again by the drainer, with the same envelope id (consumers
dedupe by id, docs/consumers.md). `serve` restarts the process; workers reconnect.

Frames: a 4-byte big-endian length, then a msgpack array (msgspec). What a side queues during one
turn of its event loop goes out in one write.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from functools import partial
from typing import TYPE_CHECKING, Any

import msgspec

from gateway.publish import (
    CONNECTING,
    REACHABLE,
    UNREACHABLE,
    Ack,
    AlreadyPublished,
    Backend,
    FirstAttempt,
    Record,
    Sending,
    Unavailable,
    ack_within,
)
from gateway.publish.claims import Claims, Key

if TYPE_CHECKING:
    from gateway.config import Config

log = logging.getLogger("gateway.kafka")

MAX_FRAME = 64 * 1024 * 1024  # a record is at most a few MB; anything larger is a broken peer
STATUS_EVERY_SECS = 0.1
# Linger in the publisher process, by client, unless the configuration sets `linger_ms`: shorter
# than a worker's own producer (5 ms), since here the I/O thread's wake-ups cost no worker CPU and
# answers come back sooner (docs/benchmarks.md).
PROCESS_LINGER_MS = {"kafka-python": 2, "confluent-kafka": 1}
# Whether a worker writes each record to the publisher process at once (an eager _Channel), by
# client. With kafka-python the path waits on the Kafka leg, and records that leave while the worker
# is still busy come back sooner: +17-27 % accepted/s. With confluent-kafka the worker's core is
# the limit, and a write per record costs it more than it saves (docs/benchmarks.md, fifth pass).
EAGER_WRITES = {"kafka-python": True, "confluent-kafka": False}
RECONNECT_MAX_SECS = 2.0
FLUSH_SECS = 10.0  # at shutdown, for the producer's records in flight


class Send(msgspec.Struct, array_like=True, tag=0):
    seq: int
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    claim: tuple[str, str] | None = None  # the webhook's (source, id): see gateway.publish.claims


class Acked(msgspec.Struct, array_like=True, tag=1):
    seq: int
    partition: int
    offset: int


class Failed(msgspec.Struct, array_like=True, tag=2):
    seq: int
    reason: str


class Status(msgspec.Struct, array_like=True, tag=3):
    connected: bool
    delivery_timeout_secs: float
    connecting: bool = False  # the producer's first connection attempt has not finished


class Duplicate(msgspec.Struct, array_like=True, tag=4):
    """Not sent: another worker's copy of the same claim was acknowledged there."""

    seq: int
    partition: int
    offset: int


Frame = Send | Acked | Failed | Status | Duplicate
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Frame).decode


class _Channel(asyncio.Protocol):
    """Length-prefixed frames both ways. By default the frames queued in one loop turn leave in
    one write(); an `eager` channel writes each frame at once.

    Why eager (a worker's channel, with kafka-python: EAGER_WRITES): a worker handles a burst of
    requests in one turn of its loop (the answers of a produce request come back together, so their
    senders' next requests arrive together). Batched, the first record of the burst waits until
    the last one is handled, and the whole burst reaches the producer at once, after the worker
    has gone idle; eager, the publisher process batches and sends while the worker is still busy.
    The publisher process's answers stay batched: they come from Kafka in batches anyway."""

    def __init__(self, received: Callable[[Any], None], eager: bool = False) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._received = received
        self._eager = eager
        self._buffer = bytearray()
        self._out: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self._out:  # written before the connection was made (a greeting)
            self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        while len(buffer) - start >= 4:
            size = int.from_bytes(buffer[start:start + 4], "big")
            if size > MAX_FRAME:
                log.error("publisher channel: a frame of %d bytes; closing the connection", size)
                self.close()
                return
            if len(buffer) - start - 4 < size:
                break
            frame = _decode(buffer[start + 4:start + 4 + size])
            start += 4 + size
            self._received(frame)
        del buffer[:start]

    def write(self, frame: Frame) -> None:
        body = _encode(frame)
        data = len(body).to_bytes(4, "big") + body
        if self._eager and self.transport is not None:  # nothing is queued then (see _flush)
            self.transport.write(data)
            return
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(data)

    def _flush(self) -> None:
        if self.transport is None:
            if self.closed.done():
                self._out.clear()
            return  # not connected yet: connection_made() sends it
        out, self._out = self._out, []
        if out:
            self.transport.write(b"".join(out))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


# -- the worker's side -------------------------------------------------------------------------


class ProcessPublisher:
    """The Publisher of a worker whose records go through the host's publisher process."""

    def __init__(self, socket_path: str, eager: bool = False) -> None:
        self._path = socket_path
        self._eager = eager  # each record written at once (see _Channel)
        self._channel: _Channel | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = False  # what the publisher process last said of its producer
        self._delivery_timeout = 30.0  # until the process says
        self._seq = 0
        # seq -> (future, topic, give-up time); in seq order, so give-up times are ascending
        self._pending: dict[int, tuple[asyncio.Future[Ack], str, float]] = {}
        self._closing = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # Done once the process has said its producer's first attempt finished, or the process
        # could not be reached at all.
        self._first = FirstAttempt()

    async def start(self, topics: Collection[str] = ()) -> None:
        """The publisher process learns its topics from the configuration itself."""
        self._loop = asyncio.get_running_loop()
        self._first.bind(self._loop)
        self._tasks = [self._loop.create_task(self._keep_connected()),
                       self._loop.create_task(self._expire())]

    @property
    def connected(self) -> bool:
        return self._connected and self._channel is not None

    @property
    def state(self) -> str:
        if not self._first.done and not self._closing.is_set():
            return CONNECTING
        return REACHABLE if self.connected else UNREACHABLE

    async def connecting(self, timeout: float) -> None:
        await self._first.wait(timeout)

    @property
    def delivery_timeout_secs(self) -> float:
        return self._delivery_timeout + 1.0

    def send(self, record: Record) -> Sending:
        channel, loop = self._channel, self._loop
        if channel is None or loop is None:
            raise Unavailable("the publisher process is not connected")
        self._seq += 1
        sending = Sending(loop.create_future())
        sending.mark_sent()  # written to the socket now: from here only an answer settles it
        self._pending[self._seq] = (sending.result, record.topic,
                                    time.monotonic() + self.delivery_timeout_secs)
        channel.write(Send(self._seq, record.topic, record.key, record.value, record.headers,
                           record.claim))
        return sending

    async def publish(self, record: Record, timeout: float) -> Ack:
        return await ack_within(self.send(record), record.topic, timeout)

    async def close(self, timeout: float) -> None:
        """Wait (bounded) for the answers to what was sent, then disconnect; what is still
        unanswered fails, and the pipeline keeps those events in the spool."""
        deadline = time.monotonic() + timeout
        while self._pending and self._channel is not None and time.monotonic() < deadline:
            futures = [future for future, _, _ in self._pending.values()]
            await asyncio.wait(futures, timeout=deadline - time.monotonic())
        self._closing.set()
        if self._channel is not None:
            self._channel.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._fail_pending("the publisher closed")

    def _received(self, frame: Any) -> None:
        if type(frame) is Acked:
            entry = self._pending.pop(frame.seq, None)
            if entry is not None and not entry[0].done():
                entry[0].set_result(Ack(entry[1], frame.partition, frame.offset))
        elif type(frame) is Failed:
            entry = self._pending.pop(frame.seq, None)
            if entry is not None and not entry[0].done():
                entry[0].set_exception(Unavailable(frame.reason))
        elif type(frame) is Duplicate:
            entry = self._pending.pop(frame.seq, None)
            if entry is not None and not entry[0].done():
                entry[0].set_exception(AlreadyPublished(Ack(entry[1], frame.partition, frame.offset)))
        elif type(frame) is Status:
            self._connected = frame.connected
            self._delivery_timeout = frame.delivery_timeout_secs
            if not frame.connecting:
                self._first.finish()

    def _fail_pending(self, why: str) -> None:
        pending, self._pending = self._pending, {}
        for future, _, _ in pending.values():
            if not future.done():
                future.set_exception(Unavailable(why))

    async def _keep_connected(self) -> None:
        assert self._loop is not None
        delay = 0.05
        while not self._closing.is_set():
            try:
                _, channel = await self._loop.create_unix_connection(
                    lambda: _Channel(self._received, self._eager), self._path)
            except OSError:
                self._first.finish()  # no publisher process: the spool takes events meanwhile
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay)
                delay = min(delay * 2, RECONNECT_MAX_SECS)
                continue
            delay = 0.05
            self._channel = channel
            log.info("connected to the publisher process")
            await channel.closed
            self._channel, self._connected = None, False
            self._fail_pending("lost the connection to the publisher process")
            if not self._closing.is_set():
                log.warning("lost the connection to the publisher process; reconnecting")

    async def _expire(self) -> None:
        """A record the process never answers for (it hangs) fails after the delivery timeout,
        as a record in an in-worker producer would."""
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            while self._pending:
                seq, (future, _, give_up) = next(iter(self._pending.items()))
                if give_up > now:
                    break
                del self._pending[seq]
                if not future.done():
                    future.set_exception(Unavailable("no answer from the publisher process"))


# -- the publisher process ---------------------------------------------------------------------


class _Worker:
    """One worker's connection: records in, answers out.

    Answers arrive on the producer's I/O thread, often a batch's worth in a row: they queue in a
    deque (thread-safe) and one call into the event loop writes all that came meanwhile, instead
    of an asyncio future per record settled through call_soon_threadsafe.
    """

    def __init__(self, backend: Backend, claims: Claims) -> None:
        self.channel = _Channel(self._received)
        self._backend = backend
        self._claims = claims  # shared by every worker's connection
        self._owned: dict[int, Key] = {}  # seq -> the claim this worker's record holds
        self._loop = asyncio.get_running_loop()
        self._answers: deque[Acked | Failed] = deque()
        self._relaying = False  # a _relay() is scheduled and has not started draining

    def _received(self, frame: Any) -> None:
        if type(frame) is not Send:
            return
        if frame.claim is not None:
            key = (frame.claim[0], frame.claim[1])
            if not self._claims.claim(key, partial(self._copy_settled, frame.seq)):
                return  # another copy is in flight or acknowledged: answered when it settles
            self._owned[frame.seq] = key
        record = Record(frame.topic, frame.key, frame.value, frame.headers)
        try:
            self._backend.hand(record, partial(self._answer, frame.seq))
        except Unavailable as exc:
            self._settle(frame.seq, None)
            self.channel.write(Failed(frame.seq, str(exc)))

    def _copy_settled(self, seq: int, ack: Ack | None) -> None:
        """The copy that owns this record's claim settled: a duplicate, or a failure (then each
        worker spools its own copy and the store keeps the first)."""
        if self.channel.transport is not None:
            self.channel.write(Duplicate(seq, ack.partition, ack.offset) if ack is not None
                               else Failed(seq, "another copy of this event failed"))

    def _settle(self, seq: int, ack: Ack | None) -> None:
        key = self._owned.pop(seq, None)
        if key is not None:
            self._claims.settle(key, ack)

    def _answer(self, seq: int, outcome: Ack | Unavailable) -> None:  # on any thread
        self._answers.append(Acked(seq, outcome.partition, outcome.offset) if type(outcome) is Ack
                             else Failed(seq, str(outcome)))
        if not self._relaying:
            self._relaying = True
            with contextlib.suppress(RuntimeError):  # the loop closed: the process is exiting
                self._loop.call_soon_threadsafe(self._relay)

    def _relay(self) -> None:
        self._relaying = False  # before draining: an answer appended from here on schedules anew
        answers = self._answers
        while answers:
            answer = answers.popleft()
            if self._owned:
                self._settle(answer.seq, Ack("", answer.partition, answer.offset)
                             if type(answer) is Acked else None)
            if self.channel.transport is not None:  # else the worker went away and has failed it
                self.channel.write(answer)


def process_backend(config: Config) -> Backend:
    """The configured producer, with this process's linger unless the configuration sets one."""
    from gateway.publish.backend import kafka_publisher

    return kafka_publisher(config, {"linger_ms": PROCESS_LINGER_MS[config.kafka.client]})


async def run(config_path: str, socket_path: str, stop: asyncio.Event) -> None:
    """Serve the workers of one host until `stop`; then flush (bounded) and return."""
    from gateway.config import load_config
    from gateway.sources import topics

    config = load_config(config_path)
    backend = process_backend(config)
    await backend.start(topics(config))
    try:
        await serve_workers(backend, socket_path, stop)
    finally:
        await backend.close(FLUSH_SECS)


async def serve_workers(backend: Backend, socket_path: str, stop: asyncio.Event) -> None:
    """Hand the records of every worker that connects to `backend`, and answer each; tell them
    whenever the backend's connection to Kafka changes."""
    loop = asyncio.get_running_loop()
    workers: set[_Worker] = set()
    claims = Claims()

    def status() -> Status:
        return Status(backend.connected, backend.delivery_timeout_secs,
                      backend.state == CONNECTING)

    def accept() -> _Channel:
        worker = _Worker(backend, claims)
        workers.add(worker)
        worker.channel.closed.add_done_callback(lambda _: workers.discard(worker))
        worker.channel.write(status())
        return worker.channel

    with contextlib.suppress(FileNotFoundError):
        os.unlink(socket_path)
    server = await loop.create_unix_server(accept, socket_path)
    log.info("publisher process %d serving the workers on %s", os.getpid(), socket_path)
    said = status()
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STATUS_EVERY_SECS)
            if (now := status()) != said:
                said = now
                for worker in list(workers):
                    worker.channel.write(now)
    finally:
        server.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(socket_path)


async def _until_stdin_closes(config_path: str, socket_path: str) -> None:
    """`serve` stops this process by closing its stdin, which also happens when `serve` dies by
    any means, SIGKILL included: no orphan keeps a producer open."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    class _Stdin(asyncio.Protocol):
        def connection_lost(self, exc: Exception | None) -> None:
            stop.set()

    await loop.connect_read_pipe(_Stdin, sys.stdin)
    await run(config_path, socket_path, stop)
    with contextlib.suppress(OSError):  # serve's private directory, if serve could not remove it
        os.rmdir(os.path.dirname(socket_path))


class PublisherProcess:
    """`serve`'s handle on the publisher process: start it before the workers, restart it if it
    dies, stop it after them (so their last records are still answered)."""

    def __init__(self, config_path: str) -> None:
        self._config_path = config_path
        # 0700: only this user can hand records to the producer
        self._directory = tempfile.mkdtemp(prefix="webhook-gateway-")
        self.socket = os.path.join(self._directory, "publisher.sock")
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._watcher = threading.Thread(target=self._watch, name="publisher-watch", daemon=True)

    def start(self, timeout: float = 10.0) -> PublisherProcess:
        self._spawn()
        self._watcher.start()
        deadline = time.monotonic() + timeout  # until it listens; past that, workers retry
        while not os.path.exists(self.socket) and time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                break
            time.sleep(0.02)
        return self

    def _spawn(self) -> None:
        with self._lock:
            if not self._stopping.is_set():
                self._process = subprocess.Popen(  # noqa: S603 - our own module, our interpreter
                    [sys.executable, "-m", "gateway.publish.process",
                     "--config", self._config_path, "--socket", self.socket],
                    stdin=subprocess.PIPE)

    def _watch(self) -> None:
        while not self._stopping.is_set():
            process = self._process
            assert process is not None
            code = process.wait()
            if self._stopping.wait(1.0):
                return
            log.error("the publisher process exited (code %s); starting a new one", code)
            self._spawn()

    def stop(self, timeout: float = FLUSH_SECS + 5) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            assert process.stdin is not None
            with contextlib.suppress(OSError):
                process.stdin.close()  # "stop": it flushes its producer and exits
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self._directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gateway.publish.process",
                                     description="the publisher process `serve` starts (internal)")
    parser.add_argument("--config", required=True)
    parser.add_argument("--socket", required=True)
    args = parser.parse_args(argv)
    from gateway import logs

    logs.configure()
    # Ctrl-C, and systemd's SIGTERM, reach the whole process group: the workers must finish
    # their requests first, so `serve` stops this process last, by closing its stdin. A reload
    # (SIGHUP) is the workers' business.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    import uvloop

    uvloop.run(_until_stdin_closes(args.config, args.socket))


if __name__ == "__main__":
    main()
