"""Checks audit chains (gateway.auditchain): the local log in the order written, the topic sorted
by (chain, seq), and the one against the other. Pure: lines in, a report per chain out.

Each chain's check stops at its first problem, named by kind (removed, reordered, inserted, edited,
forged) and position, because everything after a break is unanchored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from gateway.auditchain import (
    CHECKPOINT,
    GENESIS,
    Key,
    Link,
    decode_checkpoint,
    digest,
    link_of,
    signed_message,
)
from gateway.auditlog import slot_lines, slots


@dataclass(frozen=True)
class Entry:
    where: str  # "w0/000000000001.jsonl offset 123" or "partition 2 offset 17"
    order: int  # position in what was read (a slot's lines, or the topic's records)
    line: bytes
    link: Link


@dataclass
class Report:
    chain: str
    first: int = 0
    last: int = 0
    records: int = 0
    checkpoints: int = 0  # verified (or only counted, without a key)
    signed_to: int = 0  # the last seq a verified checkpoint covers
    repeats: int = 0  # byte-identical copies (the topic's at-least-once delivery)
    problem: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Lines:
    """What was read from one place: chained entries by chain, and what is not a chain's."""

    chains: dict[str, list[Entry]] = field(default_factory=dict)
    unchained: int = 0  # records written before chaining
    unreadable: list[tuple[int, str]] = field(default_factory=list)  # (order, where)
    problems: dict[str, str] = field(default_factory=dict)  # chain -> found while reading
    complete: set[str] = field(default_factory=set)  # chains whose log was never pruned

    def add(self, where: str, order: int, line: bytes, current: str | None) -> str | None:
        """File one line; -> the chain it continues (None before any)."""
        if not line.strip():
            return current
        try:
            link = link_of(line)
        except msgspec.DecodeError:
            self.unreadable.append((order, where))
            return current
        if not link.chain:
            if current is not None:  # a slot never goes back to unchained records
                self.problems.setdefault(current, f"inserted: a line without chain fields at {where}")
            else:
                self.unchained += 1
            return current
        self.chains.setdefault(link.chain, []).append(Entry(where, order, line, link))
        return link.chain


def read_local(root: Path) -> Lines:
    found = Lines()
    order = 0
    for slot in slots(root):
        current = None
        pruned = not (slot / f"{1:012d}.jsonl").exists()  # segments are pruned oldest first
        for segment, offset, line in slot_lines(slot):
            order += 1
            current = found.add(f"{slot.name}/{segment} offset {offset}", order, line, current)
            if current is not None and not pruned:
                found.complete.add(current)
    return found


def read_topic(records: Iterable[tuple[int, int, bytes]]) -> Lines:
    """(partition, offset, value) -> chains sorted by seq: the topic is keyed by source, so one
    chain's records are spread over partitions and their order there means nothing."""
    found = Lines()
    for order, (partition, offset, value) in enumerate(records):
        found.add(f"partition {partition} offset {offset}", order, value, None)
    for entries in found.chains.values():
        entries.sort(key=lambda e: (e.link.seq, e.order))
    return found


def verify(lines: Lines, keys: dict[str, Key], ordered: bool) -> list[Report]:
    """`ordered`: the entries are in the order written (a local slot), so order is checked too."""
    reports = []
    for name, entries in sorted(lines.chains.items()):
        report = check(name, entries, keys, ordered, lines.unreadable, name in lines.complete)
        if report.problem is None and name in lines.problems:
            report.problem = lines.problems[name]
        reports.append(report)
    return reports


def check(name: str, entries: list[Entry], keys: dict[str, Key], ordered: bool,
          unreadable: list[tuple[int, str]], complete: bool) -> Report:
    report = Report(name, first=entries[0].link.seq)
    prevs = {e.link.prev for e in entries}
    seen: dict[int, tuple[str, Entry]] = {}
    before: Entry | None = None
    head = ""
    for i, entry in enumerate(entries):
        seq, hashed = entry.link.seq, digest(entry.line)
        if before is None:
            report.problem = _start(entry, complete)
        elif seq <= before.link.seq:
            earlier = seen.get(seq)
            if earlier is not None and earlier[0] == hashed and not ordered:
                report.repeats += 1  # at-least-once delivery: the same bytes again
                continue
            report.problem = (f"inserted: a second record at seq {seq} ({entry.where}); the first is at "
                              f"{earlier[1].where}" if earlier else
                              f"reordered: seq {seq} at {entry.where} comes after seq {before.link.seq}")
        elif seq > before.link.seq + 1:
            report.problem = _gap(entries, i, before, hashed, prevs, unreadable)
        elif entry.link.prev != head:
            report.problem = _edited(entries, i, before, hashed)
        if report.problem is None and entry.link.type == CHECKPOINT:
            report.problem = _signature(entry, keys, report)
        if report.problem is not None:
            return report
        seen[seq], before, head = (hashed, entry), entry, hashed
        report.last = seq
        report.records += entry.link.type != CHECKPOINT
    if keys and report.signed_to < report.last:
        report.notes.append(f"seq {report.signed_to + 1}-{report.last} not yet under a checkpoint "
                            "(written since the last one, or by a gateway stopped without draining)")
    return report


