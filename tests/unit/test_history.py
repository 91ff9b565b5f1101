"""The event history in the store: written with the spool entry or dedupe mark, updated by the
drainer's acks, bounded by age and count, filtered and paged newest first."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec

from gateway import history
from gateway.publish import Ack, Record
from gateway.store import Store


def row(n: int, status: str = "published", source: str = "iof", at: float = 1000.0) -> history.Row:
    record = Record("webhooks.iof", b"k%d" % n, b'{"id":"evt_%d"}' % n, [("ce_id", b"evt_%d" % n)])
    return history.Row(f"evt_{n}", source, f"iof.type{n % 2}", f"sub_{n}", status, record.topic, at,
                       record, acked_status="published")


def open_store(tmp_path: Path, now: list[float], **kwargs: float) -> Store:
    return Store(tmp_path / "gateway.db", clock=lambda: now[0], **kwargs).open()  # type: ignore[arg-type]


def test_published_and_spooled_rows_are_recorded_and_a_drained_one_becomes_published(tmp_path: Path) -> None:
    now = [1000.0]
    store = open_store(tmp_path, now)

    async def scenario() -> int:
        await store.mark(("iof", "evt_1"), msgspec.structs.replace(row(1), ack=Ack("webhooks.iof", 2, 41)))
        return await store.spool(row(2).record, ("iof", "evt_2"), row=row(2, "spooled"))  # type: ignore[arg-type]

    try:
        seq = asyncio.run(scenario())
        events = history.select(store.reader(), history.Filter(), 10)
        assert [(e.id, e.status, e.partition, e.offset) for e in events] == [
            ("evt_2", "spooled", None, None), ("evt_1", "published", 2, 41)]
        asyncio.run(store.remove([seq], [(seq, Ack("webhooks.iof", 3, 7))]))  # the drainer's ack
        drained = history.select(store.reader(), history.Filter(status="published"), 10)
        assert [(e.id, e.partition, e.offset) for e in drained] == [("evt_2", 3, 7), ("evt_1", 2, 41)]
        assert drained[0].published_at is not None
        found = history.find(store.reader(), "evt_2")
        assert found is not None and found[1] == row(2).record  # the stored copy, byte for byte
    finally:
        store.close()


def test_duplicates_are_noted_without_their_payload_and_find_returns_the_original(tmp_path: Path) -> None:
    store = open_store(tmp_path, [1000.0])
    try:
        asyncio.run(store.mark(("iof", "evt_1"), row(1)))
        store.note(history.Row("evt_1", "iof", "iof.type1", "sub_1", "duplicate", "webhooks.iof", 1001.0))
        asyncio.run(store.mark(("iof", "other"), None))  # the note is committed by then (FIFO writer)
        statuses = [e.status for e in history.select(store.reader(), history.Filter(), 10)]
        assert statuses == ["duplicate", "published"]
        event, record = history.find(store.reader(), "evt_1")  # type: ignore[misc]
        assert event.status == "published" and record.value == b'{"id":"evt_1"}'
    finally:
        store.close()


def test_filters_and_cursor_pages_newest_first(tmp_path: Path) -> None:
    store = open_store(tmp_path, [1000.0])

    async def fill() -> None:
        for n in range(7):
            await store.mark(("iof" if n < 5 else "tlas", f"evt_{n}"),
                             row(n, source="iof" if n < 5 else "tlas", at=1000.0 + n))

    try:
        asyncio.run(fill())
        conn = store.reader()
        page1 = history.select(conn, history.Filter(source="iof"), 2)
        page2 = history.select(conn, history.Filter(source="iof", before=page1[-1].seq), 2)
        page3 = history.select(conn, history.Filter(source="iof", before=page2[-1].seq), 2)
        assert [e.id for e in page1 + page2 + page3] == ["evt_4", "evt_3", "evt_2", "evt_1", "evt_0"]
        assert [e.id for e in history.select(conn, history.Filter(type="iof.type1"), 10)] == [
            "evt_5", "evt_3", "evt_1"]
        assert [e.id for e in history.select(conn, history.Filter(type="iof.*", since=1005.0), 10)] == [
            "evt_6", "evt_5"]
        assert history.select(conn, history.Filter(status="spooled"), 10) == []
    finally:
        store.close()


def test_history_is_bounded_by_age_and_row_count(tmp_path: Path) -> None:
    now = [10_000.0]
    store = open_store(tmp_path, now, history_retention_secs=3600, history_max_rows=3)

    async def fill() -> None:
        await store.mark(("iof", "old"), history.Row("old", "iof", "t", None, "published", "x", 1000.0,
                                                      row(0).record))
        for n in range(1, 6):
            await store.mark(("iof", f"evt_{n}"), row(n, at=9_900.0 + n))

    try:
        asyncio.run(fill())
        assert store.expire(chunk=2) == 3  # what the sweeper does once a minute, in transactions of 2
        ids = [e.id for e in history.select(store.reader(), history.Filter(), 10)]
        assert ids == ["evt_5", "evt_4", "evt_3"]
    finally:
        store.close()


def test_find_goes_through_the_dedupe_mark_to_the_newest_delivery(tmp_path: Path) -> None:
    now = [1000.0]
    store = open_store(tmp_path, now)

    async def deliver_then_replay() -> None:
        await store.mark(("iof", "evt_1"), row(1, at=1000.0))
        await store.mark(("tlas", "evt_2"), row(2, source="tlas", at=1000.0))
        now[0] = 1300.0  # an operator's replay, minutes later: a second row holding the record
        await store.mark(("iof", "evt_1"), msgspec.structs.replace(row(1, at=1300.0), replayed=True))

    try:
        asyncio.run(deliver_then_replay())
        conn = store.reader()
        newest = history.find(conn, "evt_1", sources=["tlas", "iof"])
        assert newest is not None and (newest[0].received_at, newest[0].replayed) == (1300.0, True)
        assert newest[1] == row(1).record
        by_source = history.find(conn, "evt_2", "tlas", sources=["iof"])
        assert by_source is not None and by_source[0].source == "tlas"
        assert history.find(conn, "evt_1", "tlas", sources=["iof", "tlas"]) is None
        unlisted = history.find(conn, "evt_2", sources=["iof"])  # a source no longer configured
        assert unlisted is not None and unlisted[0].source == "tlas"
        assert history.find(conn, "evt_9", sources=["iof", "tlas"]) is None
    finally:
        store.close()


def test_a_row_whose_dedupe_mark_has_expired_is_still_found(tmp_path: Path) -> None:
    """The dedupe window (here an hour) can end before the history's bounds (7 days by default)."""
    now = [1000.0]
    store = open_store(tmp_path, now, window_secs=3600)

    async def two_deliveries() -> None:
        await store.mark(("iof", "evt_1"), row(1, at=1000.0))
        now[0] = 10_000.0
        await store.mark(("iof", "evt_2"), row(2, at=10_000.0))

    try:
        asyncio.run(two_deliveries())
        assert store.expire() == 1  # evt_1's mark, past the window; both rows stay
        assert store.lookup(("iof", "evt_1")) == (False, False)
        conn = store.reader()
        for id_ in ("evt_1", "evt_2"):
            found = history.find(conn, id_, sources=["iof"])
            assert found is not None and found[0].id == id_
    finally:
        store.close()
