"""The local audit log: every rejection is written here first, then shipped to `{prefix}.rejected`.

Layout under `{storage.path}/audit/`:

    w0/lock                 held (flock) by the worker process writing w0
    w0/000000000001.jsonl   JSON lines, one audit record each; a new segment past `segment_bytes`
    w0/cursor               "<segment> <offset>": everything before it reached Kafka

Each worker claims its own slot directory, so workers never interleave writes; a slot left by a
stopped worker is claimed again at the next start and its backlog shipped. The log is bounded:
past `max_segments` the oldest segment is deleted, shipped or not (counted in `dropped`), so a
flood of rejections while Kafka is down cannot fill the disk.

Records are written with one write(2) each (a process crash loses nothing written) and fsynced
by the shipper once per batch, not per record: a flood must not turn into a flood of disk syncs.
Delivery to Kafka is at least once (a crash between ack and cursor update resends a batch);
records carry a unique `id` for consumers that care.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from gateway.publish import Publisher, Record, Unavailable

log = logging.getLogger("gateway.audit")

MAX_SLOTS = 256
_decode = msgspec.json.Decoder(dict).decode


@dataclass(frozen=True, order=True, slots=True)
class Position:
    segment: int
    offset: int


def _segments(slot: Path) -> list[int]:
    found = []
    for path in slot.glob("*.jsonl"):
        if path.stem.isdigit():
            found.append(int(path.stem))
    return sorted(found)


def _name(slot: Path, segment: int) -> Path:
    return slot / f"{segment:012d}.jsonl"


class AuditLog:
    def __init__(self, root: Path, segment_bytes: int = 1_048_576, max_segments: int = 16) -> None:
        self.root = root
        self.segment_bytes = segment_bytes
        self.max_segments = max_segments
        self.slot: Path | None = None
        self.dropped = 0
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._segment = 0
        self._size = 0

    # -- writing (the worker that owns a slot) ---------------------------------------------------

    def open(self) -> None:
        """Claim the first free slot (a stopped worker's backlog is picked up with it)."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        for index in range(MAX_SLOTS):
            slot = self.root / f"w{index}"
            slot.mkdir(exist_ok=True, mode=0o700)
            fd = os.open(slot / "lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.slot, self._lock_fd = slot, fd
            segments = _segments(slot)
            self._open_segment(segments[-1] if segments else 1)
            return
        raise OSError(f"opening the audit log: all {MAX_SLOTS} slots under {self.root} are in use")

    def _open_segment(self, segment: int) -> None:
        assert self.slot is not None
        if self._fd is not None:
            os.close(self._fd)
        path = _name(self.slot, segment)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._segment = segment
        self._size = os.fstat(self._fd).st_size

    def append(self, line: bytes) -> None:
        if self._fd is None:
            self.open()
        assert self._fd is not None
        if self._size >= self.segment_bytes:
            self._open_segment(self._segment + 1)
            self._prune()
        os.write(self._fd, line + b"\n")
        self._size += len(line) + 1

    def sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    async def sync_async(self) -> None:
        """fsync off the event loop, on a duplicate descriptor (rotation may close the original)."""
        if self._fd is None:
            return
        fd = os.dup(self._fd)
        try:
            await asyncio.to_thread(os.fsync, fd)
        finally:
            os.close(fd)

    def _prune(self) -> None:
        assert self.slot is not None
        segments = _segments(self.slot)
        cursor = self.cursor()
        for segment in segments[: max(0, len(segments) - self.max_segments)]:
            path = _name(self.slot, segment)
            if segment >= cursor.segment:  # never shipped: lost to the bound, say so
                start = cursor.offset if segment == cursor.segment else 0
                lost = sum(1 for _ in _lines_from(path, start))
                self.dropped += lost
                log.warning("audit log full: %d unshipped records dropped from %s", lost, path.name)
            path.unlink(missing_ok=True)

    def close(self) -> None:
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._lock_fd = None

    # -- shipping ---------------------------------------------------------------------------

    def cursor(self) -> Position:
        assert self.slot is not None
        try:
            segment, offset = (self.slot / "cursor").read_text().split()
            return Position(int(segment), int(offset))
        except (OSError, ValueError):
            segments = _segments(self.slot)
            return Position(segments[0] if segments else 1, 0)

    def commit(self, position: Position) -> None:
        assert self.slot is not None
        tmp = self.slot / "cursor.tmp"
        tmp.write_text(f"{position.segment} {position.offset}\n")
        os.replace(tmp, self.slot / "cursor")

    def pending(self, limit: int) -> list[tuple[Position, bytes]]:
        """Up to `limit` complete records after the cursor, each with the position after it."""
        assert self.slot is not None
        cursor = self.cursor()
        found: list[tuple[Position, bytes]] = []
        for segment in _segments(self.slot):
            if segment < cursor.segment:
                continue
            start = cursor.offset if segment == cursor.segment else 0
            for end, line in _lines_from(_name(self.slot, segment), start):
                found.append((Position(segment, end), line))
                if len(found) >= limit:
                    return found
        if not found and cursor.segment < self._segment:
            self.commit(Position(self._segment, 0))  # skip past pruned or empty segments
        return found


def _lines_from(path: Path, offset: int) -> Iterator[tuple[int, bytes]]:
    """Complete lines from `offset`, each with the offset after it (a torn last line waits)."""
    try:
        with path.open("rb") as file:
            file.seek(offset)
            position = offset
            for line in file:
                if not line.endswith(b"\n"):
                    return
                position += len(line)
                yield position, line.rstrip(b"\n")
    except FileNotFoundError:
        return


def read_records(root: Path) -> Iterator[bytes]:
    """Every record in every slot, oldest segment first within a slot (the `audit` command, admin)."""
    if not root.is_dir():
        return
    for slot in sorted(root.glob("w*")):
        for segment in _segments(slot):
            for _, line in _lines_from(_name(slot, segment), 0):
                yield line


class Shipper:
    """Publishes the log's backlog to Kafka in the background, in order, from start-up."""

    def __init__(self, auditlog: AuditLog, publisher: Publisher, topic: str, timeout: float = 2.0,
                 batch: int = 256, retry_secs: float = 1.0) -> None:
        self._log = auditlog
        self._publisher = publisher
        self._topic = topic
        self._timeout = timeout
        self._batch = batch
        self._retry_secs = retry_secs
        self._wake = asyncio.Event()
        self._shipping = asyncio.Lock()  # held by the background task for one whole shipment
        self._task: asyncio.Task[None] | None = None
        self.shipped = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-shipper")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, timeout: float = 2.0) -> None:
        """One last bounded attempt to ship what is pending; the rest waits in the log."""
        if self._task is not None:
            # Never cancel a shipment midway: its records are already handed to the publisher
            # and, the cursor not moved, the last attempt below would ship them twice.
            async with self._shipping:
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await asyncio.wait_for(self.ship_once(), timeout)
        except (TimeoutError, Unavailable):
            pass
        self._log.sync()

    async def _run(self) -> None:
        delay = self._retry_secs
        while True:
            try:
                async with self._shipping:
                    shipped = await self.ship_once()
            except Unavailable:
                await asyncio.sleep(delay)  # Kafka is down: the records wait on disk
                delay = min(delay * 2, 10.0)
                continue
            except OSError as exc:
                log.error("shipping audit records: %s", exc.strerror or type(exc).__name__)
                await asyncio.sleep(self._retry_secs)
                continue
            delay = self._retry_secs
            if not shipped:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), 5.0)
                except TimeoutError:
                    pass

    async def ship_once(self) -> int:
        """Publish one batch; the cursor moves past the longest acknowledged prefix."""
        batch = await asyncio.to_thread(self._log.pending, self._batch)
        if not batch:
            return 0
        await self._log.sync_async()
        results = await asyncio.gather(
            *(self._publisher.publish(self._record(line), self._timeout) for _, line in batch),
            return_exceptions=True,
        )
        done = 0
        for result in results:
            if isinstance(result, BaseException):
                break
            done += 1
        if done:
            await asyncio.to_thread(self._log.commit, batch[done - 1][0])
            self.shipped += done
        if done < len(batch):
            raise Unavailable(f"publishing audit records to {self._topic}: {done}/{len(batch)} acked")
        return done

    def _record(self, line: bytes) -> Record:
        # The key is the source name, so one source's rejections stay in order on one partition.
        source = _source_of(line)
        return Record(self._topic, source.encode(), line)


def _source_of(line: bytes) -> str:
    try:
        return str(_decode(line).get("source", ""))
    except (msgspec.DecodeError, ValueError):
        return ""
