"""The admin API under `/admin`, behind the bearer token `admin.token` (SECURITY.md).

Off (every /admin path is a plain 404) when no token is configured or `admin.enabled` is false.
The token is compared in constant time; a wrong or missing one is a generic 401. Later admin
routes are added to `routes()`; each handler is wrapped by `protected`.

    GET  /admin/rejections?source=&reason=&since=1h&limit=100   newest first, from the local log
    GET  /admin/events?source=&type=&status=&since=&limit=&cursor=   the event history, newest first
    GET  /admin/events/{id}            one event with its stored record (`?source=` when ids collide)
    POST /admin/events/{id}/replay     republish the stored record (same id, key, headers)
    GET  /admin/sources                the configured sources, without secrets
    POST /admin/reload                 re-read the configuration file (gateway.reload)
    GET  /admin/openapi.json           the OpenAPI 3.1 document of all of the above
    GET  /admin/                       the status page (gateway.statuspage)

Request and response bodies are pydantic models (gateway.adminmodels), which the OpenAPI document
is generated from. The status page also takes the token as `?token=`, once: it answers with an
HttpOnly, SameSite=Strict cookie scoped to /admin/ and a redirect that drops the token from the
URL, so a browser can open it. The cookie is accepted by the status page only (GET, no effects);
the API endpoints, which can republish and reload, take the bearer header alone (no CSRF surface).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import adminmodels as m
from gateway import history, statuspage
from gateway.auditlog import read_records
from gateway.auditquery import Query, QueryError, parse_since, query, select
from gateway.config import Config
from gateway.metrics import Metrics
from gateway.pipeline import Pipeline
from gateway.publish import Publisher, Unavailable
from gateway.reload import Reloader, ReloadError, tell_siblings
from gateway.store import Store, StoreError

Handler = Callable[[Request], Awaitable[Response]]
_encode = msgspec.json.Encoder().encode
MAX_LIMIT = 1000


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encode(body), status, headers, "application/json")


def enabled(config: Config) -> bool:
    return config.admin.enabled and config.admin.token is not None


def protected(token: bytes, handler: Handler) -> Handler:
    async def guarded(request: Request) -> Response:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # compare_digest over bytes of any length: the time depends on neither value's content.
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token):
            return _json({"error": "unauthorized"}, 401, {"WWW-Authenticate": "Bearer"})
        return await handler(request)

    return guarded


@dataclass(frozen=True)
class Ops:
    """The app's collaborators the operators' endpoints work with."""

    store: Store
    pipeline: Pipeline
    publisher: Publisher
    reloader: Reloader
    metrics: Metrics | None = None
    wake: Callable[[], None] = lambda: None  # the drainer, after spooling a replay


def routes(config: Config, clock: Callable[[], float] = time.time, ops: Ops | None = None
           ) -> list[BaseRoute]:
    """The /admin routes to mount; empty when the admin API is off."""
    if not enabled(config):
        return []
    assert config.admin.token is not None
    token = config.admin.token.reveal()
    audit_root = config.storage.path / "audit"
    found: list[BaseRoute] = [
        Route("/admin/rejections", protected(token, _rejections(audit_root, clock)), methods=["GET"])]
    if ops is None:
        return found
    spec = m.openapi()
    document = msgspec.json.encode(spec)
    api = {
        ("/admin/events", "GET"): _events(ops, clock),
        ("/admin/events/{id}", "GET"): _event(ops),
        ("/admin/events/{id}/replay", "POST"): _replay(ops),
        ("/admin/sources", "GET"): _sources(ops),
        ("/admin/reload", "POST"): _reload(ops),
        ("/admin/openapi.json", "GET"): _static(document),
    }
    found += [Route(path, protected(token, _known_params(handler, _query_names(spec, path, method))),
                    methods=[method])
              for (path, method), handler in api.items()]
    found.append(Route("/admin/", _status_page(token, ops, audit_root, clock), methods=["GET"]))
    return found


def _query_names(spec: dict[str, Any], path: str, method: str) -> frozenset[str]:
    operation = spec["paths"].get(path, {}).get(method.lower(), {})
    return frozenset(p["name"] for p in operation.get("parameters", ()) if p["in"] == "query")


def _known_params(handler: Handler, allowed: frozenset[str]) -> Handler:
    """A misspelt filter (`?sorce=iof`) is a 400 naming it, not silently ignored: the query
    parameters are the ones the OpenAPI document declares."""

    async def checked(request: Request) -> Response:
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            known = ", ".join(sorted(allowed)) or "none"
            return _error(f"bad query: unknown parameter {unknown[0]!r} (known: {known})", 400)
        return await handler(request)

    return checked


def _model(body: BaseModel, status: int = 200) -> Response:
    return Response(body.model_dump_json(), status, media_type="application/json")


def _error(message: str, status: int) -> Response:
    return _model(m.Error(error=message), status)


def _static(body: bytes) -> Handler:
    async def handler(request: Request) -> Response:
        return Response(body, 200, media_type="application/json")

    return handler


def _history_filter(params: Any, now: float) -> tuple[history.Filter, int]:
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


def _events(ops: Ops, clock: Callable[[], float]) -> Handler:
    async def handler(request: Request) -> Response:
        try:
            wanted, limit = _history_filter(request.query_params, clock())
        except (ValueError, OverflowError, OSError) as exc:  # QueryError is a ValueError
            return _error(f"bad query: {exc}", 400)
        await ops.store.flush()  # marks are gathered for a few ms: show what was answered
        rows = await asyncio.to_thread(lambda: history.select(ops.store.reader(), wanted, limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        return _model(m.EventList(events=[m.EventSummary.of(e) for e in rows],
                                  next_cursor=str(rows[-1].seq) if more else None))

    return handler


async def _find(ops: Ops, request: Request) -> tuple[history.Event, Any] | None:
    id_, source = request.path_params["id"], request.query_params.get("source")
    await ops.store.flush()  # marks are gathered for a few ms: show what was answered
    sources = list(ops.pipeline.sources)  # without ?source=, each configured source's mark is asked
    return await asyncio.to_thread(lambda: history.find(ops.store.reader(), id_, source, sources))


def _event(ops: Ops) -> Handler:
    async def handler(request: Request) -> Response:
        found = await _find(ops, request)
        if found is None:
            return _error("no such event in the history", 404)
        event, record = found
        try:
            value: Any = msgspec.json.decode(record.value)
        except msgspec.DecodeError:
            value = record.value.decode("utf-8", "replace")
        summary = m.EventSummary.of(event).model_dump()
        return _model(m.EventDetail(
            **summary, key=record.key.decode("utf-8", "replace"),
            headers={k: v.decode("utf-8", "replace") for k, v in record.headers}, record=value))

    return handler


def _replay(ops: Ops) -> Handler:
    """Republish the stored record as it was: same topic, key, value (envelope id) and headers.
    Kafka down: it is spooled (202) and the drainer publishes it, as for a webhook."""

    async def handler(request: Request) -> Response:
        found = await _find(ops, request)
        if found is None:
            return _error("no such event in the history", 404)
        event, record = found
        now = ops.pipeline.clock()
        row = history.Row(event.id, event.source, event.type, event.subject, "spooled", record.topic,
                          now, record, acked_status="deadlettered" if event.type is None
                          else "published", replayed=True)
        try:
            if not ops.publisher.connected or ops.store.has_spooled():
                raise Unavailable("kafka unreachable or the spool not empty")  # keep per-key order
            ack = await ops.publisher.publish(record, ops.pipeline.config.kafka.ack_timeout_ms / 1000)
        except Unavailable:
            if ops.metrics is not None:
                ops.metrics.kafka_error("replay", "unavailable")
            try:
                await ops.store.spool(record, (event.source, event.id), row=row, unique=False)
            except StoreError:
                return _error("kafka and the local spool are both unavailable; retry later", 503)
            ops.wake()
            return _model(m.Replayed(id=event.id, status="spooled", topic=record.topic,
                                     partition=None, offset=None), 202)
        await ops.store.mark((event.source, event.id), _acked(row, ack))
        return _model(m.Replayed(id=event.id, status="published", topic=ack.topic,
                                 partition=ack.partition, offset=ack.offset))

    return handler


def _acked(row: history.Row, ack: Any) -> history.Row:
    return msgspec.structs.replace(row, status=row.acked_status or "published", ack=ack)


def _sources(ops: Ops) -> Handler:
    async def handler(request: Request) -> Response:
        return _model(m.SourceList(sources=[_describe(s) for s in ops.pipeline.sources.values()]))

    return handler


def _describe(source: Any) -> m.SourceInfo:
    cfg = source.config
    auth = getattr(cfg, "auth", None)
    if auth is not None:
        kind = auth.type
        credentials = len(getattr(auth, "key", None) or getattr(auth, "password", None) or [])
    else:
        kind, credentials = "signature", len(getattr(cfg, "secrets", None) or [])
    return m.SourceInfo(name=source.name, provider=source.provider, path=source.path,
                        topic=source.topic, auth=kind, credentials=credentials, tenant=cfg.tenant,
                        events=cfg.events, max_body_bytes=cfg.max_body_bytes)


def _reload(ops: Ops) -> Handler:
    async def handler(request: Request) -> Response:
        try:
            done = await asyncio.to_thread(ops.reloader.reload)  # reads files (file: secrets)
        except ReloadError as exc:
            return _error(str(exc), 400)
        tell_siblings()
        return _model(m.Reloaded(status="reloaded", sources=done.sources,
                                 restart_required=done.restart_required, warnings=done.warnings))

    return handler


def _rejections(root: Path, clock: Callable[[], float]) -> Handler:
    async def handler(request: Request) -> Response:
        params = request.query_params
        try:
            limit = int(params.get("limit", "100"))
            wanted = Query.parse(params.get("source"), params.get("reason"), params.get("since"), clock())
        except (ValueError, QueryError) as exc:
            return _json({"error": f"bad query: {exc}"}, 400)
        records = await asyncio.to_thread(query, root, wanted, max(1, min(limit, MAX_LIMIT)))
        return Response(b'{"rejections":[' + b",".join(records) + b"]}", 200, media_type="application/json")

    return handler


COOKIE = "gateway_admin"
HOUR_SECS = 3600
LATEST = 20


def _status_page(token: bytes, ops: Ops, audit_root: Path, clock: Callable[[], float]) -> Handler:
    """GET /admin/: bearer header, or the HttpOnly cookie set by a one-time `?token=` (module doc)."""
    page = protected(token, _page(ops, audit_root, clock))

    async def handler(request: Request) -> Response:
        given = request.query_params.get("token")
        if given is not None:
            if not hmac.compare_digest(given.encode(), token):
                return _json({"error": "unauthorized"}, 401)
            answer = RedirectResponse("/admin/", 303)
            answer.set_cookie(COOKIE, given, path="/admin/", httponly=True, samesite="strict",
                              secure=request.url.scheme == "https")
            return answer
        cookie = request.cookies.get(COOKIE)
        if cookie is not None and "authorization" not in request.headers:
            if not hmac.compare_digest(cookie.encode(), token):
                return _json({"error": "unauthorized"}, 401)
            return await _page(ops, audit_root, clock)(request)
        return await page(request)

    return handler


def _page(ops: Ops, audit_root: Path, clock: Callable[[], float]) -> Handler:
    async def handler(request: Request) -> Response:
        await ops.store.flush()  # marks are gathered for a few ms: show what was answered
        snap = await asyncio.to_thread(_snapshot, ops, audit_root, clock())
        return HTMLResponse(statuspage.render(snap), headers={"Cache-Control": "no-store"})

    return handler


def _snapshot(ops: Ops, audit_root: Path, now: float) -> statuspage.Snapshot:
    from collections import Counter

    from gateway.auditquery import iso

    conn = ops.store.reader()
    sources = ops.pipeline.sources
    recent = select(read_records(audit_root), Query(since=iso(now - HOUR_SECS)))
    rejected = Counter(head.source if head.source in sources else "(unknown)" for head, _ in recent)
    depth, oldest = ops.store.depth()
    return statuspage.Snapshot(
        sources=[(s.name, s.provider) for s in sources.values()],
        accepted=history.counts_since(conn, now - HOUR_SECS),
        rejected=rejected, spool_depth=depth,
        spool_oldest_age_secs=now - oldest if oldest else None,
        kafka_reachable=ops.publisher.connected,
        events=history.select(conn, history.Filter(), LATEST),
        rejections=[msgspec.json.decode(line) for _, line in reversed(recent[-LATEST:])],
        now=now)
