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

With a `Chain` (gateway.auditchain; the app always gives one), each slot's lines form a hash chain,
continued across restarts from the slot's last line, with signed checkpoints when due.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gateway.auditchain import Chain
from gateway.auditship import Shipper as Shipper  # its home until it had a module of its own

log = logging.getLogger("gateway.audit")

MAX_SLOTS = 256


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
    def __init__(self, root: Path, segment_bytes: int = 1_048_576, max_segments: int = 16,
                 chain: Chain | None = None) -> None:
        self.root = root
        self.chain = chain
        self.segment_bytes = segment_bytes
        self.max_segments = max_segments
        self.slot: Path | None = None
        self.dropped = 0
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._segment = 0
        self._size = 0
        self._torn = False  # a failed write may have left part of a line

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
            if self.chain is not None:
                self.chain.resume(slot.name, _last_line(slot, segments))
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
        # A crash mid-write left a torn line: end it, so the next record is a line of its own.
        self._torn = self._size > 0 and not _ends_with_newline(path)

    def append(self, line: bytes) -> None:
        if self._fd is None:
            self.open()
        if self.chain is None:
            self._write(line)
            return
        mark = self.chain.mark()
        try:
            self._write(self.chain.link(line))
        except OSError:
            self.chain.undo(mark)  # never written: the next record links to the last one that was
            raise
        if self.chain.due():
            self.seal()

    def seal(self) -> bool:
        """Write a signed checkpoint if the chain has a key and records since the last one."""
        if self.chain is None or self._fd is None:
            return False
        mark = self.chain.mark()
        line = self.chain.checkpoint()
        if line is None:
            return False
        try:
            self._write(line)
        except OSError as exc:
            self.chain.undo(mark)
            log.error("writing an audit checkpoint: %s", exc.strerror or type(exc).__name__)
            return False
        return True

    def _write(self, line: bytes) -> None:
        assert self._fd is not None
        if self._size >= self.segment_bytes:
            self._open_segment(self._segment + 1)
            self._prune()
        data = (b"\n" if self._torn else b"") + line + b"\n"
        try:
            os.write(self._fd, data)
        except OSError:
            self._torn = True
            raise
        self._torn = False
        self._size += len(data)

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


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


def _last_line(slot: Path, segments: list[int]) -> bytes | None:
    """The slot's last complete line, where its chain continues (a torn tail is skipped)."""
    for segment in reversed(segments):
        path = _name(slot, segment)
        try:
            size = path.stat().st_size
            with path.open("rb") as file:
                file.seek(max(0, size - 65_536))  # a record stays well under 64 KiB (gateway.audit)
                lines = file.read().split(b"\n")
        except OSError:
            continue
        complete = [line for line in lines[:-1] if line.strip()]  # the last item is after the last \n
        if complete:
            return complete[-1]
    return None


def slot_lines(slot: Path) -> Iterator[tuple[str, int, bytes]]:
    """A slot's complete lines in the order written, each with its segment file name and offset."""
    for segment in _segments(slot):
        path = _name(slot, segment)
        start = 0
        for end, line in _lines_from(path, 0):
            yield path.name, start, line
            start = end


def slots(root: Path) -> list[Path]:
    return sorted((p for p in root.glob("w*") if p.is_dir() and p.name[1:].isdigit()),
                  key=lambda p: int(p.name[1:]))


def read_records(root: Path) -> Iterator[bytes]:
    """Every record in every slot, oldest segment first within a slot (the `audit` command, admin)."""
    if not root.is_dir():
        return
    for slot in sorted(root.glob("w*")):
        for segment in _segments(slot):
            for _, line in _lines_from(_name(slot, segment), 0):
                yield line
