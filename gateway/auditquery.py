"""Filtering audit records: shared by `webhook-gateway audit` and `GET /admin/rejections`."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from gateway.auditchain import CHECKPOINT
from gateway.auditlog import read_records
from gateway.errors import GatewayError, Reason

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
REASONS = frozenset(r.value for r in Reason)


class QueryError(GatewayError, ValueError):
    """A filter that cannot be understood; the message says which."""


class Head(msgspec.Struct):
    """The fields a filter looks at; the record itself is passed on byte for byte."""

    at: str = ""
    source: str = ""
    reason: str = ""
    type: str = ""  # "checkpoint": the chain's signature (gateway.auditchain), not a rejection


_head = msgspec.json.Decoder(Head).decode


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_since(text: str, now: float) -> str:
    """`30s`, `15m`, `1h`, `7d` ago, or an ISO 8601 time -> the ISO cut-off records compare to."""
    match = _DURATION.match(text.strip())
    if match:
        return iso(now - int(match.group(1)) * _UNITS[match.group(2)])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise QueryError(f"--since {text!r}: expected e.g. 30m, 1h, 7d or an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return iso(moment.timestamp())


def _names(text: str | None) -> frozenset[str] | None:
    return frozenset(p.strip() for p in text.split(",") if p.strip()) if text else None


@dataclass(frozen=True)
class Query:
    sources: frozenset[str] | None = None
    reasons: frozenset[str] | None = None
    since: str | None = None  # ISO cut-off

    @classmethod
    def parse(cls, source: str | None, reason: str | None, since: str | None, now: float) -> Query:
        reasons = _names(reason)
        unknown = sorted((reasons or frozenset()) - REASONS)
        if unknown:
            raise QueryError(f"unknown reason {', '.join(unknown)} (known: {', '.join(sorted(REASONS))})")
        return cls(_names(source), reasons, parse_since(since, now) if since else None)

    def matches(self, head: Head) -> bool:
        return ((self.sources is None or head.source in self.sources)
                and (self.reasons is None or head.reason in self.reasons)
                and (self.since is None or head.at >= self.since))


def select(lines: Iterable[bytes], wanted: Query) -> list[tuple[Head, bytes]]:
    """Matching records, oldest first; unreadable lines (a torn write) are skipped."""
    found = []
    for line in lines:
        try:
            head = _head(line)
        except msgspec.DecodeError:
            continue
        if head.type != CHECKPOINT and wanted.matches(head):
            found.append((head, line))
    found.sort(key=lambda pair: pair[0].at)
    return found


def query(root: Path, wanted: Query, limit: int) -> list[bytes]:
    """The newest `limit` matching records of the local log, newest first."""
    return [line for _, line in reversed(select(read_records(root), wanted)[-limit:])]


def summary(heads: Iterable[Head]) -> Counter[tuple[str, str]]:
    return Counter((head.source, head.reason) for head in heads)
