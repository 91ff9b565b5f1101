"""Secret rotation you can watch: which configured secret authenticated each request.

A source's secrets (or API keys, or Basic passwords) are a list; the verifier says which position
matched (`Verdict.slot`, never the value). Every authenticated request is counted in
`gateway_secret_matches_total{source, slot}` and stamps its slot's last match, shown per slot by
`GET /admin/sources` and `webhook-gateway secrets status`. Once the provider has switched to the
new secret, the old one's slot stops matching: it can go (SECURITY.md, "Rotation").

A slot other than 0 still matching `secret_overlap_secs` after slot 0 (the new secret, listed
first) was first seen is logged, once an hour per source (`old_secret_still_used`): either the
provider never switched, or someone still sends with the old secret.

Times are kept per worker; with several workers, the last match of each slot is read host-wide
from the metrics (a "max" gauge every worker writes).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Mapping
from typing import Any

from prometheus_client.multiprocess import MultiProcessCollector

from gateway.metrics import MULTIPROC_ENV, Metrics
from gateway.secrets import Secret
from gateway.sources import Source

log = logging.getLogger("gateway.rotation")

WARN_EVERY_SECS = 3600.0  # old_secret_still_used: once an hour per source
LAST_MATCH = "gateway_secret_last_match_timestamp_seconds"

Slot = tuple[str, int]  # (source name, position in its list)


def credentials(cfg: Any) -> list[Secret]:
    """A source's secrets, keys or passwords, in slot order (empty for `auth: {type: none}`)."""
    auth = getattr(cfg, "auth", None)
    if auth is not None:
        return list(getattr(auth, "key", None) or getattr(auth, "password", None) or ())
    return list(getattr(cfg, "secrets", None) or ())


class Rotation:
    """Per worker: when each configured secret first and last matched. A secret is known by a
    salted digest of its value (kept in memory only), not by its slot, so its times follow it
    when a reload moves it (the new secret put first pushes the old one to slot 1)."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics
        self._salt = os.urandom(16)
        self._ids: dict[str, tuple[Any, tuple[bytes, ...]]] = {}  # source -> (config, ids by slot)
        self._first: dict[tuple[str, bytes], float] = {}
        self._last: dict[tuple[str, bytes], float] = {}
        self._warned: dict[str, float] = {}

    def matched(self, source: Source, slot: int, now: float) -> None:
        """A request to `source` authenticated with the secret in `slot` at `now`."""
        ids = self._slots(source)
        if not 0 <= slot < len(ids):
            return
        key = (source.name, ids[slot])
        self._first.setdefault(key, now)
        self._last[key] = max(now, self._last.get(key, now))
        if self.metrics is not None:
            self.metrics.secret_matches.labels(source.name, str(slot)).inc()
            self.metrics.secret_last_match.labels(source.name, str(slot)).set(self._last[key])
        if slot:
            self._overlap(source, ids, slot, now)

    def _slots(self, source: Source) -> tuple[bytes, ...]:
        known = self._ids.get(source.name)
        if known is not None and known[0] is source.config:
            return known[1]
        ids = tuple(hmac.new(self._salt, secret.reveal(), hashlib.sha256).digest()[:16]
                    for secret in credentials(source.config))
        self._ids[source.name] = (source.config, ids)
        if known is not None and known[1] != ids and self.metrics is not None:
            # A reload moved or replaced secrets: each slot's gauge now tells its new secret's time.
            for slot in range(max(len(ids), len(known[1]))):
                at = self._last.get((source.name, ids[slot])) if slot < len(ids) else None
                self.metrics.secret_last_match.labels(source.name, str(slot)).set(at or 0)
        return ids

    def _overlap(self, source: Source, ids: tuple[bytes, ...], slot: int, now: float) -> None:
        overlap_secs = source.config.secret_overlap_secs
        newest = self._first.get((source.name, ids[0]))
        if newest is None or now - newest <= overlap_secs:
            return  # the new secret is not in use yet, or the overlap is not over
        warned = self._warned.get(source.name)
        if warned is not None and now - warned < WARN_EVERY_SECS:
            return
        self._warned[source.name] = now
        log.warning("source %s: secret %d (of secrets:) still matches %d s after secret 0 was first "
                    "seen (secret_overlap_secs: %d); has the provider switched to the new one?",
                    source.name, slot, int(now - newest), overlap_secs,
                    extra={"event": "old_secret_still_used", "source": source.name, "slot": slot,
                           "overlap_secs": overlap_secs})

    def last_matches(self, sources: Mapping[str, Source]) -> dict[Slot, float]:
        """(source, slot) -> when the secret now in that slot last matched: this worker's, or with
        several workers the newest of any (the metrics' shared files)."""
        found: dict[Slot, float] = {}
        for name, source in sources.items():
            for slot, ident in enumerate(self._slots(source)):
                at = self._last.get((name, ident))
                if at is not None:
                    found[(name, slot)] = at
        if self.metrics is not None and os.environ.get(MULTIPROC_ENV):
            for key, at in _shared().items():
                if key[0] in sources:
                    found[key] = max(at, found.get(key, at))
        return found


def _shared() -> dict[Slot, float]:
    found: dict[Slot, float] = {}
    for family in MultiProcessCollector(None).collect():
        if family.name != LAST_MATCH:
            continue
        for sample in family.samples:
            slot = sample.labels.get("slot", "")
            if slot.isdigit() and sample.value > 0:
                found[(sample.labels.get("source", ""), int(slot))] = sample.value
    return found
