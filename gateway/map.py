"""Map a verified delivery to the CloudEvents envelope, or to a dead letter when it cannot be.

A payload is unmappable when it is not UTF-8, not JSON (nor a form, for a provider that posts
forms), not an object, too deep, or lacks the event type where the provider has no default. An
odd optional field is never a reason: it is left out.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from datetime import UTC, datetime

import msgspec

from gateway import form
from gateway.envelope import SPECVERSION, DeadLetter, Envelope
from gateway.errors import Unmappable
from gateway.headers import Headers
from gateway.sources import Source

# float_hook: a number beyond a double (1e400) is valid JSON; msgspec would refuse it ("number out of
# range") and an odd optional field must never dead-letter. `data` stays the raw bytes either way.
_decode = msgspec.json.Decoder(float_hook=float).decode


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and `Z`."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return _stamp(moment.year, moment.month, moment.day, moment.hour, moment.minute,
                  moment.second) + ".%03dZ" % (moment.microsecond // 1000)


@functools.lru_cache(maxsize=4)
def _stamp(year: int, month: int, day: int, hour: int, minute: int, second: int) -> str:
    # Every event formats its receive time, and under load most share their second with the
    # one before: the date and time are formatted once per second (isoformat() or strftime()
    # per event: 3-4 % of a loaded worker's samples, py-spy).
    return "%04d-%02d-%02dT%02d:%02d:%02d" % (year, month, day, hour, minute, second)


def event_time(value: object, received: str) -> str:
    """The provider's event time as RFC 3339 UTC; `received` (the receive time, as `iso()` put
    it) when absent or unreadable."""
    moment = None
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000 if value > 1e11 else value  # unix seconds or milliseconds
        try:
            moment = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            moment = None
    try:
        # A zone offset can carry a time past year 1 or 9999 in UTC: unreadable, not a crash.
        utc = moment.astimezone(UTC) if moment is not None else None
    except (OverflowError, ValueError):
        utc = None
    if utc is None:
        return received
    return utc.isoformat().removesuffix("+00:00") + "Z"


def map_delivery(source: Source, headers: Headers, body: bytes, scheme: str,
                 received: datetime) -> Envelope | DeadLetter:
    data = body
    if source.form and form.is_form(headers):
        # A form (Twilio) is published as the JSON object of its fields: the envelope's data is
        # JSON for every provider. The signed bytes stay in the dedupe key (the body's hash).
        try:
            payload: object = form.as_object(form.pairs(body))
        except ValueError:
            return dead_letter(source, body, _not_utf8(body) or Unmappable.NOT_OBJECT, received)
        data = msgspec.json.encode(payload)
    else:
        try:
            # msgspec checks the UTF-8 of every string it decodes, and a byte outside a string is
            # ASCII or bad JSON: a body that decodes is UTF-8. Only a failure needs telling apart.
            payload = _decode(body)
        except RecursionError:
            return dead_letter(source, body, _not_utf8(body) or Unmappable.TOO_DEEP, received)
        except (msgspec.DecodeError, ValueError):
            return dead_letter(source, body, _not_utf8(body) or Unmappable.NOT_JSON, received)
    if not isinstance(payload, dict) and not (source.batch and isinstance(payload, list)):
        return dead_letter(source, body, Unmappable.NOT_OBJECT, received)
    # A batch provider's pointers start at /0/ (gateway.pointer reads lists too).
    fields = source.extract(payload, headers)  # type: ignore[arg-type]
    if not fields.type:
        return dead_letter(source, body, Unmappable.MISSING_TYPE, received)
    receivedat = iso(received)
    return Envelope(
        specversion=SPECVERSION,
        id=fields.id or hashlib.sha256(body).hexdigest(),
        source=source.path,
        type=f"{source.provider}.{fields.type}",
        subject=fields.subject,
        time=event_time(fields.time, receivedat),
        datacontenttype="application/json",
        data=msgspec.Raw(data),
        provider=source.provider,
        tenantid=fields.tenant or source.config.tenant,
        receivedat=receivedat,
        authscheme=scheme,
    )


def _not_utf8(body: bytes) -> Unmappable | None:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return Unmappable.NOT_UTF8
    return None


def dead_letter(source: Source, body: bytes, reason: Unmappable, received: datetime) -> DeadLetter:
    return DeadLetter(
        id=hashlib.sha256(body).hexdigest(),
        at=iso(received),
        source=source.name,
        provider=source.provider,
        reason=reason.value,
        body_base64=base64.b64encode(body).decode(),
    )
