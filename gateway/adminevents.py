"""The admin API's event history: `GET /admin/events` (newest first, filtered, paged),
`GET /admin/events/{id}` (one event with its stored record) and `POST /admin/events/{id}/replay`
(the stored record republished as it was: same topic, key, value and headers). Mounted, behind the
token, by gateway.admin."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from gateway import adminmodels as m
from gateway import history
from gateway.adminmodels import error, model
from gateway.auditquery import parse_since
from gateway.keep import keep
from gateway.store import StoreError

if TYPE_CHECKING:
    from gateway.admin import Ops

Handler = Callable[[Request], Awaitable[Response]]
MAX_LIMIT = 1000


def history_filter(params: Any, now: float) -> tuple[history.Filter, int]:
    """The query string of GET /admin/events -> (filter, limit); ValueError says what is wrong."""
    status = params.get("status")
    if status is not None and status not in history.STATUSES:
        raise ValueError(f"status {status!r}: expected one of {', '.join(history.STATUSES)}")
    limit = int(params.get("limit", "100"))
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: between 1 and {MAX_LIMIT}")
    cursor = params.get("cursor")
    if cursor is not None and not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 18):
        raise ValueError("cursor: the next_cursor of a previous page")
    since = params.get("since")
    cut = datetime.fromisoformat(parse_since(since, now).replace("Z", "+00:00")).timestamp() \
        if since is not None else None
    return history.Filter(params.get("source"), params.get("type"), status, cut,
                          int(cursor) if cursor is not None else None), limit


def listing(ops: Ops, clock: Callable[[], float]) -> Handler:
    async def handler(request: Request) -> Response:
        try:
            wanted, limit = history_filter(request.query_params, clock())
        except (ValueError, OverflowError, OSError) as exc:  # QueryError is a ValueError
            return error(f"bad query: {exc}", 400)
        await ops.store.flush()  # marks are gathered for a few ms: show what was answered
        rows = await asyncio.to_thread(lambda: history.select(ops.store.reader(), wanted, limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        return model(m.EventList(events=[m.EventSummary.of(e) for e in rows],
                                  next_cursor=str(rows[-1].seq) if more else None))

    return handler


async def _find(ops: Ops, request: Request) -> tuple[history.Event, Any] | None:
    id_, source = request.path_params["id"], request.query_params.get("source")
    await ops.store.flush()  # marks are gathered for a few ms: show what was answered
    sources = list(ops.pipeline.sources)  # without ?source=, each configured source's mark is asked
    return await asyncio.to_thread(lambda: history.find(ops.store.reader(), id_, source, sources))


def one(ops: Ops) -> Handler:
    async def handler(request: Request) -> Response:
        found = await _find(ops, request)
        if found is None:
            return error("no such event in the history", 404)
        event, record = found
        try:
            value: Any = msgspec.json.decode(record.value)
        except msgspec.DecodeError:
            value = record.value.decode("utf-8", "replace")
        summary = m.EventSummary.of(event).model_dump()
        return model(m.EventDetail(
            **summary, key=record.key.decode("utf-8", "replace"),
            headers={k: v.decode("utf-8", "replace") for k, v in record.headers}, record=value))

    return handler


def replay(ops: Ops) -> Handler:
    """Republish the stored record as it was: same topic, key, value (envelope id) and headers.
    Kafka down: it is spooled (202) and the drainer publishes it, as for a webhook."""

    async def handler(request: Request) -> Response:
        found = await _find(ops, request)
        if found is None:
            return error("no such event in the history", 404)
        event, record = found
        row = history.Row(event.id, event.source, event.type, event.subject, "spooled", record.topic,
                          ops.pipeline.clock(), record, acked_status="deadlettered" if event.type is None
                          else "published", replayed=True)

        def unavailable() -> None:
            if ops.metrics is not None:
                ops.metrics.kafka_error("replay", "unavailable")

        try:  # unique=False: a replay republishes an accepted event on purpose
            kept = await keep(ops.publisher, ops.store, record, (event.source, event.id), row,
                              ops.pipeline.config.kafka.ack_timeout_ms / 1000, unique=False,
                              on_spooled=ops.wake, on_unavailable=unavailable)
        except StoreError:
            return error("kafka and the local spool are both unavailable; retry later", 503)
        if kept.ack is None:
            return model(m.Replayed(id=event.id, status="spooled", topic=record.topic,
                                    partition=None, offset=None), 202)
        return model(m.Replayed(id=event.id, status="published", topic=kept.ack.topic,
                                partition=kept.ack.partition, offset=kept.ack.offset))

    return handler
