"""The local store: spool + dedupe window in SQLite, group commit, crash safety, bounds."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gateway.publish import Record
from gateway.store import Store


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record(n: int) -> Record:
    return Record("webhooks.tlas", f"key-{n}".encode(), b'{"n": %d}' % n, [("ce_id", str(n).encode())])


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store(tmp_path / "gateway.db").open()
    yield opened
    opened.close()


def test_spooled_events_come_back_in_arrival_order_with_headers(store: Store) -> None:
    async def spool() -> None:
        for n in range(5):
            await store.spool(record(n), ("tlas", str(n)))

    asyncio.run(spool())
    batch = store.batch(10)
    assert [item.record for item in batch] == [record(n) for n in range(5)]
    assert store.depth()[0] == 5


def test_concurrent_spools_share_fsyncs(store: Store) -> None:
    async def spool_many() -> None:
        await asyncio.gather(*(store.spool(record(n), ("tlas", str(n))) for n in range(300)))

    asyncio.run(spool_many())
    assert store.depth()[0] == 300
    assert store.commits < 300 / 4, f"{store.commits} commits for 300 spooled events"


def test_a_spooled_event_is_marked_seen_in_the_same_step(store: Store) -> None:
    async def run() -> tuple[bool, bool]:
        before = await store.seen(("tlas", "abc"))
        await store.spool(record(1), ("tlas", "abc"))
        return before, await store.seen(("tlas", "abc"))

    assert asyncio.run(run()) == (False, True)


def test_a_copy_spooled_after_its_event_was_accepted_is_kept_nowhere(store: Store) -> None:
    """Two workers spooling copies of one event at once: the write transaction keeps the first
    (even within one group commit); a replay, which republishes on purpose, is kept."""
    async def run() -> list[int | None]:
        together = await asyncio.gather(store.spool(record(1), ("tlas", "same")),
                                        store.spool(record(1), ("tlas", "same")))
        later = await store.spool(record(1), ("tlas", "same"))
        replay = await store.spool(record(1), ("tlas", "same"), unique=False)
        return [*together, later, replay]

    first, second, later, replay = asyncio.run(run())
    assert isinstance(first, int) and second is None and later is None and isinstance(replay, int)
    assert store.depth()[0] == 2


def test_marks_gathered_in_one_loop_turn_are_committed_before_a_later_write(store: Store) -> None:
    """A flush (what the admin API does before reading the history) returns only once every mark
    made before it is committed, even marks still gathered for this loop turn; their shared future
    has settled by then."""
    async def run() -> tuple[list[bool], bool]:
        marks = [store.mark_soon(("tlas", str(n))) for n in range(3)]
        await store.flush()  # same loop turn: the gathered marks must go first
        return [await store.seen(("tlas", str(n))) for n in range(3)], all(m.done() for m in marks)

    assert asyncio.run(run()) == ([True, True, True], True)


def test_removed_events_are_gone_and_only_acked_ones_are_removed(store: Store) -> None:
    async def run() -> None:
        for n in range(4):
            await store.spool(record(n), ("tlas", str(n)))
        first_two = [item.seq for item in store.batch(2)]
        await store.remove(first_two)

    asyncio.run(run())
    assert [item.record for item in store.batch(10)] == [record(2), record(3)]


def test_a_held_event_blocks_the_drainer_until_released(tmp_path: Path) -> None:
    clock = Clock()
    store = Store(tmp_path / "gateway.db", clock=clock).open()

    async def run() -> int:
        await store.spool(record(0), ("tlas", "0"))
        held = await store.spool(record(1), ("tlas", "1"), hold_secs=30)
        await store.spool(record(2), ("tlas", "2"))
        return held

    held = asyncio.run(run())
    # Past the held event would reorder its key: the batch stops before it.
    assert [item.record for item in store.batch(10)] == [record(0)]
    asyncio.run(store.release(held))
    assert len(store.batch(10)) == 3
    store.close()


def test_a_hold_expires_when_its_owner_is_gone(tmp_path: Path) -> None:
    clock = Clock()
    store = Store(tmp_path / "gateway.db", clock=clock).open()
    asyncio.run(store.spool(record(0), ("tlas", "0"), hold_secs=30))
    assert store.batch(10) == []
    clock.now += 31
    assert len(store.batch(10)) == 1
    store.close()


def test_ids_are_forgotten_after_the_window(tmp_path: Path) -> None:
    clock = Clock()
    store = Store(tmp_path / "gateway.db", window_secs=3600, clock=clock).open()
    asyncio.run(store.mark(("iof", "evt_1")))
    clock.now += 3599
    assert asyncio.run(store.seen(("iof", "evt_1")))
    clock.now += 2
    assert not asyncio.run(store.seen(("iof", "evt_1")))
    store.close()


def test_the_window_is_keyed_by_source(store: Store) -> None:
    asyncio.run(store.mark(("azakaw-acme", "same-body-sha")))
    assert not asyncio.run(store.seen(("azakaw-globex", "same-body-sha")))


def test_a_flood_of_distinct_ids_stays_bounded(tmp_path: Path) -> None:
    clock = Clock()
    store = Store(tmp_path / "gateway.db", max_entries=100, clock=clock).open()

    async def flood() -> None:
        for batch in range(10):
            clock.now += 61
            await asyncio.gather(*(store.mark(("iof", f"{batch}-{n}")) for n in range(100)))
            store.expire(chunk=16)  # what the sweeper does once a minute
        clock.now += 61
        await store.mark(("iof", "last"))
        store.expire(chunk=16)

    asyncio.run(flood())
    store.close()
    with sqlite3.connect(tmp_path / "gateway.db") as conn:
        (count,) = conn.execute("SELECT count(*) FROM seen").fetchone()
    assert count <= 101
    reopened = Store(tmp_path / "gateway.db", clock=clock).open()
    assert asyncio.run(reopened.seen(("iof", "last")))  # the newest ids are the ones kept
    reopened.close()


def test_past_the_bound_the_newest_seconds_are_kept_and_the_table_swept_below_it(tmp_path: Path) -> None:
    clock = Clock()
    store = Store(tmp_path / "gateway.db", max_entries=1000, clock=clock).open()

    async def marks(second: int, count: int) -> None:
        clock.now = 1_700_000_000.0 + second
        await asyncio.gather(*(store.mark(("iof", f"{second}-{n}")) for n in range(count)))

    async def fill() -> None:
        for second in range(11):  # 1,100 marks, 100 a second: 100 past the bound
            await marks(second, 100)

    try:
        asyncio.run(fill())
        assert store.expire(chunk=16) == 200  # down to 900 (MARKS_KEPT), whole seconds, oldest first
        assert count_seen(tmp_path) == 900
        assert not asyncio.run(store.seen(("iof", "1-99")))
        assert asyncio.run(store.seen(("iof", "2-0")))
        assert asyncio.run(store.seen(("iof", "10-99")))
        asyncio.run(marks(11, 100))  # 1,000: at the bound, not past it, and nothing past the window
        assert store.expire(chunk=16) == 0
        assert count_seen(tmp_path) == 1000
    finally:
        store.close()


def test_marks_past_the_window_wait_until_a_tenth_of_the_table_can_go(tmp_path: Path) -> None:
    """Swept in key order, many to a page: a sweep for a handful of marks would cost as much."""
    clock = Clock()
    store = Store(tmp_path / "gateway.db", window_secs=3600, clock=clock).open()

    async def marks(prefix: str, count: int) -> None:
        await asyncio.gather(*(store.mark(("tlas", f"{prefix}-{n}")) for n in range(count)))

    try:
        asyncio.run(marks("old", 9))
        clock.now += 100
        asyncio.run(marks("later", 1))
        clock.now += 1700
        asyncio.run(marks("new", 90))
        clock.now += 1801  # the 9 old marks are past the window: 9 % of the table
        assert store.expire() == 0
        assert not asyncio.run(store.seen(("tlas", "old-0")))  # past the window all the same
        clock.now += 100  # and the next one: 10 %
        assert store.expire() == 10
        assert count_seen(tmp_path) == 90
        assert asyncio.run(store.seen(("tlas", "new-89")))
    finally:
        store.close()


def test_a_store_from_before_the_mark_counts_keeps_its_marks_and_their_order(tmp_path: Path) -> None:
    """Marks written when the table had its index on `at` are counted once when it is opened."""
    with contextlib.closing(sqlite3.connect(tmp_path / "gateway.db")) as conn:
        conn.executescript("""
            CREATE TABLE seen (source TEXT NOT NULL, id TEXT NOT NULL, at REAL NOT NULL,
                               PRIMARY KEY (source, id)) WITHOUT ROWID;
            CREATE INDEX seen_by_age ON seen (at);
        """)
        conn.executemany("INSERT INTO seen VALUES (?, ?, ?)",
                         [("iof", f"{second}-{n}", 1_700_000_000.5 + second)
                          for second in range(12) for n in range(100)])
        conn.commit()
    clock = Clock(1_700_000_012.0)
    store = Store(tmp_path / "gateway.db", max_entries=1000, clock=clock).open()
    try:
        assert asyncio.run(store.seen(("iof", "0-0")))
        assert store.expire(chunk=64) == 300  # 1,200 -> 900, the oldest seconds first
        assert not asyncio.run(store.seen(("iof", "2-99")))
        assert asyncio.run(store.seen(("iof", "3-0")))
    finally:
        store.close()
    with contextlib.closing(sqlite3.connect(tmp_path / "gateway.db")) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'seen_by_age'").fetchone() is None
    reopened = Store(tmp_path / "gateway.db", max_entries=1000, clock=clock).open()
    try:
        assert reopened.expire() == 0  # counted once, not again
    finally:
        reopened.close()


def test_a_store_from_before_the_body_hashes_keeps_working(tmp_path: Path) -> None:
    """Its marks had no body hash: they stay seen, never a conflict; new marks keep one."""
    with contextlib.closing(sqlite3.connect(tmp_path / "gateway.db")) as conn:
        conn.executescript("""
            CREATE TABLE seen (source TEXT NOT NULL, id TEXT NOT NULL, at REAL NOT NULL,
                               PRIMARY KEY (source, id)) WITHOUT ROWID;
        """)
        conn.execute("INSERT INTO seen VALUES ('iof', 'old', ?)", (time.time(),))
        conn.commit()
    store = Store(tmp_path / "gateway.db").open()
    try:
        async def run() -> tuple[bool, bytes | None, bytes | None]:
            await store.mark(("iof", "new"), digest=b"\x01" * 32)
            return await store.seen(("iof", "old")), store.accepted_body(("iof", "old")), \
                store.accepted_body(("iof", "new"))

        assert asyncio.run(run()) == (True, None, b"\x01" * 32)
    finally:
        store.close()


def test_a_store_with_the_old_index_on_history_ids_loses_it_and_keeps_its_rows(tmp_path: Path) -> None:
    """The event history's index on `id` cost more than it gave: an older store's goes at open."""
    Store(tmp_path / "gateway.db").open().close()
    with contextlib.closing(sqlite3.connect(tmp_path / "gateway.db")) as conn:
        conn.execute("CREATE INDEX events_by_id ON events (id)")
        conn.execute("INSERT INTO events (id, source, status, topic, received_at) VALUES ('e', 's', 'published', 't', 1)")
        conn.commit()
    Store(tmp_path / "gateway.db").open().close()
    with contextlib.closing(sqlite3.connect(tmp_path / "gateway.db")) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'events_by_id'").fetchone() is None
        assert conn.execute("SELECT id FROM events").fetchall() == [("e",)]


def test_ids_past_the_window_are_swept_in_small_transactions_between_the_writers(tmp_path: Path) -> None:
    clock = Clock()
    store = Store(tmp_path / "gateway.db", window_secs=3600, clock=clock).open()
    answered_mid_sweep = []

    def rest(secs: float) -> bool:
        # A webhook spooled while a sweep is under way is committed (and answered) without
        # waiting for the rest of the sweep: the sweeper holds no lock between its chunks.
        if not answered_mid_sweep:
            asyncio.run(asyncio.wait_for(store.spool(record(1), ("tlas", "new")), 10))
            answered_mid_sweep.append(count_seen(tmp_path))
        return False

    async def old_marks() -> None:
        await asyncio.gather(*(store.mark(("iof", f"old-{n}")) for n in range(100)))

    try:
        asyncio.run(old_marks())
        clock.now += 3601
        assert store.expire(chunk=10, rest=rest) == 100
        assert 1 < answered_mid_sweep[0] < 101  # some old ids were still there when it was answered
        assert count_seen(tmp_path) == 1
        assert asyncio.run(store.seen(("tlas", "new")))
        assert store.batch(10)[0].record == record(1)
    finally:
        store.close()


def test_the_sweeper_thread_expires_on_its_own(tmp_path: Path) -> None:
    clock = Clock()
    store = Store(tmp_path / "gateway.db", window_secs=3600, clock=clock, expire_every_secs=0.01).open()
    try:
        asyncio.run(store.mark(("iof", "old")))
        assert count_seen(tmp_path) == 1
        clock.now += 3601
        deadline = time.monotonic() + 30
        while count_seen(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert count_seen(tmp_path) == 0
    finally:
        store.close()


def count_seen(tmp_path: Path) -> int:
    with contextlib.closing(sqlite3.connect(tmp_path / "gateway.db")) as conn:
        return int(conn.execute("SELECT count(*) FROM seen").fetchone()[0])


WRITER = textwrap.dedent("""
    import asyncio, os, signal, sys
    from gateway.publish import Record
    from gateway.store import Store
    store = Store(__import__("pathlib").Path(sys.argv[1])).open()
    async def main():
        for n in range(10):
            await store.spool(Record("t", b"k", b"%d" % n, []), ("s", str(n)))
    asyncio.run(main())
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint: the WAL holds the commits
""")


def test_commits_survive_sigkill_and_a_torn_tail_is_skipped(tmp_path: Path) -> None:
    db = tmp_path / "gateway.db"
    done = subprocess.run([sys.executable, "-c", WRITER, str(db)], capture_output=True)
    assert done.returncode == -signal.SIGKILL
    wal = Path(f"{db}-wal")
    assert wal.stat().st_size > 0
    with open(wal, "ab") as torn:  # a frame cut off half-way by the crash
        torn.write(os.urandom(3000))

    store = Store(db).open()
    assert [item.record.value for item in store.batch(100)] == [b"%d" % n for n in range(10)]
    asyncio.run(store.spool(record(99), ("s", "99")))  # and it keeps working after recovery
    assert store.depth()[0] == 11
    store.close()
