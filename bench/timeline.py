"""What a soak's latency tail lines up with: CPU per thread and per process, second by second,
next to the server's own latency per 10 s (from its request lines, so the soak runs at `info`).

    .venv/bin/python bench/run.py --soak --soak-seconds 300 --soak-log-level info --keep --no-write &
    taskset -c 1 .venv/bin/python bench/timeline.py sample /tmp/cpu.txt    # until the server stops
    .venv/bin/python bench/timeline.py report /tmp/cpu.txt /tmp/bench-XXXX/soak/server.log

`sample` waits for a `gateway serve` process, then every second writes the CPU ticks (1/100 s)
spent since the second before by each thread of the server (the worker: its event loop is the
thread whose id is the process's), by the publisher process, by Tansu, by wrk, and on each core
in all (what the kernel does for them, page-cache writeback included, shows only there). `report` prints,
per 10 s, the request lines' count and latency percentiles with those ticks summed, so a window
with a tail can be read against what ran in it. Prints only; the figures quoted in
docs/benchmarks.md ("Where a soak's tail comes from") come from here.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]
import run as bench  # noqa: E402
from ceiling import thread_ticks  # noqa: E402
from common import percentile  # noqa: E402
from split import core_busy  # noqa: E402

# Processes beside the server's own (its threads, its publisher process), found by command line.
OTHERS = {"tansu": "tansu.* broker", "wrk": "wrk "}
GROUPS = {"publisher", *OTHERS}
LINE = re.compile(r"^\S+ (\d\d:\d\d:\d)\d,\d+ INFO gateway\.request: .* latency_ms=([\d.]+)")


def pids(pattern: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False).stdout
    return [int(p) for p in found.split() if int(p) != os.getpid()]


def sample(out: Path) -> None:
    while not pids("gateway serve"):
        time.sleep(0.2)
    before: dict[str, int] = {}
    with out.open("w") as f:
        while servers := pids("gateway serve"):
            now: dict[str, int] = {}
            for server in servers:
                for tid, ticks in thread_ticks(server).items():
                    now["loop" if tid == server else f"thread {tid}"] = ticks
                for pid in bench.publisher_pids(server):
                    now[f"publisher {pid}"] = bench.cpu_ticks([pid])
            for name, pattern in OTHERS.items():
                for pid in pids(pattern):  # each process apart: one that ends or starts (wrk's
                    now[f"{name} {pid}"] = bench.cpu_ticks([pid])  # warm-up) is no step
            for core, (busy, _) in core_busy().items():  # everything on the core: the kernel's too
                now[f"core{core[3:]}"] = busy
            row: dict[str, int] = defaultdict(int)
            for key, value in now.items():
                group = key.split(" ")[0]
                row[group if group in GROUPS else key] += value - before.get(key, value)
            f.write(repr({"t": time.strftime("%H:%M:%S"), **row}) + "\n")
            f.flush()
            before = now
            time.sleep(1)


def report(samples: Path, log: Path) -> None:
    cpu: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line in samples.read_text().splitlines():
        row = ast.literal_eval(line)
        window = row.pop("t")[:7]
        for name, value in row.items():
            cpu[window][name] += value
    latency: dict[str, list[float]] = defaultdict(list)
    with log.open(errors="replace") as f:
        for line in f:
            if match := LINE.match(line):
                latency[match[1]].append(float(match[2]))
    totals: dict[str, int] = defaultdict(int)
    for window in cpu.values():
        for name, value in window.items():
            totals[name] += value
    names = [n for n in sorted(totals, key=lambda n: -totals[n]) if totals[n]]
    print("10 s from | requests | p50 / p99 / p99.9 ms | " + " | ".join(names) + "  (CPU %)")
    for window in sorted(set(latency) | set(cpu)):
        seen = sorted(latency.get(window, []))
        lat = (" / ".join(f"{percentile(seen, p):.1f}" for p in (0.5, 0.99, 0.999))
               if seen else "-")
        print(f"{window}0 | {len(seen):,} | {lat} | "
              + " | ".join(f"{cpu[window].get(n, 0) / 10:.0f}" for n in names))
    print("CPU over the whole run (s): " + ", ".join(f"{n} {totals[n] / 100:.1f}" for n in names))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("sample").add_argument("out", type=Path)
    reporting = commands.add_parser("report")
    reporting.add_argument("samples", type=Path)
    reporting.add_argument("log", type=Path, help="the server's log, at --log-level info")
    args = parser.parse_args()
    if args.command == "sample":
        sample(args.out)
    else:
        report(args.samples, args.log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
