"""The hop between a worker and the host's publisher process (gateway.publish.process), over a real
Unix socket, with an in-memory backend behind it. What reaches Kafka through it is tested against
the broker in tests/integration (every `serve` there runs the publisher process)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from gateway.publish import Ack, Answer, Record, Sending, Unavailable
from gateway.publish.memory import MemoryPublisher
from gateway.publish.process import serve_workers
from gateway.publish.process_publisher import ProcessPublisher


async def until(condition: object, what: str, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@asynccontextmanager
async def served(backend: MemoryPublisher, path: Path, eager: bool = False
                 ) -> AsyncIterator[ProcessPublisher]:
    stop = asyncio.Event()
    server = asyncio.create_task(serve_workers(backend, str(path), stop))
    worker = ProcessPublisher(str(path), eager=eager)
    await worker.start()
    try:
        await until(lambda: worker.connected, "the worker to connect")
        yield worker
    finally:
        await worker.close(1.0)
        stop.set()
        await server


@pytest.mark.parametrize("eager", [False, True], ids=["batched per loop turn", "written at once"])
def test_records_arrive_in_order_byte_for_byte_and_each_gets_its_own_ack(tmp_path: Path, eager: bool) -> None:
    backend = MemoryPublisher()
    records = [Record(f"t{i % 3}", f"key-{i}".encode(), os.urandom(1500), [("ce_id", str(i).encode())])
               for i in range(200)]

    async def scenario() -> list[Ack]:
        async with served(backend, tmp_path / "p.sock", eager) as worker:
            return list(await asyncio.gather(*(worker.publish(r, 5.0) for r in records)))

    acks = asyncio.run(scenario())
    assert backend.records == records
    assert acks == [Ack(r.topic, 0, i) for i, r in enumerate(records)]


def test_answers_from_the_clients_own_thread_each_reach_their_record_in_any_order(tmp_path: Path) -> None:
    """The Kafka clients answer on their own I/O thread, a batch at a time, not in the order the
    records came: each worker record still settles with its own ack or its own failure, burst
    after burst."""
    class Threaded(MemoryPublisher):
        def __init__(self) -> None:
            super().__init__()
            self.handed: list[tuple[Record, Answer]] = []

        def hand(self, record: Record, answer: Answer) -> None:
            self.handed.append((record, answer))

    backend = Threaded()

    def answer(handed: list[tuple[Record, Answer]]) -> None:  # newest first; every tenth refused
        for record, settle in reversed(handed):
            key = record.key.decode()
            settle(Unavailable(f"refused {key}") if int(key) % 10 == 0 else Ack(record.topic, 1, int(key)))

    async def scenario() -> list[Ack | BaseException]:
        async with served(backend, tmp_path / "p.sock") as worker:
            sendings = [worker.send(Record("t", str(i).encode(), b"v")) for i in range(100)]
            await until(lambda: len(backend.handed) == 100, "every record to reach the backend")
            results: list[Ack | BaseException] = []
            for burst in (backend.handed[:50], backend.handed[50:]):  # the second after the first
                answering = threading.Thread(target=answer, args=(burst,))
                answering.start()
                answering.join()
                wanted = [s.result for s in sendings[len(results):len(results) + 50]]
                results += await asyncio.wait_for(asyncio.gather(*wanted, return_exceptions=True), 5)
            return results

    results = asyncio.run(scenario())
    for i, result in enumerate(results):
        if i % 10 == 0:
            assert isinstance(result, Unavailable) and str(result) == f"refused {i}"
        else:
            assert result == Ack("t", 1, i)


def test_an_ack_without_an_offset_crosses_to_the_worker(tmp_path: Path) -> None:
    """librdkafka reports a record that a new leader already held (an idempotent retry after a
    leader change) as delivered without an offset. That answer reaches its worker as an ack; it
    once failed to decode there, closing the channel: every record in flight was then failed and
    its spooled copy published a second time (7 of 320 on the three-node cluster)."""
    class NoOffset(MemoryPublisher):
        def hand(self, record: Record, answer: Answer) -> None:
            answer(Ack(record.topic, 2, None))

    async def scenario() -> tuple[list[Ack], bool]:
        async with served(NoOffset(), tmp_path / "p.sock") as worker:
            acks = list(await asyncio.gather(*(worker.publish(Record("t", b"k", b"v"), 5.0)
                                               for _ in range(3))))
            return acks, worker.connected

    acks, connected = asyncio.run(scenario())
    assert acks == [Ack("t", 2, None)] * 3 and connected


def test_a_backend_without_kafka_fails_each_record_and_the_worker_learns_it(tmp_path: Path) -> None:
    backend = MemoryPublisher()

    async def scenario() -> None:
        async with served(backend, tmp_path / "p.sock") as worker:
            backend.available = False
            await until(lambda: not worker.connected, "the status change to reach the worker")
            with pytest.raises(Unavailable, match="switched off"):
                await worker.publish(Record("t", b"k", b"v"), 5.0)
            backend.available = True
            await until(lambda: worker.connected, "the status change back")
            assert (await worker.publish(Record("t", b"k", b"v"), 5.0)).topic == "t"

    asyncio.run(scenario())


HOLDING_SERVER = textwrap.dedent("""
    import asyncio, sys
    from gateway.publish.process import serve_workers

    class Holding:  # takes records and never answers, like a producer waiting on a broker
        connected = True
        state = "reachable"
        delivery_timeout_secs = 60.0
        def hand(self, record, answer):
            print("got", record.key.decode(), flush=True)

    asyncio.run(serve_workers(Holding(), sys.argv[1], asyncio.Event()))
