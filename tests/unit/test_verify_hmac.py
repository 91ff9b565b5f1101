"""The signing providers' verifiers (IOF, Compliancely, TLAS) on valid, rotated and hostile input.

Verifiers are pure: (headers, raw body, now) -> Verdict. Hostile input must come back as a rejection
with a reason, never as an exception (an exception would be a 500)."""

from __future__ import annotations

import base64
import hmac

import pytest

from gateway.errors import Reason
from gateway.headers import Headers
from gateway.verify import Verdict
from tests.unit.sources import BODY, NOW, SECRETS, mac, source

IOF, CMP, TLAS = source("iof"), source("compliancely"), source("tlas")
HEADER = {"iof": "X-IOF-Signature", "compliancely": "Compliancely-Signature",
          "tlas": "X-Webhook-Signature"}
RAW_BODY_SOURCES = [IOF, CMP, TLAS]  # all three accept a hex HMAC of the raw body


def verify(src, headers: dict[str, str] | list[tuple[bytes, bytes]], body: bytes = BODY,
           now: float = NOW) -> Verdict:
    return src.verify(Headers(headers), body, now)


def stamped(secret: str, stamp: int | str, body: bytes = BODY) -> str:
    return mac(secret, f"{stamp}.".encode() + body)


# -- what is accepted ---------------------------------------------------------------------------

@pytest.mark.parametrize("src", RAW_BODY_SOURCES, ids=lambda s: s.provider)
@pytest.mark.parametrize("secret", SECRETS, ids=["first secret", "second secret"])
def test_any_configured_secret_matches(src, secret: str) -> None:
    verdict = verify(src, {HEADER[src.provider]: mac(secret, BODY)})
    assert verdict.ok and verdict.scheme == "hmac-sha256"


@pytest.mark.parametrize("src", RAW_BODY_SOURCES, ids=lambda s: s.provider)
def test_a_secret_not_configured_is_rejected(src) -> None:
    verdict = verify(src, {HEADER[src.provider]: mac("whsec_retired", BODY)})
    assert verdict.reason == Reason.INVALID_SIGNATURE


@pytest.mark.parametrize("src", RAW_BODY_SOURCES, ids=lambda s: s.provider)
def test_hex_is_case_insensitive(src) -> None:
    assert verify(src, {HEADER[src.provider]: mac(SECRETS[0], BODY).upper()}).ok
    mixed = "".join(c.upper() if i % 2 else c for i, c in enumerate(mac(SECRETS[1], BODY)))
    assert verify(src, {HEADER[src.provider]: mixed}).ok


@pytest.mark.parametrize("src", RAW_BODY_SOURCES, ids=lambda s: s.provider)
@pytest.mark.parametrize("prefix", ["", "sha256=", "SHA256="])
def test_sha256_prefix_is_optional(src, prefix: str) -> None:
    # DESIGN.md: IOF form 1 is "bare hex (or sha256=<hex>)", TLAS's seed compares bare hex while its
    # header line shows sha256=, Compliancely has an "optional sha256= prefix".
    assert verify(src, {HEADER[src.provider]: prefix + mac(SECRETS[0], BODY)}).ok


def test_compliancely_accepts_base64_and_its_alias_header() -> None:
    raw = hmac.new(SECRETS[0].encode(), BODY, "sha256").digest()
    assert verify(CMP, {"Compliancely-Signature": base64.b64encode(raw).decode()}).ok
    assert verify(CMP, {"X-Compliancely-Signature": raw.hex()}).ok
    assert verify(CMP, {"x-compliancely-signature": "sha256=" + base64.b64encode(raw).decode()}).ok


@pytest.mark.parametrize("src", [IOF, TLAS], ids=lambda s: s.provider)
def test_base64_is_not_accepted_where_the_provider_signs_hex(src) -> None:
    raw = hmac.new(SECRETS[0].encode(), BODY, "sha256").digest()
    assert verify(src, {HEADER[src.provider]: base64.b64encode(raw).decode()}).reason == Reason.INVALID_SIGNATURE


def test_signature_is_over_the_exact_bytes() -> None:
    # Same JSON, different bytes: the signature must not survive re-serialisation.
    signature = mac(SECRETS[0], BODY)
    respaced = BODY.replace(b",", b", ")
    assert verify(TLAS, {"X-Webhook-Signature": signature}, respaced).reason == Reason.INVALID_SIGNATURE


