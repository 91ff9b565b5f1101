"""The gateway's durable local state: the spool (events Kafka has not acknowledged yet) and the
deduplication window, in one SQLite database under `storage.path`, shared by the workers of a host.

Why SQLite rather than a hand-rolled log: it gives what the spool promises for free and tested —
an fsync before the answer (`synchronous=FULL`), atomic multi-record transactions (an event and its
dedupe mark are one transaction, so a crash cannot keep one without the other), a torn tail after a
crash detected and discarded by WAL frame checksums without losing the commits before it, and safe
sharing between processes. What it does not give, group commit, is done here: one writer thread
per process takes every job queued while the previous commit was flushing and commits them together,
so N concurrent spooled requests cost one fsync, not N.

Dedupe marks of events acknowledged by Kafka use `synchronous=NORMAL` (they survive a process crash;
a power cut may lose the last ones, which then costs at most a duplicate record, never a lost event).
They do not hold the answer either: the writer gathers them for up to MARK_WINDOW_SECS per commit
(a spool job ends the wait at once), and a crash in that window costs the same, a duplicate.

Expiry (dedupe ids past the window, history rows past their bounds) runs on a sweeper thread of its
own, in transactions of at most EXPIRE_CHUNK rows: one statement once deleted a minute's 95,000
history rows at 1,600 events/s and held the writer, and so the spool's answers, for 1.7 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from gateway import history
from gateway.dedupe import Key
from gateway.publish import Ack, Record

log = logging.getLogger("gateway.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    headers BLOB NOT NULL,
    spooled_at REAL NOT NULL,
    -- while > now, a worker still awaits this event's first send (its ack was late): not drained
    hold_until REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS seen (
    source TEXT NOT NULL,
    id TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (source, id)
) WITHOUT ROWID;
-- Marks per second of `at`: the sweeper's count of the dedupe table, oldest first, without an
-- index on `at` (whose random deletes, in a table keyed by (source, id), cost more than the marks).
CREATE TABLE IF NOT EXISTS seen_seconds (
    second INTEGER PRIMARY KEY,
    marks INTEGER NOT NULL
);
""" + history.SCHEMA
MAX_GROUP = 512  # jobs per commit; bounds one transaction's size and latency
# Marks after a Kafka ack and history notes are gathered this long per commit: committing each
# on its own cost about as much CPU as the rest of the request (docs/benchmarks.md).
MARK_WINDOW_SECS = 0.005
_GATHERED = frozenset({"mark", "note"})
_DURABLE = frozenset({"spool", "probe"})  # committed with synchronous=FULL
# The spool counts as writable (for /readyz) only with this much free space under it, and after a
# refused spool write only once a probe write (PROBE_BYTES, fsynced, rolled into nothing) succeeds:
# SQLite reuses its WAL file, so a small write can succeed on a full disk where an event cannot.
MIN_FREE_BYTES = 1_048_576
PROBE_BYTES = 65_536
PROBE_EVERY_SECS = 1.0
EXPIRE_EVERY_SECS = 60.0
# Rows per expiry transaction, the most a writer's commit waits behind. Sweeping 95,000 1 KB history
# rows while spooling (bench/sweep.py): chunks of 64 kept the spool's commit p99 at 3.2 ms (0.8 with
# no sweep) for 2.25 s of CPU; 512, 16.7 ms for 1.99 s; one statement held it 1,017 ms for 0.97 s.
# Between chunks the sweeper rests as long as the chunk took.
EXPIRE_CHUNK = 64
# The dedupe marks are swept in key order, once a tenth of them can go: deleting the oldest first
# touched one random page of the table per mark (18-25 µs each), while in key order a page gives
# up several marks at once (bench/storewrite.py; docs/benchmarks.md, ninth pass). Past
# max_entries they are swept down to MARKS_KEPT of it, for the same reason.
MARKS_SWEPT = 0.1
MARKS_KEPT = 0.9
_SEEN_BEFORE = ("SELECT source, id FROM seen WHERE (source, id) > (?, ?) AND at < ?"
                " ORDER BY source, id LIMIT ?")
# Newest first, the first second whose marks, with all the newer ones, pass the bound (the newest
# second always stays): it and every older one go.
_LAST_SECOND_PAST_BOUND = (
    "SELECT second FROM (SELECT second, sum(marks) OVER (ORDER BY second DESC) AS kept"
    " FROM seen_seconds) WHERE kept > ? AND second < (SELECT max(second) FROM seen_seconds)"
    " ORDER BY second DESC LIMIT 1")
_COUNT_MARKS = ("INSERT INTO seen_seconds (second, marks) VALUES (?, ?)"
                " ON CONFLICT (second) DO UPDATE SET marks = marks + excluded.marks")
