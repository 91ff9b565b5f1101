"""Audit records of rejected requests, for security teams (DESIGN.md).

Credential headers (Authorization, every provider signature header, each API-key header) are
replaced by a keyed fingerprint: the first 8 hex of HMAC-SHA256(install salt, value). Repeated
attacks with the same value correlate; the value itself cannot be recovered or replayed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gateway.envelope import AuditRecord, encode
from gateway.errors import Reason
from gateway.headers import Headers
from gateway.publish import Publisher, Record, Unavailable

log = logging.getLogger("gateway.audit")

ALWAYS_REDACTED = frozenset({"authorization", "proxy-authorization", "cookie"})
MAX_HEADER_CHARS = 256  # an audit record must stay small whatever the attacker sends


@dataclass(frozen=True, slots=True)
class RequestInfo:
    method: str
    path: str
    remote_addr: str | None
    headers: Headers


def install_salt(storage: Path) -> bytes:
    """A random per-install salt, kept beside the other state so fingerprints stay comparable."""
    path = storage / "audit-salt"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        storage.mkdir(parents=True, exist_ok=True)
        salt = secrets.token_bytes(32)
        path.write_text(salt.hex())
        path.chmod(0o600)
        return salt


class Auditor:
    def __init__(self, topic: str, publisher: Publisher, salt: bytes, redacted: frozenset[str],
                 timeout: float = 2.0) -> None:
        self._topic = topic
        self._publisher = publisher
        self._salt = salt
        self._redacted = ALWAYS_REDACTED | redacted
        self._timeout = timeout
        self._tasks: set[asyncio.Task[None]] = set()

    def fingerprint(self, value: str) -> str:
        return "fp:" + hmac.new(self._salt, value.encode("latin-1", "replace"), hashlib.sha256).hexdigest()[:8]

    def build(self, request: RequestInfo, reason: Reason, source: str, provider: str | None,
              body: bytes, body_size: int) -> AuditRecord:
        headers = {}
        for name, value in request.headers.items():
            if name in self._redacted:
                value = self.fingerprint(value)
            elif len(value) > MAX_HEADER_CHARS:
                value = value[:MAX_HEADER_CHARS] + "..."
            headers[name] = value if name not in headers else headers[name] + ", " + value
        return AuditRecord(
            id=str(uuid.uuid4()),
            at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            source=source,
            provider=provider,
            reason=reason.value,
            remote_addr=request.remote_addr,
            user_agent=request.headers.get("user-agent"),
            method=request.method,
            path=request.path[:MAX_HEADER_CHARS],
            body_sha256=hashlib.sha256(body).hexdigest(),
            body_size=body_size,
            headers=headers,
        )

    def record(self, request: RequestInfo, reason: Reason, source: str, provider: str | None,
               body: bytes, body_size: int) -> AuditRecord:
        """Log the rejection and publish its record without holding up the answer."""
        record = self.build(request, reason, source, provider, body, body_size)
        log.info("rejected request", extra={"reason": record.reason, "source": source,
                                            "remote_addr": record.remote_addr, "audit_id": record.id})
        task = asyncio.get_running_loop().create_task(self._publish(record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return record

    async def _publish(self, record: AuditRecord) -> None:
        key = record.source.encode()
        try:
            await self._publisher.publish(Record(self._topic, key, encode(record)), self._timeout)
        except Unavailable:
            log.warning("audit record %s not published: kafka unavailable", record.id)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
