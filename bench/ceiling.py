"""The worker's own ceiling: the gateway's app served by uvicorn as `serve` serves it (httptools with
the request deadline, uvloop), with a publisher that acknowledges every record at once. What is
left is the worker's CPU per webhook: HTTP, the guard, verification, mapping, the dedupe read, the
store's marks and history rows, metrics. No broker runs; nothing reaches Kafka (never a claim about
Kafka: see bench/run.py for those).

    .venv/bin/python bench/ceiling.py                  # 32 connections, 10 s
    .venv/bin/python bench/ceiling.py --connections 64
    .venv/bin/python bench/ceiling.py --without marks  # what the dedupe marks cost, by their absence
    .venv/bin/python bench/ceiling.py --profile 30     # + py-spy: the worker's top 30 functions
    .venv/bin/python bench/ceiling.py --prefill 100000 # a store that has run a while (full history)

`--without` switches parts of the store off in the served process (never in the gateway itself),
to show each one's share of a webhook's CPU; the figures in docs/benchmarks.md came from it:
  commits  the writer thread settles every write without touching SQLite (the marks' bookkeeping,
           futures and thread hand-offs stay)
  marks    no dedupe mark or history row after the ack at all
  rows     the dedupe mark, but no event-history row
  lookup   no dedupe read before publishing (every event is new, the spool is empty)

The server runs on core 0, wrk and this script on core 1 (as in bench/run.py). Prints; the figures
quoted in docs/benchmarks.md come from here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Collection
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent)]
import run as bench  # noqa: E402
import split  # noqa: E402

from gateway.publish import Ack, Record, Sending  # noqa: E402
from gateway.store import Job  # noqa: E402

ABLATIONS = ("commits", "marks", "rows", "lookup")


class InstantPublisher:
    """Acknowledges every record as it is sent (offsets count up); keeps nothing."""

    delivery_timeout_secs = 1.0
    connected = True

    def __init__(self) -> None:
        self.sent = 0

    async def start(self, topics: Collection[str] = ()) -> None:
        return None

    def send(self, record: Record) -> Sending:
        self.sent += 1
        sending = Sending(asyncio.get_running_loop().create_future())
        sending.mark_sent()
        sending.result.set_result(Ack(record.topic, 0, self.sent))
        return sending

    async def publish(self, record: Record, timeout: float) -> Ack:
        return await self.send(record).result

    async def close(self, timeout: float) -> None:
        return None


def app_factory():  # noqa: ANN201 - uvicorn's factory protocol
    from gateway.app import create_app
    from gateway.commands.serve import _tune_gc
    from gateway.config import load_config

    ablate(os.environ.get("CEILING_WITHOUT", "").split(","))
    if os.environ.get("CEILING_LOG"):  # the gateway's own logging, as `serve --log-level L --log-format F`
        from gateway import logs

        level, _, fmt = os.environ["CEILING_LOG"].partition(",")
        logs.configure(level, fmt or "text")
    app = create_app(load_config(os.environ["WEBHOOK_GATEWAY_CONFIG"]), publisher=InstantPublisher())
    _tune_gc()  # as serve does
    return app


def ablate(parts: list[str]) -> None:
    """Switch store parts off in this (the served) process: see --without."""
    from gateway.store import Store
    from gateway.store.writer import Writer

    if "commits" in parts:
        def settle_only(self: Writer, conn: object, jobs: list) -> bool:
            for job in jobs:
                job.done(None)
            return True
        Writer.commit = settle_only  # type: ignore[method-assign,assignment]
    if "marks" in parts:
        def no_mark(self: Store, key: object, row: object = None) -> asyncio.Future[None]:
            done = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        Store.mark_soon = no_mark  # type: ignore[method-assign,assignment]
    if "rows" in parts:
        mark_soon = Store.mark_soon

        def no_row(self: Store, key: object, row: object = None) -> asyncio.Future[None]:
            return mark_soon(self, key)  # type: ignore[arg-type]
        Store.mark_soon = no_row  # type: ignore[method-assign,assignment]
    if "lookup" in parts:
        Store.lookup = lambda self, key: (False, False)  # type: ignore[method-assign]


def serve(port: int, config: str) -> None:
    import uvicorn

    from gateway import httpproto

    os.environ["WEBHOOK_GATEWAY_CONFIG"] = config  # what app_factory reads, as serve sets it
    os.environ[httpproto.ENV] = "10"
    uvicorn.run("ceiling:app_factory", factory=True, host="127.0.0.1", port=port,
                log_level="warning", http="gateway.httpproto:DeadlineProtocol", loop="uvloop",
                lifespan="on", access_log=False, server_header=False, proxy_headers=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--without", default="", metavar="PARTS",
                        help="comma-separated, of: " + ", ".join(ABLATIONS) + " (see above)")
    parser.add_argument("--prefill", type=int, default=0, metavar="N",
                        help="start with N dedupe marks and the last 100,000 of them as event-history rows "
                             "(history_max_rows' default) in the store, as a gateway that has run for "
                             "a while has; without it the store starts empty and its indexes small")
    parser.add_argument("--log", default="", metavar="LEVEL[,FORMAT]",
                        help="configure the gateway's logging as `serve` does (e.g. info,json: a line "
                             "per webhook, to the server's log file); default: none below warnings")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="sample the worker with py-spy during the run and print its top N functions")
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "CONFIG"), help=argparse.SUPPRESS)  # the child
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return 0
    unknown = set(filter(None, args.without.split(","))) - set(ABLATIONS)
    if unknown:
        parser.error(f"--without: unknown part(s) {', '.join(sorted(unknown))}")
    os.environ["CEILING_WITHOUT"] = args.without  # read by the served child
    os.environ["CEILING_LOG"] = args.log
    workdir = Path(tempfile.mkdtemp(prefix="bench-ceiling-"))
    os.sched_setaffinity(0, {1})
    try:
        config = bench.gateway_config(workdir, "127.0.0.1:1", "ceiling")  # no broker is used
        if args.prefill:
            prefill(workdir / "var" / "gateway.db", args.prefill)
        requests = bench.request_file(workdir, 289_000, 1024)
        wrk = bench.ensure_wrk()
        port = bench.free_port()
        server = bench.Server([bench.PYTHON, __file__, "--serve", str(port), str(config)],
                              workdir / "server.log", port, cores="0")
        try:
            server.wait_up(kafka=False, workers=1)
            warm = bench.run_wrk(wrk, port, requests, 0, 2, args.connections)
            spy = split.start_profile(server.process.pid, workdir / "profile.txt", args.seconds) \
                if args.profile else None
            threads_before = thread_ticks(server.process.pid)
            before = bench.cpu_ticks([server.process.pid])
            result = bench.run_wrk(wrk, port, requests, warm.position, args.seconds, args.connections)
            cpu = (bench.cpu_ticks([server.process.pid]) - before) / bench.CLK_TCK
            threads = {tid: ticks - threads_before.get(tid, 0)
                       for tid, ticks in thread_ticks(server.process.pid).items()}
            if spy:
                spy.wait()
                split.print_profile(workdir / "profile.txt", args.profile)
        finally:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"worker with an instant-ack publisher, c={args.connections}"
          f"{', without ' + args.without if args.without else ''}: {result.ok / args.seconds:,.0f}"
          f" accepted/s ({result.non2xx} non-2xx), p50 {result.p50:.1f} ms, "
          f"{cpu / max(1, result.ok) * 1e6:,.0f} µs CPU / event")
    loop = threads.pop(server.process.pid, 0)
    others = sorted((t for t in threads.values() if t), reverse=True)
    print(f"  of which the event loop's thread {loop / bench.CLK_TCK / max(1, result.ok) * 1e6:,.0f} µs,"
          " other threads " + ", ".join(f"{t / bench.CLK_TCK / max(1, result.ok) * 1e6:,.0f} µs"
                                        for t in others))
    return 0


def prefill(path: Path, count: int) -> None:
    """`count` published events' dedupe marks, the last history_max_rows of them with their history
    rows (1 KB records, random ids, as the bench's webhooks have), committed in groups as the
    store's writer commits."""
    import uuid

    from gateway import history
    from gateway.publish import Ack, Record
    from gateway.store import Store

    store = Store(path)
    store.open()
    try:
        conn, value, now = store.connect("NORMAL"), b"v" * 1024, time.time()
        for start in range(0, count, 500):
            ids = [str(uuid.uuid4()) for _ in range(min(500, count - start))]
            rows = [history.Row(id_, "iof", "iof.contract.created", id_, "published", "ceiling.iof", now,
                                Record("ceiling.iof", id_.encode(), value, [("ce_id", id_.encode())]),
                                Ack("ceiling.iof", 0, start + i))
                    for i, id_ in enumerate(ids)] if count - start <= store.history_max_rows else []
            store.writer.commit(conn, [Job("mark", keys=[("iof", id_) for id_ in ids], rows=rows)])
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
    finally:
        store.close()


def thread_ticks(pid: int) -> dict[int, int]:
    """utime+stime per thread of `pid` (the event loop's thread is the one whose id is the pid)."""
    found = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        ticks = bench.stat_ticks(Path(f"/proc/{pid}/task/{tid}/stat"))
        if ticks is not None:
            found[int(tid)] = ticks
    return found


if __name__ == "__main__":
    sys.exit(main())