_SEEN = "SELECT 1 FROM seen WHERE source = ? AND id = ?"
_headers_encode = msgspec.msgpack.Encoder().encode
_headers_decode = msgspec.msgpack.Decoder(list[tuple[str, bytes]]).decode


class StoreError(Exception):
    """The local store cannot take a write (disk full, read-only, I/O error)."""


@dataclass(frozen=True, slots=True)
class Spooled:
    seq: int
    record: Record
    spooled_at: float


@dataclass(slots=True)
class _Job:
    kind: str  # "spool", "probe" (fsynced); "mark", "remove", "release", "note" (crash-safe only)
    records: Sequence[Record] = ()
    keys: Sequence[Key] = ()
    seqs: Sequence[int] = ()
    hold_secs: float = 0.0
    rows: Sequence[history.Row] = ()  # event history, written in the same transaction
    acks: Sequence[tuple[int, Ack]] = ()  # spool seq -> where Kafka put it (history rows updated)
    unique: bool = True  # a spool job: skipped if its key was seen (a copy accepted meanwhile)
    done: Callable[[BaseException | None], None] = field(default=lambda error: None)


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
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._sweeper: threading.Thread | None = None
        self._stopping = threading.Event()
        # Taken around every write transaction of this process: the writer's commits and the
        # sweeper's chunks take turns at once, without SQLite's busy handler, which polls in sleeps
        # of 1, 2, 5, 10 ms (behind a sweep in chunks of 256, the spool's answers waited a median
        # 4.4 ms without this lock, 0.4 ms with it).
        self._writing = threading.Lock()
        self._readers = threading.local()
        self.failures = 0  # writes refused by the disk, for metrics
        self.commits = 0  # transactions committed (group commit makes this << writes)
        self.healthy = True  # whether the last write succeeded
        self.spool_ok = True  # whether the last fsynced (spool) write succeeded
        self._probed = 0.0  # monotonic time of the last probe write
        # this loop turn's marks (mark_soon), gathered into one job: (job, keys, rows, its future)
        self._soon: tuple[_Job, list[Key], list[history.Row], asyncio.Future[None]] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self) -> Store:
        """Create the database if needed; raise StoreError with a clear message if it cannot be."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.closing(self._connect("FULL")) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(SCHEMA)
                # The workers of a host open the store at once: one counts, the others wait for it
                # (about 3 s for 2 million marks; a full table on a slow disk could pass 10 s).
                conn.execute("PRAGMA busy_timeout=120000")
                with self._transaction(conn):
                    _count_marks_once(conn)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"opening the local store {self.path}: {exc}") from None
        self._writer = threading.Thread(target=self._write_loop, name="store-writer", daemon=True)
        self._writer.start()
        if self.expire_every_secs is not None:
            self._stopping.clear()
            self._sweeper = threading.Thread(target=self._sweep_loop, name="store-sweeper", daemon=True)
            self._sweeper.start()
        return self

    def close(self) -> None:
        if self._sweeper is not None:
            self._stopping.set()  # also ends a sweep between two chunks
            self._sweeper.join(10)
            self._sweeper = None
        if self._writer is not None:
            self._hand_over_marks()
            self._jobs.put(None)
            self._writer.join(10)
            self._writer = None
        reader = getattr(self._readers, "conn", None)
        if reader is not None:
            reader.close()
            self._readers.conn = None

    def _connect(self, synchronous: str) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    def _read(self) -> sqlite3.Connection:
        # One read connection per thread (the event loop's in practice); reads never block writers.
        conn = getattr(self._readers, "conn", None)
        if conn is None:
            conn = self._readers.conn = self._connect("NORMAL")
        return conn

    # -- reads (cheap, on the caller's thread) ---------------------------------------------------

    async def seen(self, key: Key) -> bool:
        return self.lookup(key)[0]

    def has_spooled(self) -> bool:
        return self._read().execute("SELECT 1 FROM spool LIMIT 1").fetchone() is not None

    def lookup(self, key: Key) -> tuple[bool, bool]:
        """(`seen(key)`, `has_spooled()`) in one statement: the request path asks both of every
        event, and one read instead of two is a measurable share of its CPU."""
        at, spooled = self._read().execute(
            "SELECT (SELECT at FROM seen WHERE source = ? AND id = ?),"
            " EXISTS (SELECT 1 FROM spool)", key).fetchone()
        return at is not None and self.clock() - at < self.window_secs, bool(spooled)

    def depth(self) -> tuple[int, float | None]:
        """(events in the spool, spooled_at of the oldest)."""
        count, oldest = self._read().execute("SELECT count(*), min(spooled_at) FROM spool").fetchone()
        return int(count), oldest

    def batch(self, limit: int) -> list[Spooled]:
        """The oldest spooled events in arrival order, up to the first one still held (its first
        send may yet be acknowledged; publishing past it would reorder its key)."""
        rows = self._read().execute(
            "SELECT seq, topic, key, value, headers, spooled_at, hold_until FROM spool"
            " ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        now = self.clock()
        ready = []
        for seq, topic, key, value, headers, at, hold_until in rows:
            if hold_until > now:
                break
            ready.append(Spooled(seq, Record(topic, key, value, list(_headers_decode(headers))), at))
        return ready

    # -- writes (group-committed on the writer thread, awaited from the loop) --------------------

    def reader(self) -> sqlite3.Connection:
        """This thread's read connection (the admin API's history queries)."""
        return self._read()

    async def spool(self, record: Record, key: Key, hold_secs: float = 0.0,
                    row: history.Row | None = None, unique: bool = True) -> int | None:
        """Durably keep `record` and mark `key` seen, in one fsynced transaction -> its seq, or
        None when `key` was already seen by then: another worker of the host accepted a copy of
        the event first (the write transaction is the host's one serial point), and this one is a
        duplicate, kept nowhere.

        `hold_secs` keeps the drainer off it while an earlier send of the same record may still be
        acknowledged; the caller then removes it (acked) or releases it (failed). `unique=False`
        keeps it whatever was seen (a replay republishes an accepted event on purpose)."""
        job = _Job("spool", records=[record], keys=[key], hold_secs=hold_secs, rows=[row] if row else (),
                   unique=unique)
        await self._submit(job)
        return job.seqs[0] if job.seqs else None

    async def release(self, seq: int) -> None:
        await self._submit(_Job("release", seqs=[seq]))

    async def mark(self, key: Key, row: history.Row | None = None) -> None:
        await self._submit(_Job("mark", keys=[key], rows=[row] if row else ()))

    async def remove(self, seqs: Sequence[int], acks: Sequence[tuple[int, Ack]] = ()) -> None:
        await self._submit(_Job("remove", seqs=seqs, acks=acks))

    def note(self, row: history.Row) -> None:
        """Record a history row (a duplicate) with the next group commit, without waiting for it."""
        if self._writer is not None:
            self._hand_over_marks()
            self._jobs.put(_Job("note", rows=[row]))

    def mark_soon(self, key: Key, row: history.Row | None = None) -> asyncio.Future[None]:
        """As `mark`, without waiting: -> a future resolved once committed (or failed with
        StoreError). Marks are not durable promises (see the module docstring), so a commit may
        gather them for up to MARK_WINDOW_SECS: far fewer transactions per event.

        The marks of one turn of the event loop go to the writer as one job and share one future:
        a job, a future and a thread wake-up per event cost a tenth of the request path."""
        if self._writer is None:
            raise StoreError("the local store is closed")
        if self._soon is None:
            keys: list[Key] = []
            rows: list[history.Row] = []
            job = _Job("mark", keys=keys, rows=rows)
            self._soon = (job, keys, rows, self._future_for(job))
            asyncio.get_running_loop().call_soon(self._hand_over_marks)
        _, keys, rows, done = self._soon
        keys.append(key)
        if row is not None:
            rows.append(row)
        return done

    def _hand_over_marks(self) -> None:
        """This turn's marks to the writer; first thing on any other write, so none overtakes them."""
        if self._soon is not None:
            self._jobs.put(self._soon[0])
            self._soon = None

    async def flush(self) -> None:
        """Wait until every write queued so far is committed (the admin API reads the event
        history after this, so it shows what was answered before, gathered marks included)."""
        await self._submit(_Job("flush"))

    async def _submit(self, job: _Job) -> None:
        await self._enqueue(job)

    def _enqueue(self, job: _Job) -> asyncio.Future[None]:
        if self._writer is None:
            raise StoreError("the local store is closed")
        future = self._future_for(job)
        self._hand_over_marks()
        self._jobs.put(job)
        return future

    def _future_for(self, job: _Job) -> asyncio.Future[None]:
        """A future on this loop that the writer thread settles when `job` is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def done(error: BaseException | None) -> None:
            def settle() -> None:
                if future.done():
                    return
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

            with contextlib.suppress(RuntimeError):  # that loop has closed: nobody is waiting
                loop.call_soon_threadsafe(settle)

        job.done = done
        return future

    def _write_loop(self) -> None:
        full, normal = self._connect("FULL"), self._connect("NORMAL")
        while True:
            job = self._jobs.get()
            if job is None:
                break
            group = [job]
            # Only marks and notes: wait a moment for more (nobody awaits them for an answer);
            # a spool job ends the wait at once, its answer waits for the fsync.
            until = time.monotonic() + (MARK_WINDOW_SECS if job.kind in _GATHERED else 0.0)
            while len(group) < MAX_GROUP:
                wait = until - time.monotonic()
                try:
                    more = self._jobs.get(timeout=wait) if wait > 0 else self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)  # finish this group, then stop
                    break
                group.append(more)
                if more.kind not in _GATHERED:
                    until = 0.0  # take what is queued now, then commit
            durable = [j for j in group if j.kind in _DURABLE]
            other = [j for j in group if j.kind not in _DURABLE]
            if durable:
                self.spool_ok = self._commit(full, durable)
            if other:
                self._commit(normal, other)
        full.close()
        normal.close()

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
        if not self.spool_ok and self._writer is not None and now - self._probed >= PROBE_EVERY_SECS:
            self._probed = now
            self._jobs.put(_Job("probe"))
        return self.spool_ok

    def _commit(self, conn: sqlite3.Connection, jobs: list[_Job]) -> bool:
        now = self.clock()
        try:
            with self._transaction(conn):
                for job in jobs:
                    _apply(conn, job, now)
        except sqlite3.Error as exc:
            self.failures += 1
            self.healthy = False
            log.error("writing the local store %s: %s", self.path, exc)
            error = StoreError(f"writing the local store: {exc}")
            for job in jobs:
                job.done(error)
            return False
        self.healthy = True
        self.commits += 1
        for job in jobs:
            job.done(None)
        return True

    @contextlib.contextmanager
    def _transaction(self, conn: sqlite3.Connection) -> Iterator[None]:
        """One write transaction, under this process's write lock (the writer's and the sweeper's
        take turns); rolled back if a statement fails."""
        with self._writing:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
                conn.execute("COMMIT")
            except sqlite3.Error:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise

    # -- expiry (on the sweeper thread) -----------------------------------------------------------

    def _sweep_loop(self) -> None:
        assert self.expire_every_secs is not None
        conn = self._sweeping_connection()
        try:
            while not self._stopping.wait(self.expire_every_secs):
                started = time.monotonic()
                try:
                    deleted = self.expire(conn)
                except Exception:  # a dead sweeper would let the disk fill: say so, sweep next time
                    log.exception("sweeping the local store %s", self.path)
                    continue
                log.debug("expired %d rows in %.1f s", deleted, time.monotonic() - started)
        finally:
            conn.close()

    def expire(self, conn: sqlite3.Connection | None = None, chunk: int = EXPIRE_CHUNK,
               rest: Callable[[float], bool] | None = None) -> int:
        """Forget dedupe ids older than the window and the oldest beyond max_entries (bounded disk),
        and history rows past their bounds -> rows deleted.

        Each transaction deletes at most `chunk` rows; between two, `rest(seconds the last one
        took)` runs, and a true answer (the store is closing) ends the sweep early."""
        own = conn is None
        conn = self._sweeping_connection() if conn is None else conn
        rest = rest or self._stopping.wait
        deleted = 0
        try:
            try:
                cutoff = self._seen_cutoff(conn)
                if cutoff is not None:
                    deleted, stopped = self._forget_seen(conn, cutoff, chunk, rest)
                    if stopped:
                        return deleted
            except sqlite3.Error as exc:
                log.warning("expiring the dedupe window: %s", exc)
            try:
                for sql, args in history.expiry(conn, self.clock() - self.history_retention_secs,
                                                self.history_max_rows):
                    count, stopped = self._in_chunks(conn, sql, args, chunk, rest)
                    deleted += count
                    if stopped:
                        return deleted
            except sqlite3.Error as exc:
                log.warning("expiring the event history: %s", exc)
        finally:
            if own:
                conn.close()
        return deleted

    def _in_chunks(self, conn: sqlite3.Connection, sql: str, args: tuple[object, ...], chunk: int,
                   rest: Callable[[float], bool]) -> tuple[int, bool]:
        """Run a chunked DELETE until it deletes fewer than `chunk` rows -> (rows, whether stopped)."""
        deleted = 0
        while True:
            started = time.monotonic()
            with self._transaction(conn):
                count = conn.execute(sql, (*args, chunk)).rowcount
            # The checkpoint its deletes call for runs here, outside the write lock, rather than in
            # a commit that holds it (a chunk with a checkpoint took 20-30 ms instead of 3-4 ms).
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            deleted += count
            if count < chunk:
                return deleted, False
            if rest(time.monotonic() - started):
                return deleted, True

    def _sweeping_connection(self) -> sqlite3.Connection:
        conn = self._connect("NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # see _in_chunks
        return conn

    def _seen_cutoff(self, conn: sqlite3.Connection) -> float | None:
        """The `at` before which dedupe marks go (past the window, or the oldest beyond
        max_entries, by whole seconds), or None while fewer than MARKS_SWEPT of them would.

        Summed in SQL: a full window is 259,200 seconds, and sqlite3 lets go of the GIL while a
        statement runs (fetched and summed in Python, 120 ms holding it once a minute)."""
        (total,) = conn.execute("SELECT coalesce(sum(marks), 0) FROM seen_seconds").fetchone()
        cutoff = self.clock() - self.window_secs
        if total > self.max_entries:
            last_gone = conn.execute(_LAST_SECOND_PAST_BOUND, (self.max_entries * MARKS_KEPT,)).fetchone()
            if last_gone is not None:
                cutoff = max(cutoff, last_gone[0] + 1)
        (going,) = conn.execute("SELECT coalesce(sum(marks), 0) FROM seen_seconds WHERE second + 1 <= ?",
                                (cutoff,)).fetchone()
        if not going or (going < total * MARKS_SWEPT and total <= self.max_entries):
            return None
        return cutoff

    def _forget_seen(self, conn: sqlite3.Connection, cutoff: float, chunk: int,
                     rest: Callable[[float], bool]) -> tuple[int, bool]:
        """Delete the marks older than `cutoff`, in key order, `chunk` per transaction ->
        (marks deleted, whether stopped). Their seconds' counts go once all of them have."""
        deleted, after = 0, ("", "")
        while True:
            started = time.monotonic()
            with self._transaction(conn):
                keys = conn.execute(_SEEN_BEFORE, (*after, cutoff, chunk)).fetchall()
                conn.executemany("DELETE FROM seen WHERE source = ? AND id = ?", keys)
                if len(keys) < chunk:
                    conn.execute("DELETE FROM seen_seconds WHERE second < ?", (math.floor(cutoff),))
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # see _in_chunks
            deleted += len(keys)
            if len(keys) < chunk:
                return deleted, False
            after = keys[-1]
            if rest(time.monotonic() - started):
                return deleted, True


