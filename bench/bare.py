"""The reference point: a bare Starlette endpoint on the gateway's server stack (uvicorn, uvloop,
httptools, no access log) answering 200 to POST /webhooks/{source}, optionally reading the body.

    .venv/bin/python bench/bare.py --port 8081 [--read-body]
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

OK = b'{"status":"ok"}'


def create_app(read_body: bool) -> Starlette:
    async def empty(request: Request) -> Response:
        return Response(OK, 200, media_type="application/json")

    async def reading(request: Request) -> Response:
        await request.body()
        return Response(OK, 200, media_type="application/json")

    return Starlette(routes=[Route("/webhooks/{source}", reading if read_body else empty,
                                   methods=["POST"]),
                             Route("/healthz", empty, methods=["GET"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--read-body", action="store_true")
    args = parser.parse_args()
    uvicorn.run(create_app(args.read_body), host="127.0.0.1", port=args.port, loop="uvloop",
                http="httptools", access_log=False, server_header=False, log_level="warning")


if __name__ == "__main__":
    main()
