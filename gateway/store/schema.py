"""The store's tables, its connections, and the migration of a store written by an older version."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

from gateway import history
from gateway.store.writer import transaction

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
    body BLOB,  -- SHA-256 of the accepted body (id_conflict); NULL in marks from older stores
    PRIMARY KEY (source, id)
) WITHOUT ROWID;
-- Marks per second of `at`: the sweeper's count of the dedupe table, oldest first, without an
-- index on `at` (whose random deletes, in a table keyed by (source, id), cost more than the marks).
CREATE TABLE IF NOT EXISTS seen_seconds (
    second INTEGER PRIMARY KEY,
    marks INTEGER NOT NULL
);
""" + history.SCHEMA


def connect(path: Path, synchronous: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), usable from any thread."""
    conn = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def create(path: Path, lock: threading.Lock) -> None:
    """The database in WAL mode with every table, an older store migrated; raises OSError or
    sqlite3.Error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(connect(path, "FULL")) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        # The workers of a host open the store at once: one counts, the others wait for it
        # (about 3 s for 2 million marks; a full table on a slow disk could pass 10 s).
        conn.execute("PRAGMA busy_timeout=120000")
        with transaction(lock, conn):
            _migrate(conn)


def _migrate(conn: sqlite3.Connection) -> None:
    """What a store written by an older version has that this one does not, in the caller's
    transaction. The event history's index on `id` goes: it cost more than it gave (`find` goes
    through the dedupe mark). A store from before `seen_seconds` has its marks counted once,
    through the index on `at` it had instead, which then goes too. A store from before the marks kept
their body's hash gains the column; its old marks have none (never a conflict)."""
    conn.execute("DROP INDEX IF EXISTS events_by_id")
    if "body" not in [column[1] for column in conn.execute("PRAGMA table_info(seen)")]:
        conn.execute("ALTER TABLE seen ADD COLUMN body BLOB")  # no rewrite: old marks read NULL
    if "secret_slot" not in [column[1] for column in conn.execute("PRAGMA table_info(events)")]:
        conn.execute("ALTER TABLE events ADD COLUMN secret_slot INTEGER")  # old rows: NULL
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'seen_by_age'"
                    ).fetchone() is not None:
        conn.execute("INSERT INTO seen_seconds (second, marks)"
                     " SELECT CAST(at AS INTEGER), count(*) FROM seen WHERE true GROUP BY 1"
                     " ON CONFLICT (second) DO UPDATE SET marks = marks + excluded.marks")
        conn.execute("DROP INDEX seen_by_age")
