"""What keeping one audit record costs: the local audit log (gateway/auditlog.py: one write(2) on
the event loop's thread, an fsync per shipped batch) against a table in the store's SQLite file
(the record handed to a writer thread as the store's writer takes jobs, gathered for up to 5 ms
and group-committed at synchronous=NORMAL, as the store commits marks).

    taskset -c 1 .venv/bin/python bench/auditappend.py                 # both, alternating, 3 rounds
    taskset -c 1 .venv/bin/python bench/auditappend.py --rate 3000     # paced: the flood SECURITY.md names

Per way: CPU µs per record on the caller's thread (what the event loop pays) and in the whole
process (the writer thread's commits, the fsyncs), and the slowest single append seen by the
caller. Prints; docs/benchmarks.md's decisions table quotes it.
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

from gateway.audit import Auditor, RequestInfo  # noqa: E402
from gateway.auditchain import Chain, generate_pem, key_from_secret  # noqa: E402
from gateway.auditlog import AuditLog  # noqa: E402
from gateway.envelope import encode  # noqa: E402
from gateway.errors import Reason  # noqa: E402
from gateway.headers import Headers  # noqa: E402
from gateway.publish import Record  # noqa: E402
from gateway.publish.memory import MemoryPublisher  # noqa: E402
from gateway.store import Job  # noqa: E402
from gateway.store.schema import connect  # noqa: E402
from gateway.store.writer import Writer  # noqa: E402

SHIP_BATCH = 256  # the shipper's batch: one fsync each


def record() -> bytes:
    auditor = Auditor("webhooks.rejected", MemoryPublisher(), b"salt", frozenset({"x-iof-signature"}))
    request = RequestInfo("POST", "/webhooks/iof", "203.0.113.7", Headers({
        "Host": "hooks.example.com", "User-Agent": "python-requests/2.31", "Content-Type": "application/json",
        "Content-Length": "1024", "X-IOF-Signature": "t=1700000000,v1=" + "ab" * 32}))
    return encode(auditor.build(request, Reason.INVALID_SIGNATURE, "iof", "iof", b"x" * 1024, 1024))


def cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def paced(count: int, rate: float | None, append: Callable[[], None]) -> float:
    """Call `append` `count` times, at `rate` per second if given -> the slowest call (s)."""
    slowest = 0.0
    start = time.perf_counter()
    for n in range(count):
        if rate is not None:
            wait = start + n / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        before = time.perf_counter()
        append()
        slowest = max(slowest, time.perf_counter() - before)
    return slowest


def in_log(root: Path, line: bytes, count: int, rate: float | None,
           chain: Chain | None = None) -> tuple[float, float, float]:
    log = AuditLog(root / "audit", chain=chain)
    log.open()
    written = [0]

    def append() -> None:
        log.append(line)
        written[0] += 1
        if written[0] % SHIP_BATCH == 0:  # the shipper's fsync, once per batch (off the loop there)
            log.sync()

    thread, process = cpu(resource.RUSAGE_THREAD), cpu(resource.RUSAGE_SELF)
    slowest = paced(count, rate, append)
    log.sync()
    used = cpu(resource.RUSAGE_THREAD) - thread, cpu(resource.RUSAGE_SELF) - process
    log.close()
    return used[0], used[1], slowest


def in_chained_log(root: Path, line: bytes, count: int, rate: float | None) -> tuple[float, float, float]:
    """The same, hash-chained, with an Ed25519 checkpoint every 10,000 records (gateway.auditchain)."""
    return in_log(root, line, count, rate, Chain("bench", key_from_secret(generate_pem()[0])))


def in_sqlite(root: Path, line: bytes, count: int, rate: float | None) -> tuple[float, float, float]:
    path = root / "gateway.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT, value BLOB)")

    def apply(conn: sqlite3.Connection, job: Job, now: float) -> None:
        conn.executemany("INSERT INTO audit (source, value) VALUES (?, ?)",
                         [(r.key.decode(), r.value) for r in job.records])

    writer = Writer(path, apply, time.time, lambda synchronous: connect(path, synchronous))
    writer.start()
    done = threading.Event()
    thread, process = cpu(resource.RUSAGE_THREAD), cpu(resource.RUSAGE_SELF)
    slowest = paced(count, rate, lambda: writer.put(Job("note", records=[Record("", b"iof", line, [])])))
    last = Job("flush")
    last.done = lambda error: done.set()
    writer.put(last)
    done.wait()
    used = cpu(resource.RUSAGE_THREAD) - thread, cpu(resource.RUSAGE_SELF) - process
    writer.stop()
    if writer.failures:
        raise SystemExit("commits failed: no figure to give")
    return used[0], used[1], slowest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=30_000)
    parser.add_argument("--rate", type=float, default=None, help="records per second (default: unpaced)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    line = record()
    print(f"{args.records:,} records of {len(line)} B, {'unpaced' if args.rate is None else f'{args.rate:,.0f}/s'}")
    for round_ in range(args.rounds):
        for name, way in (("audit log (write(2))", in_log), ("audit log, chained", in_chained_log),
                          ("SQLite table (writer thread)", in_sqlite)):
            with tempfile.TemporaryDirectory(prefix="webhook-gateway-audit-") as tmp:
                caller, total, slowest = way(Path(tmp), line, args.records, args.rate)
            print(f"round {round_ + 1}, {name}: caller {caller / args.records * 1e6:.1f} µs,"
                  f" process {total / args.records * 1e6:.1f} µs per record; slowest append"
                  f" {slowest * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
