"""`webhook-gateway replay ID`: republish one event from a running gateway's history (same
envelope id, key and headers, so consumers can still dedupe), through its admin API.

    webhook-gateway replay evt_abc123
    webhook-gateway replay 3f9c...e1 --source azakaw-acme    # when two sources share an id
"""

from __future__ import annotations

import argparse
import sys
import urllib.parse

from gateway.commands.events import add_connection, call


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("replay", help="republish one event from the history",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("id", help="the envelope id (see `webhook-gateway events`)")
    cmd.add_argument("--source", help="the source, when two sources share the id")
    add_connection(cmd)
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    path = f"/admin/events/{urllib.parse.quote(args.id, safe='')}/replay"
    status, body = call(args, "POST", path, {"source": args.source})
    if status == 200:
        print(f"published {body['id']} to {body['topic']} partition {body['partition']}"
              f" offset {body['offset']}")
        return 0
    if status == 202:
        print(f"spooled {body['id']}: Kafka is unavailable; it is published when Kafka is back")
        return 0
    print(f"webhook-gateway: replay {args.id}: {body.get('error', status)}", file=sys.stderr)
    return 1
