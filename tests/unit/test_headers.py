"""Headers as verifiers see them: case-insensitive, raw bytes decoded as latin-1, duplicates visible,
and values (credentials) never printed."""

from __future__ import annotations

import pytest

from gateway.headers import DuplicateHeader, Headers


def test_case_insensitive_and_latin1() -> None:
    headers = Headers([(b"X-Sig", b"caf\xe9"), (b"content-type", b"application/json")])
    assert headers.one("x-sig") == headers.one("X-SIG") == "caf\xe9"
    assert "CONTENT-TYPE" in headers and "x-other" not in headers
    assert headers.one("x-other") is None


def test_duplicates_are_visible() -> None:
    headers = Headers([(b"x-sig", b"a"), (b"X-Sig", b"b")])
    assert headers.getlist("x-sig") == ["a", "b"]
    with pytest.raises(DuplicateHeader):
        headers.one("x-sig")


def test_repr_shows_names_never_values() -> None:
    headers = Headers({"Authorization": "Basic c2VjcmV0OnZhbHVl", "X-API-Key": "key-value-123"})
    shown = repr(headers) + str(headers)
    assert "authorization" in shown
    assert "c2VjcmV0OnZhbHVl" not in shown and "key-value-123" not in shown
