"""A webhook-gateway consumer: decode each envelope, skip repeats, handle the provider's typed data.

    pip install webhook-gateway      # for gateway.consumer (it needs no Kafka client itself)
    python docs/examples/consumer.py --bootstrap kafka:9092 --group billing webhooks.iof

At-least-once: offsets are committed after a batch is handled, so a crash replays the batch, and
the gateway may deliver an event more than once (a provider retry that reached another replica, a
spooled event whose first ack was lost). Handle idempotently; the bounded `RecentIds` drops the
repeats a single process sees, keyed by the envelope's (source, id). Persist what you have handled
(e.g. a unique constraint on source + id in your database) for a guarantee across restarts.
"""

from __future__ import annotations

import argparse
import logging

from kafka import KafkaConsumer

from gateway.consumer import DecodeError, RecentIds, decode, typed_data
from gateway.envelope import Envelope

log = logging.getLogger("consumer")


def handle(envelope: Envelope, data: object) -> None:
    """Your business logic; `data` is the provider's payload type (gateway.providers.*.Event)."""
    print(
        f"handled {envelope.source} {envelope.id} {envelope.type} subject={envelope.subject}",
        flush=True,
    )


def option(pair: str) -> tuple[str, object]:
    key, _, value = pair.partition("=")
    return key, int(value) if value.isdigit() else value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topics", nargs="+")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--group", default="example-consumer")
    parser.add_argument("--recent", type=int, default=100_000, help="ids remembered for dedupe")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a KafkaConsumer option, e.g. security_protocol=SSL (repeatable)",
    )
    parser.add_argument(
        "--stop-after",
        type=int,
        metavar="N",
        help="stop after N records (demos, tests); default: run until Ctrl-C",
    )
    args = parser.parse_args()

    consumer = KafkaConsumer(
        *args.topics,
        bootstrap_servers=args.bootstrap.split(","),
        group_id=args.group,
        enable_auto_commit=False,  # commit only what was handled
        auto_offset_reset="earliest",
        **dict(option(pair) for pair in args.option),
    )
    recent = RecentIds(args.recent)
    seen = 0
    try:
        while args.stop_after is None or seen < args.stop_after:
            batch = consumer.poll(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    seen += 1
                    try:
                        envelope = decode(record.value)
                        data = typed_data(envelope)
                    except (
                        DecodeError
                    ) as exc:  # outside the contract: park it, keep the stream going
                        log.error("%s@%d: %s", record.topic, record.offset, exc)
                        continue
                    if recent.first_time(envelope):
                        handle(envelope, data)
                    else:
                        print(f"skipped repeat {envelope.source} {envelope.id}", flush=True)
            if batch:
                consumer.commit()
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
