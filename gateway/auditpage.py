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
from collections.abc import Awaitable, Callable, Collection, Iterable
from html import escape
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from gateway.auditchain import Key
from gateway.auditchart import chart, colors_for
from gateway.auditlog import read_records
from gateway.auditquery import QueryError, iso
from gateway.auditstats import (
    DEFAULT_SINCE,
    LATEST,
    REASONS,
    TOP_ADDRESSES,
    Chains,
    Filters,
    Row,
    View,
    chain_states,
    gather,
)
from gateway.statuspage import STYLE

HEADERS = {"Cache-Control": "no-store",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                      "form-action 'self'; frame-ancestors 'none'"}
_STYLE = (".plot{display:flex;gap:1.5rem;align-items:flex-start}.chart text{font-size:11px;fill:#555}"
          ".chart .grid{stroke:#e3e3e3}.legend td{border:0;padding:.1rem .6rem .1rem 0}"
          ".swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.4rem;"
          "vertical-align:-.1rem}form label{margin-right:.8rem}input{width:9rem}"
          "code{font-size:12px}td:first-child{white-space:nowrap}"
          "td.ua{min-width:12rem;max-width:22rem;overflow-wrap:anywhere}")


def handler(root: Path, clock: Callable[[], float], sources: Callable[[], Collection[str]],
            keys: Callable[[], dict[str, Key]] = dict) -> Callable[[Request], Awaitable[Response]]:
    async def page(request: Request) -> Response:
        try:
            filters = Filters.parse(request.query_params, clock())
        except (QueryError, ValueError) as exc:
            return HTMLResponse(_document(f"<p class=bad id=error>bad filter: {escape(str(exc))}</p>"
                                          "<p><a href='/admin/audit'>all records, last 24 h</a></p>"),
                                400, HEADERS)
        view = await asyncio.to_thread(_read, root, filters, frozenset(sources()), keys())
        return HTMLResponse(render(view), headers=HEADERS)

    return page


def _read(root: Path, filters: Filters, known: Collection[str], keys: dict[str, Key]) -> View:
    view = gather(read_records(root), filters, known)
    view.chains = chain_states(root, keys)
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
                   f"{_hash(r.accepted_body_sha256)}{_cells(r.user_agent, ua=0)}</tr>" for r in rows
                   ) or "<tr><td colspan=6 class=muted>none in this range</td></tr>"
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


def _chains(chains: Chains | None) -> str:
    head = "<h2>Chain verification</h2>"
    if chains is None:
        return f"{head}<p id=chains class=muted>not available: no record of this log carries a chain</p>"
    rows = "".join(
        f"<tr>{_cells(r.chain)}<td class=n>{r.records}</td><td class=n>{r.checkpoints}</td>"
        + (f"<td class=bad>{escape(r.problem)}</td>" if r.problem else
           f"<td class=ok>verified: seq {r.first} to {r.last}</td>") + "</tr>" for r in chains.reports)
    older = (f"<p class=muted>{chains.unchained} older records were written before chaining "
             "(nothing to verify them by)</p>") if chains.unchained else ""
    return (f"{head}<table id=chains><tr><th>chain</th><th>records</th><th>checkpoints</th>"
            f"<th>state</th></tr>{rows}</table>{older}"
            + ("" if chains.signed else "<p class=muted>Links checked here; checkpoint signatures "
               "by <code>webhook-gateway audit verify</code> with the public key.</p>"))
