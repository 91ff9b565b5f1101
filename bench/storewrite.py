"""What the store's SQLite work costs per event, away from HTTP: the writer's commit of a dedupe mark
and its history row (a 1.4 KB record), and the sweeper's delete of each once it is past its bound,
split into user and kernel CPU. It runs the store's own code (`Writer.commit`, as the writer
thread does, and `Store.expire`) on one thread, in groups as the writer commits them.

    .venv/bin/python bench/storewrite.py                        # groups of 17 (5 ms at 3,400/s)
    .venv/bin/python bench/storewrite.py --group 64
    .venv/bin/python bench/storewrite.py --pragma cache_size=-65536 --pragma wal_autocheckpoint=10000
    .venv/bin/python bench/storewrite.py --drop-index events_by_id   # what one index costs

The store starts with --prefill events (a store that has run a while: its B-trees are deep and
the keys random), then --events more are written and timed; then each table, first the history
and then the dedupe marks, is swept down to half the prefill on its own and timed (the marks first
by a tenth, what the sweeper meets in steady state). Prints; the
figures in docs/benchmarks.md ("what the store's writes are made of", eighth pass) come from here.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

from gateway import history  # noqa: E402
from gateway.publish import Ack, Record  # noqa: E402
from gateway.store import EXPIRE_CHUNK, Job, Store  # noqa: E402

VALUE = b"v" * 1400
SOURCES = ("iof", "compliancely", "tlas", "azakaw-acme", "azakaw-globex")


def thread_cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_utime, usage.ru_stime


def job(first: int, count: int, now: float) -> Job:
    """`count` published events, each a dedupe mark and a history row holding its record."""
    keys, rows = [], []
    for n in range(first, first + count):
        source, id_ = SOURCES[n % len(SOURCES)], uuid.uuid4().hex
        record = Record(f"webhooks.{source}", id_.encode(), VALUE, [("ce_type", b"x.y")])
        keys.append((source, id_))
        rows.append(history.Row(id_, source, "x.y", None, "published", record.topic, now, record,
                                Ack(record.topic, n % 4, n)))
    return Job("mark", keys=keys, rows=rows)


def write(store: Store, pragmas: list[str], start: int, events: int, group: int) -> tuple[float, float]:
    conn = store.connect("NORMAL")
    for pragma in pragmas:
        conn.execute(f"PRAGMA {pragma}")
    before = thread_cpu()
    for first in range(start, start + events, group):
        store.writer.commit(conn, [job(first, min(group, start + events - first), time.time())])
    after = thread_cpu()
    conn.close()
    if store.failures:
        raise SystemExit(f"{store.failures} commits failed (logged above): no figure to give")
    return after[0] - before[0], after[1] - before[1]


def sweep(store: Store) -> tuple[int, float, float]:
    before = thread_cpu()
    deleted = store.expire(chunk=EXPIRE_CHUNK, rest=lambda _: False)
    after = thread_cpu()
    return deleted, after[0] - before[0], after[1] - before[1]


def per(count: int, user: float, system: float) -> str:
    return (f"{(user + system) / count * 1e6:.1f} µs CPU each (user {user / count * 1e6:.1f},"
            f" kernel {system / count * 1e6:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefill", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=60_000, help="events written and timed")
    parser.add_argument("--group", type=int, default=17, help="events per commit")
    parser.add_argument("--pragma", action="append", default=[], help="NAME=VALUE on the writer's connection")
    parser.add_argument("--drop-index", action="append", default=[], help="an index of the store's schema")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="webhook-gateway-storewrite-") as tmp:
        bound = args.prefill // 2  # what the sweeps keep of each table
        store = Store(Path(tmp) / "gateway.db", expire_every_secs=None)
        store.open()
        with store.connect("NORMAL") as conn:
            for index in args.drop_index:
                conn.execute(f"DROP INDEX {index}")
        write(store, [], 0, args.prefill, 512)
        user, system = write(store, args.pragma, args.prefill, args.events, args.group)
        print(f"write, {args.events:,} events in groups of {args.group}"
              f"{' with ' + ', '.join(args.pragma) if args.pragma else ''}"
              f"{' without ' + ', '.join(args.drop_index) if args.drop_index else ''}:"
              f" {per(args.events, user, system)}")
        total = args.prefill + args.events
        # The marks: first a tenth of them (the sweeper waits for that much, gateway.store.sweeper.MARKS_SWEPT,
        # so it is what a sweep meets in steady state), then down to the bound.
        for name, max_entries, max_rows in (("history rows", total, bound),
                                            ("dedupe marks (a tenth)", total - 1, total),
                                            ("dedupe marks", bound, total)):
            store.max_entries, store.history_max_rows = max_entries, max_rows
            deleted, user, system = sweep(store)
            print(f"sweep, {deleted:,} {name} past their bound: {per(deleted, user, system)}")
        store.close()


if __name__ == "__main__":
    main()
