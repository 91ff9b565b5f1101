"""The benchmark: the gateway against its reference points, side by side, in one run.

    make bench                       # = .venv/bin/python bench/run.py
    .venv/bin/python bench/run.py --connections 32 --seconds 15 --only gateway,naive
    .venv/bin/python bench/run.py --soak          # 10 minutes at half load: RSS over time

What it does (see docs/benchmarks.md for the results and how to read them):
- installs wrk with apt-get when it is missing; signs enough distinct webhooks of every seed
  provider into a file (bench/signed.py; wrk's Lua has no HMAC) that bench/webhooks.lua replays;
- starts Tansu (gateway.dev.broker), a fresh one for each variant (it keeps every record in memory),
  and pins it, wrk and this script to the client core(s); every
  server under test is started with `taskset` on the server core(s) (both cores for --workers 2);
- for each variant: a short warm-up, a run at concurrency 1, a loaded run (accepted/s, latency, CPU
  time of the server's processes from /proc/<pid>/stat, RSS), a run paced at half the loaded rate
  (p99 there), then stops the server and checks that Kafka holds exactly one record per 2xx answer
  (read until the partitions stay quiet: Tansu's end offsets lag) or, broker down, the spool does;
- writes the table between markers in docs/benchmarks.md (--no-write to only print it).

Not part of the test suite: it measures, it does not assert.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]  # measure the gateway of this checkout

from common import Server  # noqa: E402
from signed import generate, provider_topics, source_configs  # noqa: E402

from gateway.dev.broker import Broker, broker_binary, free_port  # noqa: E402

PYTHON = sys.executable
LUA = ROOT / "bench" / "webhooks.lua"
DOC = ROOT / "docs" / "benchmarks.md"
GRACE_SECS = 3  # after a run's window, for the requests in flight to finish
CLK_TCK = os.sysconf("SC_CLK_TCK")
LOAD_BEFORE = 0.0


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    kind: str  # bare | naive | gateway
    workers: int = 1
    broker_down: bool = False
    read_body: bool = False
    better: bool = False
    client: str = "kafka-python"
    publisher: str = "process"  # kafka.publisher: the host's publisher process, or in the worker
    publisher_on_server_cores: bool = False  # else pinned with wrk and Tansu (--client-cores)
    kafka_options: dict[str, Any] = field(default_factory=dict)  # more `kafka:` settings to try
    log_level: str = "warning"  # serve's own default is info: one line per webhook
    src: str = ""  # another checkout's gateway (--compare), else this one's

    @property
    def kafka(self) -> bool:
        return self.kind != "bare" and not self.broker_down


VARIANTS = [
    Variant("bare", "bare Starlette endpoint, returns 200", "bare"),
    Variant("bare-body", "bare Starlette endpoint, reads the body", "bare", read_body=True),
    Variant("naive", "naive peer: send().get() in a threadpool", "naive"),
    Variant("better", "better peer: future bridged into asyncio, linger 5 ms", "naive",
            better=True),
    Variant("gateway", "**gateway, 1 worker + publisher process**", "gateway"),
    Variant("gateway-info", "gateway, 1 worker + publisher process, `--log-level info` (serve's default)",
            "gateway", log_level="info"),
    Variant("gateway-1core", "gateway, 1 worker + publisher process, both on the server core",
            "gateway", publisher_on_server_cores=True),
    Variant("gateway-inworker", "gateway, 1 worker, producer in the worker (`publisher: worker`)",
            "gateway", publisher="worker"),
    Variant("gateway-w2", "**gateway, --workers 2** (both cores)", "gateway", workers=2),
    Variant("native", "**gateway, 1 worker, client confluent-kafka**", "gateway",
            client="confluent-kafka"),
    Variant("native-w2", "**gateway, --workers 2, client confluent-kafka**", "gateway", workers=2,
            client="confluent-kafka"),
    Variant("gateway-spool", "gateway, 1 worker, broker down (spool)", "gateway", broker_down=True),
]


@dataclass
class Wrk:
    requests: int = 0
    non2xx: int = 0
    errors: int = 0
    wrapped: int = 0
    position: int = 0
    window: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    p999: float = 0.0
    mean: float = 0.0

    @property
    def ok(self) -> int:
        return self.requests - self.non2xx


@dataclass
class Result:
    variant: Variant
    rate: float = 0.0
    loaded: Wrk = field(default_factory=Wrk)
    single: Wrk = field(default_factory=Wrk)
    half: Wrk = field(default_factory=Wrk)
    half_rate: float = 0.0
    cpu_us: float = 0.0
    rss_mb: float = 0.0
    answered_2xx: int = 0
    non2xx: int = 0
    in_kafka: int | None = None
    in_spool: int | None = None
    wrapped: int = 0

    @property
    def check(self) -> str:
        if self.variant.kind == "bare":
            return "n/a"
        stored = (self.in_kafka or 0) + (self.in_spool or 0)
        mark = "yes" if stored == self.answered_2xx and not self.wrapped else "**NO**"
        where = "spool" if self.variant.broker_down else "Kafka"
        return f"{mark} ({stored:,} in {where} / {self.answered_2xx:,} 2xx)"


# -- processes ------------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print("installing wrk (apt-get)...", flush=True)
    subprocess.run([*sudo, "apt-get", "update"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*sudo, "apt-get", "install", "-y", "wrk"], check=True,
                   stdout=subprocess.DEVNULL)
    return shutil.which("wrk") or "wrk"


def descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def cpu_ticks(pids: list[int]) -> int:
    return sum(stat_ticks(Path(f"/proc/{pid}/stat")) or 0 for pid in pids)  # all their threads


def stat_ticks(stat: Path) -> int | None:
    """utime + stime from a /proc stat file (a process's or one thread's); None once it is gone."""
    with contextlib.suppress(OSError):
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    return None


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def worker_rss(root: int, workers: int) -> float:
    """RSS of the largest serving process (the workers themselves when there are several)."""
    pids = descendants(root)
    serving = pids[1:] if workers > 1 and len(pids) > 1 else pids[:1]
    return max((rss_mb(pid) for pid in serving), default=0.0)


def gateway_config(root: Path, bootstrap: str, prefix: str, client: str = "kafka-python",
                   publisher: str = "process", options: dict[str, Any] | None = None) -> Path:
    config = {  # defaults left out, so that an older checkout (--compare) takes the same file
        "kafka": {"bootstrap_servers": [bootstrap], "topic_prefix": prefix,
                  **({"client": client} if client != "kafka-python" else {}),
                  **({"publisher": publisher} if publisher != "process" else {}),
                  **(options or {})},
        "storage": {"path": str(root / "var")},
        # abuse limits off: one client sends everything here; a 429 would flatter the figures
        "limits": {"rate_limit": {"per_source": None, "per_client": None}, "max_connections": 4096},
        "sources": source_configs(),
    }
    path = root / "gateway.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def create_topics(bootstrap: str, prefix: str) -> None:
    """Up front, so no variant pays for auto-creation (or spools while metadata is missing)."""
    from gateway.publish.kafka_admin import TopicAdmin

    with TopicAdmin([bootstrap]) as admin:
        for topic in provider_topics(prefix):
            admin.create(topic, 4, 1, {})


def count_records(bootstrap: str, prefix: str) -> int:
    from gateway.publish.kafka_consumer import follow

    return sum(1 for _ in follow([bootstrap], provider_topics(prefix), from_beginning=True,
                                 idle_secs=3.0))


def count_spooled(root: Path) -> int:
    db = root / "var" / "gateway.db"
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT count(*) FROM spool").fetchone()[0])


# -- wrk ------------------------------------------------------------------------------------------


def run_wrk(wrk: str, port: int, requests: Path, offset: int, seconds: float, connections: int,
            rate: float = 0.0) -> Wrk:
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{int(seconds + GRACE_SECS)}s", "--timeout", "10s",
           "-s", str(LUA), f"http://127.0.0.1:{port}/", "--", str(requests), str(offset),
           str(seconds), str(rate)]
    env = {**os.environ, "BENCH_RATE": str(rate)}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise SystemExit("wrk printed no result:\n" + out)
    values = dict(item.split("=") for item in line.split()[1:])
    ms = lambda key: int(values[key]) / 1000  # noqa: E731 - wrk reports microseconds
    errors = sum(int(values[k]) for k in ("connect", "read", "write", "timeout"))
    errors += max(0, int(values["sent"]) - int(values["requests"]))  # sent, never answered
    return Wrk(int(values["requests"]), int(values["non2xx"]), errors, int(values["wrapped"]),
               int(values["position"]), float(values["window"]), ms("p50"), ms("p99"), ms("p999"),
               float(values["mean"]) / 1000)


# -- one variant ----------------------------------------------------------------------------------


def start_server(variant: Variant, root: Path, bootstrap: str, prefix: str, cores: str) -> Server:
    port = free_port()
    if variant.kind == "bare":
        cmd = [PYTHON, "bench/bare.py", "--port", str(port)]
        cmd += ["--read-body"] if variant.read_body else []
    elif variant.kind == "naive":
        cmd = [PYTHON, "bench/naive.py", "--port", str(port), "--bootstrap", bootstrap, "--prefix",
               prefix] + (["--better"] if variant.better else [])
    else:
        target = f"127.0.0.1:{free_port()}" if variant.broker_down else bootstrap  # nothing listens
        config = gateway_config(root, target, prefix, variant.client, variant.publisher,
                                variant.kafka_options)
        cmd = [PYTHON, "-m", "gateway", "serve", "--config", str(config), "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(variant.workers), "--log-level", variant.log_level]
    server = Server(cmd, root / "server.log", port, cores=cores, src=variant.src)
    server.wait_up(variant.kind == "gateway" and variant.kafka, variant.workers)
    if variant.kind == "gateway" and variant.workers == 1 and not variant.publisher_on_server_cores:
        pin_publisher_process(server.process.pid, os.sched_getaffinity(0))  # the client cores
    return server


def publisher_pids(root: int) -> list[int]:
    """The host's publisher process among the server's descendants (none with `publisher: worker`)."""
    found = []
    for pid in descendants(root):
        with contextlib.suppress(OSError):
            if b"gateway.publish.process" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found


def pin_publisher_process(root: int, cores: set[int]) -> None:
    """Off the worker's core, beside wrk and Tansu: every thread it has (its producer's too)."""
    for pid in publisher_pids(root):
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                os.sched_setaffinity(int(tid), cores)


def measure(variant: Variant, args: argparse.Namespace, wrk: str, requests: Path, bootstrap: str,
            workdir: Path) -> Result:
    root = workdir / variant.name
    root.mkdir(parents=True)
    prefix = f"b{uuid.uuid4().hex[:8]}"
    if variant.kafka:
        create_topics(bootstrap, prefix)
    cores = args.server_cores if variant.workers == 1 else args.all_cores
    server = start_server(variant, root, bootstrap, prefix, cores)
    result = Result(variant)
    runs: list[Wrk] = []
    try:
        offset = 0
        warm = run_wrk(wrk, server.port, requests, offset, 2, args.connections)
        runs.append(warm)
        result.single = run_wrk(wrk, server.port, requests, warm.position, args.single_seconds, 1)
        runs.append(result.single)
        pids = descendants(server.process.pid)
        before = cpu_ticks(pids)
        result.loaded = run_wrk(wrk, server.port, requests, result.single.position, args.seconds,
                                args.connections)
        runs.append(result.loaded)
        result.cpu_us = (cpu_ticks(pids) - before) / CLK_TCK * 1e6 / max(1, result.loaded.ok)
        result.rss_mb = worker_rss(server.process.pid, variant.workers)
        result.rate = result.loaded.ok / args.seconds
        result.half_rate = result.rate / 2
        result.half = run_wrk(wrk, server.port, requests, result.loaded.position, args.half_seconds,
                              args.connections, rate=result.half_rate)
        runs.append(result.half)
    finally:
        server.stop()
    result.answered_2xx = sum(r.ok for r in runs)
    result.non2xx = sum(r.non2xx + r.errors for r in runs)
    result.wrapped = sum(r.wrapped for r in runs)
    if variant.kind == "gateway":
        result.in_spool = count_spooled(root)
    if variant.kafka:
        result.in_kafka = count_records(bootstrap, prefix)
    return result


# -- report ---------------------------------------------------------------------------------------


def versions() -> str:
    names = ["uvicorn", "starlette", "uvloop", "httptools", "kafka-python", "crc32c", "msgspec"]
    found = []
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{name} {importlib.metadata.version(name)}")
    return ", ".join(found)


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores, Linux {platform.release()}"


def tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except OSError:
        return "?"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "?"


def commit() -> str:
    head = tool_version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "gateway"],
                           capture_output=True, text=True).stdout.strip()
    return head + (" + uncommitted changes in gateway/" if dirty else "")


def table(results: list[Result], args: argparse.Namespace) -> str:
    bare = next((r.rate for r in results if r.variant.name == "bare"), 0.0)
    rows = [
        "| variant | accepted/s | x bare | p50 / p99 / p99.9 loaded (ms) | p50 / p99 at c=1 (ms) "
        "| p99 at half load (ms) | CPU µs / event | RSS / worker (MB) | stored = 2xx |",
        "|---|---:|---:|---|---|---:|---:|---:|---|",
    ]
    for r in results:
        ratio = f"{r.rate / bare:.2f}" if bare else "-"
        rows.append(
            f"| {r.variant.label} | {r.rate:,.0f} | {ratio} "
            f"| {r.loaded.p50:.1f} / {r.loaded.p99:.1f} / {r.loaded.p999:.1f} "
            f"| {r.single.p50:.2f} / {r.single.p99:.2f} "
            f"| {r.half.p99:.1f} (at {r.half_rate:,.0f}/s) "
            f"| {r.cpu_us:,.0f} | {r.rss_mb:.0f} | {r.check} |")
    by = {r.variant.name: r for r in results}
    notes = []
    if "gateway" in by:
        g = by["gateway"].rate
        for name in ("naive", "better", "bare"):
            if name in by and by[name].rate:
                notes.append(f"gateway / {name}: {g / by[name].rate:.2f}x")
        if "gateway-w2" in by and g:
            notes.append(f"--workers 2 / 1 worker: {by['gateway-w2'].rate / g:.2f}x")
        if "gateway-spool" in by and g:
            notes.append(f"spool / Kafka path: {by['gateway-spool'].rate / g:.2f}x")
        if "gateway-info" in by and g:
            notes.append(f"at info / at warning: {by['gateway-info'].rate / g:.2f}x")
    failures = [r for r in results if r.non2xx]
    for r in failures:
        notes.append(f"{r.variant.name}: {r.non2xx} non-2xx answers or socket errors")
    header = (
        f"Load average before the run: {LOAD_BEFORE:.2f} (other work on the machine skews every "
        f"figure; the bench itself adds about 2 while it runs).\n"
        f"Run of {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} on {machine()}; "
        f"commit {commit()}.\n"
        f"Python {platform.python_version()}, {versions()}; Tansu "
        f"({tool_version([broker_binary(), '--version'])}); {tool_version(['wrk', '-v'])}.\n"
        f"{'Median of ' + str(args.repeat) + ' runs per variant. ' if args.repeat > 1 else ''}"
        f"wrk -t1 -c{args.connections}, {args.seconds:g} s loaded, "
        f"{args.single_seconds:g} s at c=1, {args.half_seconds:g} s paced at half the loaded "
        f"rate; ~{args.body_bytes} B signed bodies "
        f"rotating over iof, compliancely, tlas, azakaw-acme (basic), azakaw-globex (api key); "
        f"server on core(s) {args.server_cores} (--workers 2: {args.all_cores}), wrk + Tansu on "
        f"{args.client_cores}; the gateway's publisher process on {args.client_cores} too, unless "
        f"said otherwise; the gateway at `--log-level warning` (no line per webhook) unless the "
        f"row says `info`, serve's default (docs/operations.md). CPU is the server's "
        f"processes' utime+stime over the loaded run (the publisher process included).\n")
    return header + "\n" + "\n".join(rows) + "\n\n" + "; ".join(notes) + "\n"


def write_doc(section: str, text: str) -> None:
    start, end = f"<!-- bench:{section}:start -->", f"<!-- bench:{section}:end -->"
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = f"{start}\n{text}{end}"
    if start in doc and end in doc:
        doc = doc[:doc.index(start)] + block + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(doc)


# -- main -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def broker(workdir: Path) -> Iterator[Broker]:
    workdir.mkdir(parents=True, exist_ok=True)
    with Broker(log_path=workdir / "tansu.log") as b:
        yield b


def request_file(workdir: Path, count: int, body_bytes: int) -> Path:
    """Signed once per machine and day (the bench sources accept a day-old IOF timestamp); each
    variant gets a fresh store and topic prefix, so replaying the same file never dedupes."""
    cache = ROOT / "var" / "bench"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"requests-{count}-{body_bytes}.bin"
    if not path.exists() or time.time() - path.stat().st_mtime > 12 * 3600:
        for old in cache.glob("requests-*.bin"):
            old.unlink()
        started = time.monotonic()
        print(f"signing {count:,} requests...", flush=True)
        generate(path.with_suffix(".tmp"), count, body_bytes)
        path.with_suffix(".tmp").rename(path)
        print(f"  done in {time.monotonic() - started:.0f}s", flush=True)
    return path


def soak(args: argparse.Namespace, wrk: str, workdir: Path, b: Broker) -> str:
    variant = Variant("gateway", "gateway, 1 worker", "gateway", log_level=args.soak_log_level)
    rate = args.soak_rate
    if not rate:  # half of what one worker takes loaded
        probe = request_file(workdir, int(12_000 * 12), args.body_bytes)
        rate = measure_max(variant, args, wrk, probe, b.bootstrap, workdir) / 2
    count = int(rate * args.soak_seconds * 1.05) + 1000
    requests = request_file(workdir, count, args.body_bytes)
    root = workdir / "soak"
    root.mkdir()
    prefix = f"b{uuid.uuid4().hex[:8]}"
    create_topics(b.bootstrap, prefix)
    server = start_server(variant, root, b.bootstrap, prefix, args.server_cores)
    samples: list[tuple[float, float, float]] = []  # (seconds, worker MB, publisher process MB)
    try:
        cmd = [wrk, "-t1", f"-c{args.connections}", f"-d{int(args.soak_seconds + GRACE_SECS)}s",
               "--timeout", "10s", "-s", str(LUA), f"http://127.0.0.1:{server.port}/", "--",
               str(requests), "0", str(args.soak_seconds), str(rate)]
        started = time.monotonic()
        env = {**os.environ, "BENCH_RATE": str(rate)}
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) as load:
            while load.poll() is None:
                publisher = max((rss_mb(pid) for pid in publisher_pids(server.process.pid)), default=0.0)
                samples.append((time.monotonic() - started, worker_rss(server.process.pid, 1), publisher))
                time.sleep(10)
            out = load.stdout.read() if load.stdout else ""
    finally:
        server.stop()
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH "))
    values = dict(item.split("=") for item in line.split()[1:])
    answered = int(values["requests"]) - int(values["non2xx"])
    stored = count_records(b.bootstrap, prefix) + count_spooled(root)

    def rss_line(title: str, series: list[tuple[float, float]]) -> str:
        first_minute = [mb for t, mb in series if 50 <= t <= 70] or [series[0][1]]
        return (f"{title} (MB) at 1 min {first_minute[0]:.0f}, end {series[-1][1]:.0f}, "
                f"max {max(mb for _, mb in series):.0f}; every 10 s: "
                + " ".join(f"{mb:.0f}" for _, mb in series) + "\n")

    text = (f"Soak of {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, commit {commit()}: "
            f"one worker at `--log-level {args.soak_log_level}`, "
            f"paced at {rate:,.0f}/s for {args.soak_seconds:g} s, c={args.connections}; "
            f"{answered:,} 2xx, p99 {int(values['p99']) / 1000:.1f} ms, p99.9 "
            f"{int(values['p999']) / 1000:.1f} ms; stored = 2xx: "
            f"{'yes' if stored == answered and values['wrapped'] == '0' else '**NO**'} "
            f"({stored:,}).\n\n" + rss_line("RSS of the worker", [(t, w) for t, w, _ in samples])
            + "\n" + rss_line("RSS of the publisher process", [(t, pub) for t, _, pub in samples]))
    return text


def measure_max(variant: Variant, args: argparse.Namespace, wrk: str, requests: Path,
                bootstrap: str, workdir: Path) -> float:
    quick = argparse.Namespace(**{**vars(args), "seconds": 10, "single_seconds": 1,
                                  "half_seconds": 1})
    return measure(variant, quick, wrk, requests, bootstrap, workdir).rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    add = parser.add_argument
    add("--connections", "-c", type=int, default=32, help="concurrency (default 32)")
    add("--seconds", type=float, default=15, help="loaded run per variant (default 15)")
    add("--single-seconds", type=float, default=5, help="run at concurrency 1 (default 5)")
    add("--half-seconds", type=float, default=10, help="run at half load (default 10)")
    add("--body-bytes", type=int, default=1024, help="body size (default 1024)")
    add("--only", help="comma-separated variants: " + ",".join(v.name for v in VARIANTS))
    add("--server-cores", default="0", help="taskset list for one worker (default 0)")
    add("--client-cores", default="1", help="wrk, Tansu and this script (default 1)")
    add("--all-cores", default="0,1", help="for --workers 2 (default 0,1)")
    add("--max-rate", type=int, default=12_000,
        help="most requests/s expected of any variant: sizes the signed file")
    add("--soak", action="store_true", help="10 minutes of one worker at half load")
    add("--soak-seconds", type=float, default=600)
    add("--soak-rate", type=float, default=0.0, help="default: half the loaded rate")
    add("--soak-log-level", default="warning", choices=("warning", "info"),
        help="info: serve's default, a line per webhook")
    add("--no-write", action="store_true", help=f"print only; do not update {DOC.name}")
    add("--keep", action="store_true", help="keep the work directory (servers' logs, wrk's output)"
        " and print where it is")
    add("--compare", metavar="DIR", help="also run each gateway variant from the checkout "
        "in DIR (e.g. a `git worktree` of an older commit), side by side")
    add("--repeat", type=int, default=1, help="run the variants N times; report medians")
    add("--kafka", metavar="JSON", help="kafka: settings to try, as an extra copy of each gateway "
        """variant (e.g. '{"linger_ms": 1}'), side by side""")
    args = parser.parse_args()

    global LOAD_BEFORE
    LOAD_BEFORE = os.getloadavg()[0]
    if LOAD_BEFORE > 0.5:
        print(f"warning: load average {LOAD_BEFORE:.2f}: other work will skew the figures",
              flush=True)
    wrk = ensure_wrk()
    chosen = VARIANTS
    if args.only:
        names = args.only.split(",")
        unknown = set(names) - {v.name for v in VARIANTS}
        if unknown:
            parser.error(f"unknown variant(s): {', '.join(sorted(unknown))}")
        chosen = [v for v in VARIANTS if v.name in names]
    if args.compare:
        head = tool_version(["git", "-C", args.compare, "rev-parse", "--short", "HEAD"])
        chosen = [w for v in chosen for w in (
            [replace(v, name=v.name + "@" + head, label=f"{v.label} @ {head}", src=args.compare), v]
            if v.kind == "gateway" and v.client == "kafka-python" else [v])]
    if args.kafka:
        extra = json.loads(args.kafka)
        chosen = [w for v in chosen for w in (
            [v, replace(v, name=v.name + "+kafka", label=f"{v.label}, kafka {args.kafka}",
                        kafka_options={**v.kafka_options, **extra})] if v.kind == "gateway" else [v])]
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    count = int(args.max_rate * (2 + args.seconds + args.half_seconds / 2)
                + 5000 * args.single_seconds)
    requests = None if args.soak else request_file(workdir, count, args.body_bytes)
    os.sched_setaffinity(0, {int(c) for c in args.client_cores.split(",")})  # Tansu and wrk inherit
    try:
        if args.soak:
            with broker(workdir) as b:
                text = soak(args, wrk, workdir, b)
            print(text)
            if not args.no_write:
                write_doc("soak", text)
            return 0
        runs: dict[str, list[Result]] = {v.name: [] for v in chosen}
        for round_ in range(args.repeat):
            for variant in chosen:
                print(f"{variant.name}...", flush=True)
                assert requests is not None
                # A fresh broker each time: Tansu keeps every record in memory, and one that
                # holds the earlier variants' records slowed the later ones (docs/benchmarks.md).
                with broker(workdir / f"r{round_}" / f"{variant.name}.broker") as b:
                    result = measure(variant, args, wrk, requests, b.bootstrap,
                                     workdir / f"r{round_}")
                    print(f"  {result.rate:,.0f}/s, p99 {result.loaded.p99:.1f} ms, "
                          f"{result.cpu_us:,.0f} µs CPU/event, {result.rss_mb:.0f} MB, "
                          f"{result.check}", flush=True)
                    runs[variant.name].append(result)
        # the median run of each variant by accepted/s (whole runs, not mixed figures)
        results = [sorted(r, key=lambda x: x.rate)[len(r) // 2] for r in runs.values()]
        text = table(results, args)
        print("\n" + text)
        if not args.no_write:
            write_doc("latest", text)
            print(f"written to {DOC.relative_to(ROOT)}")
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
