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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from gateway.errors import Reason
from gateway.headers import Headers
from gateway.verify import Detail, Reject, first_slot, required

ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
MAX_SIGNATURE_CHARS = 2048  # many rotated signatures fit; a 10 KB header is an attack, not a rotation
MAX_SIGNATURES = 16
_SPLIT = re.compile(r"[\s,]+")
_SPACES = re.compile(r"\s+")
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


def match_slot(candidates: Sequence[bytes], keys: Sequence[bytes], message: bytes,
               algorithm: str) -> int | None:
    """The position of the first key that signed `message` as one of `candidates`, or None.
    Constant-time: every key is tried against every candidate, no early exit (first_slot)."""
    digest = ALGORITHMS[algorithm]
    hits = []
    for key in keys:
        expected = hmac.new(key, message, digest).digest()
        hit = False
        for candidate in candidates:
            hit |= hmac.compare_digest(candidate, expected)
        hits.append(hit)
    return first_slot(hits)


def decode_candidates(texts: Sequence[str], encodings: Sequence[str], algorithm: str) -> list[bytes]:
    """The signatures a header holds, decoded; Reject saying why when none could be one (a
    signature's encoding and length are the sender's, not a secret: nothing leaks)."""
    if not texts:  # e.g. only entries of other schemes (Standard Webhooks' `v1a,`)
        raise Reject(Reason.INVALID_SIGNATURE, Detail.HEADER_MALFORMED)
    decoded = [raw for text in texts for raw in decode_signature(text, encodings)]
    if not decoded:
        raise Reject(Reason.INVALID_SIGNATURE, Detail.SIGNATURE_ENCODING)
    size = ALGORITHMS[algorithm]().digest_size
    candidates = [raw for raw in decoded if len(raw) == size]
    if not candidates:
        raise Reject(Reason.INVALID_SIGNATURE, Detail.SIGNATURE_LENGTH)
    return candidates


def signed_by(candidates: Sequence[bytes], keys: Sequence[bytes], message: bytes,
              algorithm: str) -> int:
    """The matching key's slot; Reject (no_secret_matched) when none."""
    slot = match_slot(candidates, keys, message, algorithm)
    if slot is None:
        raise Reject(Reason.INVALID_SIGNATURE, Detail.NO_SECRET_MATCHED)
    return slot


def stamped_slot(headers: Headers, timestamp_header: str, body: bytes, now: float,
                 tolerance_secs: float, signed: Callable[[bytes], list[bool]]) -> int:
    """For a public-key scheme over `{timestamp}{body}` (Discord, SendGrid): `signed(message)`
    tells, for every configured key, whether it signed the message; every key is tried (no early
    exit, so timing does not tell which is configured). -> the first matching key's slot, once
    the timestamp is within tolerance."""
    stamp = required(headers, timestamp_header).strip()
    slot = first_slot(signed(stamp.encode("latin-1") + body))
    if slot is None:
        raise Reject(Reason.INVALID_SIGNATURE, Detail.NO_SECRET_MATCHED)
    check_tolerance(stamp, now, tolerance_secs, slot=slot)
    return slot


def check_tolerance(timestamp: str, now: float, tolerance_secs: float, form: str = "unix",
                    slot: int | None = None) -> None:
    """A signed timestamp must be within tolerance of now, in either direction.

    `form` is how the sender writes it: `unix` seconds, `unix_ms` milliseconds (HubSpot, Webflow)
    or `rfc3339` (Twitch). Anything else in the header is a bad signature, not a crash. `slot`,
    the key that signed it, is kept on the rejection (the signature was checked first).
    """
    malformed = Reject(Reason.INVALID_SIGNATURE, Detail.TIMESTAMP_MALFORMED, slot=slot)
    if form == "rfc3339":
        try:
            moment = datetime.fromisoformat(timestamp)
        except ValueError:
            raise malformed from None
        if moment.tzinfo is None:
            raise malformed
        seconds = moment.timestamp()
    else:
        digits = 15 if form == "unix_ms" else 12
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > digits:
            raise malformed
        seconds = int(timestamp) / 1000 if form == "unix_ms" else int(timestamp)
    if abs(now - seconds) > tolerance_secs:
        raise Reject(Reason.STALE_TIMESTAMP, Detail.TIMESTAMP_SKEW, slot=slot,
                     skew_secs=round(now - seconds))


def split_signatures(value: str, prefix: str = "", *, require_prefix: bool = False,
                     commas: bool = True) -> list[str]:
    """`sha256=ab.. sha256=cd..` or `ab..,cd..` -> the bare signatures.

    The prefix is optional on each unless `require_prefix`, when entries without it are skipped
    (Standard Webhooks: `v1a,..` or `v2,..` next to `v1,..` are other schemes, not signatures).
    `commas=False` splits on whitespace only, for prefixes that contain a comma (`v1,`).
    """
    if len(value) > MAX_SIGNATURE_CHARS:
        raise Reject(Reason.INVALID_SIGNATURE, Detail.HEADER_MALFORMED)
    parts = [part for part in (_SPLIT if commas else _SPACES).split(value.strip()) if part]
    if not parts or len(parts) > MAX_SIGNATURES:
        raise Reject(Reason.INVALID_SIGNATURE, Detail.HEADER_MALFORMED)
    if prefix:
        prefix = prefix.lower()
        parts = [part[len(prefix):] if part.lower().startswith(prefix) else part
                 for part in parts if not require_prefix or part.lower().startswith(prefix)]
    return parts


