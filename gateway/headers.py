"""A request's headers as verifiers see them: case-insensitive, duplicates kept visible."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from gateway.errors import GatewayError

# The request's query string (raw, without `?`), carried among the headers as a pseudo-header the
# way HTTP/2 carries `:path`, for the schemes that sign the URL (Twilio). gateway.guard adds it when
# the request has a query; no HTTP/1.1 header can be named so (`:` is not a token character).
QUERY = ":query"


class DuplicateHeader(GatewayError):
    """A header that must appear once appeared several times (hostile or broken sender)."""


class Headers:
    __slots__ = ("_values",)

    def __init__(self, raw: Iterable[tuple[bytes, bytes]] | dict[str, str] = ()) -> None:
        values: dict[str, list[str]] = {}
        pairs = raw.items() if isinstance(raw, dict) else raw
        for name, value in pairs:
            key = (name.decode("latin-1") if isinstance(name, bytes) else name).lower()
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            values.setdefault(key, []).append(text)
        self._values = values

    def get(self, name: str) -> str | None:
        found = self._values.get(name.lower())
        return found[0] if found else None

    def one(self, name: str) -> str | None:
        """The header's single value; several copies raise DuplicateHeader."""
        found = self._values.get(name.lower())
        if not found:
            return None
        if len(found) > 1:
            raise DuplicateHeader(name)
        return found[0]

    def getlist(self, name: str) -> list[str]:
        return list(self._values.get(name.lower(), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def items(self) -> Iterator[tuple[str, str]]:
        for name, values in self._values.items():
            for value in values:
                yield name, value

    def __repr__(self) -> str:  # values may be credentials: never print them
        return f"Headers({sorted(self._values)})"
