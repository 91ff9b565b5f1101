"""Expiry: dedupe marks past the window or past `max_entries`, and history rows past their bounds,
deleted by a sweeper thread of its own once a minute, in transactions of at most EXPIRE_CHUNK rows:
one statement once deleted a minute's 95,000 history rows at 1,600 events/s and held the writer,
and so the spool's answers, for 1.7 s.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from gateway import history
from gateway.store.writer import transaction

log = logging.getLogger("gateway.store")

EXPIRE_EVERY_SECS = 60.0
# Rows per expiry transaction, the most a writer's commit waits behind. Sweeping 95,000 1 KB history
# rows while spooling (bench/sweep.py): chunks of 64 kept the spool's commit p99 at 3.2 ms (0.8 with
# no sweep) for 2.25 s of CPU; 512, 16.7 ms for 1.99 s; one statement held it 1,017 ms for 0.97 s.
# Between chunks the sweeper rests as long as the chunk took.
EXPIRE_CHUNK = 64
# The dedupe marks are swept in key order, once a tenth of them can go: deleting the oldest first
# touched one random page of the table per mark (18-25 µs each), while in key order a page gives
# up several marks at once (bench/storewrite.py; docs/benchmarks.md, decisions). Past
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

Rest = Callable[[float], bool]  # (seconds the last chunk took) -> whether to stop


class Bounds(Protocol):
    """The store's bounds, read at each sweep (a bench changes them between sweeps)."""

    window_secs: float
    max_entries: int
    history_retention_secs: float
    history_max_rows: int


class Sweeper:
    def __init__(self, bounds: Bounds, lock: threading.Lock, clock: Callable[[], float],
                 connect: Callable[[str], sqlite3.Connection], path: Path) -> None:
        self._bounds = bounds
        self._lock = lock  # the writer's: its commits and these chunks take turns
        self._clock = clock
        self._connect = connect
        self._path = path
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, every_secs: float) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, args=(every_secs,), name="store-sweeper",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stopping.set()  # also ends a sweep between two chunks
            self._thread.join(10)
            self._thread = None

    def _loop(self, every_secs: float) -> None:
        conn = self.connection()
        try:
            while not self._stopping.wait(every_secs):
                started = time.monotonic()
                try:
                    deleted = self.expire(conn)
                except Exception:  # a dead sweeper would let the disk fill: say so, sweep next time
                    log.exception("sweeping the local store %s", self._path)
                    continue
                log.debug("expired %d rows in %.1f s", deleted, time.monotonic() - started)
        finally:
            conn.close()

    def connection(self) -> sqlite3.Connection:
        conn = self._connect("NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # see _in_chunks
        return conn

    def expire(self, conn: sqlite3.Connection | None = None, chunk: int = EXPIRE_CHUNK,
               rest: Rest | None = None) -> int:
        """See Store.expire."""
        own = conn is None
        conn = self.connection() if conn is None else conn
        rest = rest or self._stopping.wait
        bounds = self._bounds
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
                for sql, args in history.expiry(conn, self._clock() - bounds.history_retention_secs,
                                                bounds.history_max_rows):
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
                   rest: Rest) -> tuple[int, bool]:
        """Run a chunked DELETE until it deletes fewer than `chunk` rows -> (rows, whether stopped)."""
        deleted = 0
        while True:
            started = time.monotonic()
            with transaction(self._lock, conn):
                count = conn.execute(sql, (*args, chunk)).rowcount
            # The checkpoint its deletes call for runs here, outside the write lock, rather than in
            # a commit that holds it (a chunk with a checkpoint took 20-30 ms instead of 3-4 ms).
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            deleted += count
            if count < chunk:
                return deleted, False
            if rest(time.monotonic() - started):
                return deleted, True

    def _seen_cutoff(self, conn: sqlite3.Connection) -> float | None:
        """The `at` before which dedupe marks go (past the window, or the oldest beyond
        max_entries, by whole seconds), or None while fewer than MARKS_SWEPT of them would.

        Summed in SQL: a full window is 259,200 seconds, and sqlite3 lets go of the GIL while a
        statement runs (fetched and summed in Python, 120 ms holding it once a minute)."""
        max_entries = self._bounds.max_entries
        (total,) = conn.execute("SELECT coalesce(sum(marks), 0) FROM seen_seconds").fetchone()
        cutoff = self._clock() - self._bounds.window_secs
        if total > max_entries:
            last_gone = conn.execute(_LAST_SECOND_PAST_BOUND, (max_entries * MARKS_KEPT,)).fetchone()
            if last_gone is not None:
                cutoff = max(cutoff, last_gone[0] + 1)
        (going,) = conn.execute("SELECT coalesce(sum(marks), 0) FROM seen_seconds WHERE second + 1 <= ?",
                                (cutoff,)).fetchone()
        if not going or (going < total * MARKS_SWEPT and total <= max_entries):
            return None
        return cutoff

    def _forget_seen(self, conn: sqlite3.Connection, cutoff: float, chunk: int,
                     rest: Rest) -> tuple[int, bool]:
        """Delete the marks older than `cutoff`, in key order, `chunk` per transaction ->
        (marks deleted, whether stopped). Their seconds' counts go once all of them have."""
        deleted, after = 0, ("", "")
        while True:
            started = time.monotonic()
            with transaction(self._lock, conn):
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
