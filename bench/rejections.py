"""Rejection throughput: how many badly signed webhooks one gateway worker turns away per second.

    .venv/bin/python bench/rejections.py [--seconds 10] [--connections 32] [--client auto|wrk|python]

Starts `webhook-gateway serve` (one worker) on a loopback port with the demo sources and rate
limits off (a 429 is cheaper than a 401 and would flatter the figure), then posts a realistic
TLAS body with a wrong signature for a bounded time and prints rejected requests/s. Every one of
them is a 401 with its audit record written to the local log (no broker: records wait on disk,
which is also the worst case for the gateway). Uses wrk when installed (`apt-get install wrk`),
else a Python asyncio client (which then competes with the gateway for CPU: a lower bound).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

BODY = (b'{"event":"application.submitted","timestamp":"2026-01-15T10:30:00Z","data":'
        b'{"applicationId":"APP-2026-00042","licenseType":"TRADE_LICENSE","applicantId":"DL-00012345"}}')
BAD_SIGNATURE = "sha256=" + "0" * 64


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gateway(root: Path) -> tuple[subprocess.Popen[bytes], int]:
    config = {
        "kafka": {"bootstrap_servers": [f"127.0.0.1:{free_port()}"], "topic_prefix": "bench"},
        "storage": {"path": str(root / "var")},
        "limits": {"rate_limit": {"per_source": None, "per_client": None}, "failed_auth": None,
                   "max_connections": 4096},
        "sources": {"tlas": {"provider": "tlas", "secrets": ["bench-secret-not-used-for-signing"]}},
    }
    path = root / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = open(root / "gateway.log", "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--config", str(path), "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                return process, port
        except httpx.TransportError:
            time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    raise SystemExit("the gateway did not start; see " + str(root / "gateway.log"))


def run_wrk(port: int, seconds: int, connections: int, root: Path) -> tuple[int, float]:
    script = root / "post.lua"
    body = BODY.decode().replace("\\", "\\\\").replace('"', '\\"')
    script.write_text(f'wrk.method = "POST"\nwrk.body = "{body}"\n'
                      f'wrk.headers["Content-Type"] = "application/json"\n'
                      f'wrk.headers["X-Webhook-Signature"] = "{BAD_SIGNATURE}"\n')
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script),
                          f"http://127.0.0.1:{port}/webhooks/tlas"], capture_output=True, text=True, check=True)
    total = int(re.search(r"(\d+) requests in", out.stdout).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    if non_2xx is None or int(non_2xx.group(1)) != total:
        raise SystemExit("expected every request to be rejected:\n" + out.stdout)
    return total, float(seconds)


def run_wrk_healthz(port: int, seconds: int, connections: int) -> float:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", f"http://127.0.0.1:{port}/healthz"],
                         capture_output=True, text=True, check=True)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))  # type: ignore[union-attr]


async def _connection(port: int, request: bytes, stop: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.monotonic() < stop:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 401"):
                raise SystemExit(f"expected 401, got {head[:40]!r}")
            length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            counts[0] += 1
    finally:
        writer.close()


def run_python(port: int, seconds: int, connections: int) -> tuple[int, float]:
    request = (f"POST /webhooks/tlas HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               f"X-Webhook-Signature: {BAD_SIGNATURE}\r\nContent-Length: {len(BODY)}\r\n\r\n").encode() + BODY
    counts = [0]

    async def main() -> float:
        start = time.monotonic()
        stop = start + seconds
        await asyncio.gather(*(_connection(port, request, stop, counts) for _ in range(connections)))
        return time.monotonic() - start

    elapsed = asyncio.run(main())
    return counts[0], elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()
    client = args.client if args.client != "auto" else ("wrk" if shutil.which("wrk") else "python")
    with tempfile.TemporaryDirectory(prefix="bench-rejections-") as tmp:
        root = Path(tmp)
        process, port = start_gateway(root)
        try:
            baseline = None
            if client == "wrk":
                total, elapsed = run_wrk(port, args.seconds, args.connections, root)
                baseline = run_wrk_healthz(port, args.seconds, args.connections)
            else:
                total, elapsed = run_python(port, args.seconds, args.connections)
            records = 0
            for path in (root / "var" / "audit").rglob("*.jsonl"):
                with path.open("rb") as file:
                    records += sum(1 for _ in file)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)
    print(f"client={client} connections={args.connections} seconds={elapsed:.1f} cpus={os.cpu_count()}")
    print(f"rejected: {total} requests, {total / elapsed:,.0f} rejected requests/s on one worker")
    if baseline is not None:  # the same server's ceiling right now: says how busy the machine is
        print(f"for comparison, GET /healthz on the same server: {baseline:,.0f} requests/s")
    print(f"audit records in the local log: {records} (the log is bounded: older segments rotate out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