def parse_pairs(value: str, separator: str = ",") -> dict[str, list[str]]:
    """`t=1700000000,v1=ab..,v1=cd..` (Stripe-style; Paddle's uses `;`) -> {"t": [...], "v1": [...]}."""
    if len(value) > MAX_SIGNATURE_CHARS:
        raise Reject(Reason.INVALID_SIGNATURE, Detail.HEADER_MALFORMED)
    pairs: dict[str, list[str]] = {}
    for item in value.split(separator):
        name, sep, text = item.strip().partition("=")
        if not sep:
            raise Reject(Reason.INVALID_SIGNATURE, Detail.HEADER_MALFORMED)
        pairs.setdefault(name, []).append(text)
    return pairs


@dataclass(frozen=True, slots=True)
class HmacSpec:
    """One HMAC signing scheme, as parameters.

    `template` says what is signed: `{body}` (the raw body) or e.g. `{timestamp}.{body}` /
    `{id}.{timestamp}.{body}`, each placeholder other than `body` filled from `headers[name]`.

    With `pairs` set (Stripe-style `t=1700000000,v1=ab..,v1=cd..`), the signature header is a list
    of `key=value` items: the signatures are the values of key `pairs` (e.g. `v1`), and a
    placeholder may also name another key of that header (`{t}.{body}`), which must then appear
    exactly once.

    A placeholder that is neither a header nor a pair comes from `fixed` values the source
    configures (Square signs the notification URL the provider posts to: `{url}{body}`).
    `every_header` collects the signatures of `header` and every alias present (DocuSign sends one
    header per active key) instead of reading the first present only.
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
    require_prefix: bool = False  # skip entries without `prefix` instead of reading them bare
    commas: bool = True  # signatures separated by whitespace or commas; False: whitespace only
    pairs: str | None = None  # the signature key of a `k=v,k=v` header (Stripe's `v1`)
    pair_separator: str = ","
    timestamp_format: str = "unix"  # unix | unix_ms | rfc3339 (see check_tolerance)
    every_header: bool = False

    def message(self, request_headers: Headers, body: bytes,
                values: Mapping[str, str] | None = None) -> bytes:
        """The signed bytes; placeholders come from `values` (the header's own pairs) or headers."""
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
                value = self._part(placeholder, request_headers, names, values)
                parts.append(value.encode("latin-1"))
            pos = match.end()
        parts.append(self.template[pos:].encode())
        return b"".join(parts)

    def check(self, request_headers: Headers, body: bytes, now: float,
              keys: Sequence[bytes], fixed: Mapping[str, str] | None = None) -> int:
        """The slot of the key that signed the request; Reject unless one signature in the header
        matches one key."""
        texts, values = self._signatures(self._values(request_headers))
        if fixed:
            values = {**values, **fixed}
        candidates = decode_candidates(texts, self.encodings, self.algorithm)
        message = self.message(request_headers, body, values)
        slot = signed_by(candidates, keys, message, self.algorithm)
        # The signature is checked first, so an attacker cannot learn anything from the clock.
        if self.timestamp is not None:
            stamp = self._part(self.timestamp, request_headers, dict(self.headers), values)
            check_tolerance(stamp, now, self.tolerance_secs, self.timestamp_format, slot)
        return slot

    def _values(self, request_headers: Headers) -> str:
        if not self.every_header:
            return required(request_headers, self.header, *self.aliases)
        found = [request_headers.one(name) for name in (self.header, *self.aliases)]
        present = " ".join(value.strip() for value in found if value and value.strip())
        if not present:
            raise Reject(Reason.MISSING_SIGNATURE, Detail.HEADER_MISSING)
        return present

    def sign(self, key: bytes, body: bytes, request_headers: Headers,
             values: Mapping[str, str] | None = None) -> str:
        """The bare signature a sender computes (no prefix): samples, tests, benchmarks."""
        message = self.message(request_headers, body, values)
        mac = hmac.new(key, message, ALGORITHMS[self.algorithm]).digest()
        text = mac.hex() if self.encodings[0] == "hex" else base64.b64encode(mac).decode()
        return text

    def _signatures(self, value: str) -> tuple[list[str], dict[str, str]]:
        """-> (the bare signature texts, the header's other single-valued pairs)."""
        if self.pairs is None:
            texts = split_signatures(value, self.prefix, require_prefix=self.require_prefix,
                                     commas=self.commas)
            return texts, {}
        pairs = parse_pairs(value, self.pair_separator)
        texts = pairs.pop(self.pairs, [])
        if not texts or len(texts) > MAX_SIGNATURES:
            raise Reject(Reason.INVALID_SIGNATURE, Detail.HEADER_MALFORMED)
        return texts, {name: found[0] for name, found in pairs.items() if len(found) == 1}

    def _part(self, placeholder: str, request_headers: Headers, names: dict[str, str],
              values: Mapping[str, str] | None) -> str:
        if placeholder not in names:
            # From the signature header itself (absent or repeated `t=1,t=2` is a bad signature)
            # or a value the source configures.
            if values is None or placeholder not in values:
                raise Reject(Reason.INVALID_SIGNATURE, Detail.HEADER_MALFORMED)
            return values[placeholder]
        return _header(request_headers, names[placeholder])


def whsec_key(secret: bytes) -> bytes:
    """A Standard Webhooks secret (`whsec_<base64>`, prefix optional) -> the HMAC key it encodes.

    Raises ValueError for a secret that is not base64: a start-up error, never a request-time one.
    """
    text = secret.removeprefix(b"whsec_")
    try:
        key = base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise ValueError("a whsec_ secret is `whsec_` followed by base64, as the sender shows it"
                         ) from None
    if not key:
        raise ValueError("a whsec_ secret encodes an empty key")
    return key


def _header(request_headers: Headers, name: str) -> str:
    value = request_headers.one(name)
    if value is None:
        raise Reject(Reason.MISSING_SIGNATURE, Detail.HEADER_MISSING)
    return value