# -- IOF's three forms -------------------------------------------------------------------------

def test_iof_form2_timestamp_header() -> None:
    stamp = int(NOW) - 10
    headers = {"X-IOF-Timestamp": str(stamp), "X-IOF-Signature": "sha256=" + stamped(SECRETS[1], stamp)}
    assert verify(IOF, headers).ok


def test_iof_form2_does_not_fall_back_to_the_raw_body() -> None:
    # A raw-body signature is valid form 1; adding X-IOF-Timestamp must not make it acceptable,
    # or a timestamp could be stripped off (or invented) by whoever replays the request.
    raw_body_signature = "sha256=" + mac(SECRETS[0], BODY)
    assert verify(IOF, {"X-IOF-Signature": raw_body_signature}).ok
    headers = {"X-IOF-Signature": raw_body_signature, "X-IOF-Timestamp": str(int(NOW))}
    assert verify(IOF, headers).reason == Reason.INVALID_SIGNATURE


def test_iof_form2_timestamp_is_signed() -> None:
    stamp = int(NOW) - 10
    headers = {"X-IOF-Timestamp": str(stamp + 1), "X-IOF-Signature": "sha256=" + stamped(SECRETS[0], stamp)}
    assert verify(IOF, headers).reason == Reason.INVALID_SIGNATURE


def test_iof_form3_several_v1_signatures() -> None:
    stamp = int(NOW)
    good = stamped(SECRETS[0], stamp)
    wrong = stamped("whsec_unknown", stamp)
    assert verify(IOF, {"X-IOF-Signature": f"t={stamp},v1={wrong},v1={good}"}).ok
    assert verify(IOF, {"X-IOF-Signature": f"t={stamp},v1={good},v1={wrong}"}).ok
    assert verify(IOF, {"X-IOF-Signature": f"t={stamp}, v1={wrong}, v1={good.upper()}"}).ok
    only_wrong = verify(IOF, {"X-IOF-Signature": f"t={stamp},v1={wrong},v1={wrong}"})
    assert only_wrong.reason == Reason.INVALID_SIGNATURE


def test_iof_form3_pairs_in_any_order() -> None:
    stamp = int(NOW)
    assert verify(IOF, {"X-IOF-Signature": f"v1={stamped(SECRETS[0], stamp)},t={stamp}"}).ok


@pytest.mark.parametrize("value", [
    "t={stamp}",                       # no signature
    "v1={sig}",                        # no timestamp
    "t={stamp},t={stamp},v1={sig}",    # two timestamps
    "t=,v1={sig}",
    "t={stamp},v1",
    "t=-5,v1={sig}",
    "t=1e9,v1={sig}",
    "t={stamp}000,v1={sig}",           # milliseconds: signed over a different string anyway
])
def test_iof_form3_malformed_pairs_are_rejected(value: str) -> None:
    stamp = int(NOW)
    header = value.format(stamp=stamp, sig=stamped(SECRETS[0], stamp))
    verdict = verify(IOF, {"X-IOF-Signature": header})
    assert not verdict.ok and verdict.reason != Reason.STALE_TIMESTAMP


# -- tolerance ---------------------------------------------------------------------------------

def _form2(stamp: int) -> dict[str, str]:
    return {"X-IOF-Timestamp": str(stamp), "X-IOF-Signature": "sha256=" + stamped(SECRETS[0], stamp)}


def _form3(stamp: int) -> dict[str, str]:
    return {"X-IOF-Signature": f"t={stamp},v1={stamped(SECRETS[0], stamp)}"}


@pytest.mark.parametrize("form", [_form2, _form3], ids=["form2", "form3"])
@pytest.mark.parametrize(("offset", "ok"), [(-300, True), (-301, False), (300, True), (301, False)])
def test_tolerance_in_both_directions(form, offset: int, ok: bool) -> None:
    verdict = verify(IOF, form(int(NOW) + offset))  # default tolerance_secs: 300
    assert verdict.ok is ok
    if not ok:
        assert verdict.reason == Reason.STALE_TIMESTAMP


@pytest.mark.parametrize("form", [_form2, _form3], ids=["form2", "form3"])
def test_configured_tolerance(form) -> None:
    strict = source("iof", tolerance_secs=30)
    assert strict.verify(Headers(form(int(NOW) - 30)), BODY, NOW).ok
    assert strict.verify(Headers(form(int(NOW) - 31)), BODY, NOW).reason == Reason.STALE_TIMESTAMP


