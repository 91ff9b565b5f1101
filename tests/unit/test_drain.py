"""The drainer: spooled events reach the publisher oldest first, are removed only once
acknowledged, and one drainer per host holds the lock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.drain import Drainer
from gateway.publish import Record
from gateway.publish.memory import MemoryPublisher
from gateway.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "gateway.db").open()
    yield opened
    opened.close()


def record(n: int) -> Record:
    return Record("webhooks.tlas", b"same-key", b'{"n": %d}' % n)


async def _until(condition, timeout: float = 10.0) -> None:  # noqa: ANN001
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting for the drainer"
        await asyncio.sleep(0.01)


def test_spooled_events_are_published_in_order_and_removed(store: Store, tmp_path: Path) -> None:
    publisher = MemoryPublisher()

    async def run() -> list[bytes]:
        for n in range(20):
            await store.spool(record(n), ("tlas", str(n)))
        drainer = Drainer(store, publisher, tmp_path / "drain.lock")
        drainer.start()
        await _until(lambda: store.depth()[0] == 0)
        await drainer.stop()
        return [r.value for r in publisher.records]

    assert asyncio.run(run()) == [record(n).value for n in range(20)]


def test_unacknowledged_events_stay_until_the_broker_takes_them(store: Store, tmp_path: Path) -> None:
    publisher = MemoryPublisher()
    publisher.hold()  # the broker takes the records and does not answer yet

    async def run() -> tuple[int, int, int]:
        await store.spool(record(1), ("tlas", "1"))
        drainer = Drainer(store, publisher, tmp_path / "drain.lock")
        drainer.start()
        await _until(lambda: len(publisher.held) == 1)
        kept_while_unanswered = store.depth()[0]
        publisher.fail_held()  # not in Kafka: it must be sent again
        await _until(lambda: len(publisher.records) == 1)  # the retry, acknowledged at once
        await _until(lambda: store.depth()[0] == 0)
        await drainer.stop()
        return kept_while_unanswered, len(publisher.records), store.depth()[0]

    assert asyncio.run(run()) == (1, 1, 0)


def test_one_drainer_per_host(store: Store, tmp_path: Path) -> None:
    publisher = MemoryPublisher()

    async def run() -> int:
        first = Drainer(store, publisher, tmp_path / "drain.lock")
        second = Drainer(store, publisher, tmp_path / "drain.lock")
        first.start()
        second.start()
        for n in range(50):
            await store.spool(record(n), ("tlas", str(n)))
        first.wake()
        second.wake()
        await _until(lambda: store.depth()[0] == 0)
        await first.stop()
        await second.stop()
        return len(publisher.records)

    assert asyncio.run(run()) == 50  # each once: the other worker's drainer waited for the lock
