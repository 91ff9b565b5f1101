"""Secret references (`env:NAME`, `file:/path`, or a literal) and the Secret value that never prints."""

from __future__ import annotations

import os
from pathlib import Path


class Secret:
    """A resolved secret. `repr()`/`str()` show only where it came from, never the value."""

    __slots__ = ("_value", "ref")

    def __init__(self, value: bytes, ref: str) -> None:
        self._value = value
        self.ref = ref

    def reveal(self) -> bytes:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.ref!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self.ref)


def describe(ref: str) -> str:
    """How a reference is shown in messages: env/file references as written, literals hidden."""
    return ref if ref.startswith(("env:", "file:")) else "<literal>"


def resolve(ref: str) -> tuple[Secret, bool]:
    """-> (secret, is_literal). Raises ValueError with a message fit for the operator."""
    if ref.startswith("env:"):
        name = ref[4:]
        value = os.environ.get(name)
        if value is None:
            raise ValueError(f"environment variable {name} is not set")
        if not value:
            raise ValueError(f"environment variable {name} is empty")
        return Secret(value.encode(), ref), False
    if ref.startswith("file:"):
        path = Path(ref[5:])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable"
            raise ValueError(f"secret file {path} cannot be read: {reason.lower()}") from None
        text = text.rstrip("\r\n")
        if not text:
            raise ValueError(f"secret file {path} is empty")
        return Secret(text.encode(), ref), False
    if not ref:
        raise ValueError("secret is empty")
    return Secret(ref.encode(), "<literal>"), True
