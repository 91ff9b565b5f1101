"""The event history: one row per accepted delivery, kept in the store's database (table `events`)
so that an operator can find an event, see where it went and republish it.

Rows are written by the store's writer thread inside the same group-committed transaction as the
event's spool entry or dedupe mark (no extra fsync or round trip per request); duplicates are noted
without being awaited. Reads run on the caller's thread with the store's per-thread connection.

A row keeps the Kafka record as it was (topic, key, envelope value, ce_* headers): never a
credential, since verification headers are not part of the record. Bounded by age and row count.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from gateway.publish import Ack, Record

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    source TEXT NOT NULL,
    type TEXT,                      -- NULL for a dead letter
    subject TEXT,
    status TEXT NOT NULL,           -- published | spooled | deadlettered | duplicate
    acked_status TEXT,              -- what a spooled row becomes once the drainer's send is acked
    topic TEXT NOT NULL,
    kafka_partition INTEGER,
    kafka_offset INTEGER,
    received_at REAL NOT NULL,
    published_at REAL,
    spool_seq INTEGER,
    replayed INTEGER NOT NULL DEFAULT 0,
    secret_slot INTEGER,            -- which configured secret or credential matched (rotation)
    key BLOB,                       -- the record as published; NULL on duplicate rows
    value BLOB,
    headers BLOB
);
CREATE INDEX IF NOT EXISTS events_by_age ON events (received_at);
CREATE INDEX IF NOT EXISTS events_by_spool ON events (spool_seq) WHERE spool_seq IS NOT NULL;
"""
STATUSES = ("published", "spooled", "deadlettered", "duplicate")
_COLUMNS = ("seq, id, source, type, subject, status, topic, kafka_partition, kafka_offset,"
            " received_at, published_at, replayed, secret_slot")
_headers_encode = msgspec.msgpack.Encoder().encode
_headers_decode = msgspec.msgpack.Decoder(list[tuple[str, bytes]]).decode


class Row(msgspec.Struct, frozen=True, gc=False):  # a Struct: see gateway.publish.Record
    """One delivery to record. `record` is None for a duplicate (the first row keeps the copy)."""

    id: str
    source: str
    type: str | None
    subject: str | None
    status: str
    topic: str
    received_at: float
    record: Record | None = None
    ack: Ack | None = None
    acked_status: str | None = None  # for a spooled row
    replayed: bool = False
    secret_slot: int | None = None  # position of the secret or credential that matched


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    id: str
    source: str
    type: str | None
    subject: str | None
    status: str
    topic: str
    partition: int | None
    offset: int | None
    received_at: float
    published_at: float | None
    replayed: bool
    secret_slot: int | None = None


# -- writes (on the store's writer thread, inside its transaction) -------------------------------

def insert(conn: sqlite3.Connection, rows: Sequence[Row], spool_seqs: Sequence[int], now: float) -> None:
    """Rows of a spool job carry the seq of their spool entry, so the drainer's ack finds them."""
    seqs = list(spool_seqs) + [None] * (len(rows) - len(spool_seqs))
    conn.executemany(
        "INSERT INTO events (id, source, type, subject, status, acked_status, topic, kafka_partition,"
        " kafka_offset, received_at, published_at, spool_seq, replayed, key, value, headers,"
        " secret_slot) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(r.id, r.source, r.type, r.subject, r.status, r.acked_status, r.topic,
          r.ack.partition if r.ack else None, r.ack.offset if r.ack else None, r.received_at,
          now if r.ack else None, seq, int(r.replayed),
          r.record.key if r.record else None, r.record.value if r.record else None,
          _headers_encode(r.record.headers) if r.record else None, r.secret_slot)
         for r, seq in zip(rows, seqs, strict=True)],
    )


def acked(conn: sqlite3.Connection, acks: Sequence[tuple[int, Ack]], now: float) -> None:
    """Spooled events the drainer (or a late ack) got into Kafka: now published, with their place."""
    conn.executemany(
        "UPDATE events SET status = coalesce(acked_status, 'published'), kafka_partition = ?,"
        " kafka_offset = ?, published_at = ?, spool_seq = NULL WHERE spool_seq = ? AND status = 'spooled'",
        [(ack.partition, ack.offset, now, seq) for seq, ack in acks],
    )


