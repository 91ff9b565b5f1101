"""Making an accepted event safe: published with the broker's ack, or spooled (fsynced) for the
drainer. The rule for which, in one place:

- straight to the spool, without trying Kafka, while Kafka is known to be unreachable or while the
  spool holds events (publishing past them would overtake their keys' order);
- otherwise published, and spooled if the broker does not acknowledge it in time.

`keep()` is the whole path for a record that needs nothing else (the admin API's replay); the
request path (gateway.pipeline) adds its own waits around the same rule (a first connection still
being made, a late ack that keeps a held copy).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from gateway import history
from gateway.dedupe import Key
from gateway.publish import Ack, Publisher, Record, Unavailable
from gateway.store import Store


def spool_first(publisher: Publisher, spool_holds_events: bool) -> bool:
    """Whether an event goes straight to the spool, without trying Kafka."""
    return spool_holds_events or not publisher.connected


class Kept(msgspec.Struct, frozen=True):
    """Where an event went: `ack` once published, `seq` once spooled; neither for a duplicate."""

    ack: Ack | None = None
    seq: int | None = None


async def keep(publisher: Publisher, store: Store, record: Record, key: Key, row: history.Row,
               timeout: float, unique: bool = True, on_spooled: Callable[[], None] = lambda: None,
               on_unavailable: Callable[[], None] = lambda: None) -> Kept:
    """Publish `record` (then mark `key` seen with `row`, as published) or spool it with `row`.
    `unique=False` spools it even if `key` was seen (a replay republishes an accepted event on
    purpose). Raises StoreError when it had to be spooled and could not be."""
    try:
        if spool_first(publisher, store.has_spooled()):
            raise Unavailable("kafka unreachable or the spool not empty")
        ack = await publisher.publish(record, timeout)
    except Unavailable:
        on_unavailable()
        seq = await store.spool(record, key, row=row, unique=unique)
        if seq is not None:
            on_spooled()
        return Kept(seq=seq)
    await store.mark(key, msgspec.structs.replace(row, status=row.acked_status or "published", ack=ack))
    return Kept(ack=ack)
