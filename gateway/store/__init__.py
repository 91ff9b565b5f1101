"""The gateway's durable local state: the spool (events Kafka has not acknowledged yet), the
deduplication window and the event history, in one SQLite database under `storage.path`, shared by
the workers of a host.

Why SQLite rather than a hand-rolled log: it gives what the spool promises for free and tested —
an fsync before the answer (`synchronous=FULL`), atomic multi-record transactions (an event and its
dedupe mark are one transaction, so a crash cannot keep one without the other), a torn tail after a
crash detected and discarded by WAL frame checksums without losing the commits before it, and safe
sharing between processes. What it does not give, group commit, is done here.

    Store         this module: what the pipeline, the drainer and the admin API call
    writer.py     the writer thread: jobs group-committed, futures settled on the event loop
    spool.py      what a job writes (spool, dedupe marks, history rows) and the spool's reads
    sweeper.py    expiry of marks and history rows, on a thread of its own, in small transactions
    schema.py     the tables, the connections, the migration of an older store
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from gateway import history
from gateway.dedupe import Key
from gateway.errors import StoreError
from gateway.publish import Ack, Record
from gateway.store import schema, spool
from gateway.store.spool import Spooled
from gateway.store.sweeper import EXPIRE_CHUNK, EXPIRE_EVERY_SECS, Rest, Sweeper
from gateway.store.writer import Job, Writer, future_for

__all__ = ["EXPIRE_CHUNK", "Job", "Spooled", "Store", "StoreError"]

# The spool counts as writable (for /readyz) only with this much free space under it, and after a
# refused spool write only once a probe write (spool.PROBE_BYTES, fsynced, rolled into nothing)
# succeeds: SQLite reuses its WAL file, so a small write can succeed on a full disk where an event
# cannot.
MIN_FREE_BYTES = 1_048_576
PROBE_EVERY_SECS = 1.0


class Store:
    def __init__(self, path: Path, window_secs: float = 72 * 3600, max_entries: int = 5_000_000,
                 clock: Callable[[], float] = time.time, history_retention_secs: float = 7 * 86400,
                 history_max_rows: int = 100_000,
                 expire_every_secs: float | None = EXPIRE_EVERY_SECS) -> None:
        self.path = path
        self.window_secs = window_secs
        self.max_entries = max_entries
        self.history_retention_secs = history_retention_secs
        self.history_max_rows = history_max_rows
        self.clock = clock
        self.expire_every_secs = expire_every_secs  # None: no sweeper thread (a store only checked)
        self.connect = partial(schema.connect, path)  # synchronous -> a new connection
        self.writer = Writer(path, spool.apply, clock, self.connect)
        self._sweeper = Sweeper(self, self.writer.lock, clock, self.connect, path)
        self._readers = threading.local()
        self._probed = 0.0  # monotonic time of the last probe write
        # this loop turn's marks (mark_soon), gathered into one job: (job, keys, rows, its future)
        self._soon: tuple[Job, list[Key], list[history.Row], asyncio.Future[None]] | None = None

    @property
    def failures(self) -> int:
        """Commits the disk refused in this process."""
        return self.writer.failures

    def count_failures(self, count: Callable[[], None]) -> None:
        """Call `count` (on the writer thread) for each commit the disk refuses: a metric,
        gateway_store_write_failures_total (Metrics.watch_store)."""
        self.writer.on_failure = count

    @property
    def commits(self) -> int:
        return self.writer.commits

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> Store:
        """Create the database if needed; raise StoreError with a clear message if it cannot be."""
        try:
            schema.create(self.path, self.writer.lock)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"opening the local store {self.path}: {exc}") from None
        self.writer.start()
        if self.expire_every_secs is not None:
            self._sweeper.start(self.expire_every_secs)
        return self

    def close(self) -> None:
        self._sweeper.stop()
        if self.writer.running:
            self._hand_over_marks()
            self.writer.stop()
        reader = getattr(self._readers, "conn", None)
        if reader is not None:
            reader.close()
            self._readers.conn = None

    def reader(self) -> sqlite3.Connection:
        """This thread's read connection (the event loop's; the admin API's history queries):
        reads never block writers."""
        conn = getattr(self._readers, "conn", None)
        if conn is None:
            conn = self._readers.conn = self.connect("NORMAL")
        return conn

    # -- reads (cheap, on the caller's thread) ---------------------------------------------------

    async def seen(self, key: Key) -> bool:
        return self.lookup(key)[0]

    def has_spooled(self) -> bool:
        return spool.has_spooled(self.reader())

    def lookup(self, key: Key) -> tuple[bool, bool]:
        """(`seen(key)`, `has_spooled()`) in one statement: the request path asks both of every
        event, and one read instead of two is a measurable share of its CPU."""
        return spool.lookup(self.reader(), key, self.clock(), self.window_secs)

    def depth(self) -> tuple[int, float | None]:
        """(events in the spool, spooled_at of the oldest)."""
        return spool.depth(self.reader())

    def batch(self, limit: int) -> list[Spooled]:
        """The oldest spooled events in arrival order, up to the first one still held (its first
        send may yet be acknowledged; publishing past it would reorder its key)."""
        return spool.batch(self.reader(), limit, self.clock())

    def spool_writable(self) -> bool:
        """Whether the spool can take an event now (for /readyz): enough free space, and the last
        fsynced write succeeded; after a failure, a probe write at most once a second says when
        it can again."""
        try:
            stat = os.statvfs(self.path.parent)
        except OSError:
            return False
        if stat.f_bavail * stat.f_frsize < MIN_FREE_BYTES:
            return False
        now = time.monotonic()
        if not self.writer.spool_ok and self.writer.running and now - self._probed >= PROBE_EVERY_SECS:
            self._probed = now
            self.writer.put(Job("probe"))
        return self.writer.spool_ok

    # -- writes (group-committed on the writer thread, awaited from the loop) --------------------

    async def spool(self, record: Record, key: Key, hold_secs: float = 0.0,
                    row: history.Row | None = None, unique: bool = True,
                    digest: bytes | None = None) -> int | None:
        """Durably keep `record` and mark `key` seen, in one fsynced transaction -> its seq, or
        None when `key` was already seen by then: another worker of the host accepted a copy of
        the event first (the write transaction is the host's one serial point), and this one is a
        duplicate, kept nowhere.

        `hold_secs` keeps the drainer off it while an earlier send of the same record may still be
        acknowledged; the caller then removes it (acked) or releases it (failed). `unique=False`
        keeps it whatever was seen (a replay republishes an accepted event on purpose)."""
        job = Job("spool", records=[record], keys=[key], hold_secs=hold_secs, rows=[row] if row else (),
                  unique=unique, digests=[digest])
        await self._enqueue(job)
        return job.seqs[0] if job.seqs else None

    async def release(self, seq: int) -> None:
        await self._enqueue(Job("release", seqs=[seq]))

    async def mark(self, key: Key, row: history.Row | None = None, digest: bytes | None = None) -> None:
        await self._enqueue(Job("mark", keys=[key], rows=[row] if row else (), digests=[digest]))

    def accepted_body(self, key: Key) -> bytes | None:
        """The SHA-256 of the body accepted under `key`, where its mark kept one."""
        return spool.accepted_body(self.reader(), key)

    async def remove(self, seqs: Sequence[int], acks: Sequence[tuple[int, Ack]] = ()) -> None:
        await self._enqueue(Job("remove", seqs=seqs, acks=acks))

    def note(self, row: history.Row) -> None:
        """Record a history row (a duplicate) with the next group commit, without waiting for it."""
        if self.writer.running:
            self._hand_over_marks()
            self.writer.put(Job("note", rows=[row]))

    def mark_soon(self, key: Key, row: history.Row | None = None,
                  digest: bytes | None = None) -> asyncio.Future[None]:
        """As `mark`, without waiting: -> a future resolved once committed (or failed with
        StoreError). Marks are not durable promises (gateway.store.writer), so a commit may
        gather them for up to MARK_WINDOW_SECS: far fewer transactions per event.

        The marks of one turn of the event loop go to the writer as one job and share one future:
        a job, a future and a thread wake-up per event cost a tenth of the request path."""
        if not self.writer.running:
            raise StoreError("the local store is closed")
        if self._soon is None:
            keys: list[Key] = []
            rows: list[history.Row] = []
            job = Job("mark", keys=keys, rows=rows, digests=[])
            self._soon = (job, keys, rows, future_for(job))
            asyncio.get_running_loop().call_soon(self._hand_over_marks)
        job, keys, rows, done = self._soon
        keys.append(key)
        job.digests.append(digest)  # type: ignore[attr-defined]  # the list made above
        if row is not None:
            rows.append(row)
        return done

    def _hand_over_marks(self) -> None:
        """This turn's marks to the writer; first thing on any other write, so none overtakes them."""
        if self._soon is not None:
            self.writer.put(self._soon[0])
            self._soon = None

    async def flush(self) -> None:
        """Wait until every write queued so far is committed (the admin API reads the event
        history after this, so it shows what was answered before, gathered marks included)."""
        await self._enqueue(Job("flush"))

    def _enqueue(self, job: Job) -> asyncio.Future[None]:
        if not self.writer.running:
            raise StoreError("the local store is closed")
        future = future_for(job)
        self._hand_over_marks()
        self.writer.put(job)
        return future

    # -- expiry (on the sweeper thread) -----------------------------------------------------------

    def expire(self, conn: sqlite3.Connection | None = None, chunk: int = EXPIRE_CHUNK,
               rest: Rest | None = None) -> int:
        """Forget dedupe ids older than the window and the oldest beyond max_entries (bounded disk),
        and history rows past their bounds -> rows deleted.

        Each transaction deletes at most `chunk` rows; between two, `rest(seconds the last one
        took)` runs, and a true answer (the store is closing) ends the sweep early."""
        return self._sweeper.expire(conn, chunk, rest)
