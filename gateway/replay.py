"""Replay protection over the event time a provider signed (DESIGN.md, SECURITY.md).

A captured webhook replayed later still has a valid signature. When a source sets `max_age_secs`,
an event whose signed time (IOF `created`, TLAS `timestamp`, any provider's mapped `time`) is
older than that, or further in the future than the source's `tolerance_secs` (clock skew), is
rejected as `stale_timestamp`. Younger replays are caught by the deduplication window.

It runs after the signature check, on the envelope's `time`: the mapper already normalised the
provider's field, and an event without one carries its received time, which is never stale.
"""

from __future__ import annotations

from datetime import datetime

from gateway.envelope import Envelope
from gateway.settings import SourceConfig


def stale(envelope: Envelope, config: SourceConfig, now: float) -> bool:
    if config.max_age_secs is None or envelope.time == envelope.receivedat:
        return False
    try:
        signed = datetime.fromisoformat(envelope.time).timestamp()
    except (ValueError, OverflowError, OSError):
        return False  # the mapper only emits parsable times; nothing to judge otherwise
    return now - signed > config.max_age_secs or signed - now > config.tolerance_secs