""")


def test_when_the_publisher_process_dies_its_unanswered_records_fail_and_the_worker_reconnects(
        tmp_path: Path) -> None:
    """The records it held are Unavailable (the pipeline spools them), never left hanging; a new
    process on the same socket serves the same worker again."""
    path = tmp_path / "p.sock"
    holding = subprocess.Popen([sys.executable, "-c", HOLDING_SERVER, str(path)],
                               stdout=subprocess.PIPE, text=True)

    async def scenario() -> None:
        await until(lambda: path.exists(), "the holding process to listen", 20)
        worker = ProcessPublisher(str(path))
        await worker.start()
        await until(lambda: worker.connected, "the worker to connect")
        held: Sending = worker.send(Record("t", b"held", b"v"))
        line = await asyncio.to_thread(holding.stdout.readline)  # type: ignore[union-attr]
        assert line == "got held\n"
        assert not held.result.done()
        holding.send_signal(signal.SIGKILL)
        with pytest.raises(Unavailable, match="lost the connection"):
            await asyncio.wait_for(held.result, 5)
        assert not worker.connected
        with pytest.raises(Unavailable):
            worker.send(Record("t", b"k", b"v"))
        backend, stop = MemoryPublisher(), asyncio.Event()
        server = asyncio.create_task(serve_workers(backend, str(path), stop))
        await until(lambda: worker.connected, "the worker to reconnect")
        assert (await worker.publish(Record("t", b"again", b"v"), 5.0)).offset == 0
        assert [r.key for r in backend.records] == [b"again"]
        await worker.close(1.0)
        stop.set()
        await server

    try:
        asyncio.run(scenario())
    finally:
        holding.kill()
        holding.wait()
        holding.stdout.close()  # type: ignore[union-attr]


def test_close_waits_for_the_answers_to_what_was_sent(tmp_path: Path) -> None:
    """A worker shutting down still hears the acks of its last records (bounded by the timeout)."""

    class Slow(MemoryPublisher):
        def hand(self, record: Record, answer: Answer) -> None:
            asyncio.get_running_loop().call_later(0.2, answer, Ack(record.topic, 0, 7))

    async def scenario() -> Ack:
        stop = asyncio.Event()
        server = asyncio.create_task(serve_workers(Slow(), str(tmp_path / "p.sock"), stop))
        worker = ProcessPublisher(str(tmp_path / "p.sock"))
        await worker.start()
        await until(lambda: worker.connected, "the worker to connect")
        sending = worker.send(Record("t", b"k", b"v"))
        await worker.close(5.0)
        stop.set()
        await server
        return sending.result.result()

    assert asyncio.run(scenario()) == Ack("t", 0, 7)


def test_the_publisher_process_lingers_less_unless_the_configuration_says_otherwise() -> None:
    from gateway.config import parse_config
    from gateway.publish.backend import kafka_publisher
    from gateway.publish.process import process_backend
    from tests.helpers import config_dict

    default = config_dict(Path("/tmp/unused"))
    assert process_backend(parse_config(default))._config["linger_ms"] == 2  # type: ignore[attr-defined]
    assert kafka_publisher(parse_config(default))._config["linger_ms"] == 5  # type: ignore[attr-defined]
    native = config_dict(Path("/tmp/unused"))
    native["kafka"]["client"] = "confluent-kafka"
    assert process_backend(parse_config(native))._config["linger.ms"] == 1  # type: ignore[attr-defined]
    for chosen in (default, native):
        chosen["kafka"]["linger_ms"] = 20
    assert process_backend(parse_config(default))._config["linger_ms"] == 20  # type: ignore[attr-defined]
    assert process_backend(parse_config(native))._config["linger.ms"] == 20  # type: ignore[attr-defined]
