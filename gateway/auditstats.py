"""What the audit page shows, read from the local audit log: the records in a time range that pass
the filters, counted per time bucket by reason and by source, per client address, the latest
ones and the `id_conflict` events; and each chain's verification (gateway.auditverify)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import msgspec

from gateway.auditchain import Key
from gateway.auditquery import Query, QueryError, iso, parse_since
from gateway.auditverify import Report, read_local, verify
from gateway.errors import Reason

PARAMS = ("source", "reason", "detail", "since", "until")
DEFAULT_SINCE = "24h"
STEPS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
MAX_BARS = 60
MAX_SERIES = 8  # sources beyond it are drawn as one "(other)"
LATEST, CONFLICTS, TOP_ADDRESSES = 100, 50, 10
REASONS = tuple(r.value for r in Reason)


class Row(msgspec.Struct):
    """The fields of an audit record the page shows; a line that is not one is skipped."""

    at: str = ""
    source: str = ""
    reason: str = ""
    detail: str | None = None  # absent in records written before it existed
    skew_secs: int | None = None
    remote_addr: str | None = None
    user_agent: str | None = None
    method: str = ""
    path: str = ""
    repeats: int = 0
    body_sha256: str = ""
    accepted_body_sha256: str | None = None

    @property
    def requests(self) -> int:
        return 1 + self.repeats  # a folded record stands for its repeats too (SECURITY.md)


_row = msgspec.json.Decoder(Row).decode


@dataclass(frozen=True)
class Chains:
    reports: list[Report]
    unchained: int  # records written before chaining: nothing to verify them by
    signed: bool  # checkpoint signatures checked (a key was given), not only counted


def chain_states(root: Path, keys: dict[str, Key]) -> Chains | None:
    """Each chain of this host's log checked link by link (gateway.auditverify), as `webhook-gateway
    audit verify` does; None while no record carries a chain. Without `keys`, checkpoints are
    counted, their signatures left to the auditor's own check with the public key."""
    lines = read_local(root)
    if not lines.chains:
        return None
    return Chains(verify(lines, keys, ordered=True), lines.unchained, bool(keys))


@dataclass(frozen=True)
class Filters:
    query: Query  # sources, reasons and the `since` cut-off
    detail: str | None
    since: float
    until: float
    until_iso: str
    typed: dict[str, str]  # as given, to fill the form in again

    @classmethod
    def parse(cls, params: Mapping[str, str], now: float) -> Filters:
        unknown = sorted(set(params) - set(PARAMS))
        if unknown:
            raise QueryError(f"unknown parameter {unknown[0]!r} (known: {', '.join(PARAMS)})")
        typed = {name: params.get(name, "").strip() for name in PARAMS}
        since = typed["since"] or DEFAULT_SINCE
        query = Query.parse(typed["source"] or None, typed["reason"] or None, since, now)
        until = now
        if typed["until"]:
            try:
                until = min(now, _moment(parse_since(typed["until"], now)))
            except QueryError:
                raise QueryError(f"until {typed['until']!r}: expected e.g. 30m, 1h, 7d "
                                 "or an ISO 8601 time") from None
        assert query.since is not None
        start = _moment(query.since)
        if until <= start:
            raise QueryError("until must be later than since")
        return cls(query, typed["detail"] or None, start, until, iso(until), typed)

    def in_range(self, row: Row) -> bool:
        return self.query.since is not None and self.query.since <= row.at <= self.until_iso

    def matches(self, row: Row) -> bool:
        q = self.query
        return ((q.sources is None or row.source in q.sources)
                and (q.reasons is None or row.reason in q.reasons)
                and (self.detail is None or row.detail == self.detail))


def _moment(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@dataclass
class View:
    filters: Filters
    step: int
    origin: float  # the first bar's start
    by_reason: dict[str, list[int]]
    by_source: dict[str, list[int]]
    addresses: Counter[str] = field(default_factory=Counter)
    address_reasons: dict[str, Counter[str]] = field(default_factory=dict)
    latest: list[Row] = field(default_factory=list)  # newest first
    conflicts: list[Row] = field(default_factory=list)  # newest first
    details: set[str] = field(default_factory=set)
    records: int = 0
    chains: Chains | None = None


def bucket_secs(span: float) -> int:
    """The smallest step that draws the range in at most MAX_BARS bars."""
    return next((step for step in STEPS if span / step <= MAX_BARS), STEPS[-1])


def gather(lines: Iterable[bytes], filters: Filters, known: Collection[str]) -> View:
    step = bucket_secs(filters.until - filters.since)
    origin = filters.since // step * step  # bars on the clock's round times (14:00, 14:30)
    buckets = int(-(-(filters.until - origin) // step))
    by_reason: dict[str, list[int]] = {}
    by_source: dict[str, list[int]] = {}
    view = View(filters, step, origin, by_reason, by_source)
    rows = []
    for line in lines:
        try:
            row = _row(line)
        except msgspec.DecodeError:  # a torn write, or not a rejection (a chain checkpoint)
            continue
        if row.reason and filters.in_range(row):
            rows.append(row)
    rows.sort(key=lambda r: r.at)
    for row in rows:
        if row.reason == Reason.ID_CONFLICT and (filters.query.sources is None
                                                 or row.source in filters.query.sources):
            view.conflicts.append(row)  # whatever reason or detail the filter names
        if row.detail:
            view.details.add(row.detail)
        if not filters.matches(row):
            continue
        view.records += 1
        i = min(buckets - 1, int((_moment(row.at) - origin) // step))
        by_reason.setdefault(row.reason, [0] * buckets)[i] += row.requests
        source = row.source if row.source in known else "(unknown)"
        by_source.setdefault(source, [0] * buckets)[i] += row.requests
        address = row.remote_addr or "(none)"
        view.addresses[address] += row.requests
        view.address_reasons.setdefault(address, Counter())[row.reason] += row.requests
        view.latest.append(row)
    view.latest = view.latest[::-1][:LATEST]
    view.conflicts = view.conflicts[::-1][:CONFLICTS]
    view.by_reason = {r: by_reason[r] for r in REASONS if r in by_reason}
    view.by_source = _fold(by_source, buckets)
    return view


def _fold(series: dict[str, list[int]], buckets: int) -> dict[str, list[int]]:
    """The MAX_SERIES busiest sources, the rest summed as "(other)"."""
    ranked = sorted(series, key=lambda name: (-sum(series[name]), name))
    kept = {name: series[name] for name in ranked[:MAX_SERIES]}
    rest = [series[name] for name in ranked[MAX_SERIES:]]
    if rest:
        kept["(other)"] = [sum(column) for column in zip(*rest, strict=True)]
    return kept