def test_stale_is_only_said_after_the_signature_matched() -> None:
    # An old timestamp with a wrong signature is a wrong signature: the clock tells an attacker nothing.
    stamp = int(NOW) - 10_000
    headers = {"X-IOF-Signature": f"t={stamp},v1={stamped('whsec_unknown', stamp)}"}
    assert verify(IOF, headers).reason == Reason.INVALID_SIGNATURE


# -- hostile and malformed headers -------------------------------------------------------------

@pytest.mark.parametrize("src", RAW_BODY_SOURCES, ids=lambda s: s.provider)
def test_missing_header_is_missing_signature(src) -> None:
    assert verify(src, {"Content-Type": "application/json"}).reason == Reason.MISSING_SIGNATURE


@pytest.mark.parametrize("src", RAW_BODY_SOURCES, ids=lambda s: s.provider)
@pytest.mark.parametrize("value", ["", "   "])
def test_empty_header_is_missing_signature(src, value: str) -> None:
    assert verify(src, {HEADER[src.provider]: value}).reason == Reason.MISSING_SIGNATURE


@pytest.mark.parametrize("src", RAW_BODY_SOURCES, ids=lambda s: s.provider)
def test_duplicated_signature_header_is_rejected(src) -> None:
    # Even when one copy is valid: which copy a proxy forwards is not ours to guess.
    name = HEADER[src.provider].encode()
    good = mac(SECRETS[0], BODY).encode()
    verdict = verify(src, [(name, good), (name, good)])
    assert verdict.reason == Reason.MALFORMED_REQUEST


HOSTILE = [
    "a" * 10_240,                                   # a 10 KB signature
    "sha256=" + "ab" * 5_000,
    ",".join(["00" * 32] * 500),                    # many signatures
    "zz" * 32,                                      # not hex
    "sha256=" + "0" * 63,                           # odd length
    "sha256=",
    "sha256=sha256=" + "0" * 64,
    "=" * 64,
    "\x00" * 64,
    "t=,v1=,v1=",
    "t=" + "9" * 400 + ",v1=" + "0" * 64,
]


@pytest.mark.parametrize("src", RAW_BODY_SOURCES, ids=lambda s: s.provider)
@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_signature_is_rejected_not_raised(src, value: str) -> None:
    verdict = verify(src, {HEADER[src.provider]: value})
    assert verdict.reason in {Reason.INVALID_SIGNATURE, Reason.MISSING_SIGNATURE}


@pytest.mark.parametrize("src", RAW_BODY_SOURCES, ids=lambda s: s.provider)
@pytest.mark.parametrize("raw", [
    "é".encode("latin-1") * 64,
    "签名".encode() * 16,
    bytes(range(0x80, 0x100)),
], ids=["latin-1", "utf-8", "high bytes"])
def test_non_ascii_header_bytes_are_rejected_not_raised(src, raw: bytes) -> None:
    verdict = verify(src, [(HEADER[src.provider].lower().encode(), raw)])
    assert verdict.reason == Reason.INVALID_SIGNATURE


@pytest.mark.parametrize("headers", [
    [(b"x-iof-timestamp", "１７０".encode()), (b"x-iof-signature", b"sha256=" + b"0" * 64)],
    [(b"x-iof-timestamp", b"\xff\xfe"), (b"x-iof-signature", b"sha256=" + b"0" * 64)],
    [(b"x-iof-timestamp", b"1"), (b"x-iof-timestamp", b"2"), (b"x-iof-signature", b"0" * 64)],
    [(b"x-iof-signature", b"t=\xff,v1=\xfe")],
], ids=["full-width digits", "high bytes", "duplicated timestamp", "pairs with high bytes"])
def test_iof_hostile_timestamps_are_rejected_not_raised(headers) -> None:
    assert not verify(IOF, headers).ok


def test_hostile_body_is_just_bytes() -> None:
    body = b"\xff\xfe\x00" * 1000
    assert verify(TLAS, {"X-Webhook-Signature": mac(SECRETS[0], body)}, body).ok
    assert verify(TLAS, {"X-Webhook-Signature": mac(SECRETS[0], body)}, body[:-1]).reason == Reason.INVALID_SIGNATURE
