"""`webhook-gateway check-config --config FILE`: validate a configuration without starting."""

from __future__ import annotations

import argparse

from gateway.config import load_config
from gateway.providers import REGISTRY
from gateway.sources import topics


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("check-config", help="validate a configuration file", description=__doc__)
    cmd.add_argument("--config", required=True, metavar="FILE")
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(f"{args.config}: ok, {len(config.sources)} source(s)")
    for name, source in sorted(config.sources.items()):
        print(f"  POST /webhooks/{name}  provider={source.provider}")
    print("topics:")
    for topic, what in topics(config).items():
        print(f"  {topic}  ({what})")
    for warning in config.warnings:
        print(f"warning: {warning}")
    print("providers known by name (docs/providers.md): " + ", ".join(sorted(REGISTRY)))
    return 0
