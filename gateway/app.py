"""HTTP: the Starlette app. Reads the body within its limit, hands it to the pipeline, answers.

Built by `create_app(config, publisher=...)`: no module-level state, so tests build what they need.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.audit import Auditor, RequestInfo, install_salt
from gateway.config import Config
from gateway.errors import Reason
from gateway.headers import Headers
from gateway.pipeline import Answer, Pipeline
from gateway.publish import Publisher
from gateway.sources import build_sources

log = logging.getLogger("gateway.http")
_encode = msgspec.json.Encoder().encode
SHUTDOWN_FLUSH_SECS = 10.0


class BodyTooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused as soon as it is known to exceed `limit` (never buffered past it)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


def respond(answer: Answer) -> Response:
    return Response(_encode(answer.body), answer.status, answer.headers, "application/json")


def create_app(config: Config, publisher: Publisher | None = None,
               clock: Callable[[], float] = time.time) -> Starlette:
    if publisher is None:
        from gateway.publish.kafka import KafkaPublisher

        publisher = KafkaPublisher(config.kafka.bootstrap_servers, config.kafka.producer_options,
                                   max_record_bytes=max_record_bytes(config),
                                   ack_timeout_secs=config.kafka.ack_timeout_ms / 1000)
    credential_headers = frozenset().union(*(s.credential_headers for s in build_sources(config).values()))
    auditor = Auditor(f"{config.kafka.topic_prefix}.rejected", publisher,
                      install_salt(config.storage.path), credential_headers)
    pipeline = Pipeline(config, publisher, auditor, clock=clock)
    default_limit = max(s.config.max_body_bytes for s in pipeline.sources.values())

    async def webhook(request: Request) -> Response:
        name = request.path_params["source"]
        source = pipeline.sources.get(name)
        info = RequestInfo(request.method, request.url.path,
                           request.client.host if request.client else None,
                           Headers(request.scope["headers"]))
        try:
            body = await read_body(request, source.config.max_body_bytes if source else default_limit)
        except BodyTooLarge as too_large:
            answer = pipeline.reject(info, Reason.BODY_TOO_LARGE, name, b"", too_large.size)
            answer.headers["Connection"] = "close"  # the rest of the body is never read
            return respond(answer)
        return respond(await pipeline.handle(name, info, body))

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', 200, media_type="application/json")

    async def readyz(request: Request) -> Response:
        kafka = publisher.connected
        body = {"ready": kafka, "kafka": "reachable" if kafka else "unreachable"}
        return Response(_encode(body), 200 if kafka else 503, media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for warning in config.warnings:
            log.warning("config: %s", warning)
        await publisher.start()
        yield
        await auditor.drain()
        await publisher.close(SHUTDOWN_FLUSH_SECS)

    app = Starlette(
        routes=[
            Route("/webhooks/{source}", webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.pipeline = pipeline
    return app


def max_record_bytes(config: Config) -> int:
    """A dead letter carries the body base64-encoded (4/3 larger) plus its fields."""
    largest = max(s.max_body_bytes for s in config.sources.values())
    return max(1_048_576, largest * 4 // 3 + 64 * 1024)
