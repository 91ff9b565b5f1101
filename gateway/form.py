"""Form bodies (`application/x-www-form-urlencoded`), for the providers that post them (Twilio).

One reading of a form for both sides: the verifier signs its parameters (gateway.verify.twilio) and
the mapper publishes it as a JSON object (gateway.map), so the two never disagree on a name or a
value. Names and values are percent-decoded UTF-8, `+` is a space, blank values are kept.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from gateway.headers import Headers

CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 1000  # a Twilio callback has a few dozen; a body of 1 MiB of `&` is an attack


def is_form(headers: Headers) -> bool:
    """Whether the request says its body is a form (parameters such as `; charset=utf-8` aside)."""
    value = headers.get("content-type")
    return value is not None and value.split(";", 1)[0].strip().lower() == CONTENT_TYPE


def pairs(body: bytes) -> list[tuple[str, str]]:
    """The form's (name, value) pairs in order. Raises ValueError (UnicodeDecodeError included)
    when the body is not a UTF-8 form or has more than MAX_FIELDS fields."""
    return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                     errors="strict", max_num_fields=MAX_FIELDS)


def as_object(fields: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    """The form as a JSON object: a name once is a string, a repeated name a list in order (no
    value is dropped, and the common single value stays as simple as it was sent)."""
    found: dict[str, str | list[str]] = {}
    for name, value in fields:
        if name not in found:
            found[name] = value
            continue
        held = found[name]
        found[name] = [*held, value] if isinstance(held, list) else [held, value]
    return found
