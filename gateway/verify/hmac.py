"""The one HMAC implementation every signing provider is expressed through.

A provider is a set of parameters: which header, which prefix, hex or base64, what is signed (the
raw body or a template over headers and body), an optional signed timestamp and its tolerance.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.errors import Reason
from gateway.headers import Headers
from gateway.verify import Reject, required

ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
MAX_SIGNATURE_CHARS = 2048  # many rotated signatures fit; a 10 KB header is an attack, not a rotation
MAX_SIGNATURES = 16
_SPLIT = re.compile(r"[\s,]+")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def decode_signature(text: str, encodings: Sequence[str]) -> list[bytes]:
    """Every byte string `text` could be in the accepted encodings (hex is case-insensitive)."""
    found = []
    for encoding in encodings:
        try:
            if encoding == "hex":
                found.append(bytes.fromhex(text))
            else:
                found.append(base64.b64decode(text, validate=True))
        except (ValueError, binascii.Error):
            continue
    return found


def any_match(candidates: Sequence[bytes], keys: Sequence[bytes], message: bytes, algorithm: str) -> bool:
    """Constant-time: every key is tried against every candidate, no early exit."""
    digest = ALGORITHMS[algorithm]
    matched = False
    for key in keys:
        expected = hmac.new(key, message, digest).digest()
        for candidate in candidates:
            matched |= hmac.compare_digest(candidate, expected)
    return matched


def check_tolerance(timestamp: str, now: float, tolerance_secs: float) -> None:
    """A signed unix timestamp must be within tolerance of now, in either direction."""
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise Reject(Reason.INVALID_SIGNATURE)
    if abs(now - int(timestamp)) > tolerance_secs:
        raise Reject(Reason.STALE_TIMESTAMP)


def split_signatures(value: str, prefix: str = "") -> list[str]:
    """`sha256=ab.. sha256=cd..` or `ab..,cd..` -> the bare signatures (prefix optional on each)."""
    if len(value) > MAX_SIGNATURE_CHARS:
        raise Reject(Reason.INVALID_SIGNATURE)
    parts = [part for part in _SPLIT.split(value.strip()) if part]
    if not parts or len(parts) > MAX_SIGNATURES:
        raise Reject(Reason.INVALID_SIGNATURE)
    if prefix:
        parts = [part[len(prefix):] if part.lower().startswith(prefix) else part for part in parts]
    return parts


def parse_pairs(value: str) -> dict[str, list[str]]:
    """`t=1700000000,v1=ab..,v1=cd..` (Stripe-style) -> {"t": [...], "v1": [...]}."""
    if len(value) > MAX_SIGNATURE_CHARS:
        raise Reject(Reason.INVALID_SIGNATURE)
    pairs: dict[str, list[str]] = {}
    for item in value.split(","):
        name, sep, text = item.strip().partition("=")
        if not sep:
            raise Reject(Reason.INVALID_SIGNATURE)
        pairs.setdefault(name, []).append(text)
    return pairs


@dataclass(frozen=True, slots=True)
class HmacSpec:
    """One HMAC signing scheme, as parameters.

    `template` says what is signed: `{body}` (the raw body) or e.g. `{timestamp}.{body}` /
    `{id}.{timestamp}.{body}`, each placeholder other than `body` filled from `headers[name]`.
    """

    header: str
    algorithm: str = "sha256"
    encodings: tuple[str, ...] = ("hex",)
    prefix: str = ""
    template: str = "{body}"
    headers: tuple[tuple[str, str], ...] = ()  # placeholder -> header name
    timestamp: str | None = None  # placeholder holding a unix timestamp checked against tolerance
    tolerance_secs: float = 300
    aliases: tuple[str, ...] = ()  # other accepted names of `header`

    def message(self, request_headers: Headers, body: bytes) -> bytes:
        if self.template == "{body}":
            return body
        names = dict(self.headers)
        parts: list[bytes] = []
        pos = 0
        for match in _PLACEHOLDER.finditer(self.template):
            parts.append(self.template[pos : match.start()].encode())
            placeholder = match.group(1)
            if placeholder == "body":
                parts.append(body)
            else:
                parts.append(_header(request_headers, names[placeholder]).encode("latin-1"))
            pos = match.end()
        parts.append(self.template[pos:].encode())
        return b"".join(parts)

    def check(self, request_headers: Headers, body: bytes, now: float, keys: Sequence[bytes]) -> None:
        """Raise Reject unless one signature in the header matches one key."""
        value = required(request_headers, self.header, *self.aliases)
        candidates = [
            raw
            for text in split_signatures(value, self.prefix)
            for raw in decode_signature(text, self.encodings)
        ]
        if not any_match(candidates, keys, self.message(request_headers, body), self.algorithm):
            raise Reject(Reason.INVALID_SIGNATURE)
        # The signature is checked first, so an attacker cannot learn anything from the clock.
        if self.timestamp is not None:
            stamp = _header(request_headers, dict(self.headers)[self.timestamp])
            check_tolerance(stamp, now, self.tolerance_secs)

    def sign(self, key: bytes, body: bytes, request_headers: Headers) -> str:
        """The bare signature a sender computes (no prefix): samples, tests, benchmarks."""
        mac = hmac.new(key, self.message(request_headers, body), ALGORITHMS[self.algorithm]).digest()
        text = mac.hex() if self.encodings[0] == "hex" else base64.b64encode(mac).decode()
        return text


def _header(request_headers: Headers, name: str) -> str:
    value = request_headers.one(name)
    if value is None:
        raise Reject(Reason.MISSING_SIGNATURE)
    return value
