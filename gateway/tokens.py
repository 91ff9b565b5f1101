"""Verification tokens a provider sends unsigned, kept for the operator (Notion).

Notion proves a new subscription's URL by POSTing `{"verification_token": "..."}` with no
signature; the operator pastes the token into Notion's Verify dialog, and it then becomes the
secret Notion signs with. The gateway cannot tell that POST from a stranger's, so it publishes
nothing, keeps the last few tokens per source with who sent them and when, and leaves the choice to
the operator (`webhook-gateway secrets tokens`). The file is the operator's only: mode 0600, under
`storage.path`, written whole and renamed so a reader never sees half of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.map import iso

log = logging.getLogger("gateway.tokens")

KEEP = 10  # per source: a stranger's posts cannot push Notion's out faster than the failure budget
DIRECTORY = "verification-tokens"


def path(storage: Path, source: str) -> Path:
    return storage / DIRECTORY / f"{source}.json"


def read(storage: Path, source: str) -> list[dict[str, Any]]:
    """The kept tokens, newest last; [] when none (or the file is unreadable)."""
    try:
        kept = json.loads(path(storage, source).read_text())
    except (OSError, ValueError):
        return []
    return kept if isinstance(kept, list) else []


def keep(storage: Path, source: str, token: str, sender: str | None, at: str) -> None:
    kept = [*read(storage, source), {"token": token, "from": sender, "at": at}][-KEEP:]
    target = path(storage, source)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")  # 0600
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(kept, out, indent=1)
        os.replace(temporary, target)
    except BaseException:
        os.unlink(temporary)
        raise


def sources(storage: Path) -> list[str]:
    """The sources that have kept tokens."""
    folder = storage / DIRECTORY
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


class Keeper:
    """Keeps tokens as they arrive, at most one a second per source: a stranger's flood cannot
    push the provider's own out faster than that (nor make the loop wait on the disk)."""

    def __init__(self, storage: Path) -> None:
        self.storage = storage
        self._kept_at: dict[str, float] = {}

    async def keep(self, source: str, token: str, sender: str | None, now: float) -> bool:
        """False (nothing written) when this source's last token was kept under a second ago."""
        if now - self._kept_at.get(source, 0.0) < 1.0:
            return False
        self._kept_at[source] = now
        at = iso(datetime.fromtimestamp(now, UTC))
        await asyncio.to_thread(keep, self.storage, source, token, sender, at)
        log.warning("source %s: a verification token from %s was kept; see `webhook-gateway "
                    "secrets tokens`", source, sender, extra={
                        "event": "verification_token_kept", "source": source,
                        "remote_addr": sender})
        return True
