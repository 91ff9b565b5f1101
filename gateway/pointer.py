"""JSON Pointer (RFC 6901), for configured mappings such as `/data/object/id`.

Parsing happens once, at start-up, and fails with a message fit for the operator; resolving never
raises: a pointer that leads nowhere (missing key, index out of range, through a scalar) is None.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_INDEX = re.compile(r"^(0|[1-9][0-9]*)$")
_ESCAPE = re.compile(r"~(?![01])")


def parse(text: str) -> tuple[str, ...]:
    """`/a/b~1c/0` -> ("a", "b/c", "0"); `""` (the whole document) -> (). Raises ValueError."""
    if text == "":
        return ()
    if text.startswith("#"):
        raise ValueError(
            f"{text!r} is a URI fragment; write the pointer without `#` (e.g. /data/id)")
    if not text.startswith("/"):
        raise ValueError(f"{text!r} is not a JSON Pointer: it must start with `/` (e.g. /data/id)")
    tokens = text[1:].split("/")
    for token in tokens:
        if _ESCAPE.search(token):
            raise ValueError(f"{text!r} is not a JSON Pointer: `~` must be followed by 0 or 1")
    return tuple(token.replace("~1", "/").replace("~0", "~") for token in tokens)


def resolve(document: object, tokens: Sequence[str]) -> object:
    """The value `tokens` point at in a decoded JSON document, or None where there is none."""
    for token in tokens:
        if isinstance(document, dict):
            if token not in document:
                return None
            document = document[token]
        elif isinstance(document, list):
            if not _INDEX.match(token) or int(token) >= len(document):
                return None  # includes `-`, RFC 6901's "one past the end"
            document = document[int(token)]
        else:
            return None
    return document
