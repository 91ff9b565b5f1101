"""`webhook-gateway serve --config FILE [--host H] [--port P] [--workers N]`."""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn

from gateway.config import Config, load_config


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("serve", help="run the gateway", description=__doc__)
    cmd.add_argument("--config", required=True, metavar="FILE", help="the YAML configuration")
    cmd.add_argument("--host", help="listen address (overrides listen.host)")
    cmd.add_argument("--port", type=int, help="listen port (overrides listen.port)")
    cmd.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    cmd.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    cmd.set_defaults(run=run)


def app_factory():  # noqa: ANN201 - uvicorn's factory protocol: each worker loads the config anew
    from gateway.app import create_app

    return create_app(load_config(os.environ["WEBHOOK_GATEWAY_CONFIG"]))


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)  # fail here, before any worker starts, with one message
    serve(config, args.host, args.port, args.workers, args.log_level)
    return 0


def serve(config: Config, host: str | None, port: int | None, workers: int = 1,
          log_level: str = "info") -> None:
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.getLevelName(log_level.upper())))
    assert config.path is not None
    os.environ["WEBHOOK_GATEWAY_CONFIG"] = str(config.path.resolve())
    uvicorn.run(
        "gateway.commands.serve:app_factory",
        factory=True,
        host=host or config.listen.host,
        port=port if port is not None else config.listen.port,
        workers=workers,
        log_level=log_level,
        http="httptools",
        loop="uvloop",
        lifespan="on",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=15,
    )
