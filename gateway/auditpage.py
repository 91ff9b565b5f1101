"""The audit page at GET /admin/audit: the local audit log, for a security team.

Rejected requests over a time range per bucket, by reason and by source (gateway.auditchart), the
top client addresses, the `id_conflict` events, the latest records, and each audit chain's
verification state. Filters are query parameters (`source`, `reason`, `detail`, `since`,
`until`), filled in by a plain form. Server-rendered like the status page, no script: every value
taken from a record is escaped (user agents, paths and unknown source names are the sender's
text), and the answer's Content-Security-Policy allows no script anyway.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from pathlib import Path

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from gateway.auditchart import chart, colors_for
from gateway.auditlog import read_records
from gateway.auditquery import Query, QueryError, iso, parse_since
from gateway.errors import Reason
from gateway.statuspage import STYLE

PARAMS = ("source", "reason", "detail", "since", "until")
DEFAULT_SINCE = "24h"
STEPS = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
MAX_BARS = 60
MAX_SERIES = 8  # sources beyond it are drawn as one "(other)"
LATEST, CONFLICTS, TOP_ADDRESSES = 100, 50, 10
REASONS = tuple(r.value for r in Reason)
HEADERS = {"Cache-Control": "no-store",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                      "form-action 'self'; frame-ancestors 'none'"}
_STYLE = (".plot{display:flex;gap:1.5rem;align-items:flex-start}.chart text{font-size:11px;fill:#555}"
          ".chart .grid{stroke:#e3e3e3}.legend td{border:0;padding:.1rem .6rem .1rem 0}"
          ".swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.4rem;"
          "vertical-align:-.1rem}form label{margin-right:.8rem}input{width:9rem}"
          "code{font-size:12px}td:first-child{white-space:nowrap}"
          "td.ua{min-width:12rem;max-width:22rem;overflow-wrap:anywhere}")


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
class ChainState:
    """One chain of the audit log (one writer) as its verification left it."""

    chain: str
    verified_to: int | None  # the last sequence number that verified
    problem: str | None  # the first problem and its position; None when the whole chain verified


def chain_states(root: Path) -> list[ChainState] | None:
    """The hook for the tamper-evident chain's verifier: None while the log has none to verify
    (the page says "not available"). Wire the chain module's verify function in here."""
    return None


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
    chains: list[ChainState] | None = None


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


def handler(root: Path, clock: Callable[[], float],
            sources: Callable[[], Collection[str]]) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        try:
            filters = Filters.parse(request.query_params, clock())
        except (QueryError, ValueError) as exc:
            return HTMLResponse(_document(f"<p class=bad id=error>bad filter: {escape(str(exc))}</p>"
                                          "<p><a href='/admin/audit'>all records, last 24 h</a></p>"),
                                400, HEADERS)
        view = await asyncio.to_thread(_read, root, filters, frozenset(sources()))
        return HTMLResponse(render(view), headers=HEADERS)

    return page


def _read(root: Path, filters: Filters, known: Collection[str]) -> View:
    view = gather(read_records(root), filters, known)
    view.chains = chain_states(root)
    return view


def _document(body: str) -> str:
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<title>webhook-gateway audit</title>"
            f"<style>{STYLE}{_STYLE}</style></head><body>{body}</body></html>")


def render(view: View) -> str:
    f = view.filters
    span = f"from {iso(f.since)} to {iso(f.until)}"
    total = sum(view.addresses.values())
    return _document("".join([
        f"<h1>webhook-gateway audit <span class=muted>{escape(iso(f.until))}</span></h1>",
        "<p><a href='/admin/'>status page</a> · times are UTC</p>",
        _form(view),
        f"<p id=summary>{total} rejected requests in {view.records} records {escape(span)}</p>",
        f"<h2>By reason <span class=muted>(requests per {_duration(view.step)})</span></h2>",
        chart("by-reason", view.by_reason, colors_for(list(view.by_reason), REASONS),
              view.origin, view.step),
        f"<h2>By source <span class=muted>(requests per {_duration(view.step)})</span></h2>",
        chart("by-source", view.by_source, colors_for(list(view.by_source)), view.origin,
              view.step),
        _addresses(view), _conflicts(view.conflicts), _latest(view.latest), _chains(view.chains),
    ]))


