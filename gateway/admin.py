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
    GET  /admin/audit?source=&reason=&detail=&since=&until=   the audit page (gateway.auditpage)

Request and response bodies are pydantic models (gateway.adminmodels), which the OpenAPI document
is generated from. The status and audit pages also take the token as `?token=`, once: they answer
with an HttpOnly, SameSite=Strict cookie scoped to /admin/ and a redirect that drops the token from
the URL, so a browser can open them. The cookie is accepted by those two pages only (GET, no effects);
the API endpoints, which can republish and reload, take the bearer header alone (no CSRF surface).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import adminevents, auditpage, history, statuspage
from gateway import adminmodels as m
from gateway.adminmodels import error, model
from gateway.auditchain import key_from_secret
from gateway.auditlog import read_records
from gateway.auditquery import Query, QueryError, query, select
from gateway.config import Config
from gateway.metrics import Metrics
from gateway.pipeline import Pipeline
from gateway.publish import Publisher
from gateway.reload import Reloader, ReloadError, tell_siblings
from gateway.store import Store

Handler = Callable[[Request], Awaitable[Response]]
_encode = msgspec.json.Encoder().encode
MAX_LIMIT = adminevents.MAX_LIMIT


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


def routes(config: Config, clock: Callable[[], float], ops: Ops) -> list[BaseRoute]:
    """The /admin routes to mount; empty when the admin API is off."""
    if not enabled(config):
        return []
    assert config.admin.token is not None
    token = config.admin.token.reveal()
    audit_root = config.storage.path / "audit"
    spec = m.openapi()
    document = msgspec.json.encode(spec)
    api = {
        ("/admin/events", "GET"): adminevents.listing(ops, clock),
        ("/admin/events/{id}", "GET"): adminevents.one(ops),
        ("/admin/events/{id}/replay", "POST"): adminevents.replay(ops),
        ("/admin/sources", "GET"): _sources(ops),
        ("/admin/reload", "POST"): _reload(ops),
        ("/admin/openapi.json", "GET"): _static(document),
    }
    found: list[BaseRoute] = [
        Route("/admin/rejections", protected(token, _rejections(audit_root, clock)), methods=["GET"])]
    found += [Route(path, protected(token, _known_params(handler, _query_names(spec, path, method))),
                    methods=[method])
              for (path, method), handler in api.items()]
    found.append(Route("/admin/", _browser_page(token, _page(ops, audit_root, clock)), methods=["GET"]))
    # The gateway's own checkpoint key verifies its checkpoints' signatures on the page too.
    own = config.audit.checkpoint_key
    key = key_from_secret(own.reveal()) if own is not None else None
    keys = {key.key_id: key} if key is not None else {}
    audit = auditpage.handler(audit_root, clock, lambda: ops.pipeline.sources, lambda: keys)
    found.append(Route("/admin/audit", _browser_page(token, audit), methods=["GET"]))
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
            return error(f"bad query: unknown parameter {unknown[0]!r} (known: {known})", 400)
        return await handler(request)

    return checked


def _static(body: bytes) -> Handler:
    async def handler(request: Request) -> Response:
        return Response(body, 200, media_type="application/json")

    return handler


def _sources(ops: Ops) -> Handler:
    async def handler(request: Request) -> Response:
        matched = ops.pipeline.rotation.last_matches(ops.pipeline.sources)  # for rotation
        return model(m.SourceList(sources=[_describe(s, matched)
                                           for s in ops.pipeline.sources.values()]))

    return handler


def _describe(source: Any, matched: Mapping[tuple[str, int], float]) -> m.SourceInfo:
    cfg = source.config
    auth = getattr(cfg, "auth", None)
    if auth is not None:
        kind = auth.type
        credentials = len(getattr(auth, "key", None) or getattr(auth, "password", None) or [])
    else:
        kind, credentials = "signature", len(getattr(cfg, "secrets", None) or [])
    return m.SourceInfo(name=source.name, provider=source.provider, path=source.path,
                        topic=source.topic, auth=kind, credentials=credentials, tenant=cfg.tenant,
                        events=cfg.events, max_body_bytes=cfg.max_body_bytes,
                        slots=m.slots(source.name, credentials, matched))


def _reload(ops: Ops) -> Handler:
    async def handler(request: Request) -> Response:
        try:
            done = await asyncio.to_thread(ops.reloader.reload)  # reads files (file: secrets)
        except ReloadError as exc:
            return error(str(exc), 400)
        tell_siblings()
        return model(m.Reloaded(status="reloaded", sources=done.sources,
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


def _browser_page(token: bytes, page: Handler) -> Handler:
    """A page for a browser: bearer header, or the HttpOnly cookie set by a one-time `?token=`
    (module doc); the redirect keeps the other query parameters (the audit page's filters)."""
    guarded = protected(token, page)

    async def handler(request: Request) -> Response:
        given = request.query_params.get("token")
        if given is not None:
            if not hmac.compare_digest(given.encode(), token):
                return _json({"error": "unauthorized"}, 401)
            rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
            answer = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), 303)
            answer.set_cookie(COOKIE, given, path="/admin/", httponly=True, samesite="strict",
                              secure=request.url.scheme == "https")
            return answer
        cookie = request.cookies.get(COOKIE)
        if cookie is not None and "authorization" not in request.headers:
            if not hmac.compare_digest(cookie.encode(), token):
                return _json({"error": "unauthorized"}, 401)
            return await page(request)
        return await guarded(request)

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
