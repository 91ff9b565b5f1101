"""`provider: generic`: verification and mapping from configuration alone. Start-up validation
names the place of every mistake; the configured scheme behaves like a built-in one."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest

from gateway.config import parse_config
from gateway.errors import ConfigError, Reason
from gateway.headers import Headers
from gateway.providers import generic
from gateway.sources import Source, build_sources

SECRET = "acme-test-signing-key"
NOW = 1_714_641_250
BODY = b'{"event":{"id":"evt_1","type":"payment.succeeded"},"data":{"object":{"id":"pay_1"}}}'
ACME: dict[str, Any] = {
    "provider": "generic", "secrets": [SECRET],
    "hmac": {"header": "X-Acme-Signature", "algorithm": "sha512", "encoding": "base64",
             "prefix": "sha512=", "template": "{timestamp}.{body}",
             "headers": {"timestamp": "X-Acme-Timestamp"}},
    "mapping": {"type": "/event/type", "type_prefix": "acme.", "id": "/event/id",
                "subject": "/data/object/id"},
}


def source(cfg: dict[str, Any] | None = None, **changes: Any) -> Source:
    return build_sources(parse_config({"sources": {"acme": {**(cfg or ACME), **changes}}}))["acme"]


def problems(**changes: Any) -> str:
    with pytest.raises(ConfigError) as raised:
        source(**changes)
    return str(raised.value)


def acme_signature(stamp: int, body: bytes = BODY, secret: str = SECRET) -> str:
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha512).digest()
    return "sha512=" + base64.b64encode(mac).decode()


# -- start-up validation ------------------------------------------------------------------------

@pytest.mark.parametrize(("field", "ref", "says"), [
    ("subject", "data/object/id", "must start with `/`"),
    ("id", "/event~2id", "`~` must be followed by 0 or 1"),
    ("type", "#/event/type", "URI fragment"),
    ("tenant", "header:Bad Header", "not an HTTP header name"),
])
def test_a_bad_pointer_is_a_startup_error_naming_the_place(field: str, ref: str, says: str) -> None:
    message = problems(mapping={**ACME["mapping"], field: ref})
    assert f"sources.acme.mapping.{field}: " in message and says in message


@pytest.mark.parametrize(("changes", "says"), [
    ({"auth": {"type": "none"}}, "exactly one of `hmac:`"),
    ({"hmac": None}, "exactly one of `hmac:`"),
    ({"secrets": None}, "`hmac:` needs `secrets:`"),
    ({"hmac": {**ACME["hmac"], "template": "{timestamp}"}}, "{body} exactly once"),
    ({"hmac": {**ACME["hmac"], "template": "{id}.{body}"}}, "placeholder {id} needs a header"),
    ({"hmac": {**ACME["hmac"], "template": "{body}"}}, "headers.timestamp is not used"),
    ({"hmac": {**ACME["hmac"], "template": "{Timestamp}.{body}"}}, "not a lower-case name"),
    ({"hmac": {**ACME["hmac"], "algorithm": "md5"}}, "sources.acme.hmac.algorithm"),
    ({"hmac": {**ACME["hmac"], "encoding": "base32"}}, "sources.acme.hmac.encoding"),
    ({"mapping": {"type_prefix": "acme"}}, "end the prefix with a separator"),
    ({"mapping": {"type": None}}, "`default_type`"),
    ({"mapping": {"typ": "/type"}}, "sources.acme.mapping.typ: unknown key"),
])
def test_configuration_mistakes_are_named(changes: dict[str, Any], says: str) -> None:
    assert says in problems(**changes)


def test_auth_with_secrets_is_refused_and_none_is_warned_about() -> None:
    assert "`secrets:` belongs with `hmac:`" in problems(hmac=None, auth={"type": "none"})
    cfg = {"provider": "generic", "auth": {"type": "none"}}
    assert any("auth type none" in w for w in parse_config({"sources": {"x": cfg}}).warnings)


# -- verification -------------------------------------------------------------------------------

def test_the_configured_scheme_verifies_and_names_its_algorithm() -> None:
    verdict = source().verify(Headers({"X-Acme-Timestamp": str(NOW),
                                       "X-Acme-Signature": acme_signature(NOW)}), BODY, NOW)
    assert verdict.ok and verdict.scheme == "hmac-sha512"


def test_the_timestamp_placeholder_is_checked_against_the_tolerance() -> None:
    request = Headers({"X-Acme-Timestamp": str(NOW - 301),
                       "X-Acme-Signature": acme_signature(NOW - 301)})
    assert source().verify(request, BODY, NOW).reason == Reason.STALE_TIMESTAMP
    assert source(tolerance_secs=600).verify(request, BODY, NOW).ok


def test_a_wrong_key_or_hex_for_base64_is_rejected() -> None:
    wrong = Headers({"X-Acme-Timestamp": str(NOW),
                     "X-Acme-Signature": acme_signature(NOW, secret="x")})
    assert source().verify(wrong, BODY, NOW).reason == Reason.INVALID_SIGNATURE
    raw = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha512).hexdigest()
    as_hex = Headers({"X-Acme-Timestamp": str(NOW), "X-Acme-Signature": "sha512=" + raw})
    assert source().verify(as_hex, BODY, NOW).reason == Reason.INVALID_SIGNATURE


def test_a_prefix_with_a_comma_splits_signatures_on_spaces() -> None:
    # A Standard-Webhooks-like sender configured by hand: `v1,<b64> v1,<b64>`.
    cfg = {"provider": "generic", "secrets": [SECRET],
           "hmac": {"header": "X-Sig", "encoding": "base64", "prefix": "v1,"}}
    good = base64.b64encode(hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()).decode()
    assert source(cfg).verify(Headers({"X-Sig": f"v1,{'A' * 43}= v1,{good}"}), BODY, NOW).ok


def test_basic_auth_is_configured_like_azakaw() -> None:
    src = source(secrets=None, hmac=None, auth={"type": "basic", "username": "u", "password": "p"})
    ok = Headers({"Authorization": "Basic " + base64.b64encode(b"u:p").decode()})
    assert src.verify(ok, BODY, NOW).ok
    wrong = Headers({"Authorization": "Basic dTpx"})  # u:q
    assert src.verify(wrong, BODY, NOW).reason == Reason.INVALID_CREDENTIALS


def test_the_signature_and_api_key_headers_are_credentials_for_the_audit() -> None:
    assert "x-acme-signature" in source().credential_headers
    keyed = source(secrets=None, hmac=None,
                   auth={"type": "api_key", "header": "X-Token", "key": "k"})
    assert "x-token" in keyed.credential_headers


# -- mapping ------------------------------------------------------------------------------------

def test_pointers_headers_prefix_and_default_type() -> None:
    src = source(mapping={"type": "header:X-Kind", "default_type": "thing.happened",
                          "id": "/items/0/ref", "subject": "/a~1b", "time": "header:X-At",
                          "tenant": "/org"})
    payload = {"items": [{"ref": 12345}], "a/b": "s-1", "org": "org-9"}
    fields = src.extract(payload, Headers({"X-Kind": "order.paid", "X-At": "1714641000"}))
    assert (fields.type, fields.id, fields.subject, fields.time, fields.tenant) == (
        "order.paid", "12345", "s-1", 1714641000, "org-9")
    assert src.extract(payload, Headers({})).type == "thing.happened"


def test_missing_or_oddly_typed_fields_are_left_out() -> None:
    odd = {"event": {"type": ["not", "text"], "id": {"x": 1}}, "data": None}
    fields = source().extract(odd, Headers())
    assert (fields.type, fields.id, fields.subject) == (None, None, None)


def test_send_signs_what_the_verifier_accepts() -> None:
    src = source()
    sent = generic.sign(src.config, BODY, NOW)
    assert set(sent) == {"X-Acme-Timestamp", "X-Acme-Signature"}
    assert src.verify(Headers(sent), BODY, NOW).ok