def expiry(conn: sqlite3.Connection, older_than: float,
           max_rows: int) -> Iterator[tuple[str, tuple[object, ...]]]:
    """The deletes that bound the history, each a statement whose last parameter is the chunk size
    (the store's sweeper runs them in small transactions). The row-count bound is found after the
    age bound has been applied, so it only counts what is left."""
    yield ("DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE received_at < ? LIMIT ?)",
           (older_than,))
    last_gone = conn.execute("SELECT seq FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?",
                             (max_rows,)).fetchone()
    if last_gone is not None:
        yield "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE seq <= ? LIMIT ?)", last_gone


# -- reads ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Filter:
    source: str | None = None
    type: str | None = None  # exact, or a glob with `*`
    status: str | None = None
    since: float | None = None  # received at or after (unix time)
    before: int | None = None  # cursor: rows older than this seq


def select(conn: sqlite3.Connection, wanted: Filter, limit: int) -> list[Event]:
    """Newest first; at most `limit` rows."""
    where: list[str] = []
    args: list[object] = []
    for column, value in (("source", wanted.source), ("status", wanted.status)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if wanted.type is not None:
        where.append("type GLOB ?" if "*" in wanted.type else "type = ?")
        args.append(wanted.type)
    if wanted.since is not None:
        where.append("received_at >= ?")
        args.append(wanted.since)
    if wanted.before is not None:
        where.append("seq < ?")
        args.append(wanted.before)
    sql = f"SELECT {_COLUMNS} FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = conn.execute(sql + " ORDER BY seq DESC LIMIT ?", (*args, limit)).fetchall()
    return [_event(row) for row in rows]


# How long before its dedupe mark a delivery's row can have been received: the mark is written with
# the spool entry, or after the broker's ack (within the ack timeout; in practice milliseconds). A
# mark may also be a little older than its row if the clock is stepped back.
MARK_LAG_SECS = 600.0
CLOCK_SLACK_SECS = 1.0


def find(conn: sqlite3.Connection, id_: str, source: str | None = None,
         sources: Iterable[str] | None = None) -> tuple[Event, Record] | None:
    """The newest row of an envelope id that holds the record (not a duplicate), with the record.

    The history has no index on `id`: it cost 14 µs of every write and as much of every row's
    delete (docs/benchmarks.md, eighth pass). The dedupe mark (the store's `seen` table, keyed by
    (source, id)) says when the newest delivery was marked, and its row is found near that time.
    Without `source`, the marks of `sources` (the configured ones) are asked. When no mark leads to
    a row (it expired before the row, the source is no longer configured, the id is unknown), every
    row is walked: about 0.1 s for a full history, and only on the admin API's thread."""
    where, args = "id = ? AND value IS NOT NULL", [id_]
    if source is not None:
        where += " AND source = ?"
        args.append(source)
    names = [source] if source is not None else sources or ()
    marked = max((at for name in names for (at,) in conn.execute(
        "SELECT at FROM seen WHERE source = ? AND id = ?", (name, id_))), default=None)
    if marked is not None:
        found = _newest(conn, "received_at BETWEEN ? AND ? AND " + where,
                        [marked - MARK_LAG_SECS, marked + CLOCK_SLACK_SECS, *args])
        if found is not None:
            return found
    return _newest(conn, where, args)


def _newest(conn: sqlite3.Connection, where: str, args: Sequence[object]) -> tuple[Event, Record] | None:
    row = conn.execute(f"SELECT {_COLUMNS}, key, value, headers FROM events WHERE {where}"
                       " ORDER BY received_at DESC, seq DESC LIMIT 1", args).fetchone()
    if row is None:
        return None
    event = _event(row[:13])
    key, value, headers = row[13:]
    return event, Record(event.topic, key, value, list(_headers_decode(headers)))


def counts_since(conn: sqlite3.Connection, since: float) -> dict[tuple[str, str], int]:
    """(source, status) -> rows received since `since` (the status page's last hour)."""
    rows = conn.execute("SELECT source, status, count(*) FROM events WHERE received_at >= ?"
                        " AND replayed = 0 GROUP BY source, status", (since,)).fetchall()
    return {(source, status): count for source, status, count in rows}


def _event(row: Sequence[Any]) -> Event:  # a row of _COLUMNS, as SQLite returns it
    (seq, id_, source, type_, subject, status, topic, partition, offset, received, published,
     replayed, slot) = row
    return Event(int(seq), str(id_), str(source), type_, subject, str(status), str(topic),
                 partition, offset, float(received), published, bool(replayed), slot)
