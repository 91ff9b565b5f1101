"""The peers the gateway is measured against: what a team writes without a gateway. Both verify and
map with the gateway's own code (so the difference is the publishing path and the plumbing), then:

- naive:  `producer.send(...).get()` per request in Starlette's threadpool (kafka-python defaults,
          linger 0);
- better: `producer.send(...)` on the event loop, its future bridged into asyncio with
          call_soon_threadsafe, linger 5 ms.

Both use acks=all and answer 200 only after the broker's ack. They import kafka-python directly:
they are reference points, not part of the gateway.

    .venv/bin/python bench/naive.py --port 8082 --bootstrap 127.0.0.1:9092 --prefix bench [--better]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

import uvicorn
from kafka import KafkaProducer
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway import envelope as wire
from gateway.envelope import Envelope
from gateway.headers import Headers
from gateway.map import map_delivery
from gateway.sources import build_sources

from signed import sources_config  # type: ignore[import-not-found]  # bench/ is run as scripts


def create_app(bootstrap: str, prefix: str, better: bool) -> Starlette:
    sources = build_sources(sources_config())
    options = {"linger_ms": 5} if better else {}
    producer = KafkaProducer(bootstrap_servers=[bootstrap], acks="all", **options)

    def record(name: str, headers: Headers, body: bytes) -> tuple[str, bytes, bytes, list] | None:
        source = sources[name]
        now = time.time()
        verdict = source.verify(headers, body, now)
        if not verdict.ok:
            return None
        mapped = map_delivery(source, headers, body, verdict.scheme, datetime.fromtimestamp(now, UTC))
        if not isinstance(mapped, Envelope):
            return f"{prefix}.deadletter", mapped.id.encode(), wire.encode(mapped), []
        return (f"{prefix}.{source.provider}", wire.record_key(mapped), wire.encode_envelope(mapped),
                wire.record_headers(mapped))

    async def naive(request: Request) -> Response:
        body = await request.body()
        found = record(request.path_params["source"], Headers(request.scope["headers"]), body)
        if found is None:
            return Response(b'{"error":"unauthorized"}', 401, media_type="application/json")
        topic, key, value, headers = found
        await run_in_threadpool(
            lambda: producer.send(topic, value=value, key=key, headers=headers).get(timeout=10))
        return Response(b'{"status":"published"}', 200, media_type="application/json")

    async def bridged(request: Request) -> Response:
        body = await request.body()
        found = record(request.path_params["source"], Headers(request.scope["headers"]), body)
        if found is None:
            return Response(b'{"error":"unauthorized"}', 401, media_type="application/json")
        topic, key, value, headers = found
        loop = asyncio.get_running_loop()
        acked: asyncio.Future[object] = loop.create_future()

        def settle(ok: bool, result: object) -> None:
            if not acked.done():
                acked.set_result(result) if ok else acked.set_exception(RuntimeError(str(result)))

        future = producer.send(topic, value=value, key=key, headers=headers)
        future.add_callback(lambda m: loop.call_soon_threadsafe(settle, True, m))
        future.add_errback(lambda e: loop.call_soon_threadsafe(settle, False, e))
        await acked
        return Response(b'{"status":"published"}', 200, media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', 200, media_type="application/json")

    return Starlette(routes=[Route("/webhooks/{source}", bridged if better else naive, methods=["POST"]),
                             Route("/healthz", healthz, methods=["GET"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--better", action="store_true")
    args = parser.parse_args()
    app = create_app(args.bootstrap, args.prefix, args.better)
    uvicorn.run(app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                access_log=False, server_header=False, log_level="warning")


if __name__ == "__main__":
    main()
