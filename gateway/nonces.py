"""Single-use tokens: where a provider's signature covers a token but not the whole body (Mailgun
signs `{timestamp}{token}`, not `event-data`), a captured signature could be attached to another
body until its timestamp is stale. The provider's own defence, followed here: a token authenticates
one body. The first body's SHA-256 is kept under the token in the dedupe window (the store's marks,
shared by the host's workers); the same token with the same body again is a retry (the usual
dedupe answers it), with another body a replay, refused as `token_reused`.
"""

from __future__ import annotations

from collections import OrderedDict

from gateway.dedupe import Key
from gateway.store import Store

PREFIX = "nonce\x00"  # marks of tokens, apart from event ids (which never hold a NUL from a provider)
RECENT = 100_000  # tokens this worker saw, for the moments before their mark is committed


class Nonces:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._recent: OrderedDict[Key, bytes] = OrderedDict()

    def reused(self, source: str, token: str, digest: bytes) -> bool:
        """True when `token` authenticated another body before; else it is kept for this body."""
        key = (source, PREFIX + token)
        accepted = self._recent.get(key)
        if accepted is None:
            accepted = self.store.accepted_body(key)  # another worker's, or before a restart
        if accepted is not None:
            return accepted != digest
        self._recent[key] = digest
        if len(self._recent) > RECENT:
            self._recent.popitem(last=False)
        self.store.mark_soon(key, None, digest)  # committed with the next group commit
        return False
