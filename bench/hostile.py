"""The attacks of SECURITY.md at full scale against a real `webhook-gateway serve` (default limits,
one worker, no broker: valid events are spooled, 202), printing what a provider and the gateway saw.

    .venv/bin/python bench/hostile.py [--addresses 1453] [--per-address 23] [--provider-events 37]

- flood: ADDRESSES x PER_ADDRESS badly signed requests to one source, each address its own
  X-Forwarded-For (the local host is a trusted proxy), on 64 kept-alive connections, while the
  provider posts its correctly signed events one by one from its own address: the answers of each;
- heads: 16 concurrent requests each with a 32 MiB header block: their answers and the worker's
  peak RSS (VmHWM) before and after;
- the audit log's size after both.

The tests assert the same promises at a smaller scale (tests/integration/test_hostile.py).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout under test

from gateway.config import parse_config  # noqa: E402
from gateway.providers import REGISTRY  # noqa: E402

SECRET = "bench-hostile-tlas-secret-0123456789"
PROVIDER = "198.51.100.77"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(body: bytes, headers: dict[str, str], client: str) -> bytes:
    """A raw POST to the tlas source, from `client` as a trusted proxy's X-Forwarded-For says."""
    lines = [b"POST /webhooks/tlas HTTP/1.1", b"Host: gateway", b"X-Forwarded-For: " + client.encode(),
             b"Content-Length: %d" % len(body)]
    lines += [f"{name}: {value}".encode() for name, value in headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def exchange(port: int, requests: list[bytes], times: list[float] | None = None) -> list[int]:
    """Send each request on one kept-alive connection, one after another (a new connection after
    a `Connection: close`); their statuses, and into `times` how long each took."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    statuses = []
    try:
        for raw in requests:
            started = time.perf_counter()
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            statuses.append(int(head[9:12]))
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            if times is not None:
                times.append(time.perf_counter() - started)
            if b"connection: close" in head.lower():
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()
    return statuses


async def flood(port: int, bad: list[bytes], good: list[bytes]) -> tuple[Counter[int], list[int], float, float]:
    lanes = [bad[i::64] for i in range(64)]
    started = time.perf_counter()
    attack = asyncio.gather(*(exchange(port, lane) for lane in lanes))
    provider: list[int] = []
    times: list[float] = []
    for raw in good:
        provider += await exchange(port, [raw], times)
        await asyncio.sleep(0.2)
    answers = Counter(s for lane in await attack for s in lane)
    return answers, provider, time.perf_counter() - started, max(times)


def huge_head(port: int, agent: str = "bench-huge-head") -> int | None:
    """A 32 MiB header; the status the gateway answered, or None if it closed without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"POST /webhooks/tlas HTTP/1.1\r\nHost: x\r\nUser-Agent: " + agent.encode()
                     + b"\r\nX-Padding: ")
        try:
            for _ in range(512):
                sock.sendall(b"a" * 65536)
            sock.sendall(b"\r\n\r\n")
        except OSError:
            pass  # refused while still sending: what is wanted
        received = b""
        try:
            while data := sock.recv(65536):
                received += data
        except OSError:
            pass
    return int(received[9:12]) if received.startswith(b"HTTP/1.1 ") else None


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM): what a burst cost, even if freed since."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for process {pid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--addresses", type=int, default=1453)
    parser.add_argument("--per-address", type=int, default=23)
    parser.add_argument("--provider-events", type=int, default=37)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    data = {"kafka": {"bootstrap_servers": [f"127.0.0.1:{free_port()}"], "topic_prefix": "bench"},
            "storage": {"path": str(root / "var")}, "trusted_proxies": ["127.0.0.1/32"],
            "sources": {"tlas": {"provider": "tlas", "secrets": [SECRET]}}}
    (root / "gateway.yaml").write_text(yaml.safe_dump(data))
    port = free_port()
    with open(root / "gateway.log", "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config",
                                    str(root / "gateway.yaml"), "--host", "127.0.0.1", "--port",
                                    str(port), "--log-level", "warning"],
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        cfg = parse_config(data)
        provider = REGISTRY["tlas"]
        body = provider.samples["application.submitted"](time.time())
        forged = {"Content-Type": "application/json", "X-Webhook-Signature": "sha256=" + "0" * 64}
        bad = [request(body, forged, f"10.{a // 250}.{a % 250}.{1 + a % 7}")
               for a in range(args.addresses) for _ in range(args.per_address)]
        good = []
        for n in range(args.provider_events):
            event = body.replace(b'"event"', b'"n": %d, "event"' % n, 1)
            headers = {"Content-Type": "application/json",
                       **provider.sign(cfg.sources["tlas"], event, time.time())}
            good.append(request(event, headers, PROVIDER))
        answers, mine, secs, slowest = asyncio.run(flood(port, bad, good))
        print(f"flood: {sum(answers.values()):,} bad requests from {args.addresses:,} addresses in "
              f"{secs:.1f} s ({sum(answers.values()) / secs:,.0f}/s): {dict(sorted(answers.items()))}")
        print(f"provider: {len(mine)} valid events answered {dict(Counter(mine))}, "
              f"slowest answer {slowest * 1000:.0f} ms")
        before = peak_rss_kib(process.pid) / 1024

        async def heads() -> list[int | None]:
            return await asyncio.gather(*(asyncio.to_thread(huge_head, port) for _ in range(16)))

        statuses = asyncio.run(heads())
        print(f"heads: 16 x 32 MiB answered {dict(Counter(statuses))}; worker peak RSS "
              f"{before:.0f} -> {peak_rss_kib(process.pid) / 1024:.0f} MiB")
        audit = sum(f.stat().st_size for f in (root / "var" / "audit").rglob("*") if f.is_file())
        print(f"audit log: {audit / 1_048_576:.1f} MiB on disk")
    finally:
        process.terminate()
        process.wait(30)


if __name__ == "__main__":
    main()
