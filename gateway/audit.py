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
import os
import re
import secrets
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from pydantic import BaseModel

from gateway.auditlog import AuditLog, Shipper
from gateway.envelope import AuditRecord, encode
from gateway.errors import Reason
from gateway.headers import Headers
from gateway.publish import Publisher, Record, Unavailable
from gateway.secrets import Secret

log = logging.getLogger("gateway.audit")

ALWAYS_REDACTED = frozenset({"authorization", "proxy-authorization", "cookie"})
# Belt and braces: a sender that puts a credential in a header we were not told about (a key in
# `X-API-Key` where the source expects `X-Globex-Key`) must not have it written down in clear.
CREDENTIAL_LIKE = re.compile(r"auth|key|token|secret|signature|password|cookie|session", re.I)
MAX_HEADER_CHARS = 256  # an audit record must stay small whatever the attacker sends
MAX_HEADERS = 64
MAX_SOURCE_CHARS = 64  # the source is the URL segment as sent; real names are shorter


class RequestInfo(msgspec.Struct, frozen=True, gc=False):  # a Struct: see gateway.publish.Record
    method: str
    path: str
    remote_addr: str | None
    headers: Headers


class Redaction:
    """What must never be written in clear, from one configuration: the credential header names
    and every configured secret value. Built with the configuration (gateway.runtime) and
    replaced with it on reload, so a rotated-in secret is redacted from its first request."""

    def __init__(self, headers: Iterable[str] = (), secrets: Iterable[bytes] = ()) -> None:
        self.headers = ALWAYS_REDACTED | frozenset(h.lower() for h in headers)
        # Shorter values would match by chance (and the config refuses them for keys anyway).
        self.secrets = tuple(sorted({s.decode("latin-1") for s in secrets if len(s) >= 4},
                                    key=len, reverse=True))

    def sensitive(self, name: str, value: str) -> bool:
        return (name in self.headers or CREDENTIAL_LIKE.search(name) is not None
                or any(secret in value for secret in self.secrets))

    def scrub(self, text: str) -> str:
        """`text` with every configured secret in it replaced (a URL, a user agent, a name)."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "[redacted]")
        return text


def install_salt(storage: Path) -> bytes:
    """A random per-install salt, kept beside the other state so fingerprints stay comparable.

    Created with O_EXCL, so workers starting together agree on one salt.
    """
    path = storage / "audit-salt"
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        storage.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    salt = secrets.token_bytes(32)
    with os.fdopen(fd, "w") as file:
        file.write(salt.hex())
    return salt


class Auditor:
    """Builds each rejection's record, writes it to the local audit log and lets the shipper
    publish it; without a log (unit tests) it publishes directly, best effort.

    `secrets` are the configured credential values: a header that contains one is fingerprinted
    whatever its name.
    """

    def __init__(self, topic: str, publisher: Publisher, salt: bytes, redacted: frozenset[str],
                 timeout: float = 2.0, auditlog: AuditLog | None = None,
                 secrets: Iterable[bytes] = ()) -> None:
        self._topic = topic
        self._publisher = publisher
        self._salt = salt
        self.redaction = Redaction(redacted, secrets)  # without a runtime's (unit tests)
        self._timeout = timeout
        self._tasks: set[asyncio.Task[None]] = set()
        self.log = auditlog
        self.shipper = Shipper(auditlog, publisher, topic, timeout) if auditlog else None
        self.counts: Counter[tuple[str, str]] = Counter()  # (source, reason) -> rejections

    def start(self) -> None:
        """Open the local log and start shipping its backlog (the app's lifespan calls this)."""
        if self.log is not None and self.shipper is not None:
            self.log.open()
            self.shipper.start()

    def fingerprint(self, value: str) -> str:
        return "fp:" + hmac.new(self._salt, value.encode("latin-1", "replace"), hashlib.sha256).hexdigest()[:8]

    def build(self, request: RequestInfo, reason: Reason, source: str, provider: str | None,
              body: bytes, body_size: int, redaction: Redaction | None = None,
              repeats: int = 0, detail: str | None = None,
              skew_secs: int | None = None) -> AuditRecord:
        redact = redaction or self.redaction
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            name = redact.scrub(name[:MAX_HEADER_CHARS])
            if name not in headers and len(headers) >= MAX_HEADERS:
                continue
            if redact.sensitive(name, value):
                value = self.fingerprint(value)
            elif len(value) > MAX_HEADER_CHARS:
                value = value[:MAX_HEADER_CHARS] + "..."
            headers[name] = value if name not in headers else headers[name] + ", " + value
        path = redact.scrub(request.path)  # a request to /webhooks/<secret> must not keep it
        return AuditRecord(
            id=str(uuid.uuid4()),
            at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            source=redact.scrub(source)[:MAX_SOURCE_CHARS],
            provider=provider,
            reason=reason.value,
            remote_addr=request.remote_addr,
            user_agent=headers.get("user-agent"),
            method=redact.scrub(request.method[:16]),
            path=path[:MAX_HEADER_CHARS],
            body_sha256=hashlib.sha256(body).hexdigest(),
            body_size=body_size,
            headers=headers,
            repeats=repeats,
            detail=detail,
            skew_secs=skew_secs,
        )

    def record(self, request: RequestInfo, reason: Reason, source: str, provider: str | None,
               body: bytes, body_size: int, redaction: Redaction | None = None,
               repeats: int = 0, detail: str | None = None,
               skew_secs: int | None = None,
               accepted_body_sha256: str | None = None) -> AuditRecord:
        """Log the rejection and keep its record (local log, then Kafka) without holding up the
        answer. `repeats`: earlier rejections of the same kind folded into this record;
        `detail`, `skew_secs`: why verification failed (gateway.verify.Detail)."""
        record = self.build(request, reason, source, provider, body, body_size, redaction, repeats,
                            detail, skew_secs)
        if accepted_body_sha256 is not None:
            record = msgspec.structs.replace(record, accepted_body_sha256=accepted_body_sha256)
        source = record.source
        self.counts[(source, record.reason)] += 1
        log.info("rejected request", extra={"reason": record.reason, "source": source,
                                            "remote_addr": record.remote_addr, "audit_id": record.id})
        if self.log is not None and self.shipper is not None:
            try:
                self.log.append(encode(record))
            except OSError as exc:  # a full disk must not turn a 401 into a 500
                log.error("writing audit record %s: %s", record.id, exc.strerror or type(exc).__name__)
            else:
                self.shipper.wake()
                return record
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
        """At shutdown: a last bounded attempt to ship; what is left waits in the local log."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.shipper is not None and self.log is not None:
            await self.shipper.stop(self._timeout)
            self.log.close()


def secret_values(config: object) -> list[bytes]:
    """Every resolved secret in a configuration (sources' keys and passwords, the admin token):
    what must never appear in an audit record, whatever header it arrives in."""
    found: list[bytes] = []

    def walk(value: object) -> None:
        if isinstance(value, Secret):
            found.append(value.reveal())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(getattr(config, "admin", None))
    walk(getattr(config, "audit", None))  # the checkpoint key
    walk(getattr(config, "sources", {}))
    return found
