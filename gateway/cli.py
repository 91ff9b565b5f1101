"""`webhook-gateway`: one module per command under gateway/commands/, registered here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gateway import __version__
from gateway.commands import (
    audit,
    check_config,
    dev,
    events,
    replay,
    schemas,
    secrets,
    send,
    serve,
    tail,
    topics,
)
from gateway.errors import ConfigError

COMMANDS = (serve, check_config, dev, send, tail, schemas, topics, audit, secrets, events, replay)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="webhook-gateway",
        description="Receive webhooks, verify them, map them to CloudEvents and publish them to Kafka.",
    )
    top.add_argument("--version", action="version", version=f"webhook-gateway {__version__}")
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(commands)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ConfigError as exc:
        print(f"webhook-gateway: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