def _count_marks_once(conn: sqlite3.Connection) -> None:
    """A store from before `seen_seconds` has its marks counted once, through the index on `at`
    it had instead, which then goes (in the caller's transaction)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'seen_by_age'"
                    ).fetchone() is not None:
        conn.execute("INSERT INTO seen_seconds (second, marks)"
                     " SELECT CAST(at AS INTEGER), count(*) FROM seen WHERE true GROUP BY 1"
                     " ON CONFLICT (second) DO UPDATE SET marks = marks + excluded.marks")
        conn.execute("DROP INDEX seen_by_age")


def _apply(conn: sqlite3.Connection, job: _Job, now: float) -> None:
    if job.kind == "probe":  # as large a write as a small event's, then nothing is left of it
        seq = conn.execute("INSERT INTO spool (topic, key, value, headers, spooled_at, hold_until)"
                           " VALUES ('', x'', zeroblob(?), x'', ?, 9e999)", (PROBE_BYTES, now)).lastrowid
        conn.execute("DELETE FROM spool WHERE seq = ?", (seq,))
        return
    if job.kind == "spool":
        if job.unique and any(conn.execute(_SEEN, key).fetchone() for key in job.keys):
            job.seqs = []  # a copy accepted meanwhile, by another worker: nothing to keep
            return
        job.seqs = [
            conn.execute(
                "INSERT INTO spool (topic, key, value, headers, spooled_at, hold_until)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (r.topic, r.key, r.value, _headers_encode(r.headers), now,
                 now + job.hold_secs if job.hold_secs else 0),
            ).lastrowid or 0
            for r in job.records
        ]
    if job.keys:
        conn.executemany("INSERT OR REPLACE INTO seen (source, id, at) VALUES (?, ?, ?)",
                         [(source, id_, now) for source, id_ in job.keys])
        conn.execute(_COUNT_MARKS, (int(now), len(job.keys)))
    if job.rows:
        history.insert(conn, job.rows, job.seqs if job.kind == "spool" else (), now)
    if job.acks:
        history.acked(conn, job.acks, now)
    if job.kind == "remove":
        conn.executemany("DELETE FROM spool WHERE seq = ?", [(seq,) for seq in job.seqs])
    elif job.kind == "release":
        conn.executemany("UPDATE spool SET hold_until = 0 WHERE seq = ?", [(seq,) for seq in job.seqs])
