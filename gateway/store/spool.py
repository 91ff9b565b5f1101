"""What a job writes (spooled events, dedupe marks and their per-second counts, history rows, in
the writer's transaction) and what the request path and the drainer read back on their own thread.

A spool job is the host's one serial point: it is skipped when its key was marked seen by the time
its transaction runs (another worker accepted a copy first), and otherwise writes the event and its
mark together, so a crash cannot keep one without the other.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import msgspec

from gateway import history
from gateway.dedupe import Key
from gateway.publish import Record
from gateway.store.writer import Job

# A probe write is as large as a small event's (see Store.spool_writable).
PROBE_BYTES = 65_536
_SEEN = "SELECT 1 FROM seen WHERE source = ? AND id = ?"
_COUNT_MARKS = ("INSERT INTO seen_seconds (second, marks) VALUES (?, ?)"
                " ON CONFLICT (second) DO UPDATE SET marks = marks + excluded.marks")
_INSERT = ("INSERT INTO spool (topic, key, value, headers, spooled_at, hold_until)"
           " VALUES (?, ?, ?, ?, ?, ?)")
_headers_encode = msgspec.msgpack.Encoder().encode
_headers_decode = msgspec.msgpack.Decoder(list[tuple[str, bytes]]).decode


@dataclass(frozen=True, slots=True)
class Spooled:
    seq: int
    record: Record
    spooled_at: float


def apply(conn: sqlite3.Connection, job: Job, now: float) -> None:
    """`job`'s statements, inside the writer's transaction."""
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
            conn.execute(_INSERT, (r.topic, r.key, r.value, _headers_encode(r.headers), now,
                                   now + job.hold_secs if job.hold_secs else 0)).lastrowid or 0
            for r in job.records
        ]
    if job.keys:
        digests = list(job.digests) + [None] * (len(job.keys) - len(job.digests))
        conn.executemany("INSERT OR REPLACE INTO seen (source, id, at, body) VALUES (?, ?, ?, ?)",
                         [(source, id_, now, digest)
                          for (source, id_), digest in zip(job.keys, digests, strict=True)])
        conn.execute(_COUNT_MARKS, (int(now), len(job.keys)))
    if job.rows:
        history.insert(conn, job.rows, job.seqs if job.kind == "spool" else (), now)
    if job.acks:
        history.acked(conn, job.acks, now)
    if job.kind == "remove":
        conn.executemany("DELETE FROM spool WHERE seq = ?", [(seq,) for seq in job.seqs])
    elif job.kind == "release":
        conn.executemany("UPDATE spool SET hold_until = 0 WHERE seq = ?", [(seq,) for seq in job.seqs])


def accepted_body(conn: sqlite3.Connection, key: Key) -> bytes | None:
    """The SHA-256 of the body accepted under `key`, if its mark kept one (marks written before
    the column existed did not)."""
    row = conn.execute("SELECT body FROM seen WHERE source = ? AND id = ?", key).fetchone()
    return bytes(row[0]) if row is not None and row[0] is not None else None


def lookup(conn: sqlite3.Connection, key: Key, now: float, window_secs: float) -> tuple[bool, bool]:
    """(whether `key` is marked within the window, whether the spool holds events)."""
    at, spooled = conn.execute(
        "SELECT (SELECT at FROM seen WHERE source = ? AND id = ?),"
        " EXISTS (SELECT 1 FROM spool)", key).fetchone()
    return at is not None and now - at < window_secs, bool(spooled)


def has_spooled(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM spool LIMIT 1").fetchone() is not None


def depth(conn: sqlite3.Connection) -> tuple[int, float | None]:
    count, oldest = conn.execute("SELECT count(*), min(spooled_at) FROM spool").fetchone()
    return int(count), oldest


def batch(conn: sqlite3.Connection, limit: int, now: float) -> list[Spooled]:
    """The oldest spooled events in arrival order, up to the first one still held."""
    rows = conn.execute("SELECT seq, topic, key, value, headers, spooled_at, hold_until FROM spool"
                        " ORDER BY seq LIMIT ?", (limit,)).fetchall()
    ready = []
    for seq, topic, key, value, headers, at, hold_until in rows:
        if hold_until > now:
            break
        ready.append(Spooled(seq, Record(topic, key, value, list(_headers_decode(headers))), at))
    return ready
