"""Twilio's request signature (https://www.twilio.com/docs/usage/webhooks/webhooks-security), as
its RequestValidator (the `twilio` library) checks it.

`X-Twilio-Signature` is the base64 HMAC (SHA-1, keyed with the Auth Token; SHA-256 when
`X-Twilio-Webhooks-Signature-Settings` says `algorithm=HMAC_SHA256`) of the full URL Twilio
called, query string included, followed for a form POST by every parameter's name and value,
sorted by name (a repeated name: each distinct value, sorted). A JSON body is not signed itself:
Twilio adds `bodySHA256=<hex SHA-256 of the body>` to the URL's query and signs the URL alone, so
the body must hash to it.

The URL is the source's `notification_url` (scheme, host, path) plus the query of the request as
it arrived (gateway.headers.QUERY): a webhook URL often carries its own parameters, and Twilio
signs them. Like RequestValidator, the URL is tried with and without its port (`:443` / `:80`
added when absent, removed when present): Twilio has signed both forms.

Twilio signs no timestamp: a captured request can be replayed; the envelope id is the body's
hash, so a replay of the same body is a duplicate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import parse_qs, urlparse

from gateway import form
from gateway.errors import Reason
from gateway.headers import QUERY, DuplicateHeader, Headers
from gateway.verify import (
    Check,
    Detail,
    Reject,
    Verdict,
    Verifier,
    first_slot,
    guarded,
    required,
)
from gateway.verify.hmac import ALGORITHMS, MAX_SIGNATURE_CHARS

SIGNATURE = "X-Twilio-Signature"
SETTINGS = "X-Twilio-Webhooks-Signature-Settings"
NAMES = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}  # RequestValidator's names
BODY_HASH = "bodySHA256"


def check_url(url: str) -> str:
    """The configured notification URL; ValueError (a start-up error) unless it is an absolute
    http(s) URL without a query or fragment (the query is each request's own)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError("notification_url must be the absolute http(s) URL Twilio posts to")
    if parsed.query or parsed.fragment or "?" in url or "#" in url:
        raise ValueError("notification_url is the URL without its query string: the query of "
                         "each request, which Twilio signs, is appended as it arrives")
    return url


def bases(url: str) -> tuple[bytes, bytes]:
    """The URL as Twilio may have signed it: without its port, and with it (the default port of
    its scheme when none is given), as RequestValidator's remove_port and add_port make them."""
    parsed = urlparse(url)
    host = parsed.netloc.split(":")[0]
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    without = parsed._replace(netloc=host).geturl()
    with_port = parsed._replace(netloc=f"{host}:{port}").geturl()
    return without.encode(), with_port.encode()


def _algorithm(headers: Headers) -> str:
    """RequestValidator's get_signature_algorithm: no settings header (or no `algorithm=`) is the
    Auth Token's HMAC-SHA1."""
    settings = headers.one(SETTINGS) or ""
    for part in settings.split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip() == "algorithm" and value.strip():
            found = NAMES.get(value.strip().upper())
            if found is None:  # a newer scheme than this gateway knows: not a guess
                raise Reject(Reason.INVALID_SIGNATURE, Detail.HEADER_MALFORMED)
            return found
    return "sha1"


def signed_params(fields: Sequence[tuple[str, str]]) -> bytes:
    """Every name, then each of its distinct values, names and values sorted (RequestValidator)."""
    values: dict[str, set[str]] = {}
    for name, value in fields:
        values.setdefault(name, set()).add(value)
    return "".join(name + value for name in sorted(values) for value in sorted(values[name])
                   ).encode()


def content(headers: Headers, body: bytes) -> tuple[bytes, bytes, bool]:
    """-> (the query as sent, `?` included or empty; the signed parameters; whether the body is
    what it says it is). Reject when the request leaves its body unsigned."""
    raw_query = headers.one(QUERY)
    query = ("?" + raw_query).encode("latin-1") if raw_query else b""
    hashes = parse_qs(raw_query or "", keep_blank_values=True).get(BODY_HASH, [])
    if len(hashes) > 1:
        raise Reject(Reason.INVALID_SIGNATURE, Detail.HEADER_MALFORMED)
    if hashes:  # a JSON (or any) body, signed through its hash in the URL
        given = hashes[0].strip().lower().encode("latin-1")
        actual = hashlib.sha256(body).hexdigest().encode()
        return query, b"", hmac.compare_digest(given, actual)
    if form.is_form(headers):
        try:
            fields = form.pairs(body)
        except ValueError:
            raise Reject(Reason.INVALID_SIGNATURE, Detail.HEADER_MALFORMED) from None
        return query, signed_params(fields), True
    if body:  # neither a form nor hashed in the URL: nothing would cover the body
        raise Reject(Reason.INVALID_SIGNATURE, Detail.HEADER_MALFORMED)
    return query, b"", True


def verifier(keys: Sequence[bytes], url: str) -> Verifier:
    """One check per algorithm, so the envelope's authscheme names the one that matched."""
    variants = bases(url)
    by_algorithm = {algorithm: guarded(f"hmac-{algorithm}", _check(keys, variants, algorithm))
                    for algorithm in NAMES.values()}

    def verify(headers: Headers, body: bytes, now: float) -> Verdict:
        try:
            algorithm = _algorithm(headers)
        except (Reject, DuplicateHeader):  # the SHA-1 check meets it again and says why
            algorithm = "sha1"
        return by_algorithm[algorithm](headers, body, now)

    return verify


def _check(keys: Sequence[bytes], variants: tuple[bytes, bytes], algorithm: str) -> Check:
    digest = ALGORITHMS[algorithm]

    def check(headers: Headers, body: bytes, now: float) -> int:
        if _algorithm(headers) != algorithm:
            raise Reject(Reason.INVALID_SIGNATURE, Detail.HEADER_MALFORMED)
        text = required(headers, SIGNATURE).strip()
        if len(text) > MAX_SIGNATURE_CHARS:
            raise Reject(Reason.INVALID_SIGNATURE, Detail.HEADER_MALFORMED)
        try:
            signature = base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            raise Reject(Reason.INVALID_SIGNATURE, Detail.SIGNATURE_ENCODING) from None
        if len(signature) != digest().digest_size:
            raise Reject(Reason.INVALID_SIGNATURE, Detail.SIGNATURE_LENGTH)
        query, params, body_ok = content(headers, body)
        hits = []
        for key in keys:  # every key, every URL form: no early exit (first_slot)
            hit = False
            for base in variants:
                expected = hmac.new(key, base + query + params, digest).digest()
                hit |= hmac.compare_digest(signature, expected)
            hits.append(hit and body_ok)
        slot = first_slot(hits)
        if slot is None:
            raise Reject(Reason.INVALID_SIGNATURE, Detail.NO_SECRET_MATCHED)
        return slot

    return check


def sign(key: bytes, url: str, body: bytes, query: str = "") -> str:
    """What Twilio sends for a form body posted to `url` (`?query` appended): samples and tests."""
    message = url.encode() + (b"?" + query.encode() if query else b"")
    message += signed_params(form.pairs(body))
    return base64.b64encode(hmac.new(key, message, hashlib.sha1).digest()).decode()