def _start(entry: Entry, complete: bool) -> str | None:
    link = entry.link
    if link.seq == 1 and link.prev != GENESIS:
        return f"edited: seq 1 at {entry.where} does not start from the genesis value"
    if link.seq > 1 and complete:  # nothing was pruned from this slot: seq 1 must be there
        missing = "seq 1" if link.seq == 2 else f"seq 1-{link.seq - 1}"
        return f"removed: {missing}, before seq {link.seq} at {entry.where}"
    return None


def _gap(entries: list[Entry], i: int, before: Entry, hashed: str, prevs: set[str],
         unreadable: list[tuple[int, str]]) -> str:
    entry, want = entries[i], before.link.seq + 1
    later = next((e for e in entries[i + 1:] if e.link.seq == want), None)
    if later is not None:
        if hashed in prevs:  # a later entry links to this one: it is in the chain, out of place
            return f"reordered: seq {want} is at {later.where}, after seq {entry.link.seq} at {entry.where}"
        return f"inserted: seq {entry.link.seq} at {entry.where} is not part of the chain"
    damaged = [where for order, where in unreadable if before.order < order < entry.order]
    if damaged:
        return f"edited: seq {want} at {damaged[0]} is no longer a readable record"
    missing = f"seq {want}" if entry.link.seq == want + 1 else f"seq {want}-{entry.link.seq - 1}"
    return f"removed: {missing}, between seq {before.link.seq} at {before.where} and seq {entry.link.seq} at {entry.where}"


def _edited(entries: list[Entry], i: int, before: Entry, hashed: str) -> str:
    entry = entries[i]
    after = entries[i + 1] if i + 1 < len(entries) else None
    if after is not None and after.link.prev == hashed:  # this one is intact: the one before changed
        return f"edited: seq {before.link.seq} at {before.where} (its hash is not seq {entry.link.seq}'s prev)"
    if after is not None:
        return f"edited: seq {entry.link.seq} at {entry.where} (its prev is not seq {before.link.seq}'s hash)"
    return (f"edited: seq {before.link.seq} at {before.where} or seq {entry.link.seq} at {entry.where} "
            "(the hash of one is not the prev of the other)")


def _signature(entry: Entry, keys: dict[str, Key], report: Report) -> str | None:
    try:
        checkpoint = decode_checkpoint(entry.line)
        signature = bytes.fromhex(checkpoint.signature)
    except (msgspec.DecodeError, ValueError):
        return f"edited: checkpoint seq {entry.link.seq} at {entry.where} is not a valid checkpoint"
    report.checkpoints += 1
    if not keys:
        return None
    key = keys.get(checkpoint.key_id)
    where = f"checkpoint seq {checkpoint.seq} at {entry.where}"
    if key is None or key.alg != checkpoint.alg:
        return f"forged: {where} names key {checkpoint.key_id} ({checkpoint.alg}), not a key given"
    message = signed_message(checkpoint.chain, checkpoint.seq, checkpoint.prev, checkpoint.at)
    if not key.check(message, signature):
        return f"forged: {where}: the signature does not verify"
    report.signed_to = checkpoint.seq
    return None


def compare(local: list[Report], topic: list[Report]) -> list[str]:
    """The topic is a copy of the local log, shipped after it: a chain the topic holds further
    than the local log was cut at its end (which no chain alone can show)."""
    here = {r.chain: r for r in local}
    return [f"removed: {r.chain} ends at seq {here[r.chain].last} in the local log, but the topic "
            f"holds it up to seq {r.last}: the local log lost its end"
            for r in topic if r.chain in here and here[r.chain].problem is None
            and r.problem is None and r.last > here[r.chain].last]
