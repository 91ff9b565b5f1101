"""`webhook-gateway audit`: the trail of rejected requests, from the local audit log (default) or
the `{prefix}.rejected` topic (`--from-kafka`), filtered by source, reason and age.

    webhook-gateway audit --config gateway.yaml --since 1h --reason invalid_signature
    webhook-gateway audit --summary            # counts by source and reason
    webhook-gateway audit --json | jq .        # one record per line
    webhook-gateway audit verify               # the hash chains and signed checkpoints
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator

import msgspec

from gateway.auditlog import read_records
from gateway.auditquery import Head, Query, QueryError, select, summary
from gateway.commands import audit_verify
from gateway.commands.send import DEV_CONFIG
from gateway.config import Config, load_config
from gateway.errors import ConfigError


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("audit", help="show rejected requests (the audit trail)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("--config", default=DEV_CONFIG, metavar="FILE", help=f"default {DEV_CONFIG}")
    cmd.add_argument("--from-kafka", action="store_true", help="read the {prefix}.rejected topic instead")
    cmd.add_argument("--source", help="only these sources (comma-separated)")
    cmd.add_argument("--reason", help="only these reasons (comma-separated)")
    cmd.add_argument("--since", help="only newer records: 30m, 1h, 7d or an ISO 8601 time")
    cmd.add_argument("--limit", type=int, default=200, help="newest N records (default 200; 0 = all)")
    output = cmd.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    output.add_argument("--summary", action="store_true", help="counts by source and reason")
    cmd.set_defaults(run=run)
    audit_verify.register(cmd.add_subparsers(dest="audit_command", metavar="{verify,keygen}"))


def _lines(config: Config, from_kafka: bool) -> Iterator[bytes]:
    if not from_kafka:
        yield from read_records(config.storage.path / "audit")
        return
    from gateway.publish.kafka_consumer import follow

    topic = f"{config.kafka.topic_prefix}.rejected"
    for record in follow(config.kafka.bootstrap_servers, [topic], from_beginning=True,
                         options=config.kafka.producer_options, idle_secs=2.0):
        yield record.value


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    try:
        wanted = Query.parse(args.source, args.reason, args.since, time.time())
    except QueryError as exc:
        raise ConfigError(f"audit: {exc}") from None
    found = select(_lines(config, args.from_kafka), wanted)
    if args.summary:
        print_summary([head for head, _ in found])
        return 0
    if args.limit > 0:
        found = found[-args.limit:]
    if args.json:
        for _, line in found:
            sys.stdout.write(line.decode("utf-8", "replace") + "\n")
        return 0
    print_table([msgspec.json.decode(line) for _, line in found])
    return 0


def print_table(records: list[dict[str, object]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(records)} rejected requests", title_justify="left")
    for column in ("at", "source", "reason", "remote_addr", "method", "body_size", "user_agent", "id"):
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(*(_cell(record.get(c)) for c in
                        ("at", "source", "reason", "remote_addr", "method", "body_size", "user_agent", "id")))
    Console().print(table)


def print_summary(heads: list[Head]) -> None:
    from rich.console import Console
    from rich.table import Table

    counts = summary(heads)
    table = Table(title=f"{len(heads)} rejected requests", title_justify="left")
    table.add_column("source")
    table.add_column("reason")
    table.add_column("count", justify="right")
    for (source, reason), count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        table.add_row(_cell(source), reason, str(count))
    Console().print(table)


def _cell(value: object) -> str:
    """Attacker-chosen text is shown as text: rich markup in a User-Agent must not render."""
    from rich.markup import escape

    return escape("" if value is None else str(value))
