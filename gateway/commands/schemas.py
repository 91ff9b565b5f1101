"""`webhook-gateway schemas --out DIR`: write the JSON Schemas of the envelope, dead-letter and audit
records and of each provider's payload, and the AsyncAPI document of the topics (asyncapi.json),
generated from the code's types."""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway import schemas


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("schemas", help="regenerate schemas/ from the code", description=__doc__)
    cmd.add_argument("--out", type=Path, default=Path("schemas"), help="directory (default schemas/)")
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for path in schemas.write(args.out):
        print(f"wrote {path}")
    return 0
