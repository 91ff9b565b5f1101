"""`webhook-gateway events`: the event history of a running gateway, from its admin API.

    webhook-gateway events --since 1h --source iof
    webhook-gateway events --status spooled --json | jq .
    webhook-gateway events --url https://gw.example.com --token "$TOKEN" --type 'iof.contract.*'

The token comes from --token or GATEWAY_ADMIN_TOKEN; the URL from --url or GATEWAY_URL
(default http://127.0.0.1:8080).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from gateway.errors import ConfigError

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT_SECS = 30.0
COLUMNS = ("received_at", "source", "type", "status", "topic", "partition", "offset", "id")


def add_connection(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--url", default=os.environ.get("GATEWAY_URL", DEFAULT_URL),
                     help=f"the gateway (default $GATEWAY_URL or {DEFAULT_URL})")
    cmd.add_argument("--token", default=None, help="admin token (default $GATEWAY_ADMIN_TOKEN)")


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("events", help="list accepted events (a running gateway's history)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("--source", help="only this source")
    cmd.add_argument("--type", help="only this envelope type (a glob with * is allowed)")
    cmd.add_argument("--status", choices=["published", "spooled", "deadlettered", "duplicate"])
    cmd.add_argument("--since", help="only newer: 30m, 1h, 7d or an ISO 8601 time")
    cmd.add_argument("--limit", type=int, default=50, help="newest N (default 50, at most 1000)")
    cmd.add_argument("--json", action="store_true", help="one event per line, as the API gives it")
    add_connection(cmd)
    cmd.set_defaults(run=run)


def call(args: argparse.Namespace, method: str, path: str, params: dict[str, Any] | None = None
         ) -> tuple[int, dict[str, Any]]:
    """One admin API call -> (status, JSON body). A gateway that cannot be reached or refuses the
    token is a ConfigError: one clear line, exit 2."""
    token = args.token or os.environ.get("GATEWAY_ADMIN_TOKEN")
    if not token:
        raise ConfigError("the admin token is missing: pass --token or set GATEWAY_ADMIN_TOKEN")
    query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None})
    url = args.url.rstrip("/") + path + (f"?{query}" if query else "")
    request = urllib.request.Request(url, method=method, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECS) as answer:  # noqa: S310 - http(s) URL
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        if error.code == 401:
            raise ConfigError(f"{args.url}: the admin token was refused") from None
        if error.code == 404 and not path.startswith("/admin/events/"):
            raise ConfigError(f"{args.url}: no admin API there (is admin.token configured?)") from None
        try:
            return error.code, json.loads(error.read() or b"{}")
        except ValueError:
            return error.code, {"error": error.reason}
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(f"calling the gateway at {args.url}: {reason}") from None


def run(args: argparse.Namespace) -> int:
    params = {"source": args.source, "type": args.type, "status": args.status, "since": args.since,
              "limit": max(1, min(args.limit, 1000))}
    status, body = call(args, "GET", "/admin/events", params)
    if status != 200:
        print(f"webhook-gateway: {body.get('error', status)}", file=sys.stderr)
        return 1
    if args.json:
        for event in body["events"]:
            sys.stdout.write(json.dumps(event) + "\n")
        return 0
    print_table(body["events"])
    return 0


def print_table(events: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{len(events)} events, newest first", title_justify="left")
    for column in COLUMNS:
        table.add_column(column, overflow="fold",
                         justify="right" if column in ("partition", "offset") else "left")
    for event in events:
        cells = [escape("" if event.get(c) is None else str(event[c])) for c in COLUMNS]
        if event.get("replayed"):
            cells[3] += " (replay)"
        table.add_row(*cells)
    Console().print(table)
