"""The publisher process: one per host, owning the host's Kafka producer, so the client's
per-record work leaves the workers' cores.

kafka-python spends about 100 µs of Python per record, and its I/O thread takes the GIL from the
worker's event loop (docs/benchmarks.md). With `kafka.publisher: process` (the default), `serve`
starts this process (gateway.publish.supervisor); it builds the configured producer
(gateway.publish.kafka or .confluent, unchanged, so every trap they handle is still handled) and
serves the workers' records over a Unix socket (gateway.publish.channel), each worker through its
ProcessPublisher (gateway.publish.process_publisher). A webhook's copies racing on several workers
are sent once (gateway.publish.claims).

    python -m gateway.publish.process --config FILE --socket PATH
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any

from gateway.config import load_config
from gateway.publish import CONNECTING, Ack, Backend, Record, Unavailable
from gateway.publish.backend import kafka_publisher
from gateway.publish.channel import Acked, Channel, Duplicate, Failed, Send, Status
from gateway.publish.claims import Claims, Key
from gateway.sources import topics

if TYPE_CHECKING:
    from gateway.config import Config

log = logging.getLogger("gateway.kafka")

STATUS_EVERY_SECS = 0.1
# Linger in the publisher process, by client, unless the configuration sets `linger_ms`: shorter
# than a worker's own producer (5 ms), since here the I/O thread's wake-ups cost no worker CPU and
# answers come back sooner (docs/benchmarks.md).
PROCESS_LINGER_MS = {"kafka-python": 2, "confluent-kafka": 1}
FLUSH_SECS = 10.0  # at shutdown, for the producer's records in flight


class _Worker:
    """One worker's connection: records in, answers out.

    Answers arrive on the producer's I/O thread, often a batch's worth in a row: they queue in a
    deque (thread-safe) and one call into the event loop writes all that came meanwhile, instead
    of an asyncio future per record settled through call_soon_threadsafe.
    """

    def __init__(self, backend: Backend, claims: Claims) -> None:
        self.channel = Channel(self._received)
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
    return kafka_publisher(config, {"linger_ms": PROCESS_LINGER_MS[config.kafka.client]})


async def run(config_path: str, socket_path: str, stop: asyncio.Event) -> None:
    """Serve the workers of one host until `stop`; then flush (bounded) and return."""
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

    def accept() -> Channel:
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
