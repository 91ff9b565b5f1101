"""Where the CPU of one loaded run goes, per process: the gateway's worker, its publisher process
and the broker, plus how busy each core was. The same set-up as bench/run.py (worker on the server
core; wrk, Tansu and the publisher process on the client core), one variant at a time.

    .venv/bin/python bench/split.py                          # the default gateway, 32 connections
    .venv/bin/python bench/split.py --variant gateway-inworker --connections 64
    .venv/bin/python bench/split.py --kafka '{"linger_ms": 1}'   # producer options to try
    .venv/bin/python bench/split.py --profile 25                # + py-spy: top 25 functions per process

Prints, it does not write the docs (docs/benchmarks.md quotes what it printed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

import httpx

sys.path[:0] = [str(Path(__file__).resolve().parent)]
import run as bench  # noqa: E402


def core_busy() -> dict[str, tuple[int, int]]:
    """Per CPU: (busy ticks, all ticks) from /proc/stat."""
    found = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3].isdigit():
            name, *values = line.split()
            ticks = list(map(int, values))
            found[name] = (sum(ticks) - ticks[3] - ticks[4], sum(ticks))  # minus idle, iowait
    return found


PY_SPY = "py-spy==0.4.3"  # installed into the venv on first use, as run.py installs wrk


def ensure_py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        print(f"installing {PY_SPY} (pip)...", flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", PY_SPY], check=True)
    return found


def start_profile(root: int, out: Path, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy over the server and its children (the publisher process too), only threads holding the GIL (Python on CPU),
    as collapsed stacks. Its own CPU lands on the client core, with wrk: it skews that side."""
    spy = ensure_py_spy()
    return subprocess.Popen([spy, "record", "--pid", str(root), "--subprocesses", "--format", "raw", "--gil",
                             "--rate", "250", "--duration", str(int(seconds)), "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def print_profile(path: Path, top: int) -> None:
    """Per process: the functions most often on CPU, by self samples and by inclusive samples."""
    by_process: dict[str, tuple[Counter[str], Counter[str], list[int]]] = {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        # A child's stacks are nested under its parent's: the innermost "process" frame owns them.
        last = max(i for i, f in enumerate(frames) if f.startswith("process "))
        process, frames = frames[last], [re.sub(r" \(/[^)]*/", " (", f) for f in frames[last + 1:]]
        selfs, inclusive, total = by_process.setdefault(process, (Counter(), Counter(), [0]))
        n = int(count)
        total[0] += n
        if frames:
            selfs[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    for process, (selfs, inclusive, total) in sorted(by_process.items(), key=lambda p: -p[1][2][0]):
        print(f"\n{process[:90]}: {total[0]} samples")
        for title, counter in (("self", selfs), ("inclusive", inclusive)):
            print(f"  -- {title}")
            for frame, n in counter.most_common(top):
                print(f"  {n / total[0] * 100:5.1f} %  {frame[:110]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--variant", default="gateway",
                        choices=[v.name for v in bench.VARIANTS if v.kind == "gateway"])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--kafka", default="{}", help="JSON of kafka: options to add to the config")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="sample the gateway's processes with py-spy during the run and print "
                             "the N functions with the most CPU (self and inclusive) per process")
    args = parser.parse_args()
    extra = json.loads(args.kafka)
    variant = replace(next(v for v in bench.VARIANTS if v.name == args.variant), kafka_options=extra)
    workdir = Path(tempfile.mkdtemp(prefix="bench-split-"))
    os.sched_setaffinity(0, {1})
    requests = bench.request_file(workdir, 289_000, 1024)  # the count `make bench` signs: reused
    wrk = bench.ensure_wrk()
    try:
        with bench.broker(workdir) as broker:
            prefix = f"b{uuid.uuid4().hex[:8]}"
            bench.create_topics(broker.bootstrap, prefix)
            (workdir / "g").mkdir()
            server = bench.start_server(variant, workdir / "g", broker.bootstrap, prefix, "0")
            try:
                warm = bench.run_wrk(wrk, server.port, requests, 0, 2, args.connections)
                pids = bench.descendants(server.process.pid)
                names = {p: Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")[:70].decode()
                         for p in pids}
                tansu = broker.pid
                watched = pids + ([tansu] if tansu else [])
                spy = start_profile(server.process.pid, workdir / "profile.txt", args.seconds) \
                    if args.profile else None
                before, cores = {p: bench.cpu_ticks([p]) for p in watched}, core_busy()
                started = time.monotonic()
                # The window ends after `seconds`; wrk then idles for its grace period (no new
                # webhooks), which must not count as idle time of the run: snapshot at the end.
                window: dict[str, object] = {}
                timer = threading.Timer(args.seconds, lambda: window.update(
                    wall=time.monotonic() - started, cores=core_busy(),
                    ticks={p: bench.cpu_ticks([p]) for p in watched}))
                timer.start()
                result = bench.run_wrk(wrk, server.port, requests, warm.position, args.seconds,
                                       args.connections)
                timer.join()
                if spy is not None:
                    spy.wait()
                wall, after = float(window["wall"]), window["cores"]  # type: ignore[arg-type]
                spent = {p: (window["ticks"][p] - before[p]) / bench.CLK_TCK for p in watched}  # type: ignore[index]
                metrics = httpx.get(f"http://127.0.0.1:{server.port}/metrics").text
            finally:
                server.stop()
        if args.profile:
            print_profile(workdir / "profile.txt", args.profile)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{variant.label}, c={args.connections}, kafka {extra or 'defaults'}: "
          f"{result.ok / args.seconds:,.0f}/s, p50 {result.p50:.1f} ms")
    print("cores busy: " + ", ".join(
        f"{c} {(after[c][0] - cores[c][0]) / max(1, after[c][1] - cores[c][1]) * 100:.0f} %" for c in cores))
    for pid in watched:
        secs = spent[pid]
        name = "tansu" if pid == tansu else names[pid]
        print(f"  {name}: {secs:.2f} s CPU, {secs / wall * 100:.0f} % of the run, "
              f"{secs / max(1, result.ok) * 1e6:,.0f} µs / event")
    total = sum(float(x) for x in re.findall(r"gateway_publish_latency_seconds_sum\{[^}]*\} (\S+)", metrics))
    count = sum(float(x) for x in re.findall(r"gateway_publish_latency_seconds_count\{[^}]*\} (\S+)", metrics))
    if count:
        print(f"mean send-to-ack latency (warm-up included): {total / count * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
