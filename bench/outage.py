"""Nothing lost through a broker outage: accepted (2xx) versus present in Kafka, and the spool's speed.

    .venv/bin/python bench/outage.py [--events 5000] [--concurrency 32] [--write-docs]

Starts a Tansu broker reachable only through a TCP proxy, and the gateway (one worker). Posts
signed webhooks of every seed provider; when 30 % are answered the broker is cut off (every
connection dropped, new ones refused) and when 60 % are answered it comes back. Then it waits for
the spool to drain and counts what is in Kafka. Tansu keeps records in memory only, so the broker
process is cut off rather than killed: a killed Tansu would forget what it had acknowledged,
which no real Kafka cluster does. A second phase measures the spool alone (broker unreachable from
the start): events/s answered `202 spooled`, each fsynced before its answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import re
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Server, free_port  # noqa: E402
from bench.signed import provider_topics, source_configs  # noqa: E402
from gateway import __version__  # noqa: E402
from gateway.commands.send import build  # noqa: E402
from gateway.config import parse_config  # noqa: E402
from gateway.dev.broker import Broker  # noqa: E402
from gateway.dev.proxy import Proxy  # noqa: E402
from gateway.publish.kafka_consumer import follow  # noqa: E402

SOURCES = {  # (source, sample event) pairs, every seed provider
    "iof": "contract.created", "compliancely": "business.updated", "tlas": "application.approved",
    "azakaw-acme": "risk_assessment_calculated", "azakaw-globex": "profile_status_updated",
}
DOCS = Path(__file__).resolve().parent.parent / "docs" / "durability.md"


def config(root: Path, bootstrap: str, prefix: str) -> dict:
    return {
        "kafka": {"bootstrap_servers": [bootstrap], "topic_prefix": prefix, "ack_timeout_ms": 1000},
        "storage": {"path": str(root / "state")},
        # abuse limits off: one client sends everything here (as bench/run.py does)
        "limits": {"rate_limit": {"per_source": None, "per_client": None}},
        "sources": source_configs(),
    }


def serve(path: Path, cfg: dict) -> Server:
    path.write_text(yaml.safe_dump(cfg))
    port = free_port()
    server = Server([sys.executable, "-m", "gateway", "serve", "--config", str(path), "--workers", "1",
                     "--log-level", "warning", "--host", "127.0.0.1", "--port", str(port)],
                    path.with_suffix(".log"), port)
    server.wait_up()
    return server


async def post_all(url: str, deliveries: list, concurrency: int, marks: dict) -> list[tuple[int, str]]:
    """Post every delivery over `concurrency` keep-alive connections; call marks[n]() once n
    answers are in. A minimal HTTP/1.1 client: httpx tops out near 150 requests/s here, which
    would measure the client, not the gateway."""
    host, port = url.removeprefix("http://").split(":")
    answers: list[tuple[int, str]] = []
    queue: asyncio.Queue = asyncio.Queue()
    for item in deliveries:
        queue.put_nowait(item)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        while not queue.empty():
            source, body, headers = queue.get_nowait()
            lines = [f"POST /webhooks/{source} HTTP/1.1", f"Host: {host}",
                     f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            status, answer = await _response(reader)
            answers.append((status, json.loads(answer).get("id", "")))
            hook = marks.pop(len(answers), None)
            if hook is not None:
                hook()
        writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answers


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


def deliveries(cfg: dict, count: int) -> list[tuple[str, bytes, dict[str, str]]]:
    parsed = parse_config(cfg)
    names = list(SOURCES)
    out = []
    for n in range(count):
        source = names[n % len(names)]
        body, headers = build(parsed, source, SOURCES[source], time.time())
        out.append((source, body, headers))
    return out


def wait_drained(server: Server, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = server.ready()
        if state["kafka"] == "reachable" and state["spool"]["depth"] == 0:
            return
        time.sleep(0.2)
    raise SystemExit(f"the spool did not drain: {server.ready()}")


def outage_run(root: Path, events: int, concurrency: int) -> dict:
    proxy_port = free_port()
    with Broker(log_path=root / "broker.log", advertised_port=proxy_port) as broker:
        proxy = Proxy(broker.port, port=proxy_port)
        prefix = f"bench{secrets.token_hex(3)}"
        cfg = config(root, broker.bootstrap, prefix)
        server = serve(root / "outage.yaml", cfg)
        try:
            wanted = deliveries(cfg, events)
            started = time.monotonic()
            answers = asyncio.run(post_all(server.url, wanted, concurrency, {
                int(events * 0.3): proxy.down, int(events * 0.6): proxy.up}))
            answered_secs = time.monotonic() - started
            wait_drained(server)
            drained_secs = time.monotonic() - started
            records = [json.loads(r.value)["id"]
                       for r in follow([broker.bootstrap], provider_topics(prefix), True, idle_secs=3)]
        finally:
            server.stop()
            proxy.close()
    accepted = {id_ for status, id_ in answers if 200 <= status < 300}
    return {
        "posted": len(answers),
        "accepted": len(accepted),
        "spooled": sum(1 for status, _ in answers if status == 202),
        "refused": sum(1 for status, _ in answers if status >= 300),
        "in_kafka": len(set(records)),
        "duplicates": len(records) - len(set(records)),
        "missing": len(accepted - set(records)),
        "answered_secs": round(answered_secs, 1),
        "drained_secs": round(drained_secs, 1),
    }


def spool_run(root: Path, events: int, concurrency: int) -> dict:
    cfg = config(root, f"127.0.0.1:{free_port()}", "spoolbench")  # nothing listens there
    server = serve(root / "spool.yaml", cfg)
    try:
        wanted = deliveries(cfg, events)
        started = time.monotonic()
        answers = asyncio.run(post_all(server.url, wanted, concurrency, {}))
        elapsed = time.monotonic() - started
        depth = server.ready()["spool"]["depth"]
    finally:
        server.stop()
    spooled = sum(1 for status, _ in answers if status == 202)
    return {"spooled": spooled, "depth": depth, "per_sec": round(spooled / elapsed)}


def report(outage: dict, spool: dict, args: argparse.Namespace) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        f"Run {when}, webhook-gateway {__version__}, Python {platform.python_version()}, "
        f"{platform.machine()} with 2 cores; `python bench/outage.py --events {args.events} "
        f"--concurrency {args.concurrency}`; one worker, ack timeout 1 s, broker cut off at 30 % and "
        "restored at 60 % of the answers.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| webhooks posted | {outage['posted']:,} |",
        f"| accepted (2xx) | {outage['accepted']:,} |",
        f"| of which answered `202 spooled` | {outage['spooled']:,} |",
        f"| refused (503) | {outage['refused']:,} |",
        f"| distinct events in Kafka after draining | {outage['in_kafka']:,} |",
        f"| accepted but missing from Kafka | {outage['missing']:,} |",
        f"| duplicates published | {outage['duplicates']:,} |",
        f"| all answered / all in Kafka after | {outage['answered_secs']} s / {outage['drained_secs']} s |",
        f"| spool alone (broker unreachable): events/s answered 202, fsynced | {spool['per_sec']:,} |",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--write-docs", action="store_true", help=f"replace the figure in {DOCS}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        outage = outage_run(Path(tmp), args.events, args.concurrency)
        spool = spool_run(Path(tmp), min(args.events, 3000), max(args.concurrency, 64))
    table = report(outage, spool, args)
    print(table)
    if args.write_docs:
        text = DOCS.read_text()
        text = re.sub(r"(<!-- outage-bench:start -->\n).*?(<!-- outage-bench:end -->)",
                      lambda m: m.group(1) + table + "\n" + m.group(2), text, flags=re.S)
        DOCS.write_text(text)
    ok = outage["missing"] == 0 and outage["duplicates"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
