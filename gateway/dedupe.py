"""Which (source, envelope id) pairs were already accepted: a provider's retry must not publish twice.

This store is the process-local window the spine needs: bounded in size and age, so a flood of
distinct ids cannot grow memory without limit. An id is marked only once its event is safe.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

Key = tuple[str, str]  # (source name, envelope id): two tenants' identical bodies never collide


class DedupeStore(Protocol):
    def seen(self, key: Key) -> bool: ...

    def mark(self, key: Key) -> None: ...


class MemoryWindow:
    def __init__(self, window_secs: float = 72 * 3600, max_entries: int = 1_000_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window_secs
        self._max = max_entries
        self._clock = clock
        self._entries: OrderedDict[Key, float] = OrderedDict()  # oldest first

    def seen(self, key: Key) -> bool:
        marked = self._entries.get(key)
        return marked is not None and self._clock() - marked < self._window

    def mark(self, key: Key) -> None:
        now = self._clock()
        self._entries[key] = now
        self._entries.move_to_end(key)
        self._expire(now)

    def __len__(self) -> int:
        return len(self._entries)

    def _expire(self, now: float) -> None:
        entries = self._entries
        while entries:
            oldest_key, marked = next(iter(entries.items()))
            if len(entries) <= self._max and now - marked < self._window:
                return
            del entries[oldest_key]
