"""A typed consumer helper: Kafka record bytes -> the gateway's own types (docs/consumers.md).

Independent of any Kafka client: it takes the record's value (bytes) and headers (pairs of name and
bytes, as kafka-python, confluent-kafka and aiokafka give them).

    envelope = decode(record.value)            # gateway.envelope.Envelope
    event = typed_data(envelope)               # e.g. gateway.providers.iof.Event
    if recent.first_time(envelope): ...        # dedupe: a retry has the same source and id

Decoding follows docs/envelope-versioning.md: fields unknown to this version are ignored, so an
older consumer keeps reading envelopes that gained an optional field.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec

from gateway.envelope import AuditRecord, DeadLetter, Envelope
from gateway.errors import GatewayError
from gateway.providers import REGISTRY

T = TypeVar("T")

_envelope = msgspec.json.Decoder(Envelope)
_dead_letter = msgspec.json.Decoder(DeadLetter)
_audit = msgspec.json.Decoder(AuditRecord)
_any = msgspec.json.Decoder()


class DecodeError(GatewayError, ValueError):
    """A record value that is not the expected shape; the message names what was being decoded."""


def decode(value: bytes) -> Envelope:
    """The envelope of a record on `{prefix}.{provider}` (or a source's own topic)."""
    try:
        return _envelope.decode(value)
    except msgspec.DecodeError as exc:  # ValidationError is a subclass
        raise DecodeError(f"decoding envelope: {exc}") from None


def decode_dead_letter(value: bytes) -> DeadLetter:
    """A record on `{prefix}.deadletter`; `body_base64` holds the request body as received."""
    try:
        return _dead_letter.decode(value)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"decoding dead letter: {exc}") from None


def decode_audit(value: bytes) -> AuditRecord:
    """A record on `{prefix}.rejected`."""
    try:
        return _audit.decode(value)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"decoding audit record: {exc}") from None


def data_as(envelope: Envelope, kind: type[T]) -> T:
    """The envelope's `data` decoded as `kind` (any msgspec-decodable type)."""
    try:
        return msgspec.json.decode(envelope.data, type=kind)
    except msgspec.DecodeError as exc:
        name = getattr(kind, "__name__", str(kind))
        raise DecodeError(f"decoding data of {envelope.id} as {name}: {exc}") from None


def payload_type(provider: str) -> Any:
    """The documented payload type of `provider` (None when it has none, or is unknown here)."""
    found = REGISTRY.get(provider)
    return found.payload if found is not None else None


def typed_data(envelope: Envelope) -> Any:
    """The `data` as its provider's payload type; plain JSON (dicts, lists) when it has none."""
    kind = payload_type(envelope.provider)
    if kind is None:
        try:
            return _any.decode(envelope.data)
        except msgspec.DecodeError as exc:
            raise DecodeError(f"decoding data of {envelope.id}: {exc}") from None
    return data_as(envelope, kind)


def ce_headers(headers: Iterable[tuple[str, bytes]] | None) -> dict[str, str]:
    """The `ce_*` headers as text, without the prefix: route on `["type"]`, no parsing needed."""
    found = {}
    for name, value in headers or ():
        if name.startswith("ce_") and value is not None:
            found[name[3:]] = value.decode("utf-8", errors="replace")
    return found


class RecentIds:
    """The last `size` events seen, for dropping redeliveries (bounded: memory stays flat).

    Keyed by (source, id), as CloudEvents defines an event's identity: two tenants' identical
    bodies get the same hash id but different sources. The gateway dedupes a provider's retries
    within its own window, per replica; a consumer still sees a repeat when a retry lands on another
    replica or outlives that window, when the gateway spooled an event whose ack was lost, or when
    the consumer itself rewinds.
    """

    def __init__(self, size: int = 100_000) -> None:
        if size < 1:
            raise ValueError("recent ids: size must be 1 or more")
        self._size = size
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()

    def first_time(self, envelope: Envelope) -> bool:
        """True the first time an event is offered (and remembers it); False for a repeat."""
        key = (envelope.source, envelope.id)
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._seen)