def _duration(secs: int) -> str:
    return f"{secs // 3600} h" if secs >= 3600 else f"{secs // 60} min"


def _form(view: View) -> str:
    typed = view.filters.typed

    def box(name: str, hint: str, options: Iterable[str] = ()) -> str:
        listed = "".join(f"<option value='{escape(o, True)}'>" for o in sorted(options))
        return (f"<label>{name} <input name={name} value='{escape(typed[name], True)}' "
                f"placeholder='{hint}' list={name}-list></label><datalist id={name}-list>"
                f"{listed}</datalist>")

    reasons = "".join(f"<option{' selected' if typed['reason'] == r else ''}>{r}</option>"
                      for r in REASONS)
    return ("<form id=filters method=get action='/admin/audit'>"
            + box("source", "any") + f"<label>reason <select name=reason><option value=''>any"
            f"</option>{reasons}</select></label>" + box("detail", "any", view.details)
            + box("since", DEFAULT_SINCE) + box("until", "now")
            + "<button>apply</button> <a href='/admin/audit'>reset</a></form>")


def _cells(*values: object, ua: int = -1) -> str:
    return "".join(f"<td{' class=ua' if i == ua else ''}>{escape('' if v is None else str(v))}</td>"
                   for i, v in enumerate(values))


def _at(value: str) -> str:
    """To the second, the exact time in the tooltip: the table keeps room for the user agent."""
    return f"<td title='{escape(value, True)}'>{escape(value[:19].replace('T', ' '))}</td>"


def _hash(value: str | None) -> str:
    value = value or ""
    return f"<td><code title='{escape(value, True)}'>{escape(value[:16])}</code></td>"


def _addresses(view: View) -> str:
    rows = "".join(
        f"<tr>{_cells(address)}<td class=n>{count}</td>"
        + _cells(", ".join(f"{r} {n}" for r, n in view.address_reasons[address].most_common(3)))
        + "</tr>" for address, count in view.addresses.most_common(TOP_ADDRESSES))
    return ("<h2>Top client addresses</h2><table id=addresses><tr><th>client</th><th>requests</th>"
            f"<th>reasons</th></tr>{rows}</table>")


def _conflicts(rows: list[Row]) -> str:
    body = "".join(f"<tr>{_at(r.at)}{_cells(r.source, r.remote_addr)}{_hash(r.body_sha256)}"
                   f"{_hash(r.accepted_body_sha256)}{_cells(r.user_agent, ua=0)}</tr>" for r in rows)
    return ("<h2>Same id, another body: <code>id_conflict</code></h2><table id=conflicts><tr>"
            "<th>at</th><th>source</th><th>client</th><th>this body (SHA-256)</th>"
            f"<th>accepted body (SHA-256)</th><th>user agent</th></tr>{body}</table>")


def _latest(rows: list[Row]) -> str:
    def detail(r: Row) -> str | None:
        return f"{r.detail} ({r.skew_secs:+d} s)" if r.skew_secs is not None else r.detail

    body = "".join(f"<tr>{_at(r.at)}"
                   f"{_cells(r.source, r.reason, detail(r), r.remote_addr, f'{r.method} {r.path}')}"
                   f"<td class=n>{r.requests}</td>{_cells(r.user_agent, ua=0)}</tr>" for r in rows)
    return (f"<h2>Latest records (up to {LATEST})</h2><table id=records><tr><th>at</th><th>source</th>"
            "<th>reason</th><th>detail</th><th>client</th><th>request</th>"
            f"<th>requests</th><th>user agent</th></tr>{body}</table>")


def _chains(chains: list[ChainState] | None) -> str:
    if chains is None:
        return ("<h2>Chain verification</h2><p id=chains class=muted>not available: this "
                "audit log carries no hash chain to verify</p>")
    rows = "".join(
        f"<tr>{_cells(c.chain)}<td class=n>{'' if c.verified_to is None else c.verified_to}</td>"
        + (f"<td class=bad>{escape(c.problem)}</td>" if c.problem else "<td class=ok>verified</td>")
        + "</tr>" for c in chains)
    return ("<h2>Chain verification</h2><table id=chains><tr><th>chain</th><th>verified up to seq</th>"
            f"<th>state</th></tr>{rows}</table>")
