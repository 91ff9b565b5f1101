"""What the store's expiry costs a webhook that is spooled meanwhile: a store holding N 1 KB history
rows beyond `history_max_rows` is swept (as the sweeper thread does once a minute) while an event
loop spools one record every 2 ms and times each fsynced commit, which is what a spooled webhook's
202 waits for.

    .venv/bin/python bench/sweep.py                      # 95,000 rows past the bound, chunks of 64
    .venv/bin/python bench/sweep.py --chunk 512
    .venv/bin/python bench/sweep.py --chunk 1000000000   # one statement, as before chunking
    .venv/bin/python bench/sweep.py --idle               # no sweep: the spool's commits alone

95,000 rows is a minute's traffic at 1,586 events/s, the soak's rate, over the default bound of
100,000. Prints; the figures in docs/benchmarks.md ("Expiry in chunks") come from here.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

from common import percentile  # noqa: E402

from gateway.publish import Record  # noqa: E402
from gateway.store import EXPIRE_CHUNK, Store  # noqa: E402


def fill(path: Path, rows: int) -> None:
    """`rows` published history rows with 1 KB records, received now (only the count bound applies)."""
    Store(path, expire_every_secs=None).open().close()
    value, now = b"v" * 1024, time.time()
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO events (id, source, type, subject, status, topic, received_at, key, value, headers)"
            " VALUES (?, 'iof', 'iof.contract.created', ?, 'published', 'sweep.iof', ?, ?, ?, x'90')",
            ((id_, id_, now, id_.encode(), value) for id_ in (str(uuid.uuid4()) for _ in range(rows))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--past", type=int, default=95_000, help="history rows beyond the bound")
    parser.add_argument("--chunk", type=int, default=EXPIRE_CHUNK, help="rows per expiry transaction")
    parser.add_argument("--idle", action="store_true", help="spool for 5 s without sweeping")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="webhook-gateway-sweep-") as tmp:
        path = Path(tmp) / "gateway.db"
        fill(path, 100_000 + args.past)
        store = Store(path, expire_every_secs=None).open()
        swept = threading.Event()
        report: list[str] = []

        def sweep() -> None:
            if args.idle:
                swept.wait(5)
            else:
                started, cpu = time.perf_counter(), time.thread_time()
                deleted = store.expire(chunk=args.chunk)
                report.append(f"swept {deleted:,} rows in {time.perf_counter() - started:.2f} s,"
                              f" {time.thread_time() - cpu:.2f} s CPU on the sweeper thread")
            swept.set()

        async def spool() -> list[float]:
            waits, n = [], 0
            threading.Thread(target=sweep).start()
            while not swept.is_set():
                started = time.perf_counter()
                await store.spool(Record("sweep.iof", b"k", b"v" * 1024, []), ("sweep", str(n)))
                waits.append(time.perf_counter() - started)
                n += 1
                await asyncio.sleep(0.002)
            return waits

        try:
            waits = asyncio.run(spool())
        finally:
            store.close()
    for line in report:
        print(line)
    waits.sort()
    print(f"{len(waits):,} spooled meanwhile: commit p50 {percentile(waits, 0.5) * 1e3:.1f} ms,"
          f" p99 {percentile(waits, 0.99) * 1e3:.1f} ms, max {waits[-1] * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
