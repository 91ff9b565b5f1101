"""kafka-python's I/O thread with and without the wake-up gate (gateway.publish.wakeups): records
paced at a steady rate over the bench's topics (4 topics of 4 partitions, random keys, 1.4 KB), with
the gateway's producer settings, in this process pinned to core 1 (Tansu too), no gateway around it.

    .venv/bin/python bench/wakeups.py                  # 3,000 records/s, 6 s, each way, alternating
    .venv/bin/python bench/wakeups.py --rate 1000 --linger-ms 5 --rounds 3

Prints, per run: CPU per record (this process, all threads: the sending loop, the producer and its
I/O thread), passes of the I/O thread's loop and wake-ups per record, p50/p99 from send to ack.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

from gateway.dev.broker import Broker  # noqa: E402
from gateway.publish import wakeups  # noqa: E402
from gateway.publish.kafka import KafkaPublisher, TopicAdmin  # noqa: E402


def run(bootstrap: str, topics: list[str], rate: float, seconds: float, linger_ms: int, gated: bool) -> str:
    from kafka import KafkaProducer

    config = {**KafkaPublisher([bootstrap])._config, "linger_ms": linger_ms}
    producer = KafkaProducer(**config)
    sender = producer._sender
    counts = {"passes": 0, "asked": 0, "woken": 0}
    run_once, wakeup = sender.run_once, sender.wakeup

    def counted_pass() -> None:
        counts["passes"] += 1
        run_once()

    def counted_wakeup() -> None:
        counts["woken"] += 1
        wakeup()

    sender.run_once = counted_pass
    sender.wakeup = counted_wakeup
    if gated:
        wakeups.install(producer, linger_ms)
    asked = sender.wakeup

    def counted_ask() -> None:
        counts["asked"] += 1
        asked()

    sender.wakeup = counted_ask
    value = os.urandom(1400)
    for topic in topics:
        producer.send(topic, key=b"warm", value=value).get(10)
    counts.update(passes=0, asked=0, woken=0)
    latencies: list[float] = []
    futures = []
    cpu, begin, n = time.process_time(), time.monotonic(), 0
    while time.monotonic() - begin < seconds:
        pause = begin + n / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        sent = time.monotonic()
        future = producer.send(topics[n % len(topics)], key=str(uuid.uuid4()).encode(), value=value)
        future.add_callback(lambda _, sent=sent: latencies.append(time.monotonic() - sent))
        futures.append(future)
        n += 1
    for future in futures:
        future.get(10)
    cpu = time.process_time() - cpu
    producer.close(5)
    latencies.sort()
    return (f"{'gated' if gated else 'as is'}: {n / seconds:,.0f} records/s, {cpu / n * 1e6:,.0f} µs CPU / record,"
            f" I/O thread passes {counts['passes'] / n:.2f} / record, wake-ups asked {counts['asked'] / n:.2f}"
            f" and passed on {counts['woken'] / n:.2f} / record, p50 {latencies[len(latencies) // 2] * 1e3:.1f}"
            f" ms, p99 {latencies[int(len(latencies) * 0.99)] * 1e3:.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--rate", type=float, default=3000)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--linger-ms", type=int, default=2, help="2: the publisher process's default")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.sched_setaffinity(0, {1})
    with Broker() as broker:
        topics = [f"bench-wakeups-{uuid.uuid4().hex[:8]}.t{n}" for n in range(4)]
        with TopicAdmin([broker.bootstrap]) as admin:
            for topic in topics:
                admin.create(topic, 4, 1, {})
        for _ in range(args.rounds):
            for gated in (False, True):
                print(run(broker.bootstrap, topics, args.rate, args.seconds, args.linger_ms, gated), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
