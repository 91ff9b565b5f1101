"""The status page at GET /admin/: one server-rendered HTML page, no script, no build step.

Per source: requests over the last hour (accepted, by status, from the event history; rejected,
from the local audit log), then the spool, Kafka, and the latest events and rejections. Every
value shown is escaped (a rejected request's user agent or source segment is attacker-chosen).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from html import escape

from gateway.adminmodels import iso
from gateway.history import STATUSES, Event

REFRESH_SECS = 10
STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.6rem}
table{border-collapse:collapse;margin:.4rem 0}td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:left}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#176b2c}.bad{color:#a3161a}.muted{color:#777}
"""


@dataclass(frozen=True)
class Snapshot:
    sources: list[tuple[str, str]]  # (name, provider)
    accepted: dict[tuple[str, str], int]  # (source, status) -> count in the last hour
    rejected: Counter[str]  # source -> count in the last hour
    spool_depth: int
    spool_oldest_age_secs: float | None
    kafka_reachable: bool
    events: list[Event]  # newest first
    rejections: list[dict[str, object]]  # newest first (audit records)
    now: float


def render(snap: Snapshot) -> str:
    return "".join([
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<meta http-equiv=refresh content={REFRESH_SECS}>",
        "<title>webhook-gateway status</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>webhook-gateway <span class=muted>{escape(iso(snap.now))}</span></h1>",
        "<p><a href='/admin/audit'>audit page</a>: rejections over time, clients, id conflicts</p>",
        _overview(snap), _sources(snap), _events(snap.events), _rejections(snap.rejections),
        "</body></html>",
    ])


def _overview(snap: Snapshot) -> str:
    kafka = ("<span class=ok>reachable</span>" if snap.kafka_reachable
             else "<span class=bad>unreachable</span>")
    age = (f"{snap.spool_oldest_age_secs:.0f} s" if snap.spool_oldest_age_secs is not None else "-")
    return ("<table id=overview>"
            f"<tr><th>Kafka</th><td id=kafka>{kafka}</td></tr>"
            f"<tr><th>spool depth</th><td id=spool-depth class=n>{snap.spool_depth}</td></tr>"
            f"<tr><th>oldest spooled</th><td id=spool-age class=n>{age}</td></tr></table>")


def _sources(snap: Snapshot) -> str:
    head = "".join(f"<th>{s}</th>" for s in STATUSES)
    rows = []
    names = [name for name, _ in snap.sources]
    extra = sorted({s for s, _ in snap.accepted} | set(snap.rejected))
    for name, provider in snap.sources + [(n, "-") for n in extra if n not in names]:
        counts = [snap.accepted.get((name, status), 0) for status in STATUSES]
        accepted, rejected = sum(counts), snap.rejected.get(name, 0)
        cells = "".join(f"<td class=n data-status={s}>{c}</td>" for s, c in zip(STATUSES, counts,
                                                                                strict=True))
        rows.append(f"<tr data-source='{escape(name, True)}'><td>{escape(name)}</td>"
                    f"<td>{escape(provider)}</td><td class=n data-col=requests>{accepted + rejected}</td>"
                    f"{cells}<td class=n data-col=rejected>{rejected}</td></tr>")
    return ("<h2>Sources, last hour</h2><table id=sources><tr><th>source</th><th>provider</th>"
            f"<th>requests</th>{head}<th>rejected</th></tr>{''.join(rows)}</table>")


def _events(events: list[Event]) -> str:
    rows = "".join(
        f"<tr><td>{escape(iso(e.received_at))}</td><td>{escape(e.source)}</td>"
        f"<td>{escape(e.type or '(dead letter)')}</td><td>{escape(e.status)}</td>"
        f"<td>{escape(e.topic)}</td><td class=n>{'' if e.partition is None else e.partition}</td>"
        f"<td class=n>{'' if e.offset is None else e.offset}</td><td>{escape(e.id)}</td></tr>"
        for e in events)
    return ("<h2>Latest events</h2><table id=events><tr><th>received</th><th>source</th><th>type</th>"
            "<th>status</th><th>topic</th><th>partition</th><th>offset</th><th>id</th></tr>"
            f"{rows}</table>")


def _rejections(records: list[dict[str, object]]) -> str:
    def cell(record: dict[str, object], name: str) -> str:
        value = record.get(name)
        return f"<td>{escape('' if value is None else str(value))}</td>"

    rows = "".join("<tr>" + "".join(cell(r, n) for n in ("at", "source", "reason", "remote_addr",
                                                          "user_agent")) + "</tr>"
                   for r in records)
    return ("<h2>Latest rejections</h2><table id=rejections><tr><th>at</th><th>source</th>"
            f"<th>reason</th><th>client</th><th>user agent</th></tr>{rows}</table>")
