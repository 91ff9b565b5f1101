"""Group commit: one writer thread per process takes every job queued while the previous commit
was flushing and commits them together, so N concurrent spooled requests cost one fsync, not N.

Jobs whose answer waits for them (a spool write, a probe) are committed with `synchronous=FULL`;
marks, history rows and removals with `NORMAL` (they survive a process crash; a power cut may lose
the last ones, which then costs at most a duplicate record, never a lost event). Marks and notes
do not hold an answer either: the writer gathers them for up to MARK_WINDOW_SECS per commit (any
other job ends the wait at once). Each job's future is settled on the event loop that made it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gateway import history
from gateway.dedupe import Key
from gateway.errors import StoreError
from gateway.publish import Ack, Record

log = logging.getLogger("gateway.store")

MAX_GROUP = 512  # jobs per commit; bounds one transaction's size and latency
# Marks after a Kafka ack and history notes are gathered this long per commit: committing each
# on its own cost about as much CPU as the rest of the request (docs/benchmarks.md).
MARK_WINDOW_SECS = 0.005
GATHERED = frozenset({"mark", "note"})
DURABLE = frozenset({"spool", "probe"})  # committed with synchronous=FULL


@dataclass(slots=True)
class Job:
    kind: str  # "spool", "probe" (fsynced); "mark", "remove", "release", "note", "flush" (crash-safe only)
    records: Sequence[Record] = ()
    keys: Sequence[Key] = ()
    seqs: Sequence[int] = ()
    hold_secs: float = 0.0
    rows: Sequence[history.Row] = ()  # event history, written in the same transaction
    acks: Sequence[tuple[int, Ack]] = ()  # spool seq -> where Kafka put it (history rows updated)
    unique: bool = True  # a spool job: skipped if its key was seen (a copy accepted meanwhile)
    # the accepted body's SHA-256 for each of `keys` (same order; None: not known), kept with its
    # mark so a later delivery of the same id with another body is told apart (`id_conflict`)
    digests: Sequence[bytes | None] = ()
    done: Callable[[BaseException | None], None] = field(default=lambda error: None)


Apply = Callable[[sqlite3.Connection, Job, float], None]  # a job's statements, in a transaction


@contextlib.contextmanager
def transaction(lock: threading.Lock, conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction under this process's write lock (the writer's commits and the
    sweeper's chunks take turns); rolled back if a statement fails."""
    with lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise


def future_for(job: Job) -> asyncio.Future[None]:
    """A future on the running loop that the writer thread settles when `job` is committed."""
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


class Writer:
    """The writer thread and what it counts. `lock` is taken around every write transaction of
    the process: the writer's commits and the sweeper's chunks take turns at once, without
    SQLite's busy handler, which polls in sleeps of 1, 2, 5, 10 ms (behind a sweep in chunks of
    256, the spool's answers waited a median 4.4 ms without this lock, 0.4 ms with it)."""

    def __init__(self, path: Path, apply: Apply, clock: Callable[[], float],
                 connect: Callable[[str], sqlite3.Connection]) -> None:
        self.path = path
        self.lock = threading.Lock()
        self._apply = apply
        self._clock = clock
        self._connect = connect
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.failures = 0  # commits refused by the disk
        self.commits = 0  # transactions committed (group commit makes this << writes)
        self.spool_ok = True  # whether the last fsynced (spool) write succeeded
        self.on_failure: Callable[[], None] = lambda: None  # a metric (Store.count_failures)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="store-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Commit what is queued, then end the thread."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(10)
            self._thread = None

    def put(self, job: Job) -> None:
        self._jobs.put(job)

    def _loop(self) -> None:
        full, normal = self._connect("FULL"), self._connect("NORMAL")
        while True:
            job = self._jobs.get()
            if job is None:
                break
            group = [job]
            # Only marks and notes: wait a moment for more (nobody awaits them for an answer);
            # a spool job ends the wait at once, its answer waits for the fsync.
            until = time.monotonic() + (MARK_WINDOW_SECS if job.kind in GATHERED else 0.0)
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
                if more.kind not in GATHERED:
                    until = 0.0  # take what is queued now, then commit
            durable = [j for j in group if j.kind in DURABLE]
            other = [j for j in group if j.kind not in DURABLE]
            if durable:
                self.spool_ok = self.commit(full, durable)
            if other:
                self.commit(normal, other)
        full.close()
        normal.close()

    def commit(self, conn: sqlite3.Connection, jobs: list[Job]) -> bool:
        """`jobs` in one transaction on `conn`; each job's `done` is told how it went."""
        now = self._clock()
        try:
            with transaction(self.lock, conn):
                for job in jobs:
                    self._apply(conn, job, now)
        except sqlite3.Error as exc:
            self.failures += 1
            self.on_failure()
            log.error("writing the local store %s: %s", self.path, exc)
            error = StoreError(f"writing the local store: {exc}")
            for job in jobs:
                job.done(error)
            return False
        self.commits += 1
        for job in jobs:
            job.done(None)
        return True
