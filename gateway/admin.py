"""The admin API under `/admin`, behind the bearer token `admin.token` (SECURITY.md).

Off (every /admin path is a plain 404) when no token is configured or `admin.enabled` is false.
The token is compared in constant time; a wrong or missing one is a generic 401. Later admin
routes are added to `routes()`; each handler is wrapped by `protected`.

    GET /admin/rejections?source=&reason=&since=1h&limit=100   newest first, from the local log
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.auditquery import Query, QueryError, query
from gateway.config import Config

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


def routes(config: Config, clock: Callable[[], float] = time.time) -> list[BaseRoute]:
    """The /admin routes to mount; empty when the admin API is off."""
    if not enabled(config):
        return []
    assert config.admin.token is not None
    token = config.admin.token.reveal()
    audit_root = config.storage.path / "audit"
    return [Route("/admin/rejections", protected(token, _rejections(audit_root, clock)), methods=["GET"])]


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
