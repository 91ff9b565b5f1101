"""azakaw's per-tenant schemes: HTTP Basic, API key (default header, custom header, with a scheme) and
an explicit `none`; rotation, and hostile headers that must be rejected, never raised."""

from __future__ import annotations

import base64

import pytest

from gateway.errors import Reason
from gateway.headers import Headers
from gateway.verify import Verdict
from tests.unit.sources import BODY, NOW, source

BASIC = source("azakaw", "azakaw-acme", tenant="acme",
               auth={"type": "basic", "username": "acme", "password": ["pw-current", "pw-previous"]})
DEFAULT_KEY = source("azakaw", "azakaw-initech", tenant="initech",
                     auth={"type": "api_key", "key": ["key-current", "key-previous"]})
CUSTOM_KEY = source("azakaw", "azakaw-globex", tenant="globex",
                    auth={"type": "api_key", "header": "X-Globex-Key", "key": "globex-key"})
SCHEMED_KEY = source("azakaw", "azakaw-umbrella", tenant="umbrella",
                     auth={"type": "api_key", "header": "Authorization", "scheme": "ApiKey",
                           "key": "umbrella-key"})
NONE = source("azakaw", "azakaw-hooli", tenant="hooli", auth={"type": "none"})


def verify(src, headers: dict[str, str] | list[tuple[bytes, bytes]]) -> Verdict:
    return src.verify(Headers(headers), BODY, NOW)


def basic(credentials: bytes) -> str:
    return "Basic " + base64.b64encode(credentials).decode()


# -- Basic ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("password", [b"pw-current", b"pw-previous"])
def test_basic_any_configured_password(password: bytes) -> None:
    verdict = verify(BASIC, {"Authorization": basic(b"acme:" + password)})
    assert verdict.ok and verdict.scheme == "basic"


def test_basic_scheme_name_is_case_insensitive() -> None:
    assert verify(BASIC, {"Authorization": "basic " + basic(b"acme:pw-current")[6:]}).ok


@pytest.mark.parametrize("credentials", [
    b"acme:pw-wrong",
    b"other:pw-current",         # right password, wrong user
    b"ACME:pw-current",          # user names compare exactly
    b"acme:",
    b":pw-current",
    b"acmepw-current",           # no colon
    b"acme:pw-current\n",
    b"",
], ids=["wrong password", "wrong user", "user case", "empty password", "empty user", "no colon",
        "trailing newline", "empty"])
def test_basic_wrong_credentials(credentials: bytes) -> None:
    assert verify(BASIC, {"Authorization": basic(credentials)}).reason == Reason.INVALID_CREDENTIALS


@pytest.mark.parametrize("value", [
    "Basic !!!not-base64!!!",
    "Basic",
    "Basic ",
    "Bearer " + base64.b64encode(b"acme:pw-current").decode(),
    "Basic " + "QUFB" * 3000,          # 12 KB
    "Basic " + base64.b64encode(b"\xff\xfe:\x00\x01").decode(),
    base64.b64encode(b"acme:pw-current").decode(),
], ids=["garbage base64", "scheme only", "scheme and space", "other scheme",
        "12 KB", "binary credentials", "no scheme"])
def test_basic_malformed_header_is_rejected(value: str) -> None:
    assert verify(BASIC, {"Authorization": value}).reason == Reason.INVALID_CREDENTIALS


def test_basic_non_ascii_header_bytes() -> None:
    verdict = verify(BASIC, [(b"authorization", b"Basic \xe9\xff\xfe==")])
    assert verdict.reason == Reason.INVALID_CREDENTIALS


def test_basic_duplicated_header() -> None:
    good = basic(b"acme:pw-current").encode()
    assert verify(BASIC, [(b"authorization", good), (b"authorization", good)]).reason == Reason.MALFORMED_REQUEST


@pytest.mark.parametrize("headers", [{}, {"Authorization": ""}, {"Authorization": "  "}],
                         ids=["absent", "empty", "blank"])
def test_basic_missing(headers: dict[str, str]) -> None:
    assert verify(BASIC, headers).reason == Reason.MISSING_SIGNATURE


# -- API key -------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["key-current", "key-previous"])
def test_api_key_default_header_any_configured_key(key: str) -> None:
    verdict = verify(DEFAULT_KEY, {"X-API-Key": key})
    assert verdict.ok and verdict.scheme == "api_key"
    assert verify(DEFAULT_KEY, {"x-api-key": key}).ok  # header names are case-insensitive


def test_api_key_custom_header() -> None:
    assert verify(CUSTOM_KEY, {"X-Globex-Key": "globex-key"}).ok
    # The key in the default header is not the configured header.
    assert verify(CUSTOM_KEY, {"X-API-Key": "globex-key"}).reason == Reason.MISSING_SIGNATURE


def test_api_key_with_scheme() -> None:
    assert verify(SCHEMED_KEY, {"Authorization": "ApiKey umbrella-key"}).ok
    assert verify(SCHEMED_KEY, {"Authorization": "apikey umbrella-key"}).ok


@pytest.mark.parametrize("value", [
    "umbrella-key",              # scheme missing
    "Bearer umbrella-key",       # another scheme
    "ApiKey",
    "ApiKey wrong-key",
    "ApiKeyumbrella-key",
], ids=["no scheme", "other scheme", "scheme only", "wrong key", "no space"])
def test_api_key_scheme_mismatch(value: str) -> None:
    assert verify(SCHEMED_KEY, {"Authorization": value}).reason == Reason.INVALID_CREDENTIALS


@pytest.mark.parametrize("value", [
    "key-wrong",
    "key-current-and-more",
    "key-curren",
    "k" * 10_240,
    "ApiKey key-current",        # a scheme the source did not configure
], ids=["wrong", "longer", "shorter", "10 KB", "unexpected scheme"])
def test_api_key_wrong(value: str) -> None:
    assert verify(DEFAULT_KEY, {"X-API-Key": value}).reason == Reason.INVALID_CREDENTIALS


@pytest.mark.parametrize("raw", [b"\xe9\xff\xfe", "ключ".encode(), b"key-current\x00"],
                         ids=["latin-1", "utf-8", "nul"])
def test_api_key_non_ascii_bytes(raw: bytes) -> None:
    assert verify(DEFAULT_KEY, [(b"x-api-key", raw)]).reason == Reason.INVALID_CREDENTIALS


def test_api_key_duplicated_header() -> None:
    verdict = verify(DEFAULT_KEY, [(b"x-api-key", b"key-current"), (b"x-api-key", b"key-current")])
    assert verdict.reason == Reason.MALFORMED_REQUEST


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": ""}, {"X-API-Key": " "}], ids=["absent", "empty", "blank"])
def test_api_key_missing(headers: dict[str, str]) -> None:
    assert verify(DEFAULT_KEY, headers).reason == Reason.MISSING_SIGNATURE


# -- none ----------------------------------------------------------------------------------------

def test_none_accepts_and_says_so() -> None:
    verdict = verify(NONE, {})
    assert verdict.ok and verdict.scheme == "none"
