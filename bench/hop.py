"""The worker -> publisher process hop on its own, without HTTP: N concurrent publishes through
`ProcessPublisher` to a real publisher process and Tansu, each optionally preceded by some CPU
work standing in for what a worker spends on a request before it publishes.

    .venv/bin/python bench/hop.py                           # 32 concurrent, no work
    .venv/bin/python bench/hop.py --work-ms 0.5             # a worker's share of a webhook
    .venv/bin/python bench/hop.py --work-ms 0.5 --kafka '{"linger_ms": 1}'
    .venv/bin/python bench/hop.py --rate 1600               # paced: CPU per record at equal batching
    .venv/bin/python bench/hop.py --rate 1600 --profile 30  # + py-spy over the publisher process

The client runs on core 0, the publisher process and Tansu on core 1 (as in bench/run.py). Besides
acks/s and latency it prints the CPU per record of the client, the publisher process and Tansu.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import run as bench  # noqa: E402
import split  # noqa: E402
from common import percentile  # noqa: E402
from signed import provider_topics  # noqa: E402

from gateway.dev.broker import Broker  # noqa: E402
from gateway.publish import Record  # noqa: E402
from gateway.publish.process_publisher import EAGER_WRITES, ProcessPublisher  # noqa: E402


async def drive(socket: str, topics: list[str], concurrency: int, seconds: float, work: float,
                rate: float, client: str) -> tuple[int, list[float], float]:
    publisher = ProcessPublisher(socket, eager=EAGER_WRITES[client])  # as a worker's
    await publisher.start()
    while not publisher.connected:
        await asyncio.sleep(0.05)
    value, latencies = os.urandom(1400), []
    begin = time.monotonic()
    stop = begin + seconds

    async def client(n: int) -> None:
        k = 0
        while time.monotonic() < stop:
            k += 1
            if rate:  # paced: the same batching, whatever the CPU per record
                await asyncio.sleep(begin + (k * concurrency + n) / rate - time.monotonic())
            started = time.perf_counter()
            busy_until = started + work
            while time.perf_counter() < busy_until:  # CPU, as a request's handling would take
                pass
            key = str(uuid.uuid4()).encode()  # an envelope id, as a record without a subject has
            await publisher.publish(Record(topics[k % len(topics)], key, value), 10)
            latencies.append(time.perf_counter() - started)

    cpu = time.process_time()
    await asyncio.gather(*(client(n) for n in range(concurrency)))
    cpu = time.process_time() - cpu
    await publisher.close(2)
    return len(latencies), sorted(latencies), cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--work-ms", type=float, default=0.0, help="CPU per record before publishing")
    parser.add_argument("--kafka", default="{}", help="JSON of kafka: options for the publisher process")
    parser.add_argument("--rate", type=float, default=0,
                        help="records/s in all, paced (compares CPU per record at equal batching)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="sample the publisher process with py-spy and print its top N functions")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-hop-"))
    os.sched_setaffinity(0, {1})  # Tansu and the publisher process inherit core 1
    try:
        with Broker(log_path=workdir / "tansu.log") as broker:
            prefix = f"h{uuid.uuid4().hex[:6]}"
            bench.create_topics(broker.bootstrap, prefix)
            topics = [t for t in provider_topics(prefix) if not t.endswith(".deadletter")]
            config = bench.gateway_config(workdir, broker.bootstrap, prefix, options=json.loads(args.kafka))
            socket = str(workdir / "publisher.sock")
            process = subprocess.Popen([sys.executable, "-m", "gateway.publish.process", "--config",
                                        str(config), "--socket", socket],
                                       stdin=subprocess.PIPE, cwd=ROOT)
            try:
                while not os.path.exists(socket):
                    time.sleep(0.05)
                os.sched_setaffinity(0, {0})
                tansu = [broker.pid] if broker.pid else []
                ticks, broker_ticks = bench.cpu_ticks([process.pid]), bench.cpu_ticks(tansu)
                spy = split.start_profile(process.pid, workdir / "profile.txt", args.seconds) \
                    if args.profile else None
                count, latencies, cpu = asyncio.run(drive(socket, topics, args.concurrency, args.seconds,
                                                          args.work_ms / 1000, args.rate,
                                                          json.loads(args.kafka).get("client", "kafka-python")))
                ticks = bench.cpu_ticks([process.pid]) - ticks
                broker_ticks = bench.cpu_ticks(tansu) - broker_ticks
                if spy is not None:
                    spy.wait()
                    split.print_profile(workdir / "profile.txt", args.profile)
            finally:
                assert process.stdin is not None
                process.stdin.close()
                process.wait(30)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"c={args.concurrency}, rate {args.rate or 'max'}, work {args.work_ms} ms, kafka {args.kafka}: "
          f"{count / args.seconds:,.0f} acks/s, p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
          f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, client CPU "
          f"{cpu / count * 1e6:,.0f} µs / record, publisher process CPU "
          f"{ticks / bench.CLK_TCK / count * 1e6:,.0f} µs / record, Tansu "
          f"{broker_ticks / bench.CLK_TCK / count * 1e6:,.0f} µs / record")
    return 0


if __name__ == "__main__":
    sys.exit(main())
