"""`webhook-gateway tail [TOPIC]`: print records from Kafka as they arrive (all the config's topics
by default). Reads without a consumer group, so it never disturbs real consumers."""

from __future__ import annotations

import argparse
import json
import sys

from gateway.commands.send import DEV_CONFIG
from gateway.config import load_config
from gateway.sources import topics


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("tail", help="print records from the gateway's topics", description=__doc__)
    cmd.add_argument("topic", nargs="*", help="topics to read (default: every topic of the config)")
    cmd.add_argument("--config", default=DEV_CONFIG, metavar="FILE", help=f"default {DEV_CONFIG}")
    cmd.add_argument("--from-beginning", action="store_true", help="print what is already there too")
    cmd.add_argument("--raw", action="store_true", help="print the record value as it is (one line)")
    cmd.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from gateway.publish.kafka_consumer import follow

    config = load_config(args.config)
    wanted = args.topic or list(topics(config))
    print(f"tailing {', '.join(wanted)} on {','.join(config.kafka.bootstrap_servers)} (Ctrl-C to stop)",
          file=sys.stderr)
    for record in follow(config.kafka.bootstrap_servers, wanted, args.from_beginning,
                         config.kafka.producer_options):
        key = record.key.decode(errors="replace") if record.key else None
        print(f"--- {record.topic} partition={record.partition} offset={record.offset} key={key}")
        if args.raw:
            print(record.value.decode(errors="replace"))
            continue
        try:
            print(json.dumps(json.loads(record.value), indent=2))
        except ValueError:
            print(record.value.decode(errors="replace"))
        sys.stdout.flush()
    return 0
