"""What one Kafka record costs the producing process: kafka-python against confluent-kafka
(librdkafka), acks=all, against Tansu, in this process pinned to one core.

    .venv/bin/python bench/producers.py [--count 20000] [--value-bytes 1400]

Prints messages/s and CPU µs per message (process CPU over the run, all threads) for each client
and setting, so the choice of a producer backend and of its batching rests on a measurement.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

from gateway.dev.broker import Broker  # noqa: E402


def kafka_python(bootstrap: str, topic: str, count: int, value: bytes, **options: object) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=[bootstrap], acks="all", **options)
    producer.send(topic, value=value, key=b"warm").get(10)
    done = threading.Semaphore(0)
    start = _mark()
    for i in range(count):
        future = producer.send(topic, value=value, key=b"k%d" % (i % 64),
                               headers=[("ce_id", b"x" * 20)])
        future.add_both(lambda *_: done.release())
    for _ in range(count):
        done.acquire()
    _report("kafka-python " + ", ".join(f"{k}={v}" for k, v in options.items()), count, start)
    producer.close()


def confluent(bootstrap: str, topic: str, count: int, value: bytes, **options: object) -> None:
    from confluent_kafka import Producer

    config = {"bootstrap.servers": bootstrap, "acks": "all", **options}
    producer = Producer(config)
    producer.produce(topic, value=value, key=b"warm")
    producer.flush(10)
    acked = [0]

    def delivered(err: object, msg: object) -> None:
        acked[0] += 1

    start = _mark()
    for i in range(count):
        while True:
            try:
                producer.produce(topic, value=value, key=b"k%d" % (i % 64),
                                 headers=[("ce_id", b"x" * 20)], on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    while acked[0] < count:
        producer.poll(0.05)
    _report("confluent-kafka " + ", ".join(f"{k}={v}" for k, v in options.items()), count, start)


def _mark() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _report(label: str, count: int, start: tuple[float, float]) -> None:
    wall, cpu = time.perf_counter() - start[0], time.process_time() - start[1]
    print(f"{label:60s} {count / wall:9,.0f} msg/s  {cpu / count * 1e6:6.1f} µs CPU/msg", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--value-bytes", type=int, default=1400)
    parser.add_argument("--cores", default="1", help="for Tansu (default 1); this process gets 0")
    args = parser.parse_args()
    value = b"v" * args.value_bytes
    os.sched_setaffinity(0, {int(c) for c in args.cores.split(",")})
    with Broker() as broker:
        os.sched_setaffinity(0, {0})
        n = args.count
        kafka_python(broker.bootstrap, "p1", n, value, linger_ms=5)
        kafka_python(broker.bootstrap, "p2", n, value, linger_ms=5, batch_size=131072)
        kafka_python(broker.bootstrap, "p3", n, value, linger_ms=5, enable_idempotence=True,
                     batch_size=131072)
        confluent(broker.bootstrap, "p4", n, value, **{"linger.ms": 5})
        confluent(broker.bootstrap, "p5", n, value, **{"linger.ms": 5, "enable.idempotence": True})


if __name__ == "__main__":
    main()
