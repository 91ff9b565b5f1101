"""The wire shapes other teams rely on (DESIGN.md): the CloudEvents envelope, the dead-letter record
and the audit record. One frozen Struct each; `schemas/` is generated from them.

Evolving them (docs/envelope-versioning.md): new fields are optional with defaults, a field's type
never changes, a breaking change is a new envelope version on new topics.
"""

from __future__ import annotations

import msgspec

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"


class Envelope(msgspec.Struct, frozen=True, omit_defaults=True, kw_only=True):
    """A CloudEvents 1.0 event in structured JSON mode: the value of every accepted record.

    Fields are in DESIGN.md's order, which is the order on the wire; only `subject` and `tenantid`
    have defaults, so only they are ever omitted.
    """

    specversion: str
    id: str
    source: str
    type: str
    subject: str | None = None
    time: str
    datacontenttype: str
    data: msgspec.Raw  # the provider's JSON, byte for byte as signed
    provider: str
    tenantid: str | None = None
    receivedat: str
    authscheme: str


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """An authenticated request whose payload could not be mapped; never dropped."""

    id: str  # lowercase hex SHA-256 of the body; also the record key
    at: str
    source: str
    provider: str
    reason: str
    body_base64: str


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One rejected request, for security teams. Credential headers hold fingerprints, not values."""

    id: str
    at: str
    source: str
    provider: str | None
    reason: str
    remote_addr: str | None
    user_agent: str | None
    method: str
    path: str
    body_sha256: str
    body_size: int
    headers: dict[str, str]
    # Rejections of the same client, source and reason folded into this record instead of written
    # one by one: a penalised address is recorded at most once a second (SECURITY.md).
    repeats: int = 0
    # Why verification failed, more precisely than `reason` (gateway.verify.Detail; SECURITY.md):
    # for the security team, never the sender. `skew_secs`: with `timestamp_skew`, now minus the
    # signed timestamp (positive: in the past).
    detail: str | None = None
    skew_secs: int | None = None
    # With `id_conflict`: the SHA-256 of the body accepted before under the same id (`body_sha256`
    # is this request's): both hashes, never the bodies.
    accepted_body_sha256: str | None = None
    # The writer's hash chain (gateway.auditchain; SECURITY.md, "Verifying the audit trail"): set by
    # the audit log as it writes the record, so always last. `prev`: hex SHA-256 of the line before.
    chain: str | None = None
    seq: int | None = None
    prev: str | None = None


_encoder = msgspec.json.Encoder()


def encode_envelope(envelope: Envelope) -> bytes:
    return _encoder.encode(envelope)


def encode(record: DeadLetter | AuditRecord) -> bytes:
    return _encoder.encode(record)


def record_headers(envelope: Envelope) -> list[tuple[str, bytes]]:
    """`ce_*` headers so consumers can route without parsing the value."""
    headers = [
        ("ce_specversion", envelope.specversion.encode()),
        ("ce_id", envelope.id.encode()),
        ("ce_source", envelope.source.encode()),
        ("ce_type", envelope.type.encode()),
        ("ce_time", envelope.time.encode()),
    ]
    if envelope.subject is not None:
        headers.append(("ce_subject", envelope.subject.encode()))
    headers.append(("content-type", CONTENT_TYPE.encode()))
    return headers


def record_key(envelope: Envelope) -> bytes:
    """One entity's events share a key, so they stay in order on one partition."""
    return (envelope.subject if envelope.subject is not None else envelope.id).encode()
