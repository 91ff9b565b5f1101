"""`webhook-gateway topics create|list --config FILE`: the topics a configuration implies, as code.

`create` makes every missing topic (each provider or source topic, dead letters, rejected) and
leaves existing ones alone, so running it again creates nothing. Settings:
- `max.message.bytes` fits a dead letter of the largest `max_body_bytes` (base64 is 4/3 larger), the
  same bound the gateway's producer uses for `max_request_size`;
- `min.insync.replicas` = 2 when the replication factor is 2 or more, so an acks=all ack means two
  brokers hold the record (docs/scaling.md);
- the replication factor defaults to min(3, brokers in the cluster), with a warning below 3.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

from gateway.config import Config, load_config
from gateway.sources import topics

DEFAULT_PARTITIONS = 6
WANTED_REPLICATION = 3


@dataclass(frozen=True)
class TopicPlan:
    name: str
    carries: str
    partitions: int
    replication_factor: int
    configs: dict[str, str] = field(default_factory=dict)


def register(commands: argparse._SubParsersAction) -> None:
    cmd = commands.add_parser("topics", help="create or list the config's Kafka topics",
                              description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = cmd.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create the missing topics (idempotent)")
    create.add_argument("--config", required=True, metavar="FILE")
    create.add_argument("--partitions", type=_positive, default=DEFAULT_PARTITIONS,
                        help=f"partitions per new topic (default {DEFAULT_PARTITIONS})")
    create.add_argument("--replication-factor", type=_positive, metavar="R",
                        help=f"default: min({WANTED_REPLICATION}, brokers in the cluster)")
    create.add_argument("--min-insync-replicas", type=_positive, metavar="M",
                        help="default 2 when R >= 2 (unset when R = 1)")
    create.add_argument("--topic-config", action="append", default=[], metavar="KEY=VALUE",
                        help="extra topic setting, e.g. retention.ms=604800000 (repeatable)")
    create.add_argument("--wait", type=float, default=0.0, metavar="SECS",
                        help="keep trying to reach Kafka for this long (a broker still starting)")
    create.set_defaults(run=run_create)
    listing = actions.add_parser("list", help="show which of the config's topics exist")
    listing.add_argument("--config", required=True, metavar="FILE")
    listing.add_argument("--wait", type=float, default=0.0, metavar="SECS",
                         help="keep trying to reach Kafka for this long")
    listing.set_defaults(run=run_list)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def topic_configs(config: Config, replication_factor: int, min_insync: int | None = None,
                  extra: dict[str, str] | None = None) -> dict[str, str]:
    """The settings of a new topic; `extra` (from --topic-config) wins."""
    from gateway.publish.backend import max_record_bytes

    settings = {"max.message.bytes": str(max_record_bytes(config))}
    if min_insync is None and replication_factor >= 2:
        min_insync = 2
    if min_insync is not None:
        settings["min.insync.replicas"] = str(min_insync)
    settings.update(extra or {})
    return settings


def plan(config: Config, partitions: int, replication_factor: int, min_insync: int | None = None,
         extra: dict[str, str] | None = None) -> list[TopicPlan]:
    if min_insync is not None and min_insync > replication_factor:
        raise ValueError(f"--min-insync-replicas {min_insync} exceeds the replication factor "
                         f"{replication_factor}: every acks=all write would fail")
    settings = topic_configs(config, replication_factor, min_insync, extra)
    return [TopicPlan(name, carries, partitions, replication_factor, dict(settings))
            for name, carries in topics(config).items()]


def _key_values(pairs: list[str]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--topic-config {pair!r}: expected KEY=VALUE")
        found[key.strip()] = value.strip()
    return found


def _connect(config: Config, wait_secs: float):  # noqa: ANN202 - TopicAdmin, imported lazily
    from gateway.publish import Unavailable
    from gateway.publish.kafka_admin import TopicAdmin

    deadline = time.monotonic() + wait_secs
    while True:
        try:
            return TopicAdmin(config.kafka.bootstrap_servers, config.kafka.producer_options)
        except Unavailable as exc:
            if time.monotonic() >= deadline:
                raise
            print(f"topics: {exc}; retrying", file=sys.stderr)
            time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))


def run_create(args: argparse.Namespace) -> int:
    from gateway.publish import Unavailable

    config = load_config(args.config)
    try:
        extra = _key_values(args.topic_config)
        with _connect(config, args.wait) as admin:
            brokers = admin.broker_count()
            replication = args.replication_factor or min(WANTED_REPLICATION, brokers)
            plans = plan(config, args.partitions, replication, args.min_insync_replicas, extra)
            existing = admin.partitions()
            created = 0
            for topic in plans:
                if topic.name in existing:
                    print(f"  exists   {topic.name}  "
                          f"({existing[topic.name]} partitions; left as it is)")
                elif admin.create(topic.name, topic.partitions, topic.replication_factor,
                                  topic.configs):
                    created += 1
                    settings = ", ".join(f"{k}={v}" for k, v in topic.configs.items())
                    print(f"  created  {topic.name}  ({topic.partitions} partitions, replication "
                          f"{topic.replication_factor}, {settings})")
                else:
                    print(f"  exists   {topic.name}  (created meanwhile by someone else)")
    except (Unavailable, ValueError) as exc:
        print(f"topics create: {exc}", file=sys.stderr)
        return 1
    print(f"{created} created, {len(plans) - created} already there")
    if replication < WANTED_REPLICATION:
        print(f"warning: replication factor {replication}: production wants {WANTED_REPLICATION} "
              f"(with min.insync.replicas 2); see docs/scaling.md", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from gateway.publish import Unavailable

    config = load_config(args.config)
    try:
        with _connect(config, args.wait) as admin:
            existing = admin.partitions()
    except Unavailable as exc:
        print(f"topics list: {exc}", file=sys.stderr)
        return 1
    for name, carries in topics(config).items():
        state = f"{existing[name]} partitions" if name in existing else "missing"
        print(f"  {name}  {state}  ({carries})")
    return 0
